"""Time spent from the standard log: block_use_stats' laps (contract section 5) or block_dedication.

:func:`folded_trails` is the way every request computes it: each learner's counted and login rows
for all the ranges asked, read once in time order (by user, so through the userid index) and
folded here, logins and both algorithms in one pass. For many learners on PostgreSQL it calls
:func:`window_trails`, which sums use_stats and logins in the database with LEAD() instead; both
are tested against ``tests/timespent_reference.py`` on every database (BENCHMARKS.md compares
their speed).

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

import asyncio
import contextlib
import dataclasses
from bisect import bisect_right
from collections import deque
from collections.abc import (
    AsyncGenerator,
    Awaitable,
    Callable,
    Container,
    Iterable,
    Mapping,
    Sequence,
)
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from itertools import pairwise
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    BindParameter,
    ColumnElement,
    Integer,
    Select,
    Subquery,
    Table,
    and_,
    any_,
    bindparam,
    case,
    cast,
    func,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY

from definum_gql.moodle.queries import (
    BATCH_LEARNERS,
    COUNTED,
    LOGIN,
    LOGOUT,
    LOGOUT_ACTIONS,
    MAX_ID,
    counted_row,
    filter_start,
    is_batch,
    login_row,
    logout_row,
    row_kind,
)
from definum_gql.moodle.reader import CHUNK, Reader, Row, all_ended
from definum_gql.moodle.site import RequestContext, UseStatsParams, use_stats_params
from definum_gql.moodle.tables import MoodleTables

#: From this many learners PostgreSQL sums use_stats itself (window_trails), in this many parts
#: at once (BENCHMARKS.md: 100 learners 0.12 -> 0.06 s, every learner 5.6 -> 2.5 s).
WINDOW_LEARNERS = BATCH_LEARNERS
WINDOW_PARTS = 2
#: Rows folded at a time while MariaDB sends the next (Reader.batches).
STREAM_BATCH = 20_000
#: Rows folded at a time from a batch's learner parts (_fold_learner_streams).
LEARNER_STREAM_BATCH = 4_000
#: Time slices of a month read by ids (_span_batches).
SPAN_SLICES = 4
DEDICATION_GAP = 3600
#: Earlier than any time a log or an enrolment holds (a BIGINT).
BEFORE_ALL = -(2**63)
DEDICATION_MIN_SESSION = 120

_Part = TypeVar("_Part")


class Algorithm(StrEnum):
    USE_STATS = "use_stats"
    DEDICATION = "dedication"


@dataclass(frozen=True)
class TimeSpent:
    """Seconds spent in one range: the total, per course (0 = site, non-zero only), active days."""

    total: int = 0
    by_course: Mapping[int, int] = field(default_factory=dict)
    active_days: int = 0


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


@dataclass(frozen=True)
class _WindowArgs:
    """What a window statement reads, as values that change from call to call, and its shape.

    The statement is built and compiled once per shape (the numbers of ranges and of UTC offset
    changes, the enrolment filter, ids listed or only bounded, sums as integers, one sort key,
    the learner index's order: :attr:`shape`), with these values as named
    parameters (:func:`_window_statement`): a call then costs only its values (building and
    compiling it took 6-11 ms of CPU a part, BENCHMARKS.md).
    """

    plan: _Plan
    now: int
    threshold: int
    credit: int
    #: The timezone's UTC offset at the span's start, then each change: (instant, new offset).
    offset: int
    changes: tuple[tuple[int, int], ...]
    enrolmentfilter: bool
    #: The learners; for a list longer than CHUNK, only its first and last (others dropped later).
    ids: tuple[int, ...]
    bounded: bool
    #: The rows read, ``[low, high)``, and summed, those before ``keep`` (:meth:`during`).
    low: int
    keep: int
    high: int
    #: The log has an index in learner and time order (``Statements.log_by_learner``).
    by_learner: bool

    @classmethod
    def of(
        cls,
        plan: _Plan,
        params: UseStatsParams,
        tz: ZoneInfo,
        now: int,
        ids: Sequence[int],
        *,
        by_learner: bool = False,
    ) -> _WindowArgs:
        return cls(
            plan=plan,
            now=now,
            threshold=params.threshold,
            credit=params.lastpingcredit,
            offset=_utcoffset(tz, plan.low),
            changes=tuple(_transitions(tz, plan.low, plan.high)),
            enrolmentfilter=params.enrolmentfilter,
            ids=(),
            bounded=False,
            low=plan.low,
            keep=plan.high,
            high=plan.high,
            by_learner=by_learner,
        ).among(ids)

    def among(self, ids: Sequence[int]) -> _WindowArgs:
        """The same statement for other learners (a part of the batch)."""
        bounded = len(ids) > CHUNK
        listed = (min(ids), max(ids)) if bounded else tuple(ids)
        return dataclasses.replace(self, ids=listed, bounded=bounded)

    def during(self, low: int, keep: int) -> _WindowArgs:
        """The same statement summing the rows in ``[low, keep)`` alone, ``keep`` a local
        midnight: it reads on to ``keep`` + the threshold (included), so that a row's lap sees
        its next row (one later than that earns the credit either way) and the row closes its
        day."""
        return dataclasses.replace(
            self, low=low, keep=keep, high=min(self.plan.high, keep + self.threshold + 1)
        )

    @property
    def narrow(self) -> bool:
        """Whether every lap fits a 32-bit integer (_window_statement): a gap is at most the
        threshold and the span, a credit at most the credit and the time since the span's
        start (only rows from before 1958 make it larger)."""
        gap = min(self.threshold, self.plan.high - self.plan.low)
        credit = min(self.credit, self.now - self.plan.low)
        return max(gap, credit) < 2**31

    @property
    def slots(self) -> int:
        """Ranges a learner's trails may be in: the caller's indexes."""
        return max(k for k, _, _ in self.plan.ranges) + 1

    @property
    def packed(self) -> bool:
        """Whether each row's trail and time fit one 63-bit sort key (_window_statement): the
        ids and ranges below 2**30 trails of 2 (counted or not), the span below 2**32 s."""
        ids = self.ids or (0,)
        span = self.plan.high - self.plan.low
        return min(ids) >= 0 and (max(ids) + 1) * self.slots <= 2**30 and span < 2**32

    @property
    def shape(self) -> tuple[int, int, bool, bool, bool, bool, bool]:
        return (
            len(self.plan.ranges),
            len(self.changes),
            self.enrolmentfilter,
            self.bounded,
            self.narrow,
            self.packed,
            self.by_learner,
        )

    def values(self) -> dict[str, Any]:
        """The named parameters, by name."""
        found: dict[str, Any] = {
            "now": self.now,
            "threshold": self.threshold,
            "credit": self.credit,
            "low": self.low,
            "keep": self.keep,
            "high": self.high,
            "off0": self.offset,
        }
        for i, (k, start, end) in enumerate(self.plan.ranges):
            found.update({f"k{i}": k, f"s{i}": start, f"e{i}": end})
        for i, (at, offset) in enumerate(self.changes, 1):
            found.update({f"at{i}": at, f"off{i}": offset})
        if self.packed:
            found.update(slots=self.slots, base=self.plan.low)
        if self.bounded:
            found["first"], found["last"] = self.ids
        else:
            found["learners"] = list(self.ids)
        return found


class _Binds:
    """The named parameters of one statement: one object per name, holding this call's value."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self._values = values
        self._made: dict[str, BindParameter[Any]] = {}

    def __call__(self, name: str) -> BindParameter[Any]:
        found = self._made.get(name)
        if found is None:
            found = self._made[name] = bindparam(name, self._values[name], type_=BigInteger)
        return found


def _ranges_table(args: _WindowArgs, v: _Binds, name: str) -> Subquery:
    parts = [
        select(v(f"k{i}").label("k"), v(f"s{i}").label("s"), v(f"e{i}").label("e"))
        for i in range(len(args.plan.ranges))
    ]
    query = parts[0] if len(parts) == 1 else union_all(*parts)
    return query.subquery(name)


def _among(
    column: ColumnElement[Any], args: _WindowArgs, v: _Binds, as_array: bool
) -> ColumnElement[bool]:
    """The learners: their bounds for a long list (the caller drops others); else an array
    parameter (PostgreSQL: one parameter whatever the number), or an IN list of values."""
    if args.bounded:
        return and_(column >= v("first"), column <= v("last"))
    if as_array:
        ids = bindparam("learners", list(args.ids), type_=ARRAY(BigInteger))
        return column == any_(ids)
    return column.in_(list(args.ids))


def _window_statement(tables: MoodleTables, args: _WindowArgs, as_array: bool) -> Select[Any]:
    """Per (user, range, course): use_stats seconds, local days, logins.

    The trail is the user's counted rows in the range (login rows that are not counted are
    trails of their own). Each row's lap comes from LEAD() (:func:`_laps`); a row closes a
    local day when the next row is on another day or there is none, so the sum of those marks
    over a user's courses is its day count (LAG() for the day cost a second window).
    block_use_stats' enrolment filter drops the rows before the latest enrolment start: a
    prefix of the trail, so the laps and days of the rows kept are the same computed over the
    whole trail, and the filter applies after the window (joining the starts before it cost
    PostgreSQL a sort).

    Every value that changes between calls is a named parameter of ``args`` (the constants stay
    inline), so that one compiled statement serves every call of its shape.
    """
    v = _Binds(args.values())
    laps = _laps(tables.logstore_standard_log, args, v, as_array)
    source: Any = laps
    # Rows past ``keep`` are read for the laps before it (_WindowArgs.during) and add nothing
    # (a CASE rather than a WHERE: PostgreSQL then expects every row and hashes the groups
    # instead of sorting 1.2 million rows for a GroupAggregate).
    kept = laps.c.t < v("keep")
    folded: ColumnElement[bool] = and_(laps.c.used == 1, kept)
    if args.enrolmentfilter:
        ue, starts_r = tables.user_enrolments, _ranges_table(args, v, "starts_ranges")
        starts = (
            select(ue.c.userid, starts_r.c.k, func.max(ue.c.timestart).label("es"))
            .select_from(ue.join(starts_r, ue.c.timestart < starts_r.c.e))
            .where(filter_start(ue), _among(ue.c.userid, args, v, as_array))
            .group_by(ue.c.userid, starts_r.c.k)
            .subquery("enrolstarts")
        )
        source = laps.outerjoin(
            starts, and_(starts.c.userid == laps.c.userid, starts.c.k == laps.c.k)
        )
        folded = and_(folded, or_(starts.c.es.is_(None), laps.c.t >= starts.c.es))

    def day(t: ColumnElement[Any]) -> ColumnElement[Any]:
        local = t + _offset_case(args, v, t)
        return local - local % 86400

    zero, one = literal(0, BigInteger), literal(1, BigInteger)
    credit = case((v("now") - laps.c.t < v("credit"), v("now") - laps.c.t), else_=v("credit"))
    gap = laps.c.nt - laps.c.t
    lap = case(
        (or_(~folded, laps.c.logout == 1), zero),
        (or_(laps.c.nt.is_(None), gap > v("threshold")), credit),
        else_=gap,
    )
    closes_day = case(
        (~folded, zero),
        (or_(laps.c.nt.is_(None), day(laps.c.nt) != day(laps.c.t)), one),
        else_=zero,
    )
    login = case((kept, laps.c.login), else_=zero)
    # Summed as integers where a lap fits one (PostgreSQL sums integers into a bigint in place,
    # bigints into a numeric held in memory per group): a lap is at most the credit or the
    # least of the threshold and the span.
    sums: list[ColumnElement[Any]] = [lap, closes_day, login]
    if args.narrow:
        sums = [cast(x, Integer) for x in sums]
    # Grouped course first: the rows come sorted by user, and PostgreSQL would otherwise sort
    # them again by course for a GroupAggregate (a hash of the ~2 groups per user is cheaper).
    return (
        select(
            laps.c.userid,
            laps.c.k,
            laps.c.course,
            *(func.sum(x) for x in sums),
        )
        .select_from(source)
        .group_by(laps.c.course, laps.c.k, laps.c.userid)
    )


def _laps(log: Table, args: _WindowArgs, v: _Binds, as_array: bool) -> Subquery:
    """Each counted or login row of :func:`_window_statement` with its trail's next time.

    Where the log has the learner index, in its order (:func:`_indexed_laps`). Otherwise the
    rows are sorted, and their values are computed first, once (OFFSET 0 keeps PostgreSQL from
    merging the two queries, which evaluated each text comparison at every use and sorted the
    text columns): the sort carries integers alone. Where it fits 63 bits (``args.packed``),
    the sort has one key instead of four (a part's 1.2 million rows sorted in ~0.57 instead
    of ~1.0 s, BENCHMARKS.md): the trail (user, range, counted or not) above bit 32, the time
    since the span's start below it; the next row is the trail's when its key agrees above
    bit 32, and its time is as far from this row's as its key is.
    """
    r = _ranges_table(args, v, "ranges")
    if args.by_learner:
        return _indexed_laps(log, r, args, v, as_array)
    scan = (
        select(
            log.c.userid.label("userid"),
            r.c.k.label("k"),
            log.c.timecreated.label("t"),
            log.c.id.label("id"),
            func.coalesce(log.c.courseid, 0).label("course"),
            row_kind(log).label("kind"),
        )
        .select_from(_span_rows(log, r))
        .where(*_span_where(log, args, v, as_array))
        .offset(0)
        .subquery("scan")
    )

    def bit(flag: int, shift: int) -> ColumnElement[Any]:
        return scan.c.kind.op("&")(literal(flag, Integer)).op(">>")(literal(shift, Integer))

    used = bit(COUNTED, 1)
    nt: ColumnElement[Any]
    if args.packed:
        trail = (scan.c.userid * v("slots") + scan.c.k) * 2 + used
        key = trail * literal(2**32, BigInteger) + (scan.c.t - v("base"))
        after = func.lead(key).over(order_by=(key, scan.c.id))
        high = literal(32, Integer)
        nt = case((after.op(">>")(high) == key.op(">>")(high), after - key + scan.c.t))
    else:
        nt = func.lead(scan.c.t).over(
            partition_by=(scan.c.userid, scan.c.k, used), order_by=(scan.c.t, scan.c.id)
        )
    return (
        select(
            scan.c.userid,
            scan.c.k,
            scan.c.t,
            scan.c.course,
            bit(LOGOUT, 2).label("logout"),
            used.label("used"),
            bit(LOGIN, 0).label("login"),
            nt.label("nt"),
        )
        .where(scan.c.kind.op("&")(literal(LOGIN | COUNTED, Integer)) != 0)
        .subquery("laps")
    )


def _span_rows(log: Table, r: Subquery) -> Any:
    """The log's rows, each with the range (``r``) it lies in."""
    return log.join(r, and_(log.c.timecreated >= r.c.s, log.c.timecreated < r.c.e))


def _span_where(
    log: Table, args: _WindowArgs, v: _Binds, as_array: bool
) -> tuple[ColumnElement[bool], ...]:
    """The rows a window statement reads: its learners' in ``[low, high)``."""
    return (
        _among(log.c.userid, args, v, as_array),
        log.c.timecreated >= v("low"),
        log.c.timecreated < v("high"),
    )


def _indexed_laps(
    log: Table, r: Subquery, args: _WindowArgs, v: _Binds, as_array: bool
) -> Subquery:
    """:func:`_laps` over the learner index: PostgreSQL reads the rows in learner and time
    order and sorts each learner's alone (every learner's month 1.78 s against 2.2 s for the
    sorted statement of :func:`_laps`, 500 learners 93 against 107 ms, BENCHMARKS.md)."""
    counted, login = counted_row(log), login_row(log)
    used = case((counted, 1), else_=0)
    logout = logout_row(log)
    lead = func.lead(log.c.timecreated).over(
        partition_by=(log.c.userid, r.c.k, used), order_by=(log.c.timecreated, log.c.id)
    )
    return (
        select(
            log.c.userid.label("userid"),
            r.c.k.label("k"),
            log.c.timecreated.label("t"),
            func.coalesce(log.c.courseid, 0).label("course"),
            case((logout, 1), else_=0).label("logout"),
            used.label("used"),
            case((login, 1), else_=0).label("login"),
            lead.label("nt"),
        )
        .select_from(_span_rows(log, r))
        .where(*_span_where(log, args, v, as_array), or_(counted, login))
        .subquery("laps")
    )


class _Days:
    """Local calendar days of the span, as the epoch seconds of their midnights."""

    def __init__(self, tz: ZoneInfo, low: int, high: int) -> None:
        first = datetime.fromtimestamp(low, tz).date() - timedelta(days=1)
        last = datetime.fromtimestamp(max(low, high - 1), tz).date() + timedelta(days=2)
        self.midnights: list[int] = []
        day = first
        while day <= last:
            self.midnights.append(_local_midnight(day, tz))
            day += timedelta(days=1)

    def end_of_day(self, t: int) -> int:
        """The next local midnight after ``t``."""
        return self.midnights[bisect_right(self.midnights, t)]


@lru_cache(maxsize=256)
def _calendar(tz: ZoneInfo, low: int, high: int) -> _Days:
    """The calendar of a span: requests for the same month share it (it took 0.17 ms)."""
    return _Days(tz, low, high)


def _local_midnight(day: date, tz: ZoneInfo) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=tz).timestamp())


