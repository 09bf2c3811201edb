"""Monthly activity per (learner, month): logins, time spent (both algorithms), active days.

One statement reads each learner's log rows once for every month a request asks, and one pass
over them gives the logins and whichever time algorithms are wanted. Closed months never change,
so their results are cached (see :mod:`definum_gql.cache`); the current month only briefly.

Read-ahead: a request that computes a closed month for BATCH_LEARNERS learners or more (a page of
a list, typically) also computes the learners that follow them in id order into the cache. A
batch reads most of the month's pages whatever the number of learners, so paging through every
learner then costs about one pass over the month instead of one per page. Where a batch reads the
month's whole range of the table anyway (:func:`_one_pass`), the following learners go into the
same statement; elsewhere they are computed after the answer, in the background on a connection
of its own, and a request wanting learners being read ahead waits for them rather than
computing them again.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from definum_gql.moodle.queries import BATCH_LEARNERS
from definum_gql.moodle.reader import QueryTimeout
from definum_gql.moodle.site import RequestContext
from definum_gql.stats.listing import UserFilter, list_users
from definum_gql.stats.months import Month
from definum_gql.stats.timespent import Algorithm, TimeSpent, folded_trails

if TYPE_CHECKING:  # the cache (and redis) are imported only where a cache is configured
    from definum_gql.cache import MonthCache

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MonthlyActivity:
    month: Month
    logins: int
    time_spent: int
    active_days: int
    by_course: Mapping[int, int]


@dataclass(frozen=True)
class LearnerMonth:
    """One learner's month: logins and the time spent by each algorithm computed."""

    logins: int = 0
    spent: Mapping[Algorithm, TimeSpent] = field(default_factory=dict)

    def activity(self, month: Month, algorithm: Algorithm) -> MonthlyActivity:
        spent = self.spent.get(algorithm, TimeSpent())
        return MonthlyActivity(month, self.logins, spent.total, spent.active_days, spent.by_course)


def _variant(ctx: RequestContext, algorithm: Algorithm) -> str:
    """What else a cached month depends on: algorithm, block_use_stats parameters, timezone."""
    p = ctx.use_stats
    return f"{algorithm}:{p.threshold}:{p.lastpingcredit}:{int(p.enrolmentfilter)}:{ctx.tz.key}"


def _encode(logins: int, spent: TimeSpent) -> list[Any]:
    return [logins, spent.total, spent.active_days, [[c, s] for c, s in spent.by_course.items()]]


def _decode(value: Any) -> tuple[int, TimeSpent]:
    logins, total, days, by_course = value
    return int(logins), TimeSpent(int(total), {int(c): int(s) for c, s in by_course}, int(days))


async def learner_months(
    ctx: RequestContext,
    user_ids: Sequence[int],
    months: Sequence[Month],
    algorithms: Collection[Algorithm] = (Algorithm.USE_STATS,),
) -> dict[tuple[int, Month], LearnerMonth]:
    """Every (learner, month) asked: cached results, and one log read for the rest."""
    wanted = tuple(dict.fromkeys(algorithms))
    ids = list(dict.fromkeys(user_ids))
    months = list(dict.fromkeys(months))
    found: dict[tuple[int, Month], LearnerMonth] = {}
    missing = [(uid, m) for uid in ids for m in months]
    cache = ctx.cache
    if cache is not None and missing:
        from definum_gql.cache import MonthKey

        keys = {
            MonthKey("activity", uid, str(m), _variant(ctx, a)): (uid, m, a)
            for uid, m in missing
            for a in wanted
        }
        hits = await cache.get_many(list(keys))
        partial: dict[tuple[int, Month], dict[Algorithm, TimeSpent]] = {}
        logins_of: dict[tuple[int, Month], int] = {}
        for key, value in hits.items():
            uid, m, a = keys[key]
            logins_of[(uid, m)], partial.setdefault((uid, m), {})[a] = _decode(value)
        for pair, spent in partial.items():
            if len(spent) == len(wanted):
                found[pair] = LearnerMonth(logins_of[pair], spent)
        missing = [pair for pair in missing if pair not in found]
    if cache is not None and missing and cache.in_flight:
        joined = await _join_read_ahead(ctx, cache, missing, wanted)
        found.update(joined)
        missing = [pair for pair in missing if pair not in joined]
    if missing:
        ahead = _read_ahead_month(ctx, missing, wanted)
        if ahead is not None and _one_pass(ctx):
            computed = await _with_following(ctx, missing, ahead, wanted)
        else:
            computed = await _compute(ctx, missing, wanted)
        found.update((pair, computed[pair]) for pair in missing)
        if cache is not None:
            await _store(ctx, cache, computed, wanted)
            if ahead is not None and not _one_pass(ctx):
                _read_ahead(ctx, cache, missing, ahead, wanted)
    return found


def _read_ahead_month(
    ctx: RequestContext, missing: Sequence[tuple[int, Month]], wanted: Sequence[Algorithm]
) -> Month | None:
    """The month whose following learners to compute with ``missing``, if any: one closed
    month for BATCH_LEARNERS learners or more, with a month cache to keep them, and no
    read-ahead of it under way."""
    cache = ctx.cache
    months = {m for _, m in missing}
    if cache is None or ctx.settings.read_ahead_learners == 0 or len(months) != 1:
        return None
    (month,) = months
    if len(missing) < BATCH_LEARNERS or not _closed(ctx, month):
        return None
    return None if _flight_key(ctx, month, wanted) in cache.in_flight else month


def _one_pass(ctx: RequestContext) -> bool:
    """Whether a batch reads the month's whole range of the log table anyway (MariaDB whose log
    outgrows its buffer pool), so that the following learners cost only their fold: they are
    then computed in the same statement, before the request answers."""
    return ctx.statements.batch_reads_month


