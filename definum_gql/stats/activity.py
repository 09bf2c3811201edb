"""Monthly activity: logins, time spent, active days, per-course split, for any months."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from definum_gql.moodle.site import Moodle, SiteConfig
from definum_gql.moodle.tables import MoodleTables
from definum_gql.stats.months import Month
from definum_gql.stats.timespent import Algorithm, time_spent, use_stats_params
from definum_gql.stats.users import chunks


@dataclass(frozen=True)
class MonthlyActivity:
    month: Month
    logins: int
    time_spent: int
    active_days: int
    by_course: Mapping[int, int]


async def logins_between(
    conn: AsyncConnection,
    tables: MoodleTables,
    user_ids: Sequence[int],
    ranges: Sequence[tuple[int, int]],
) -> dict[int, list[int]]:
    """Per user, the number of ``loggedin`` log rows (any origin) in each [start, end) range."""
    log = tables.logstore_standard_log
    counts: dict[int, list[int]] = {i: [0] * len(ranges) for i in user_ids}
    if not ranges:
        return counts
    starts = [start for start, _ in ranges]
    low, high = min(starts), max(end for _, end in ranges)
    for batch in chunks(user_ids):
        rows = await conn.execute(
            select(log.c.userid, log.c.timecreated).where(
                log.c.userid.in_(batch),
                log.c.action == "loggedin",
                log.c.timecreated >= low,
                log.c.timecreated < high,
            )
        )
        for user_id, created in rows:
            for i, (start, end) in enumerate(ranges):
                if start <= created < end:
                    counts[int(user_id)][i] += 1
    return counts


async def monthly_activity(
    moodle: Moodle,
    conn: AsyncConnection,
    site: SiteConfig,
    user_ids: Sequence[int],
    months: Sequence[Month],
    *,
    algorithm: Algorithm = Algorithm.USE_STATS,
    tz: ZoneInfo | None = None,
) -> dict[int, list[MonthlyActivity]]:
    """Each user's activity for each month, in the given order; the current month stops at now."""
    tz = tz or moodle.timezone(site)
    ranges = [month.bounds(tz) for month in months]
    now = moodle.now()
    logins = await logins_between(conn, moodle.tables, user_ids, ranges)
    spent = await time_spent(
        conn,
        moodle.tables,
        user_ids,
        ranges,
        now=now,
        params=use_stats_params(site, moodle.settings),
        tz=tz,
        algorithm=algorithm,
    )
    return {
        user_id: [
            MonthlyActivity(
                month=month,
                logins=logins[user_id][i],
                time_spent=spent[user_id][i].total,
                active_days=spent[user_id][i].active_days,
                by_course=spent[user_id][i].by_course,
            )
            for i, month in enumerate(months)
        ]
        for user_id in user_ids
    }
