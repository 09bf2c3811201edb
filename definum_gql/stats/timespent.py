"""Time spent from the standard log: block_use_stats' laps (contract section 5) or block_dedication.

Batch-first: a call reads every requested user and range with a bounded number of statements
(one log statement per chunk of ``CHUNK`` user ids, whatever the number of ranges), the ordered
rows streamed and folded in Python. The alternative (LEAD() over the rows, summed in the database,
``sql_window_use_stats``) is kept for the benchmark: see BENCHMARKS.md for why streaming won.

Choices the contract leaves open, decided here:

* ``origin`` NULL counts as "not cli". Moodle's own ``origin != 'cli'`` would drop such rows (SQL
  NULL logic), but core's logstore always writes an origin, so NULL only appears in imported logs,
  whose activity is real.
* ``courseid`` NULL counts toward the site (0), like 0.
* A range is ``[start, end)``; rows after ``now`` are never read, so a range reaching past ``now``
  is ``[start, now]``.
* ``active_days``: distinct calendar days in ``tz`` of the rows that passed every filter (logout
  rows included, ``graded``/``user`` rows and rows before the enrolment start excluded).
* Dedication (block_dedication computes per course): ``by_course`` holds each course's sessions
  computed on that course's rows alone; ``total`` holds the sessions over all the user's rows, so it
  is not the sum of ``by_course``. Same row filters as use_stats; a session ends where the gap to
  the next row exceeds 3,600 s and counts when it lasts more than 120 s.
"""

from __future__ import annotations

import contextlib
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Select,
    Subquery,
    and_,
    case,
    func,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from definum_gql.config import Settings
from definum_gql.moodle.site import SiteConfig
from definum_gql.moodle.tables import MoodleTables

CHUNK = 1000
STREAM_BATCH = 20_000
LOGOUT_ACTIONS = ("loggedout", "logout")
DEDICATION_GAP = 3600
DEDICATION_MIN_SESSION = 120


class Algorithm(StrEnum):
    USE_STATS = "use_stats"
    DEDICATION = "dedication"


@dataclass(frozen=True)
class UseStatsParams:
    """block_use_stats' parameters, in seconds (``threshold`` T, ``lastpingcredit`` C)."""

    threshold: int
    lastpingcredit: int
    enrolmentfilter: bool


@dataclass(frozen=True)
class TimeSpent:
    """Seconds spent in one range: the total, per course (0 = site, non-zero only), active days."""

    total: int = 0
    by_course: Mapping[int, int] = field(default_factory=dict)
    active_days: int = 0


def _minutes(value: str | None) -> int | None:
    """Seconds from a number of minutes as Moodle stores it; None when absent or not a number."""
    if value is None:
        return None
    try:
        minutes = float(value.strip())
    except ValueError:
        return None
    if minutes != minutes or minutes < 0 or minutes > 10**9:
        return None
    return int(minutes * 60)


def use_stats_params(site: SiteConfig, settings: Settings) -> UseStatsParams:
    """The site's block_use_stats configuration, each value falling back to our settings."""
    threshold = _minutes(site.plugin("block_use_stats", "threshold"))
    credit = _minutes(site.plugin("block_use_stats", "lastpingcredit"))
    raw_filter = site.plugin("block_use_stats", "enrolmentfilter")
    enrolmentfilter = settings.use_stats_enrolmentfilter
    if raw_filter is not None:
        with contextlib.suppress(ValueError):
            enrolmentfilter = float(raw_filter.strip()) != 0
    return UseStatsParams(
        threshold=settings.use_stats_threshold * 60 if threshold is None else threshold,
        lastpingcredit=settings.use_stats_lastpingcredit * 60 if credit is None else credit,
        enrolmentfilter=enrolmentfilter,
    )


@dataclass(frozen=True)
class _Plan:
    """The ranges actually read: index into the caller's list, start, end (exclusive)."""

    ranges: tuple[tuple[int, int, int], ...]

    @property
    def low(self) -> int:
        return min(start for _, start, _ in self.ranges)

    @property
    def high(self) -> int:
        return max(end for _, _, end in self.ranges)


