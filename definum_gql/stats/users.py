"""User rows, loaded in batches."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from definum_gql.moodle.tables import MoodleTables

#: Ids per IN list: keeps statements bounded on every database.
CHUNK = 1000


def chunks(ids: Iterable[int], size: int = CHUNK) -> Iterator[list[int]]:
    batch: list[int] = []
    for user_id in dict.fromkeys(ids):
        batch.append(user_id)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


@dataclass(frozen=True)
class UserRow:
    id: int
    username: str
    idnumber: str
    email: str
    firstname: str
    lastname: str
    auth: str
    confirmed: bool
    deleted: bool
    suspended: bool
    mnethostid: int
    lastlogin: int
    currentlogin: int
    lastaccess: int
    firstaccess: int
    timecreated: int


async def load_users(
    conn: AsyncConnection, tables: MoodleTables, ids: Sequence[int]
) -> dict[int, UserRow]:
    """The users with these ids (deleted ones included; callers decide)."""
    u = tables.user
    found: dict[int, UserRow] = {}
    for batch in chunks(ids):
        rows = await conn.execute(
            select(
                u.c.id,
                u.c.username,
                u.c.idnumber,
                u.c.email,
                u.c.firstname,
                u.c.lastname,
                u.c.auth,
                u.c.confirmed,
                u.c.deleted,
                u.c.suspended,
                u.c.mnethostid,
                u.c.lastlogin,
                u.c.currentlogin,
                u.c.lastaccess,
                u.c.firstaccess,
                u.c.timecreated,
            ).where(u.c.id.in_(batch))
        )
        for r in rows:
            found[int(r.id)] = UserRow(
                id=int(r.id),
                username=r.username,
                idnumber=r.idnumber,
                email=r.email,
                firstname=r.firstname,
                lastname=r.lastname,
                auth=r.auth,
                confirmed=bool(r.confirmed),
                deleted=bool(r.deleted),
                suspended=bool(r.suspended),
                mnethostid=int(r.mnethostid),
                lastlogin=int(r.lastlogin or 0),
                currentlogin=int(r.currentlogin or 0),
                lastaccess=int(r.lastaccess or 0),
                firstaccess=int(r.firstaccess or 0),
                timecreated=int(r.timecreated or 0),
            )
    return found