async def _with_following(
    ctx: RequestContext,
    missing: Sequence[tuple[int, Month]],
    month: Month,
    wanted: Sequence[Algorithm],
) -> dict[tuple[int, Month], LearnerMonth]:
    last = max(uid for uid, _ in missing)
    limit = ctx.settings.read_ahead_learners
    following = await list_users(ctx, UserFilter(), after=last, limit=limit)
    try:
        return await _compute(ctx, [*missing, *((uid, month) for uid in following)], wanted)
    except QueryTimeout:
        if not following:
            raise
        # The statement timeout is the request's bound: the learners asked fit in it alone.
        log.warning("read-ahead of %s ran out of time; computing the learners asked", month)
        return await _compute(ctx, missing, wanted)


async def _store(
    ctx: RequestContext,
    cache: MonthCache,
    computed: Mapping[tuple[int, Month], LearnerMonth],
    wanted: Sequence[Algorithm],
) -> None:
    from definum_gql.cache import MonthKey

    items = {
        MonthKey("activity", uid, str(m), _variant(ctx, a)): _encode(result.logins, result.spent[a])
        for (uid, m), result in computed.items()
        for a in wanted
    }
    closed_months = {str(m) for _, m in computed if _closed(ctx, m)}
    await cache.set_many(items, closed=lambda key: key.month in closed_months)


def _closed(ctx: RequestContext, month: Month) -> bool:
    return month.bounds(ctx.tz)[1] <= ctx.now


def _flight_key(ctx: RequestContext, month: Month, wanted: Sequence[Algorithm]) -> tuple[str, ...]:
    return ("activity", str(month), *(_variant(ctx, a) for a in wanted))


async def _join_read_ahead(
    ctx: RequestContext,
    cache: MonthCache,
    missing: list[tuple[int, Month]],
    wanted: Sequence[Algorithm],
) -> dict[tuple[int, Month], LearnerMonth]:
    """What read-aheads in flight are computing of ``missing``, once they are done."""
    joined: dict[tuple[int, Month], LearnerMonth] = {}
    for month in {m for _, m in missing}:
        flight = cache.in_flight.get(_flight_key(ctx, month, wanted))
        if flight is None or not any(uid in flight.learners for uid, m in missing if m == month):
            continue
        try:
            # Shielded: a request that goes away does not stop what others wait for.
            done = await asyncio.shield(flight.task)
        except Exception:
            continue
        joined.update((pair, done[pair]) for pair in missing if pair in done)
    return joined


@dataclass(frozen=True)
class _Following:
    """The learners a read-ahead computes: those it listed, or before it has listed them, any
    learner after ``last``."""

    last: int
    listed: set[int]

    def __contains__(self, uid: object) -> bool:
        return isinstance(uid, int) and uid > self.last and (not self.listed or uid in self.listed)


def _read_ahead(
    ctx: RequestContext,
    cache: MonthCache,
    computed: Sequence[tuple[int, Month]],
    month: Month,
    wanted: Sequence[Algorithm],
) -> None:
    """Start computing ``month`` for the learners after ``computed``'s, in the background."""
    limit = ctx.settings.read_ahead_learners
    key = _flight_key(ctx, month, wanted)
    last = max(uid for uid, _ in computed)
    learners: set[int] = set()

    async def run() -> dict[tuple[int, Month], LearnerMonth]:
        reader = ctx.reader.database.reader()
        try:
            own = dataclasses.replace(ctx, reader=reader)
            following = await list_users(own, UserFilter(), after=last, limit=limit)
            learners.update(following)
            if not following:
                return {}
            result = await _compute(own, [(uid, month) for uid in following], wanted)
            await _store(own, cache, result, wanted)
            return result
        finally:
            await reader.close()

    from definum_gql.cache import InFlight

    # A context of its own: its statements are not the request's (its line and metrics).
    task = asyncio.get_running_loop().create_task(
        run(), name=f"read-ahead {month}", context=contextvars.Context()
    )
    # The learners are known once the task has listed them; until then it covers every id past
    # the request's (a request waiting for it finds the ones it wants among the results).
    flight = InFlight(_Following(last, learners), task)
    cache.in_flight[key] = flight

    def done(task: asyncio.Task[Any]) -> None:
        if cache.in_flight.get(key) is flight:
            del cache.in_flight[key]
        if not task.cancelled() and task.exception() is not None:
            log.warning("read-ahead of %s failed: %s", month, type(task.exception()).__name__)

    task.add_done_callback(done)


async def _compute(
    ctx: RequestContext,
    pairs: Sequence[tuple[int, Month]],
    algorithms: Sequence[Algorithm],
) -> dict[tuple[int, Month], LearnerMonth]:
    """The months asked, from one read of the learners' rows (:func:`folded_trails`)."""
    months = sorted({m for _, m in pairs})
    ids = sorted({uid for uid, _ in pairs})
    trails = await folded_trails(ctx, ids, [m.bounds(ctx.tz) for m in months], algorithms)
    at = {m: k for k, m in enumerate(months)}
    return {
        (uid, m): LearnerMonth(trails[uid][at[m]].logins, trails[uid][at[m]].spent)
        for uid, m in pairs
    }


async def monthly_activity(
    ctx: RequestContext,
    user_ids: Sequence[int],
    months: Sequence[Month],
    *,
    algorithm: Algorithm = Algorithm.USE_STATS,
) -> dict[int, list[MonthlyActivity]]:
    """Each user's activity for each month, in the given order; the current month stops at now."""
    found = await learner_months(ctx, user_ids, months, (algorithm,))
    return {
        uid: [found[(uid, m)].activity(m, algorithm) for m in months]
        for uid in dict.fromkeys(user_ids)
    }
