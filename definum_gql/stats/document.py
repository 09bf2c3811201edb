"""The ``definum_get_stats`` document: every number of the contract's section 4, for many users."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from definum_gql.moodle.site import Moodle
from definum_gql.stats.activity import logins_between
from definum_gql.stats.badges import load_badges
from definum_gql.stats.courses import course_counts
from definum_gql.stats.months import Month
from definum_gql.stats.strings import format_datetime, format_duration, format_login
from definum_gql.stats.timespent import time_spent, use_stats_params
from definum_gql.stats.users import load_users


@dataclass(frozen=True)
class DefinumBadge:
    id: int
    name: str
    issuername: str
    issuerurl: str
    issuercontact: str
    dateissued: int
    dateissuedstr: str


@dataclass(frozen=True)
class DefinumStats:
    """Field order is the wire order of the REST answer."""

    id: int
    lastname: str
    firstname: str
    courses: int
    finishablecourses: int
    finishedcourses: int
    finishedcoursesratio: int
    badges: list[DefinumBadge]
    numbadges: int
    lastlogin: int
    lastloginstr: str
    timespentinmonth: int
    timespentinmonthstr: str
    loginsinmonth: int


async def definum_stats(
    moodle: Moodle,
    conn: AsyncConnection,
    user_ids: Sequence[int],
    *,
    month: Month | None = None,
    lang: str | None = None,
    timezone: str | None = None,
) -> dict[int, DefinumStats]:
    """The document for each existing user id (unknown ids are left out)."""
    site = await moodle.site(conn)
    # The month is the site's; a caller's timezone (moodlewssettingtimezone) only changes how
    # dates read, as the contract says.
    site_tz = moodle.timezone(site)
    tz = moodle.timezone(site, timezone)
    language = moodle.lang(site, lang)
    now = moodle.now()
    month = month or Month.containing(now, site_tz)
    start, end = month.bounds(site_tz)
    tables = moodle.tables
    users = await load_users(conn, tables, user_ids)
    ids = [i for i in dict.fromkeys(user_ids) if i in users]
    guest = site.guest_id
    counts = await course_counts(conn, tables, ids, now, guest, all_time=False)
    badges = await load_badges(conn, tables, site, ids, now)
    logins = await logins_between(conn, tables, ids, [(start, end)])
    spent = await time_spent(
        conn,
        tables,
        ids,
        [(start, end)],
        now=now,
        params=use_stats_params(site, moodle.settings),
        tz=tz,
    )
    documents: dict[int, DefinumStats] = {}
    for user_id in ids:
        user, count = users[user_id], counts[user_id]
        listed = [
            DefinumBadge(
                id=issued.badge.id,
                name=issued.badge.name,
                issuername=issued.badge.issuername,
                issuerurl=issued.badge.issuerurl,
                issuercontact=issued.badge.issuercontact,
                dateissued=issued.dateissued,
                dateissuedstr=format_datetime(issued.dateissued, tz, language),
            )
            for issued in badges[user_id]
        ]
        seconds = spent[user_id][0].total
        documents[user_id] = DefinumStats(
            id=user_id,
            lastname=user.lastname,
            firstname=user.firstname,
            courses=count.courses,
            finishablecourses=count.finishable,
            finishedcourses=count.finished,
            finishedcoursesratio=count.ratio,
            badges=listed,
            numbadges=len(listed),
            lastlogin=user.lastlogin,
            lastloginstr=format_login(user.lastlogin, tz, language),
            timespentinmonth=seconds,
            timespentinmonthstr=format_duration(seconds),
            loginsinmonth=logins[user_id][0],
        )
    return documents