class _UseStatsFold:
    """Laps of one (user, range) trail, fed its rows in time order."""

    __slots__ = (
        "by_course",
        "credit",
        "day_end",
        "days",
        "now",
        "prev_course",
        "prev_logout",
        "prev_t",
        "threshold",
    )

    def __init__(self, threshold: int, credit: int, now: int) -> None:
        self.threshold = threshold
        self.credit = credit
        self.now = now
        self.by_course: dict[int, int] = {}
        self.days = 0
        self.day_end = -1
        self.prev_t = -1
        self.prev_course = 0
        self.prev_logout = 1

    def add(self, t: int, course: int, logout: int, calendar: _Days) -> None:
        if not self.prev_logout:
            lap = t - self.prev_t
            if lap > self.threshold:
                lap = min(self.credit, self.now - self.prev_t)
            by_course = self.by_course
            by_course[self.prev_course] = by_course.get(self.prev_course, 0) + lap
        self.prev_t, self.prev_course, self.prev_logout = t, course, logout
        if t >= self.day_end:
            self.days += 1
            self.day_end = calendar.end_of_day(t)

    def result(self) -> TimeSpent:
        if not self.prev_logout:
            lap = min(self.credit, self.now - self.prev_t)
            self.by_course[self.prev_course] = self.by_course.get(self.prev_course, 0) + lap
        by_course = {c: s for c, s in self.by_course.items() if s}
        return TimeSpent(sum(by_course.values()), by_course, self.days)


