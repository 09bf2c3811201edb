"""GraphQL errors a client can act on, and the masking of every other failure.

Each failure users can act on carries ``extensions.code`` and keeps its message; anything else is
shown as "Unexpected error." with a request id that is also in the server log next to the
traceback.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from graphql import GraphQLError

from definum_gql.moodle.site import DatabaseUnavailable
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


class AuthFailure(Exception):
    """The request cannot be answered for this caller (HTTP 401 or 403, before execution)."""

    def __init__(self, message: str, code: str, reason: str, status: int) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.status = status


_STATS_CODES: dict[type[StatsError], str] = {
    InvalidMonth: "INVALID_MONTH",
    MultipleUsersFound: "MULTIPLE_USERS_FOUND",
    UnsupportedUserField: "UNSUPPORTED_USER_FIELD",
    UserNotFound: "USER_NOT_FOUND",
}

# graphql-core and strawberry's limit extensions report these before execution starts.
_LIMIT_MESSAGES = (
    re.compile(r"exceeds maximum operation depth"),
    re.compile(r"^\d+ aliases found\. Allowed: \d+"),
    re.compile(r"Document contains more than \d+ tokens"),
)
_INTROSPECTION = re.compile(r"GraphQL introspection has been disabled")


def error_code(error: GraphQLError) -> tuple[str, bool]:
    """(extensions.code, whether the message may be shown) for one error of a result."""
    original = error.original_error
    if original is None:
        if any(p.search(error.message) for p in _LIMIT_MESSAGES):
            return "QUERY_TOO_COMPLEX", True
        if _INTROSPECTION.search(error.message):
            return "INTROSPECTION_DISABLED", True
        return "GRAPHQL_VALIDATION_FAILED", True
    if isinstance(original, ClientError):
        return original.code, True
    if isinstance(original, DatabaseUnavailable):
        return "DATABASE_UNAVAILABLE", False
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


def request_error(message: str, code: str, **extra: Any) -> dict[str, Any]:
    """An error of the request itself (no execution happened)."""
    return {"message": message, "extensions": {"code": code, **extra}}
