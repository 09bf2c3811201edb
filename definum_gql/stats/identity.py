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
    if field == "id":
        wanted = value.strip(_PHP_TRIM)
        if not (wanted.isascii() and wanted.isdigit()) or int(wanted) > _MAX_ID:
            return None
        return Lookup(field, {"v": int(wanted)}, wanted)
    if field == "username":
        wanted = value.strip(_PHP_TRIM).lower()
        return Lookup(field, {"v": wanted, "mnet": ctx.site.mnet_localhost_id}, wanted)
    if field == "email":
        wanted = value.strip(_PHP_TRIM).lower()
        return Lookup(field, {"v": wanted}, wanted) if wanted else None
    if field == "idnumber":
        return Lookup(field, {"v": value}, value) if value else None
    raise UnsupportedUserField(f"Non supported user field: {field}")


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
    if not value:
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