class _DedicationFold:
    """block_dedication's sessions over all rows (total) and per course (by_course)."""

    def __init__(self) -> None:
        self.total = 0
        self.first: int | None = None
        self.last = 0
        self.course_first: dict[int, int] = {}
        self.course_last: dict[int, int] = {}
        self.by_course: dict[int, int] = {}
        self.days = 0
        self.day_end = -1

    def add(self, t: int, course: int, logout: int, calendar: _Days) -> None:
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
        if t >= self.day_end:
            self.days += 1
            self.day_end = calendar.end_of_day(t)

    def result(self) -> TimeSpent:
        total = self.total
        if self.first is not None:
            total += _session(self.first, self.last)
        by_course = dict(self.by_course)
        for course, first in self.course_first.items():
            by_course[course] = by_course.get(course, 0) + _session(first, self.course_last[course])
        return TimeSpent(total, {c: s for c, s in by_course.items() if s}, self.days)


def _session(first: int, last: int) -> int:
    length = last - first
    return length if length > DEDICATION_MIN_SESSION else 0


@dataclass(frozen=True)
class Trail:
    """One user's rows in one range: logins, and time spent by each algorithm folded."""

    logins: int = 0
    spent: Mapping[Algorithm, TimeSpent] = field(default_factory=dict)