def _plan(ranges: Sequence[tuple[int, int]], now: int) -> _Plan:
    kept = []
    for index, (start, end) in enumerate(ranges):
        capped = min(int(end), now + 1)
        if int(start) < capped:
            kept.append((index, int(start), capped))
    return _Plan(tuple(kept))


def _chunks(ids: Sequence[int]) -> Iterable[list[int]]:
    ordered = sorted(set(ids))
    for at in range(0, len(ordered), CHUNK):
        yield ordered[at : at + CHUNK]


def _ranges_table(plan: _Plan) -> Subquery:
    parts = [
        select(
            literal(index, BigInteger).label("k"),
            literal(start, BigInteger).label("s"),
            literal(end, BigInteger).label("e"),
        )
        for index, start, end in plan.ranges
    ]
    query = parts[0] if len(parts) == 1 else union_all(*parts)
    return query.subquery("ranges")


def _filtered_rows(
    tables: MoodleTables, ids: list[int], plan: _Plan, params: UseStatsParams
) -> tuple[Select[Any], dict[str, ColumnElement[Any]]]:
    """The log rows the contract counts, each joined to the range(s) holding it.

    Returns the SELECT's FROM/WHERE (no columns chosen yet) and the column expressions.
    """
    log = tables.logstore_standard_log
    r = _ranges_table(plan)
    joined = log.join(r, and_(log.c.timecreated >= r.c.s, log.c.timecreated < r.c.e))
    conditions: list[ColumnElement[bool]] = [
        log.c.userid.in_(ids),
        log.c.timecreated >= plan.low,
        log.c.timecreated < plan.high,
        or_(log.c.origin.is_(None), log.c.origin != "cli"),
        log.c.action != "failed",
        log.c.realuserid.is_(None),
        ~and_(log.c.action == "graded", log.c.target == "user"),
    ]
    if params.enrolmentfilter:
        ue = tables.user_enrolments
        starts = (
            select(ue.c.userid, r.c.k, func.max(ue.c.timestart).label("es"))
            .select_from(ue.join(r, ue.c.timestart < r.c.e))
            .where(ue.c.status == 0, ue.c.userid.in_(ids))
            .group_by(ue.c.userid, r.c.k)
            .subquery("enrolstarts")
        )
        joined = joined.outerjoin(
            starts, and_(starts.c.userid == log.c.userid, starts.c.k == r.c.k)
        )
        conditions.append(or_(starts.c.es.is_(None), log.c.timecreated >= starts.c.es))
    columns: dict[str, ColumnElement[Any]] = {
        "userid": log.c.userid,
        "k": r.c.k,
        "t": log.c.timecreated,
        "id": log.c.id,
        "course": func.coalesce(log.c.courseid, 0),
        "logout": case((log.c.action.in_(LOGOUT_ACTIONS), 1), else_=0),
    }
    return select().select_from(joined).where(*conditions), columns


def stream_statement(
    tables: MoodleTables, ids: list[int], plan: _Plan, params: UseStatsParams
) -> Select[Any]:
    base, c = _filtered_rows(tables, ids, plan, params)
    return base.add_columns(c["userid"], c["k"], c["t"], c["course"], c["logout"]).order_by(
        c["userid"], c["k"], c["t"], c["id"]
    )


class _Days:
    """Local calendar day of an epoch second, by bisecting the local midnights of the span."""

    def __init__(self, tz: ZoneInfo, low: int, high: int) -> None:
        first = datetime.fromtimestamp(low, tz).date() - timedelta(days=1)
        last = datetime.fromtimestamp(max(low, high - 1), tz).date() + timedelta(days=1)
        self.midnights: list[int] = []
        day = first
        while day <= last:
            self.midnights.append(_local_midnight(day, tz))
            day += timedelta(days=1)

    def key(self, t: int) -> int:
        return bisect_right(self.midnights, t)


def _local_midnight(day: date, tz: ZoneInfo) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=tz).timestamp())


