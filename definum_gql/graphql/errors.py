"""GraphQL errors a client can act on, and the masking of every other failure.

Each failure users can act on carries ``extensions.code`` and keeps its message; anything else is
shown as "Unexpected error." with a request id that is also in the server log next to the
traceback.
"""

from __future__ import annotations

import logging
from typing import Any

from cross_web import HTTPException
from graphql import GraphQLError

from definum_gql.moodle.site import DatabaseUnavailable, QueryTimeout
from definum_gql.stats.errors import (
    InvalidMonth,
    MultipleUsersFound,
    StatsError,
    UnsupportedUserField,
    UserNotFound,
)

log = logging.getLogger("definum_gql.graphql")

UNEXPECTED = "Unexpected error."


class ClientError(Exception):
    """A request the client can fix; the message is shown as is."""

    code = "BAD_USER_INPUT"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class Forbidden(ClientError):
    """The token's owner may not see this field; ``extensions`` name what would allow it."""

    code = "FORBIDDEN"

    def __init__(self, message: str, **extensions: str) -> None:
        super().__init__(message)
        # graphql-core copies an original error's ``extensions`` into the GraphQL error.
        self.extensions = extensions


class RequestRefused(HTTPException):
    """The request is answered with this one error and nothing is executed."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str,
        *,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(status, message)
        self.code = code
        self.headers = headers or {}
        self.extensions = extensions


_STATS_CODES: dict[type[StatsError], str] = {
    InvalidMonth: "INVALID_MONTH",
    MultipleUsersFound: "MULTIPLE_USERS_FOUND",
    UnsupportedUserField: "UNSUPPORTED_USER_FIELD",
    UserNotFound: "USER_NOT_FOUND",
}

QUERY_TOO_COMPLEX = "QUERY_TOO_COMPLEX"
QUERY_TIMEOUT = "QUERY_TIMEOUT"
TIMEOUT_MESSAGE = (
    "A database statement ran longer than the server allows (DEFINUM_STATEMENT_TIMEOUT_MS):"
    " ask for less at once (fewer learners, months or aliases)."
)
INTROSPECTION_DISABLED = "INTROSPECTION_DISABLED"


def shortened(value: str | None, keep: int = 64) -> str:
    """``value`` as Python writes it, cut to ``keep`` characters: errors echo what the client
    sent, which may be a megabyte long."""
    if value is None or len(value) <= keep:
        return repr(value)
    return repr(value[:keep]) + f"... ({len(value):,} characters)"


def with_code(error: GraphQLError, code: str) -> GraphQLError:
    """``error`` carrying ``extensions.code``: how a check that refuses a document says which."""
    error.extensions = {**(error.extensions or {}), "code": code}
    return error


def error_code(error: GraphQLError) -> tuple[str, bool]:
    """(extensions.code, whether the message may be shown) for one error of a result."""
    original = error.original_error
    if original is None:
        # Parsing and validation errors; our limit checks tag theirs (with_code).
        code = (error.extensions or {}).get("code")
        return (code if isinstance(code, str) else "GRAPHQL_VALIDATION_FAILED"), True
    if isinstance(original, ClientError):
        return original.code, True
    if isinstance(original, DatabaseUnavailable):
        return "DATABASE_UNAVAILABLE", False
    if isinstance(original, QueryTimeout):
        return QUERY_TIMEOUT, False
    if isinstance(original, StatsError):
        for kind, code in _STATS_CODES.items():
            if isinstance(original, kind):
                return code, True
        return "BAD_USER_INPUT", True
    if isinstance(original, GraphQLError):
        # Variable coercion and argument errors wrap a GraphQLError of their own.
        return "BAD_USER_INPUT", True
    return "INTERNAL_SERVER_ERROR", False


def format_error(error: GraphQLError, request_id: str) -> tuple[dict[str, Any], str]:
    """The error as sent to the client, and its code; unexpected failures are logged here."""
    code, readable = error_code(error)
    formatted: dict[str, Any] = dict(error.formatted)
    extensions = dict(formatted.get("extensions") or {})
    extensions["code"] = code
    if code == "DATABASE_UNAVAILABLE":
        formatted["message"] = "The Moodle database is unavailable."
        log.error("request %s: database unavailable: %s", request_id, error.original_error)
    elif code == QUERY_TIMEOUT:
        formatted["message"] = TIMEOUT_MESSAGE
        log.warning("request %s: statement timed out: %s", request_id, error.original_error)
    elif not readable:
        formatted["message"] = UNEXPECTED
        extensions["requestId"] = request_id
        log.error(
            "request %s: unexpected error in %s",
            request_id,
            ".".join(str(p) for p in error.path or ()),
            exc_info=error.original_error,
        )
    formatted["extensions"] = extensions
    return formatted, code


def refusal_body(refusal: RequestRefused) -> dict[str, Any]:
    """The GraphQL response of a refused request: its one error, no data."""
    extensions = {"code": refusal.code, **refusal.extensions}
    return {"errors": [{"message": refusal.reason, "extensions": extensions}]}
