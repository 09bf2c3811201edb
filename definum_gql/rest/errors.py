"""Moodle exceptions as the REST shim prints them (contract section 6)."""

from __future__ import annotations

from definum_gql.auth import AuthError


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

    @classmethod
    def from_auth(cls, error: AuthError) -> WsError:
        return cls(error.exception, error.errorcode, error.message, error.debuginfo)


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
