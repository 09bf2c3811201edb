"""Finding the user an integration names, by one of six identity fields.

The database narrows the candidates; the exact rule is then applied in Python, so that matching is
the same on every database whatever its collation (on MariaDB ``'BOB' = 'bob '`` is true).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import select

from definum_gql.moodle.queries import user_columns
from definum_gql.moodle.site import RequestContext
from definum_gql.stats.errors import (
    MultipleUsersFound,
    OidcUnavailable,
    UnsupportedUserField,
    UserNotFound,
)
from definum_gql.stats.users import UserRow, user_row

USER_ID_FIELDS = ("id", "username", "idnumber", "email", "oidcuniqueid", "oidcusername")
_PHP_TRIM = " \t\n\r\0\x0b"
_MAX_ID = 2**63 - 1
_MAX_ID_DIGITS = len(str(_MAX_ID))
_LOOKUP_FIELDS = ("id", "username", "email", "idnumber")
T = TypeVar("T")


@dataclass(frozen=True)
class Lookup:
    """A learner lookup by one of the four user fields: what the database is asked
    (``params`` for ``statements.user_by[field]`` or ``document_by[field]``) and the exact rule
    applied to what it returns."""

    field: str
    params: dict[str, Any]
    wanted: str

    def matches(self, user: UserRow) -> bool:
        if self.field == "id":
            return True
        if self.field == "username":
            return user.username == self.wanted
        if self.field == "email":
            return user.email.lower() == self.wanted
        return user.idnumber == self.wanted


def lookup(ctx: RequestContext, field: str, value: str) -> Lookup | None:
    """The lookup of ``value`` by a user field; None when the value can match nobody.

    id: digits after PHP's trim; username: trimmed, lowercased, on this site's mnet host;
    email: trimmed, case-insensitive; idnumber: exact, untrimmed. Empty never matches.
    """
    if field not in _LOOKUP_FIELDS:
        raise UnsupportedUserField(f"Non supported user field: {field}")
    wanted = value if field == "idnumber" else value.strip(_PHP_TRIM)
    if not storable(wanted):
        return None
    if field == "id":
        return Lookup(field, {"v": int(wanted)}, wanted) if is_row_id(wanted) else None
    if field == "username":
        wanted = wanted.lower()
        return Lookup(field, {"v": wanted, "mnet": ctx.site.mnet_localhost_id}, wanted)
    if field == "email":
        wanted = wanted.lower()
    return Lookup(field, {"v": wanted}, wanted) if wanted else None


def is_row_id(text: str) -> bool:
    """Whether ``text`` is a row id: ASCII digits within a BIGINT (Moodle's id columns).

    The length is checked before the conversion: Python refuses to convert more than 4,300 digits.
    """
    return (
        text.isascii()
        and text.isdigit()
        and len(text.lstrip("0")) <= _MAX_ID_DIGITS
        and int(text) <= _MAX_ID
    )


def storable(text: str) -> bool:
    """Whether a Moodle text column could hold ``text``: no NUL (PostgreSQL's text never holds
    one, so the server refuses the parameter) and nothing UTF-8 cannot write (a lone surrogate,
    which JSON's ``\\ud800`` gives). A value that is not can match no user on any database."""
    if "\0" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def the_one(field: str, value: str, found: Sequence[T]) -> T:
    """The one match of a lookup, or the contract's error."""
    if not found:
        raise UserNotFound(f"no user with {field} {value!r}")
    if len(found) > 1:
        raise MultipleUsersFound(f"{len(found)} users have {field} {value!r}")
    return found[0]


async def resolve_user(ctx: RequestContext, field: str, value: str) -> UserRow:
    """The one non-deleted user that ``field`` = ``value`` names (one statement, but OIDC)."""
    if field not in USER_ID_FIELDS:
        raise UnsupportedUserField(f"Non supported user field: {field}")
    if field.startswith("oidc"):
        return the_one(field, value, await _oidc_candidates(ctx, field, value))
    wanted = lookup(ctx, field, value)
    found: list[UserRow] = []
    if wanted is not None:
        rows = await ctx.reader.rows(ctx.statements.user_by[field], **wanted.params)
        found = [u for u in map(user_row, rows) if wanted.matches(u)]
    return the_one(field, value, found)


async def _oidc_candidates(ctx: RequestContext, field: str, value: str) -> list[UserRow]:
    if not ctx.site.has_oidc:
        raise OidcUnavailable("the auth_oidc plugin is not installed on this site")
    if not value or not storable(value):
        return []
    t = ctx.tables.auth_oidc_token
    column = t.c.oidcuniqid if field == "oidcuniqueid" else t.c.oidcusername
    rows = [
        r
        for r in await ctx.reader.execute(
            select(column, t.c.userid, t.c.username).where(column == value)
        )
        if r[0] == value
    ]
    user_ids = {int(r[1]) for r in rows if r[1]}
    usernames = {r[2] for r in rows if not r[1] and r[2]}
    u = ctx.tables.user
    found: dict[int, UserRow] = {}
    if user_ids:
        for r in await ctx.reader.execute(
            select(*user_columns(u)).where(u.c.id.in_(user_ids), u.c.deleted == 0)
        ):
            found[int(r[0])] = user_row(r)
    if usernames:
        for r in await ctx.reader.execute(
            select(*user_columns(u)).where(
                u.c.username.in_(usernames),
                u.c.deleted == 0,
                u.c.mnethostid == ctx.site.mnet_localhost_id,
            )
        ):
            if r[1] in usernames:
                found[int(r[0])] = user_row(r)
    return [found[i] for i in sorted(found)]
