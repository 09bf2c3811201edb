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
computing them again. Where the log has an index on (userid, timecreated), so that a batch
costs what its learners' rows cost, that computation goes READ_AHEAD_PART learners at a time,
each part answered as it is done: the next page waits for its own part, and the pages after it are
answered while the following parts are read (the database's work and the pages' Python
overlap instead of taking turns).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from definum_gql.moodle.queries import BATCH_LEARNERS
from definum_gql.moodle.reader import CHUNK, DatabaseReadError, DatabaseUnavailable, QueryTimeout
from definum_gql.moodle.site import RequestContext
from definum_gql.stats.listing import UserFilter, list_users
from definum_gql.stats.months import Month
from definum_gql.stats.timespent import Algorithm, TimeSpent, folded_trails

#: Learners per part of a read-ahead (four pages of 500; each part one batch statement).
READ_AHEAD_PART = 2000

if TYPE_CHECKING:  # the cache (and redis) are imported only where a cache is configured
    from definum_gql.cache import MonthCache, MonthKey

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
        keys = _month_keys(ctx, missing, wanted)
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
    if cache is not None and missing and cache.flights.running:
        joined = await _join_read_ahead(ctx, cache, missing, wanted)
        found.update(joined)
        missing = [pair for pair in missing if pair not in joined]
    if missing:
        ahead = _read_ahead_month(ctx, missing, wanted)
        one_pass = ahead is not None and _one_pass(ctx)
        if ahead is not None and one_pass:
            computed = await _with_following(ctx, missing, ahead, wanted)
        else:
            computed = await _compute(ctx, missing, wanted)
        found.update((pair, computed[pair]) for pair in missing)
        if cache is not None:
            await _store(ctx, cache, computed, wanted)
            if ahead is not None and not one_pass:
                await _read_ahead(ctx, cache, missing, ahead, wanted)
    return found


def _read_ahead_month(
    ctx: RequestContext, missing: Sequence[tuple[int, Month]], wanted: Sequence[Algorithm]
) -> Month | None:
    """The month whose following learners to compute with ``missing``, if any: one closed
    month for BATCH_LEARNERS learners or more, a month cache with room for them, and no
    read-ahead of it under way or failed lately."""
    cache = ctx.cache
    months = {m for _, m in missing}
    if cache is None or _ahead_limit(ctx, cache, missing, wanted) <= 0 or len(months) != 1:
        return None
    (month,) = months
    if len(missing) < BATCH_LEARNERS or not _closed(ctx, month):
        return None
    return month if cache.flights.may_start(_flight_key(ctx, month, wanted)) else None


