"""Finding the user an integration names, by one of six identity fields.

The database narrows the candidates; the exact rule is then applied in Python, so that matching is
the same on every database whatever its collation (on MariaDB ``'BOB' = 'bob '`` is true).
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from definum_gql.moodle.site import Moodle, SiteConfig
from definum_gql.stats.errors import (
    MultipleUsersFound,
    OidcUnavailable,
    UnsupportedUserField,
    UserNotFound,
)

USER_ID_FIELDS = ("id", "username", "idnumber", "email", "oidcuniqueid", "oidcusername")
_PHP_TRIM = " \t\n\r\0\x0b"
_MAX_ID = 2**63 - 1


async def resolve_user(
    moodle: Moodle, conn: AsyncConnection, site: SiteConfig, field: str, value: str
) -> int:
    """The id of the one non-deleted user that ``field`` = ``value`` names."""
    if field not in USER_ID_FIELDS:
        raise UnsupportedUserField(f"Non supported user field: {field}")
    if field.startswith("oidc"):
        ids = await _oidc_candidates(moodle, conn, site, field, value)
    else:
        ids = await _user_candidates(moodle, conn, site, field, value)
    if not ids:
        raise UserNotFound(f"no user with {field} {value!r}")
    if len(ids) > 1:
        raise MultipleUsersFound(f"{len(ids)} users have {field} {value!r}")
    return ids[0]


async def _user_candidates(
    moodle: Moodle, conn: AsyncConnection, site: SiteConfig, field: str, value: str
) -> list[int]:
    u = moodle.tables.user
    query = select(u.c.id, u.c.username, u.c.idnumber, u.c.email).where(u.c.deleted == 0)
    if field == "id":
        wanted = value.strip(_PHP_TRIM)
        if not (wanted.isascii() and wanted.isdigit()) or int(wanted) > _MAX_ID:
            return []
        rows = (await conn.execute(query.where(u.c.id == int(wanted)))).all()
        return [int(r.id) for r in rows]
    if field == "username":
        wanted = value.strip(_PHP_TRIM).lower()
        query = query.where(u.c.username == wanted, u.c.mnethostid == site.mnet_localhost_id)
        rows = (await conn.execute(query)).all()
        return [int(r.id) for r in rows if r.username == wanted]
    if field == "email":
        wanted = value.strip(_PHP_TRIM).lower()
        query = query.where(func.lower(u.c.email) == wanted)
        rows = (await conn.execute(query)).all()
        return [int(r.id) for r in rows if wanted and r.email.lower() == wanted]
    # idnumber: exact, untrimmed.
    rows = (await conn.execute(query.where(u.c.idnumber == value))).all()
    return [int(r.id) for r in rows if value and r.idnumber == value]


async def _oidc_candidates(
    moodle: Moodle, conn: AsyncConnection, site: SiteConfig, field: str, value: str
) -> list[int]:
    if not site.has_oidc:
        raise OidcUnavailable("the auth_oidc plugin is not installed on this site")
    if not value:
        return []
    t = moodle.tables.auth_oidc_token
    column = t.c.oidcuniqid if field == "oidcuniqueid" else t.c.oidcusername
    rows = (
        await conn.execute(
            select(column.label("key"), t.c.userid, t.c.username).where(column == value)
        )
    ).all()
    rows = [r for r in rows if r.key == value]
    user_ids = {int(r.userid) for r in rows if r.userid}
    usernames = {r.username for r in rows if not r.userid and r.username}
    u = moodle.tables.user
    found: set[int] = set()
    if user_ids:
        found |= {
            int(i)
            for i in (
                await conn.execute(select(u.c.id).where(u.c.id.in_(user_ids), u.c.deleted == 0))
            ).scalars()
        }
    if usernames:
        result = await conn.execute(
            select(u.c.id, u.c.username).where(
                u.c.username.in_(usernames),
                u.c.deleted == 0,
                u.c.mnethostid == site.mnet_localhost_id,
            )
        )
        found |= {int(r.id) for r in result if r.username in usernames}
    return sorted(found)
