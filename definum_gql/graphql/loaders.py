"""One DataLoader per batch statistic: whatever the page size, each is one call per request.

Monthly figures go through one loader keyed by (learner, month, algorithm), so that a request
reads each learner's log once for every month and field it asks.
"""

from __future__ import annotations

from collections.abc import Mapping

from definum_gql.graphql.context import Context, SharedLoader
from definum_gql.moodle.site import RequestContext
from definum_gql.stats import listing
from definum_gql.stats.activity import LearnerMonth, learner_months
from definum_gql.stats.badges import IssuedBadge, load_badges
from definum_gql.stats.courses import (
    CourseRow,
    EnrolmentRow,
    completions_all_time,
    load_courses,
    load_enrolments,
)
from definum_gql.stats.months import Month
from definum_gql.stats.timespent import Algorithm
from definum_gql.stats.users import UserRow, load_users

MonthKey = tuple[int, Month, Algorithm]


def users_loader(ctx: Context) -> SharedLoader[int, UserRow | None]:
    return ctx.loader("users", load_users)


def courses_loader(ctx: Context) -> SharedLoader[int, CourseRow | None]:
    return ctx.loader("courses", load_courses)


def enrolments_loader(
    ctx: Context, active_only: bool
) -> SharedLoader[int, list[EnrolmentRow] | None]:
    async def batch(stats: RequestContext, ids: list[int]) -> Mapping[int, list[EnrolmentRow]]:
        return await load_enrolments(stats, ids, active_only)

    return ctx.loader(("enrolments", active_only), batch)


def completions_loader(ctx: Context) -> SharedLoader[int, int | None]:
    """Completions ever recorded (``course_completions.timecompleted > 0``) per user."""
    return ctx.loader("completions", completions_all_time)


def badges_loader(ctx: Context) -> SharedLoader[int, list[IssuedBadge] | None]:
    return ctx.loader("badges", load_badges)


def months_loader(ctx: Context) -> SharedLoader[MonthKey, LearnerMonth | None]:
    """(learner, month, algorithm) -> that month; one log read per batch of keys."""
    return ctx.loader("months", _months)


async def _months(stats: RequestContext, keys: list[MonthKey]) -> Mapping[MonthKey, LearnerMonth]:
    ids = sorted({uid for uid, _, _ in keys})
    months = sorted({m for _, m, _ in keys})
    algorithms = sorted({a for _, _, a in keys})
    found = await learner_months(stats, ids, months, algorithms)
    return {(uid, m, a): found[(uid, m)] for uid, m, a in keys}


def course_aggregates_loader(ctx: Context) -> SharedLoader[int, listing.CourseAggregates | None]:
    start, end = ctx.this_month.bounds(ctx.tz)

    async def batch(
        stats: RequestContext, ids: list[int]
    ) -> Mapping[int, listing.CourseAggregates]:
        return await listing.course_aggregates(stats, ids, start=start, end=end)

    return ctx.loader("course_aggregates", batch)


def course_time_loader(ctx: Context) -> SharedLoader[int, int | None]:
    """Seconds spent this month in each course by its learners.

    Time spent in a course depends on each learner's whole trail (a lap ends at the next row,
    wherever it is), so the learners' months are computed in one batch and summed per course.
    """
    month = ctx.this_month
    start, end = month.bounds(ctx.tz)

    async def batch(stats: RequestContext, ids: list[int]) -> Mapping[int, int]:
        learners = await listing.course_learners_active(stats, ids, start=start, end=end)
        everyone = sorted(set().union(*learners.values()))
        if not everyone:
            return dict.fromkeys(ids, 0)
        months = await learner_months(stats, everyone, [month])
        totals: dict[int, int] = {}
        for cid, users in learners.items():
            totals[cid] = sum(
                months[(uid, month)].spent[Algorithm.USE_STATS].by_course.get(cid, 0)
                for uid in users
            )
        return totals

    return ctx.loader("course_time", batch)