def _ahead_limit(
    ctx: RequestContext,
    cache: MonthCache,
    missing: Sequence[tuple[int, Month]],
    wanted: Sequence[Algorithm],
) -> int:
    """How many learners to read ahead: the setting, within what the cache can keep beside the
    learners asked (more would be evicted before their pages come)."""
    room = cache.room()
    limit = ctx.settings.read_ahead_learners
    return limit if room is None else min(limit, room // len(wanted) - len(missing))


def _one_pass(ctx: RequestContext) -> bool:
    """Whether a batch reads the month's whole range of the log table anyway (MariaDB whose log
    outgrows its buffer pool), so that the following learners cost only their fold: they are
    then computed in the same statement, before the request answers."""
    return ctx.statements.batch_reads_month


async def _following(
    ctx: RequestContext,
    cache: MonthCache,
    missing: Sequence[tuple[int, Month]],
    wanted: Sequence[Algorithm],
) -> list[int]:
    """The learners after ``missing``'s in id order (the users list's), as many as read ahead."""
    last = max(uid for uid, _ in missing)
    limit = _ahead_limit(ctx, cache, missing, wanted)
    return await list_users(ctx, UserFilter(), after=last, limit=limit)


async def _with_following(
    ctx: RequestContext,
    missing: Sequence[tuple[int, Month]],
    month: Month,
    wanted: Sequence[Algorithm],
) -> dict[tuple[int, Month], LearnerMonth]:
    assert ctx.cache is not None  # _read_ahead_month said so
    following = await _following(ctx, ctx.cache, missing, wanted)
    try:
        return await _compute(ctx, [*missing, *((uid, month) for uid in following)], wanted)
    except QueryTimeout:
        if not following:
            raise
        # The statement timeout is the request's bound: the learners asked fit in it alone.
        log.warning("read-ahead of %s ran out of time; computing the learners asked", month)
        ctx.cache.flights.failed(_flight_key(ctx, month, wanted))
        return await _compute(ctx, missing, wanted)


async def _store(
    ctx: RequestContext,
    cache: MonthCache,
    computed: Mapping[tuple[int, Month], LearnerMonth],
    wanted: Sequence[Algorithm],
) -> None:
    items = {
        key: _encode(computed[(uid, m)].logins, computed[(uid, m)].spent[a])
        for key, (uid, m, a) in _month_keys(ctx, computed, wanted).items()
    }
    closed_months = {str(m) for m in {m for _, m in computed} if _closed(ctx, m)}
    await cache.set_many(items, closed=lambda key: key.month in closed_months)


def _month_keys(
    ctx: RequestContext, pairs: Iterable[tuple[int, Month]], wanted: Sequence[Algorithm]
) -> dict[MonthKey, tuple[int, Month, Algorithm]]:
    """The cache key of each (learner, month) for each algorithm wanted. The variant and the
    month's name are worked out once each, not per learner (a read-ahead stores 10,000)."""
    from definum_gql.cache import MonthKey

    variants = [(a, _variant(ctx, a)) for a in wanted]
    names: dict[Month, str] = {}
    keys: dict[MonthKey, tuple[int, Month, Algorithm]] = {}
    for uid, m in pairs:
        name = names.get(m) or names.setdefault(m, str(m))
        for a, variant in variants:
            keys[MonthKey("activity", uid, name, variant)] = (uid, m, a)
    return keys


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
    """What read-aheads in flight are computing of ``missing``, once they are done. Only a
    batch waits: fewer learners cost less to compute than to wait for."""
    joined: dict[tuple[int, Month], LearnerMonth] = {}
    for month in {m for _, m in missing}:
        flight = cache.flights.running.get(_flight_key(ctx, month, wanted))
        if flight is None:
            continue
        covered = [pair for pair in missing if pair[1] == month and pair[0] in flight.learners]
        if len(covered) < BATCH_LEARNERS:
            continue
        ids = {uid for uid, _ in covered}
        # Only the parts holding these learners (the whole task when it has no parts).
        awaited = [f for learners, f in flight.parts if not learners.isdisjoint(ids)]
        done: dict[tuple[int, Month], LearnerMonth] = {}
        try:
            for part in awaited or [flight.task]:
                # Shielded: a request that goes away does not stop what others wait for.
                done.update(await asyncio.shield(part))
        except asyncio.CancelledError:
            if _being_cancelled():
                raise
            # The read-ahead was stopped (the cache closed) or failed before this part: what
            # it answered is kept, the rest computed here.
        except Exception:
            pass
        joined.update((pair, done[pair]) for pair in covered if pair in done)
    return joined


def _being_cancelled() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def _read_ahead(
    ctx: RequestContext,
    cache: MonthCache,
    missing: Sequence[tuple[int, Month]],
    month: Month,
    wanted: Sequence[Algorithm],
) -> None:
    """Compute ``month`` for the learners after ``missing``'s in the background, on a
    connection the pool can spare (none spare: no read-ahead), once they are listed."""
    try:
        following = await _following(ctx, cache, missing, wanted)
    except (DatabaseReadError, DatabaseUnavailable):
        return  # only an optimisation; the request's next statement, if any, will tell
    key = _flight_key(ctx, month, wanted)
    # Checked again after the listing: another request may have started one meanwhile.
    if not following or not cache.flights.may_start(key):
        return
    db = ctx.reader.database
    spare = db.take_spares(1)
    if db.raw and not spare:  # SQLAlchemy's own pools (SQLite) keep no spare budget
        return

    loop = asyncio.get_running_loop()
    # In parts only where a batch's cost goes with its learners; elsewhere each part would read
    # the month's range again (PostgreSQL without the index: every learner paged 3.5 -> 5.5 s).
    size = len(following)
    if ctx.statements.log_by_learner:
        # Past an IN list (CHUNK learners) a batch reads the month's range again, except on
        # PostgreSQL where the window statement reads the learners' id range by the index.
        size = READ_AHEAD_PART if db.backend == "postgresql" else min(READ_AHEAD_PART, CHUNK)
    chunks = [following[i : i + size] for i in range(0, len(following), size)]
    parts = tuple((frozenset(chunk), loop.create_future()) for chunk in chunks)

    async def run() -> dict[tuple[int, Month], LearnerMonth]:
        reader = db.reader()
        try:
            own = dataclasses.replace(ctx, reader=reader)
            result: dict[tuple[int, Month], LearnerMonth] = {}
            for chunk, (_, answered) in zip(chunks, parts, strict=True):
                computed = await _compute(own, [(uid, month) for uid in chunk], wanted)
                await _store(own, cache, computed, wanted)
                answered.set_result(computed)
                result.update(computed)
            return result
        finally:
            await reader.close()

    cache.flights.start(
        key,
        frozenset(following),
        run(),
        label=f"read-ahead of {month}",
        finally_=lambda: db.give_back_spares(spare),
        parts=parts,
    )


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