class _UseStatsFold:
    """Laps of one (user, range) trail, fed row by row in order."""

    __slots__ = ("by_course", "credit", "days", "now", "prev_course", "prev_logout", "prev_t", "t")

    def __init__(self, threshold: int, credit: int, now: int) -> None:
        self.t = threshold
        self.credit = credit
        self.now = now
        self.by_course: dict[int, int] = {}
        self.days: set[int] = set()
        self.prev_t: int | None = None
        self.prev_course = 0
        self.prev_logout = 0

    def add(self, t: int, course: int, logout: int, day: int) -> None:
        prev = self.prev_t
        if prev is not None and not self.prev_logout:
            lap = t - prev
            if lap > self.t:
                lap = min(self.credit, self.now - prev)
            if lap:
                self.by_course[self.prev_course] = self.by_course.get(self.prev_course, 0) + lap
        self.prev_t, self.prev_course, self.prev_logout = t, course, logout
        self.days.add(day)

    def result(self) -> TimeSpent:
        prev = self.prev_t
        if prev is not None and not self.prev_logout:
            lap = min(self.credit, self.now - prev)
            if lap:
                self.by_course[self.prev_course] = self.by_course.get(self.prev_course, 0) + lap
        by_course = {c: s for c, s in self.by_course.items() if s}
        return TimeSpent(sum(by_course.values()), by_course, len(self.days))


class _DedicationFold:
    """block_dedication's sessions over all rows (total) and per course (by_course)."""

    def __init__(self) -> None:
        self.total = 0
        self.first: int | None = None
        self.last = 0
        self.course_first: dict[int, int] = {}
        self.course_last: dict[int, int] = {}
        self.by_course: dict[int, int] = {}
        self.days: set[int] = set()

    def add(self, t: int, course: int, logout: int, day: int) -> None:
        if self.first is None:
            self.first = t
        elif t - self.last > DEDICATION_GAP:
            self.total += _session(self.first, self.last)
            self.first = t
        self.last = t
        if course in self.course_first:
            if t - self.course_last[course] > DEDICATION_GAP:
                session = _session(self.course_first[course], self.course_last[course])
                self.by_course[course] = self.by_course.get(course, 0) + session
                self.course_first[course] = t
        else:
            self.course_first[course] = t
        self.course_last[course] = t
        self.days.add(day)

    def result(self) -> TimeSpent:
        total = self.total
        if self.first is not None:
            total += _session(self.first, self.last)
        by_course = dict(self.by_course)
        for course, first in self.course_first.items():
            by_course[course] = by_course.get(course, 0) + _session(first, self.course_last[course])
        return TimeSpent(total, {c: s for c, s in by_course.items() if s}, len(self.days))


def _session(first: int, last: int) -> int:
    length = last - first
    return length if length > DEDICATION_MIN_SESSION else 0


def _empty(user_ids: Sequence[int], count: int) -> dict[int, list[TimeSpent]]:
    return {int(uid): [TimeSpent() for _ in range(count)] for uid in user_ids}


async def time_spent(
    conn: AsyncConnection,
    tables: MoodleTables,
    user_ids: Sequence[int],
    ranges: Sequence[tuple[int, int]],
    *,
    now: int,
    params: UseStatsParams,
    tz: ZoneInfo,
    algorithm: Algorithm = Algorithm.USE_STATS,
) -> dict[int, list[TimeSpent]]:
    """Time spent by each user in each range ``[start, end)`` (capped at ``now``), in order.

    Every requested user id is in the answer, with one ``TimeSpent`` per range.
    """
    result = _empty(user_ids, len(ranges))
    plan = _plan(ranges, now)
    if not result or not plan.ranges:
        return result
    days = _Days(tz, plan.low, plan.high)
    for ids in _chunks(list(result)):
        stream = await conn.stream(stream_statement(tables, ids, plan, params))
        fold: _UseStatsFold | _DedicationFold | None = None
        current: tuple[int, int] | None = None
        async for partition in stream.partitions(STREAM_BATCH):
            for userid, k, t, course, logout in partition:
                if (userid, k) != current:
                    if fold is not None and current is not None:
                        result[current[0]][current[1]] = fold.result()
                    current = (userid, k)
                    fold = (
                        _UseStatsFold(params.threshold, params.lastpingcredit, now)
                        if algorithm is Algorithm.USE_STATS
                        else _DedicationFold()
                    )
                assert fold is not None
                fold.add(t, course, logout, days.key(t))
        if fold is not None and current is not None:
            result[current[0]][current[1]] = fold.result()
    return result


