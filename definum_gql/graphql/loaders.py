"""One DataLoader per batch statistic: whatever the page size, each is one call per request."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.ext.asyncio import AsyncConnection
from strawberry.dataloader import DataLoader

from definum_gql.graphql.context import Context
from definum_gql.stats import listing
from definum_gql.stats.activity import MonthlyActivity, monthly_activity
from definum_gql.stats.badges import IssuedBadge, load_badges
from definum_gql.stats.courses import (
    CourseCounts,
    CourseRow,
    EnrolmentRow,
    course_counts,
    load_courses,
    load_enrolments,
)
from definum_gql.stats.document import DefinumStats, definum_stats
from definum_gql.stats.months import Month
from definum_gql.stats.timespent import Algorithm
from definum_gql.stats.users import UserRow, load_users


def users_loader(ctx: Context) -> DataLoader[int, UserRow | None]:
    async def batch(conn: AsyncConnection, ids: list[int]) -> Mapping[int, UserRow]:
        return await load_users(conn, ctx.moodle.tables, ids)

    return ctx.loader("users", batch)


def courses_loader(ctx: Context) -> DataLoader[int, CourseRow | None]:
    async def batch(conn: AsyncConnection, ids: list[int]) -> Mapping[int, CourseRow]:
        return await load_courses(conn, ctx.moodle.tables, ids)

    return ctx.loader("courses", batch)


def enrolments_loader(
    ctx: Context, active_only: bool
) -> DataLoader[int, list[EnrolmentRow] | None]:
    async def batch(conn: AsyncConnection, ids: list[int]) -> Mapping[int, list[EnrolmentRow]]:
        return await load_enrolments(conn, ctx.moodle.tables, ids, ctx.now, active_only=active_only)

    return ctx.loader(("enrolments", active_only), batch)


def course_counts_loader(ctx: Context) -> DataLoader[int, CourseCounts | None]:
    async def batch(conn: AsyncConnection, ids: list[int]) -> Mapping[int, CourseCounts]:
        return await course_counts(conn, ctx.moodle.tables, ids, ctx.now, ctx.site.guest_id)

    return ctx.loader("course_counts", batch)


def badges_loader(ctx: Context) -> DataLoader[int, list[IssuedBadge] | None]:
    async def batch(conn: AsyncConnection, ids: list[int]) -> Mapping[int, list[IssuedBadge]]:
        return await load_badges(conn, ctx.moodle.tables, ctx.site, ids, ctx.now)

    return ctx.loader("badges", batch)


def activity_loader(
    ctx: Context, months: tuple[Month, ...], algorithm: Algorithm
) -> DataLoader[int, list[MonthlyActivity] | None]:
    async def batch(conn: AsyncConnection, ids: list[int]) -> Mapping[int, list[MonthlyActivity]]:
        return await monthly_activity(
            ctx.moodle, conn, ctx.site, ids, list(months), algorithm=algorithm, tz=ctx.tz
        )

    return ctx.loader(("activity", months, algorithm), batch)


def definum_loader(ctx: Context, month: Month) -> DataLoader[int, DefinumStats | None]:
    async def batch(conn: AsyncConnection, ids: list[int]) -> Mapping[int, DefinumStats]:
        return await definum_stats(ctx.moodle, conn, ids, month=month)

    return ctx.loader(("definum", month), batch)


def course_aggregates_loader(ctx: Context) -> DataLoader[int, listing.CourseAggregates | None]:
    start, end = ctx.this_month.bounds(ctx.tz)

    async def batch(
        conn: AsyncConnection, ids: list[int]
    ) -> Mapping[int, listing.CourseAggregates]:
        return await listing.course_aggregates(
            conn, ctx.moodle.tables, ids, now=ctx.now, start=start, end=end
        )

    return ctx.loader("course_aggregates", batch)


def course_time_loader(ctx: Context) -> DataLoader[int, int | None]:
    """Seconds spent this month in each course by its learners.

    Time spent in a course depends on each learner's whole trail (a lap ends at the next row,
    wherever it is), so the learners' months are computed in one batch and summed per course.
    """
    month = ctx.this_month
    start, end = month.bounds(ctx.tz)

    async def batch(conn: AsyncConnection, ids: list[int]) -> Mapping[int, int]:
        learners = await listing.course_learners_active(
            conn, ctx.moodle.tables, ids, now=ctx.now, start=start, end=end
        )
        everyone = sorted(set().union(*learners.values()))
        if not everyone:
            return dict.fromkeys(ids, 0)
        months = await monthly_activity(ctx.moodle, conn, ctx.site, everyone, [month], tz=ctx.tz)
        totals: dict[int, int] = {}
        for cid, users in learners.items():
            totals[cid] = sum(
                months[uid][0].by_course.get(cid, 0) for uid in users if months.get(uid)
            )
        return totals

    return ctx.loader("course_time", batch)