async def folded_trails(
    ctx: RequestContext,
    user_ids: Sequence[int],
    ranges: Sequence[tuple[int, int]],
    algorithms: Sequence[Algorithm] = (Algorithm.USE_STATS,),
    *,
    params: UseStatsParams | None = None,
    tz: ZoneInfo | None = None,
) -> dict[int, list[Trail]]:
    """Each user's :class:`Trail` in each range ``[start, end)`` (capped at now), in order.

    The users' counted and login rows are read once for every range (one statement, or one
    per part or time slice: :func:`_learner_rows`, :func:`_span_batches`; plus one for
    enrolment starts when block_use_stats' enrolment filter is on); :func:`fold_trails` folds.
    On PostgreSQL, use_stats for many learners is summed in the database instead
    (:func:`window_trails`): sending 2.5 million rows took longer than the whole window.
    """
    params = params or ctx.use_stats
    plan = _plan(ranges, ctx.now)
    ids = sorted({int(u) for u in user_ids})
    if (
        len(ids) >= WINDOW_LEARNERS
        and tuple(algorithms) == (Algorithm.USE_STATS,)
        and ctx.reader.database.backend == "postgresql"
    ):
        return await window_trails(ctx, ids, ranges, params=params, tz=tz, parts=WINDOW_PARTS)
    starts: Sequence[Sequence[Any]] = ()
    rows: Sequence[Sequence[Any]] = ()
    if ids and plan.ranges:

        async def read_starts(c: RequestContext) -> Sequence[Sequence[Any]]:
            if not params.enrolmentfilter:
                return ()
            return await c.reader.rows(c.statements.enrolment_starts, ids, high=plan.high)

        if len(ids) > CHUNK:
            starts = await read_starts(ctx)
            wanted = set(ids)
            one = _one_range(plan, algorithms, starts, params, tz or ctx.tz, ctx.now)
            async with aclosing(_span_batches(ctx, ids, plan)) as span:
                if one is not None:
                    # Folded batch by batch as the rows arrive (MariaDB sends the next meanwhile).
                    feed = one.feed_by_learner if ctx.statements.batch_reads_ids else one.feed
                    async for batch in span:
                        feed(batch, wanted)
                    return one.into(_no_trails(ids, ranges, algorithms))
                rows = [r async for batch in span for r in batch if r[0] in wanted]
        elif (
            is_batch(len(ids))
            and ctx.statements.log_by_learner
            and ctx.reader.streams
            and _one_range_applies(plan, algorithms)
        ):
            # MariaDB with the learner index: each part's rows are folded as they arrive.
            def one_of(starts: Sequence[Sequence[Any]]) -> _OneRange:
                found = _one_range(plan, algorithms, starts, params, tz or ctx.tz, ctx.now)
                assert found is not None
                return found

            one = await _fold_learner_streams(ctx, ids, plan, read_starts, one_of)
            return one.into(_no_trails(ids, ranges, algorithms))
        elif is_batch(len(ids)) and params.enrolmentfilter:
            # A batch's enrolment starts are read beside its rows, not before them (MariaDB
            # with the learner index, a GraphQL page of 500: its log read began ~10 ms later).
            starts, rows = await ctx.beside(read_starts, lambda c: _learner_rows(c, ids, plan))
        else:
            starts = await read_starts(ctx)
            rows = await _learner_rows(ctx, ids, plan)
    return fold_trails(
        ids, ranges, rows, starts, algorithms, params=params, tz=tz or ctx.tz, now=ctx.now
    )


async def _learner_rows(ctx: RequestContext, ids: Sequence[int], plan: _Plan) -> list[Row]:
    """The learners' rows (``ids`` sorted), each learner's in time order.

    Where the log has the learner index (``Statements.log_by_learner``), a batch is cut into
    WINDOW_PARTS id runs sent at once on connections the pool spares: the server reads each on
    a core of its own (MariaDB, 500 learners' month with the index: 180-250 -> 140-180 ms,
    BENCHMARKS.md). The runs follow each other in id order, so their rows do too. Where a batch
    reads the range of the table instead (``Statements.batch_reads_ids``), the range is cut in
    time slices: each learner's rows then come in a run per slice, the slices in time order.
    """
    statements = ctx.statements
    if statements.batch_reads_ids and is_batch(len(ids)):
        found = await _in_slices(
            ctx, plan, lambda reader, span: reader.rows(statements.log_rows, ids, **span)
        )
    else:
        found = await _in_parts(
            ctx,
            ids,
            _learner_runs(ctx, ids),
            lambda reader, run: reader.rows(statements.log_rows, run, low=plan.low, high=plan.high),
        )
    return [row for rows in found for row in rows]


def _learner_runs(ctx: RequestContext, ids: Sequence[int]) -> int:
    """Into how many id runs a list of learners is cut (each run a batch statement)."""
    split = len(ids) >= WINDOW_LEARNERS and ctx.statements.log_by_learner
    return WINDOW_PARTS if split else 1