# The window-function alternative, measured in bench/bench_timespent.py.


def _offset_case(tz: ZoneInfo, low: int, high: int, t: ColumnElement[Any]) -> ColumnElement[Any]:
    """``tz``'s UTC offset at ``t`` as a CASE over the transitions between low and high."""
    points = _transitions(tz, low, high)
    first = _utcoffset(tz, low)
    if not points:
        return literal(first, BigInteger)
    whens = []
    before = first
    for at, offset in points:
        whens.append((t < at, literal(before, BigInteger)))
        before = offset
    return case(*whens, else_=literal(before, BigInteger))


def _utcoffset(tz: ZoneInfo, t: int) -> int:
    offset = datetime.fromtimestamp(t, tz).utcoffset()
    return int(offset.total_seconds()) if offset is not None else 0


def _transitions(tz: ZoneInfo, low: int, high: int) -> list[tuple[int, int]]:
    """(instant, new offset) of each offset change in [low, high), by days then bisection."""
    found: list[tuple[int, int]] = []
    step = 86400
    a = low
    off_a = _utcoffset(tz, a)
    while a < high:
        b = min(a + step, high)
        off_b = _utcoffset(tz, b)
        if off_b != off_a:
            lo, hi = a, b
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if _utcoffset(tz, mid) == off_a:
                    lo = mid
                else:
                    hi = mid
            found.append((hi, off_b))
        a, off_a = b, off_b
    return found


async def sql_window_use_stats(
    conn: AsyncConnection,
    tables: MoodleTables,
    user_ids: Sequence[int],
    ranges: Sequence[tuple[int, int]],
    *,
    now: int,
    params: UseStatsParams,
    tz: ZoneInfo,
) -> dict[int, list[TimeSpent]]:
    """use_stats with LEAD() and SUM() in the database (two statements per chunk)."""
    result = _empty(user_ids, len(ranges))
    plan = _plan(ranges, now)
    if not result or not plan.ranges:
        return result
    sums: dict[tuple[int, int], dict[int, int]] = {}
    active: dict[tuple[int, int], int] = {}
    for ids in _chunks(list(result)):
        base, c = _filtered_rows(tables, ids, plan, params)
        following = func.lead(c["t"]).over(
            partition_by=(c["userid"], c["k"]), order_by=(c["t"], c["id"])
        )
        laps = base.add_columns(
            c["userid"].label("userid"),
            c["k"].label("k"),
            c["t"].label("t"),
            c["course"].label("course"),
            c["logout"].label("logout"),
            following.label("nt"),
        ).subquery("laps")
        credit = case(
            (literal(now, BigInteger) - laps.c.t < params.lastpingcredit, now - laps.c.t),
            else_=literal(params.lastpingcredit, BigInteger),
        )
        gap = laps.c.nt - laps.c.t
        lap = case(
            (laps.c.logout == 1, literal(0, BigInteger)),
            (or_(laps.c.nt.is_(None), gap > params.threshold), credit),
            else_=gap,
        )
        total = select(laps.c.userid, laps.c.k, laps.c.course, func.sum(lap)).group_by(
            laps.c.userid, laps.c.k, laps.c.course
        )
        for userid, k, course, seconds in (await conn.execute(total)).all():
            if seconds:
                sums.setdefault((userid, k), {})[int(course)] = int(seconds)
        local = c["t"] + _offset_case(tz, plan.low, plan.high, c["t"])
        day = local - local % 86400
        count_days = base.add_columns(c["userid"], c["k"], func.count(func.distinct(day))).group_by(
            c["userid"], c["k"]
        )
        for userid, k, n in (await conn.execute(count_days)).all():
            active[(userid, k)] = int(n)
    for (userid, k), n in active.items():
        by_course = sums.get((userid, k), {})
        result[userid][k] = TimeSpent(sum(by_course.values()), by_course, n)
    return result


__all__ = [
    "Algorithm",
    "TimeSpent",
    "UseStatsParams",
    "time_spent",
    "use_stats_params",
]
