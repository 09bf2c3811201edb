"""Monthly activity per (learner, month): logins, time spent (both algorithms), active days.

One statement reads each learner's log rows once for every month a request asks, and one pass
over them gives the logins and whichever time algorithms are wanted. Closed months never change,
so their results are cached (see :mod:`definum_gql.cache`); the current month only briefly.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from definum_gql.moodle.site import RequestContext
from definum_gql.stats.months import Month
from definum_gql.stats.timespent import Algorithm, TimeSpent, folded_trails


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
    if missing:
        computed = await _compute(ctx, missing, wanted)
        found.update(computed)
        if cache is not None:
            from definum_gql.cache import MonthKey

            items = {
                MonthKey("activity", uid, str(m), _variant(ctx, a)): _encode(
                    result.logins, result.spent[a]
                )
                for (uid, m), result in computed.items()
                for a in wanted
            }
            closed_months = {str(m) for m in months if m.bounds(ctx.tz)[1] <= ctx.now}
            await cache.set_many(items, closed=lambda key: key.month in closed_months)
    return found


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
