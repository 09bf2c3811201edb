"""Moodle exceptions as the REST shim prints them (contract section 6)."""

from __future__ import annotations

from definum_gql.auth import Refusal, Refused


class WsError(Exception):
    """One Moodle exception: class, error code, message, optional debuginfo and HTTP status."""

    def __init__(
        self,
        exception: str,
        errorcode: str,
        message: str,
        debuginfo: str | None = None,
        status: int = 200,
    ) -> None:
        super().__init__(message)
        self.exception = exception
        self.errorcode = errorcode
        self.message = message
        self.debuginfo = debuginfo
        self.status = status


def _php_params(*values: str) -> str:
    """PHP's var_export of a parameter list, as Moodle's DML exceptions print it."""
    lines = "".join(f"  {i} => '{_php_quote(v)}',\n" for i, v in enumerate(values))
    return f"[array (\n{lines})]"


def _php_quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


def invalid_parameter(debuginfo: str) -> WsError:
    return WsError(
        "invalid_parameter_exception",
        "invalidparameter",
        "Invalid parameter value detected",
        debuginfo,
    )


def unknown_function(name: str) -> WsError:
    return WsError(
        "dml_missing_record_exception",
        "invalidrecord",
        "Can't find data record in database table external_functions.",
        "SELECT * FROM {external_functions} WHERE name = ?\n" + _php_params(name),
    )


def service_not_available() -> WsError:
    """A known function the token's service allows, with no Moodle to forward it to."""
    return WsError(
        "moodle_exception",
        "servicenotavailable",
        "Web service is not available (it doesn't exist or might be disabled)",
    )


def invalid_user(field: str, value: str) -> WsError:
    return WsError(
        "dml_missing_record_exception",
        "invaliduser",
        "Invalid user",
        f"SELECT * FROM {{user}} WHERE {field} = ?\n" + _php_params(value),
    )


def multiple_users(field: str, value: str) -> WsError:
    return WsError(
        "dml_multiple_records_exception",
        "multiplerecordsfound",
        "Multiple records found, only one record expected.",
        f"SELECT * FROM {{user}} WHERE {field} = ?\n" + _php_params(value),
    )


def database_unavailable(reason: str) -> WsError:
    return WsError(
        "dml_connection_exception",
        "dbconnectionfailed",
        "Database connection failed",
        reason,
        status=503,
    )


def database_read(reason: str) -> WsError:
    return WsError("dml_read_exception", "dmlreadexception", "Error reading from database", reason)


def internal_error() -> WsError:
    return WsError("moodle_exception", "generalexceptionmessage", "Error: internal error")


def forward_failed(reason: str) -> WsError:
    return WsError(
        "moodle_exception",
        "generalexceptionmessage",
        "Error: the Moodle site could not be reached",
        reason,
        status=502,
    )


def access_denied(debuginfo: str) -> WsError:
    """Moodle's ``webservice_access_exception``: one message, the reason in debuginfo only."""
    return WsError(
        "webservice_access_exception", "accessexception", "Access control exception", debuginfo
    )


_OWNER_STATES = {
    Refusal.OWNER_DELETED: "deleted username",
    Refusal.OWNER_UNCONFIRMED: "unconfirmed username",
    Refusal.OWNER_SUSPENDED: "suspended username",
    Refusal.OWNER_NOLOGIN: "nologin authentication username",
}


def function_not_allowed(function: str) -> WsError:
    return access_denied(
        f"Access to the function {function}() is not allowed. There could be multiple reasons "
        "for this: 1. The service linked to the user token does not contain the function. "
        "2. The service is user-restricted and the user is not listed. 3. The service is "
        "IP-restricted and the user IP is not listed. 4. The service is time-restricted and the "
        "time has expired. 5. The token is time-restricted and the time has expired. 6. The "
        "service requires a specific capability which the user does not have. 7. The function "
        "is called with username/password (no user token is sent) and none of the services has "
        "the function to allow the user. These settings can be found in Administration > Site "
        "administration > Server > Web services > External services and Manage tokens.",
    )


def refused(outcome: Refused) -> WsError:
    """A refused call in Moodle's words (contract section 6)."""
    reason = outcome.refusal
    if reason is Refusal.INVALID_TOKEN:
        return WsError("moodle_exception", "invalidtoken", "Invalid token - token not found")
    if reason is Refusal.TOKEN_EXPIRED:
        return access_denied("Invalid token - token expired - check validuntil time for the token")
    if reason is Refusal.IP_RESTRICTED:
        return access_denied(f"Invalid token - IP:{outcome.detail} is not supported")
    if reason is Refusal.MISSING_OWNER:
        return WsError(
            "dml_missing_record_exception",
            "invaliduser",
            "Invalid user",
            "SELECT * FROM {user} WHERE id = ?\n" + _php_params(outcome.detail),
        )
    if reason is Refusal.MAINTENANCE:
        return WsError(
            "moodle_exception",
            "sitemaintenance",
            "The site is undergoing maintenance and is currently not available",
        )
    if reason in _OWNER_STATES:
        return WsError(
            "moodle_exception",
            reason.value,
            f"Refused web service access for {_OWNER_STATES[reason]}: {outcome.detail}",
        )
    if reason is Refusal.UNKNOWN_FUNCTION:
        return unknown_function(outcome.detail)
    if reason is Refusal.NO_CAPABILITY:
        return access_denied(
            "You are not allowed to use the {$a} protocol (missing capability: webservice/rest:use)"
        )
    return function_not_allowed(outcome.detail)
