"""Issued badges, selected as Moodle's badges_get_user_badges selects them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from definum_gql.moodle.site import RequestContext


@dataclass(frozen=True)
class BadgeRow:
    id: int
    name: str
    description: str
    issuername: str
    issuerurl: str
    issuercontact: str
    courseid: int | None
    expiredate: int | None
    expireperiod: int | None
    status: int


@dataclass(frozen=True)
class IssuedBadge:
    badge: BadgeRow
    dateissued: int
    dateexpire: int | None
    expired: bool


async def load_badges(ctx: RequestContext, user_ids: Sequence[int]) -> dict[int, list[IssuedBadge]]:
    """Each user's issued badges, newest first; course badges only when the site allows them.

    Expired and archived badges are listed (Moodle lists them too); ``expired`` flags the former.
    """
    statement = (
        ctx.statements.badges
        if ctx.site.flag("badges_allowcoursebadges")
        else ctx.statements.site_badges
    )
    result: dict[int, list[IssuedBadge]] = {i: [] for i in user_ids}
    for r in await ctx.reader.rows(statement, user_ids):
        result[int(r[0])].append(issued_badge(r, ctx.now))
    return result


def issued_badge(r: Sequence[Any], now: int) -> IssuedBadge:
    """A row of the badge statements (queries.py)."""
    (
        _userid,
        dateissued,
        dateexpire,
        badge_id,
        name,
        description,
        issuername,
        issuerurl,
        issuercontact,
        courseid,
        expiredate,
        expireperiod,
        status,
        _issued_id,
    ) = r
    badge = BadgeRow(
        id=int(badge_id),
        name=name,
        description=description or "",
        issuername=issuername or "",
        issuerurl=issuerurl or "",
        issuercontact=issuercontact or "",
        courseid=int(courseid) if courseid is not None else None,
        expiredate=int(expiredate) if expiredate is not None else None,
        expireperiod=int(expireperiod) if expireperiod is not None else None,
        status=int(status),
    )
    expires = int(dateexpire) if dateexpire else None
    return IssuedBadge(
        badge=badge,
        dateissued=int(dateissued),
        dateexpire=expires,
        expired=expires is not None and expires < now,
    )
