"""Finding the user an integration names, by one of six identity fields.

The database narrows the candidates; the exact rule is then applied in Python, so that matching is
the same on every database whatever its collation (on MariaDB ``'BOB' = 'bob '`` is true).
"""

from __future__ import annotations

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


async def resolve_user(ctx: RequestContext, field: str, value: str) -> UserRow:
    """The one non-deleted user that ``field`` = ``value`` names (one statement, but OIDC)."""
    if field not in USER_ID_FIELDS:
        raise UnsupportedUserField(f"Non supported user field: {field}")
    if field.startswith("oidc"):
        rows = await _oidc_candidates(ctx, field, value)
    else:
        rows = await _user_candidates(ctx, field, value)
    if not rows:
        raise UserNotFound(f"no user with {field} {value!r}")
    if len(rows) > 1:
        raise MultipleUsersFound(f"{len(rows)} users have {field} {value!r}")
    return rows[0]


async def _user_candidates(ctx: RequestContext, field: str, value: str) -> list[UserRow]:
    st, reader = ctx.statements, ctx.reader
    if field == "id":
        wanted = value.strip(_PHP_TRIM)
        if not (wanted.isascii() and wanted.isdigit()) or int(wanted) > _MAX_ID:
            return []
        return [user_row(r) for r in await reader.rows(st.user_by_id, v=int(wanted))]
    if field == "username":
        wanted = value.strip(_PHP_TRIM).lower()
        rows = await reader.rows(st.user_by_username, v=wanted, mnet=ctx.site.mnet_localhost_id)
        return [u for u in map(user_row, rows) if u.username == wanted]
    if field == "email":
        wanted = value.strip(_PHP_TRIM).lower()
        if not wanted:
            return []
        rows = await reader.rows(st.user_by_email, v=wanted)
        return [u for u in map(user_row, rows) if u.email.lower() == wanted]
    # idnumber: exact, untrimmed.
    if not value:
        return []
    rows = await reader.rows(st.user_by_idnumber, v=value)
    return [u for u in map(user_row, rows) if u.idnumber == value]


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
