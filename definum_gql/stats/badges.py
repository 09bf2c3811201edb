"""Issued badges, selected as Moodle's badges_get_user_badges selects them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from definum_gql.moodle.site import SiteConfig
from definum_gql.moodle.tables import MoodleTables
from definum_gql.stats.users import chunks


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


async def load_badges(
    conn: AsyncConnection,
    tables: MoodleTables,
    site: SiteConfig,
    user_ids: Sequence[int],
    now: int,
) -> dict[int, list[IssuedBadge]]:
    """Each user's issued badges, newest first; course badges only when the site allows them.

    Expired and archived badges are listed (Moodle lists them too); ``expired`` flags the former.
    """
    b, bi = tables.badge, tables.badge_issued
    result: dict[int, list[IssuedBadge]] = {i: [] for i in user_ids}
    for batch in chunks(user_ids):
        query = (
            select(
                bi.c.userid,
                bi.c.dateissued,
                bi.c.dateexpire,
                b.c.id,
                b.c.name,
                b.c.description,
                b.c.issuername,
                b.c.issuerurl,
                b.c.issuercontact,
                b.c.courseid,
                b.c.expiredate,
                b.c.expireperiod,
                b.c.status,
            )
            .join(b, b.c.id == bi.c.badgeid)
            .where(bi.c.userid.in_(batch))
            .order_by(bi.c.userid, bi.c.dateissued.desc(), bi.c.id.desc())
        )
        if not site.flag("badges_allowcoursebadges"):
            query = query.where(b.c.courseid.is_(None))
        for r in await conn.execute(query):
            badge = BadgeRow(
                id=int(r.id),
                name=r.name,
                description=r.description or "",
                issuername=r.issuername or "",
                issuerurl=r.issuerurl or "",
                issuercontact=r.issuercontact or "",
                courseid=int(r.courseid) if r.courseid is not None else None,
                expiredate=int(r.expiredate) if r.expiredate is not None else None,
                expireperiod=int(r.expireperiod) if r.expireperiod is not None else None,
                status=int(r.status),
            )
            dateexpire = int(r.dateexpire) if r.dateexpire else None
            result[int(r.userid)].append(
                IssuedBadge(
                    badge=badge,
                    dateissued=int(r.dateissued),
                    dateexpire=dateexpire,
                    expired=dateexpire is not None and dateexpire < now,
                )
            )
    return result
