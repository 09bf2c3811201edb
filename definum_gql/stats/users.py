"""User rows, loaded in batches."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from definum_gql.moodle.reader import CHUNK
from definum_gql.moodle.site import RequestContext


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


def user_row(r: Any) -> UserRow:
    """A row of :func:`definum_gql.moodle.queries.user_columns`."""
    return UserRow(
        id=int(r[0]),
        username=r[1],
        idnumber=r[2],
        email=r[3],
        firstname=r[4],
        lastname=r[5],
        auth=r[6],
        confirmed=bool(r[7]),
        deleted=bool(r[8]),
        suspended=bool(r[9]),
        mnethostid=int(r[10]),
        lastlogin=int(r[11] or 0),
        currentlogin=int(r[12] or 0),
        lastaccess=int(r[13] or 0),
        firstaccess=int(r[14] or 0),
        timecreated=int(r[15] or 0),
    )


async def load_users(ctx: RequestContext, ids: Sequence[int]) -> dict[int, UserRow]:
    """The users with these ids (deleted ones included; callers decide)."""
    rows = await ctx.reader.rows(ctx.statements.users, ids)
    return {int(r[0]): user_row(r) for r in rows}