async def _fold_learner_streams(
    ctx: RequestContext,
    ids: Sequence[int],
    plan: _Plan,
    read_starts: Callable[[RequestContext], Awaitable[Sequence[Sequence[Any]]]],
    one_of: Callable[[Sequence[Sequence[Any]]], _OneRange],
) -> _OneRange:
    """A batch's rows (``ids`` sorted) read in the id runs of :func:`_learner_rows`, at once,
    and folded into ``one_of(enrolment starts)`` batch by batch as they arrive
    (:meth:`Reader.batches`), while the next batches are on their way; the enrolment starts are
    read beside them, and the batches that come before them wait.

    MariaDB with the learner index, a GraphQL page of 500 learners: 162-164 -> 133-142 ms (the
    rows had been parsed, then folded once all had come, BENCHMARKS.md).
    """
    one: _OneRange | None = None
    waiting: list[list[Row]] = []

    async def starts(c: RequestContext) -> None:
        nonlocal one
        found = one_of(await read_starts(c))
        for batch in waiting:  # each part's in order; parts hold different learners
            found.feed_by_learner(batch)
        waiting.clear()
        one = found

    async def part(reader: Reader, run: list[int]) -> list[Row]:
        low, high = plan.low, plan.high
        stream = reader.batches(
            ctx.statements.log_rows, LEARNER_STREAM_BATCH, run, low=low, high=high
        )
        async with aclosing(stream):
            async for batch in stream:
                if one is None:
                    waiting.append(batch)
                else:
                    one.feed_by_learner(batch)
        return []

    await ctx.beside(starts, lambda c: _in_parts(c, ids, _learner_runs(c, ids), part))
    assert one is not None
    return one


async def _in_parts(
    ctx: RequestContext,
    ids: Sequence[int],
    parts: int,
    read: Callable[[Reader, list[int]], Awaitable[list[Row]]],
) -> list[list[Row]]:
    """``read`` of ``ids`` (sorted) cut into up to ``parts`` id runs, in id order, sent at once
    on the request's connection and those the pool spares (fewer runs when it spares fewer)."""
    return await _side_by_side(ctx, parts, lambda n: _parts(ids, n), read)


async def _in_slices(
    ctx: RequestContext,
    plan: _Plan,
    read: Callable[[Reader, dict[str, int]], Awaitable[list[Row]]],
) -> list[list[Row]]:
    """``read`` of each time slice of ``plan`` that holds rows, in time order, sent at once
    (WINDOW_PARTS slices, fewer when the pool spares fewer connections). ``read`` is given the
    slice's ``low``, ``high``, ``first_id`` and ``last_id`` (:func:`_slice_span`)."""

    async def one(reader: Reader, cut: tuple[int, int]) -> list[Row]:
        span = await _slice_span(reader, ctx, *cut)
        return [] if span is None else await read(reader, span)

    return await _side_by_side(ctx, WINDOW_PARTS, lambda n: _slices(plan.low, plan.high, n), one)


async def _side_by_side(
    ctx: RequestContext,
    parts: int,
    cut: Callable[[int], list[_Part]],
    read: Callable[[Reader, _Part], Awaitable[list[Row]]],
) -> list[list[Row]]:
    """``read`` of each of the ``cut(n)`` parts, sent at once on the request's connection and
    the ``n - 1`` (at most ``parts - 1``) the pool spares; the answers in the parts' order."""
    async with ctx.reader.side_by_side(parts - 1) as readers:
        # Every part ends before the readers do (one left running on the request's own
        # connection would collide with its next statement).
        return await all_ended(
            *(read(reader, part) for reader, part in zip(readers, cut(len(readers)), strict=False))
        )


def _slices(low: int, high: int, parts: int) -> list[tuple[int, int]]:
    """``[low, high)`` cut into ``parts`` time slices of about the same length, in order."""
    cuts = [low + (high - low) * i // parts for i in range(parts + 1)]
    return [(a, b) for a, b in pairwise(cuts) if a < b]


def _day_slices(tz: ZoneInfo, low: int, high: int, parts: int) -> list[tuple[int, int]]:
    """``[low, high)`` cut into up to ``parts`` slices of about the same length at local
    midnights (fewer when the span holds fewer midnights), in order."""
    cuts = {low, high}
    for start, _ in _slices(low, high, parts)[1:]:
        midnight = _local_midnight(datetime.fromtimestamp(start, tz).date(), tz)
        if low < midnight < high:
            cuts.add(midnight)
    return list(pairwise(sorted(cuts)))


async def _slice_span(
    reader: Reader, ctx: RequestContext, low: int, high: int
) -> dict[str, Any] | None:
    """What a batch statement reading ``[low, high)`` by ids is sent: the range, and the first
    and last id of its rows (``Statements.log_ids``); None when it holds no row."""
    found = await reader.rows(ctx.statements.log_ids, low=low, high=high)
    first, last = found[0] if found else (None, None)
    if first is None or last is None:
        return None
    # A slice reaching now is read to the last id: rows written since the bounds were read
    # come after them.
    last_id = MAX_ID if high > ctx.now else int(last)
    return {"low": low, "high": high, "first_id": int(first), "last_id": last_id}


async def _span_batches(
    ctx: RequestContext, ids: Sequence[int], plan: _Plan
) -> AsyncGenerator[list[Row], None]:
    """The rows of the learners ``ids[0]``..``ids[-1]`` in batches as they arrive: in time
    order (``Statements.log_span``), or where a batch reads the range of the table by ids
    (``Statements.batch_reads_ids``) learner after learner within each time slice
    (``Statements.log_slice``), the slices in time order.

    Slices are read by the request's connection and one the pool spares, taking turns: while
    one slice's rows are folded here, the server reads and sorts the next on another core.
    """
    statements = ctx.statements
    learners: dict[str, Any] = {"first": ids[0], "last": ids[-1]}
    if not statements.batch_reads_ids:
        stream = ctx.reader.batches(
            statements.log_span, STREAM_BATCH, low=plan.low, high=plan.high, **learners
        )
        async with aclosing(stream):
            async for batch in stream:
                yield batch
        return

    async def sliced(reader: Reader, cut: tuple[int, int]) -> AsyncGenerator[list[Row], None]:
        span = await _slice_span(reader, ctx, *cut)
        if span is not None:
            stream = reader.batches(statements.log_slice, STREAM_BATCH, **span, **learners)
            async with aclosing(stream):
                async for batch in stream:
                    yield batch

    Started = tuple[Reader, AsyncGenerator[list[Row], None], asyncio.Future[list[Row] | None]]

    def start(reader: Reader, cut: tuple[int, int]) -> Started:
        stream = sliced(reader, cut)
        # Its first batch is asked for now, so that its statement runs while others are read.
        return reader, stream, asyncio.ensure_future(anext(stream, None))

    async with ctx.reader.side_by_side(WINDOW_PARTS - 1) as readers:
        cuts = _slices(plan.low, plan.high, SPAN_SLICES)
        running = deque(start(reader, cut) for reader, cut in zip(readers, cuts, strict=False))
        following = iter(cuts[len(running) :])
        try:
            while running:
                reader, stream, head = running[0]
                first = await head
                if first is not None:
                    yield first
                    async for batch in stream:
                        yield batch
                running.popleft()
                cut = next(following, None)
                if cut is not None:
                    running.append(start(reader, cut))
        finally:
            for _, _, head in running:
                head.cancel()
            try:
                await asyncio.gather(*(head for _, _, head in running), return_exceptions=True)
            finally:
                # Every stream closed, even if one fails to or a second cancel cut the wait
                # short (a stream still running then refuses: its reader is closed below).
                for _, stream, _ in running:
                    with contextlib.suppress(Exception):
                        await stream.aclose()


def _no_trails(
    user_ids: Iterable[int], ranges: Sequence[object], algorithms: Sequence[Algorithm]
) -> dict[int, list[Trail]]:
    """Every user with an empty trail in every range: what a user without rows gets."""
    empty = {a: TimeSpent() for a in algorithms}
    return {int(u): [Trail(0, empty) for _ in ranges] for u in user_ids}


def _one_range(
    plan: _Plan,
    algorithms: Sequence[Algorithm],
    enrolment_starts: Sequence[Sequence[Any]],
    params: UseStatsParams,
    tz: ZoneInfo,
    now: int,
) -> _OneRange | None:
    """The loop for one range of use_stats alone (what requests ask), or None for the rest."""
    if not _one_range_applies(plan, algorithms):
        return None
    k, start, end = plan.ranges[0]
    enrolled = _enrolled(plan.ranges, enrolment_starts) if params.enrolmentfilter else {}
    starts = {uid: t for (uid, _), t in enrolled.items()}
    return _OneRange(k, start, end, starts, params, now, _calendar(tz, plan.low, plan.high))


def _one_range_applies(plan: _Plan, algorithms: Sequence[Algorithm]) -> bool:
    return len(plan.ranges) == 1 and tuple(algorithms) == (Algorithm.USE_STATS,)


def _enrolled(
    kept: Sequence[tuple[int, int, int]], enrolment_starts: Sequence[Sequence[Any]]
) -> dict[tuple[int, int], int]:
    """Where each (user, range) trail starts: block_use_stats starts a range no earlier than the
    learner's latest enrolment start before its end."""
    enrolled: dict[tuple[int, int], int] = {}
    for uid, timestart in enrolment_starts:
        for k, _, end in kept:
            key = (int(uid), k)
            if timestart < end and timestart > enrolled.get(key, BEFORE_ALL):
                enrolled[key] = int(timestart)
    return enrolled


def log_span(ranges: Sequence[tuple[int, int]], now: int) -> tuple[int, int] | None:
    """The ``[low, high)`` of log rows that ``ranges`` need (None: nothing before now)."""
    plan = _plan(ranges, now)
    return (plan.low, plan.high) if plan.ranges else None


def fold_trails(
    user_ids: Sequence[int],
    ranges: Sequence[tuple[int, int]],
    rows: Sequence[Sequence[Any]],
    enrolment_starts: Sequence[Sequence[Any]],
    algorithms: Sequence[Algorithm],
    *,
    params: UseStatsParams,
    tz: ZoneInfo,
    now: int,
) -> dict[int, list[Trail]]:
    """Fold log rows (``statements.log_rows``' columns, each user's in time order) into trails.

    ``enrolment_starts``: (user, timestart) rows, used when the enrolment filter is on.
    """
    result = _no_trails(user_ids, ranges, algorithms)
    plan = _plan(ranges, now)
    if not result or not plan.ranges:
        return result
    one = _one_range(plan, algorithms, enrolment_starts, params, tz, now)
    if one is not None:
        one.feed_by_learner(rows)
        return one.into(result)
    empty = {a: TimeSpent() for a in algorithms}
    kept = sorted(plan.ranges, key=lambda r: r[1])
    starts = [start for _, start, _ in kept]
    disjoint = all(a[2] <= b[1] for a, b in pairwise(kept))
    enrolled = _enrolled(kept, enrolment_starts) if params.enrolmentfilter else {}
    calendar = _calendar(tz, plan.low, plan.high)
    use_stats, dedication = Algorithm.USE_STATS in algorithms, Algorithm.DEDICATION in algorithms
    logins: dict[tuple[int, int], int] = {}
    folds: dict[tuple[int, int], tuple[_UseStatsFold | None, _DedicationFold | None]] = {}
    for userid, t, course, kind in rows:
        logout = kind & LOGOUT
        if disjoint:
            at = bisect_right(starts, t) - 1
            holding = [kept[at][0]] if at >= 0 and t < kept[at][2] else []
        else:
            holding = [k for k, start, end in kept if start <= t < end]
        for k in holding:
            key = (userid, k)
            if kind & LOGIN:
                logins[key] = logins.get(key, 0) + 1
            if not kind & COUNTED or t < enrolled.get(key, t):
                continue
            pair = folds.get(key)
            if pair is None:
                pair = folds[key] = (
                    _UseStatsFold(params.threshold, params.lastpingcredit, now)
                    if use_stats
                    else None,
                    _DedicationFold() if dedication else None,
                )
            if pair[0] is not None:
                pair[0].add(t, course, logout, calendar)
            if pair[1] is not None:
                pair[1].add(t, course, logout, calendar)
    for key in logins.keys() | folds.keys():
        uid, k = int(key[0]), key[1]
        if uid not in result:
            continue
        spent = dict(empty)
        for fold, algorithm in zip(
            folds.get(key, (None, None)), (Algorithm.USE_STATS, Algorithm.DEDICATION), strict=True
        ):
            if fold is not None:
                spent[algorithm] = fold.result()
        result[uid][k] = Trail(logins.get(key, 0), spent)
    return result


class _OneRange:
    """use_stats and logins of one range, fed rows (``statements.log_rows``' columns) in batches:
    :class:`_UseStatsFold`'s rule with its state in a list per user, the loop requests take."""

    def __init__(
        self,
        k: int,
        start: int,
        end: int,
        enrolled: Mapping[int, int],
        params: UseStatsParams,
        now: int,
        calendar: _Days,
    ) -> None:
        self.k, self.start, self.end, self.enrolled = k, start, end, enrolled
        self.threshold, self.credit, self.now = params.threshold, params.lastpingcredit, now
        self.end_of_day = calendar.end_of_day
        self.logins: dict[int, int] = {}
        # Per user: [previous t, its course, whether it was a logout, seconds by course,
        # end of the current local day, days].
        self.trails: dict[int, list[Any]] = {}

    def feed(self, rows: Iterable[Sequence[Any]], wanted: Container[int] | None = None) -> None:
        """Fold ``rows`` (each user's in time order); ``wanted``: drop the other users' rows.

        The state lives in ``trails``, looked up per row: the loop for rows interleaved in time
        order (MariaDB's month span). Rows learner after learner take :meth:`feed_by_learner`,
        the same rule with the state in locals: 25 -> 17 ms there, 10-20 % slower here."""
        start, end, enrolled, threshold = self.start, self.end, self.enrolled, self.threshold
        logins, trails, end_of_day = self.logins, self.trails, self.end_of_day
        for userid, t, course, kind in rows:
            if t < start or t >= end or (wanted is not None and userid not in wanted):
                continue
            if kind & LOGIN:
                logins[userid] = logins.get(userid, 0) + 1
            if not kind & COUNTED or (enrolled and t < enrolled.get(userid, t)):
                continue
            logout = kind & LOGOUT
            state = trails.get(userid)
            if state is None:
                trails[userid] = [t, course, logout, {}, end_of_day(t), 1]
                continue
            if not state[2]:
                lap = t - state[0]
                if lap > threshold:
                    lap = min(self.credit, self.now - state[0])
                by_course = state[3]
                by_course[state[1]] = by_course.get(state[1], 0) + lap
            state[0], state[1], state[2] = t, course, logout
            if t >= state[4]:
                state[5] += 1
                state[4] = end_of_day(t)

    def feed_by_learner(
        self, rows: Iterable[Sequence[Any]], wanted: Container[int] | None = None
    ) -> None:
        """:meth:`feed` for rows that come learner after learner (a batch's IN list ordered by
        user, or a time slice's ``log_slice``): each learner's state is kept in locals while its
        rows last, not looked up and written back row by row. A learner seen again later (the
        next slice) carries on from its state; ``wanted``: the other learners' rows are
        dropped, decided once at each learner's first row."""
        start, end, enrolled, threshold = self.start, self.end, self.enrolled, self.threshold
        credit, now = self.credit, self.now
        logins, trails, end_of_day = self.logins, self.trails, self.end_of_day
        user: Any = None
        count, since, began, skip = 0, -1, False, False
        prev_t = prev_course = prev_logout = day_end = days = 0
        by_course: dict[int, int] = {}
        for userid, t, course, kind in rows:
            if t < start or t >= end:
                continue
            if userid != user:
                if began:
                    trails[user] = [prev_t, prev_course, prev_logout, by_course, day_end, days]
                if count:
                    logins[user] = logins.get(user, 0) + count
                user, count, began = userid, 0, False
                skip = wanted is not None and userid not in wanted
                if skip:
                    continue
                since = enrolled.get(userid, BEFORE_ALL) if enrolled else BEFORE_ALL
                state = trails.get(userid)
                began = state is not None
                if state is not None:
                    prev_t, prev_course, prev_logout, by_course, day_end, days = state
            if skip:
                continue
            if kind & LOGIN:
                count += 1
            if not kind & COUNTED or t < since:
                continue
            logout = kind & LOGOUT
            if not began:
                began, by_course, days = True, {}, 1
                prev_t, prev_course, prev_logout, day_end = t, course, logout, end_of_day(t)
                continue
            if not prev_logout:
                lap = t - prev_t
                if lap > threshold:
                    lap = min(credit, now - prev_t)
                by_course[prev_course] = by_course.get(prev_course, 0) + lap
            prev_t, prev_course, prev_logout = t, course, logout
            if t >= day_end:
                days += 1
                day_end = end_of_day(t)
        if began:
            trails[user] = [prev_t, prev_course, prev_logout, by_course, day_end, days]
        if count:
            logins[user] = logins.get(user, 0) + count

    def into(self, result: dict[int, list[Trail]]) -> dict[int, list[Trail]]:
        """``result`` with the trail of each of its users who had a row, in this range."""
        for userid in self.logins.keys() | self.trails.keys():
            trails = result.get(int(userid))
            if trails is None:
                continue
            state = self.trails.get(userid)
            if state is None:
                trails[self.k] = Trail(self.logins[userid], {Algorithm.USE_STATS: TimeSpent()})
                continue
            by_course = state[3]
            if not state[2]:
                last = min(self.credit, self.now - state[0])
                by_course[state[1]] = by_course.get(state[1], 0) + last
            spent = {c: s for c, s in by_course.items() if s}
            trails[self.k] = Trail(
                self.logins.get(userid, 0),
                {Algorithm.USE_STATS: TimeSpent(sum(spent.values()), spent, state[5])},
            )
        return result


async def time_spent(
    ctx: RequestContext,
    user_ids: Sequence[int],
    ranges: Sequence[tuple[int, int]],
    *,
    params: UseStatsParams | None = None,
    tz: ZoneInfo | None = None,
    algorithm: Algorithm = Algorithm.USE_STATS,
) -> dict[int, list[TimeSpent]]:
    """Time spent by each user in each range ``[start, end)`` (capped at now), in order.

    Every requested user id is in the answer, with one ``TimeSpent`` per range.
    """
    trails = await folded_trails(ctx, user_ids, ranges, (algorithm,), params=params, tz=tz)
    return {uid: [trail.spent[algorithm] for trail in rows] for uid, rows in trails.items()}


def _offset_case(args: _WindowArgs, v: _Binds, t: ColumnElement[Any]) -> ColumnElement[Any]:
    """The timezone's UTC offset at ``t`` as a CASE over the changes in the span."""
    if not args.changes:
        return v("off0")
    whens = []
    before = v("off0")
    for i in range(1, len(args.changes) + 1):
        whens.append((t < v(f"at{i}"), before))
        before = v(f"off{i}")
    return case(*whens, else_=before)


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


def _parts(ids: Sequence[int], parts: int) -> list[list[int]]:
    """``ids`` (sorted) cut into at most ``parts`` runs of about the same length."""
    size = -(-len(ids) // max(1, parts))
    return [list(ids[i : i + size]) for i in range(0, len(ids), size)]


async def window_trails(
    ctx: RequestContext,
    user_ids: Sequence[int],
    ranges: Sequence[tuple[int, int]],
    *,
    params: UseStatsParams | None = None,
    tz: ZoneInfo | None = None,
    parts: int = 1,
) -> dict[int, list[Trail]]:
    """Each user's :class:`Trail` (logins and use_stats) with the laps summed in the database.

    The same answers as :func:`fold_trails` (tests hold both to the reference), without sending
    the rows. ``parts`` > 1 cuts the work in that many statements, each on a connection of its
    own (as many as the pool spares), sent at the same time: PostgreSQL runs a window on one
    core. The learners are cut into id runs, unless the list is read by its bounds (longer
    than CHUNK) from a log without the learner index: the span's every row is read then, and it
    is cut in time at local midnights so that each part reads its own pages of the log (cut by
    learners, each part read the whole span and dropped the other's rows: every learner's month
    2.34-2.42 -> 2.13-2.27 s, BENCHMARKS.md); with the enrolment filter on, the few learners
    whose enrolment starts inside the span are then summed beside them, in a statement of their
    own (2.24-2.27 -> 2.11 s).
    """
    params = params or ctx.use_stats
    tz = tz or ctx.tz
    now = ctx.now
    wanted = sorted({int(u) for u in user_ids})
    plan = _plan(ranges, now)
    if not wanted or not plan.ranges:
        return _no_trails(wanted, ranges, (Algorithm.USE_STATS,))
    sums: dict[tuple[int, int], _Sums] = {}

    async def summed(reader: Reader, args: _WindowArgs, taken: Container[int]) -> list[Row]:
        # Each part's rows are added as soon as they come, while the others run.
        for userid, k, course, seconds, opened, logged in await _window_rows(ctx, reader, args):
            if userid in taken:
                key = (int(userid), int(k))
                found = sums.get(key)
                if found is None:
                    found = sums[key] = _Sums()
                found.add(int(course), int(seconds), int(opened), int(logged))
        return []

    by_learner = ctx.statements.log_by_learner
    # Each part: args.among(its ids), or args.during(its time).
    args = _WindowArgs.of(plan, params, tz, now, (), by_learner=by_learner)
    if len(wanted) > CHUNK and not by_learner:
        # block_use_stats' enrolment filter changes nothing for a learner without an enrolment
        # start inside the span, and its join cost every learner's month 0.2-0.3 s: when those
        # learners are the most, they are summed without it, the others with it apart.
        filtered: list[int] = []
        if params.enrolmentfilter:
            filtered = await _starting_within(ctx, wanted, plan)
            if 2 * len(filtered) >= len(wanted):
                filtered = []
        plain = set(wanted).difference(filtered)
        every = (dataclasses.replace(args, enrolmentfilter=False) if filtered else args).among(
            wanted
        )

        async def in_time(c: RequestContext) -> list[list[Row]]:
            return await _side_by_side(
                c,
                parts,
                lambda n: _day_slices(tz, plan.low, plan.high, n),
                lambda reader, cut: summed(reader, every.during(*cut), plain),
            )

        if filtered:
            taken = set(filtered)
            await ctx.beside(lambda c: summed(c.reader, args.among(filtered), taken), in_time)
        else:
            await in_time(ctx)
    else:
        among = set(wanted)
        await _in_parts(
            ctx, wanted, parts, lambda reader, ids: summed(reader, args.among(ids), among)
        )
    result = _no_trails(wanted, ranges, (Algorithm.USE_STATS,))
    for (userid, k), found in sums.items():
        result[userid][k] = found.trail()
    return result


async def _starting_within(ctx: RequestContext, ids: Sequence[int], plan: _Plan) -> list[int]:
    """The learners of ``ids`` (sorted) the enrolment filter can change in the span
    (``Statements.starting_within``, read by the list's bounds)."""
    found = await ctx.reader.rows(
        ctx.statements.starting_within, first=ids[0], last=ids[-1], low=plan.low, high=plan.high
    )
    wanted = set(ids)
    return sorted(int(r[0]) for r in found if int(r[0]) in wanted)


class _Sums:
    """One learner's sums in one range from the window statement's rows (one per course and
    part: a course in two time parts adds both)."""

    __slots__ = ("by_course", "days", "logins")

    def __init__(self) -> None:
        self.by_course: dict[int, int] = {}
        self.days = 0
        self.logins = 0

    def add(self, course: int, seconds: int, days: int, logins: int) -> None:
        if seconds:
            self.by_course[course] = self.by_course.get(course, 0) + seconds
        self.days += days
        self.logins += logins

    def trail(self) -> Trail:
        spent = TimeSpent(sum(self.by_course.values()), self.by_course, self.days)
        return Trail(self.logins, {Algorithm.USE_STATS: spent})


async def _window_rows(ctx: RequestContext, reader: Reader, args: _WindowArgs) -> list[Row]:
    """The window statement's rows: on PostgreSQL its compiled shape, sent with the values;
    elsewhere (tests of the statement) built and compiled for the call."""
    tables = ctx.tables
    if reader.database.backend != "postgresql":
        return await reader.execute(_window_statement(tables, args, as_array=False))
    prepared = ctx.statements.shaped(
        "window", args.shape, lambda: _window_statement(tables, args, as_array=True)
    )
    return await reader.rows(prepared, **args.values())


__all__ = [
    "LOGOUT_ACTIONS",
    "Algorithm",
    "TimeSpent",
    "Trail",
    "UseStatsParams",
    "folded_trails",
    "time_spent",
    "use_stats_params",
    "window_trails",
]
