"""Lists of users and courses with filters and keyset pagination, and per-course aggregates.

The GraphQL connections page through these; every function is one or two statements whatever the
page size. Lists are ordered by id and resumed after the last id seen (keyset, never OFFSET), so a
page is as cheap at the end of a 100,000-user site as at its start.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    case,
    distinct,
    exists,
    false,
    func,
    or_,
    select,
)

from definum_gql.moodle.queries import SITE_COURSE_ID, active_enrolment, counted_row, moodle_now
from definum_gql.moodle.site import RequestContext
from definum_gql.moodle.tables import MoodleTables
from definum_gql.stats.courses import percent


@dataclass(frozen=True)
class UserFilter:
    """Which users a list holds; every condition given must hold (deleted users never do)."""

    enrolled_in_course: int | None = None
    in_category: int | None = None
    include_subcategories: bool = True
    active_since: int | None = None
    search: str | None = None
    #: Whether ``search`` also looks in e-mail addresses and usernames (else names only).
    search_identity: bool = True
    suspended: bool | None = None


@dataclass(frozen=True)
class CourseFilter:
    """Which courses a list holds (the site course never does)."""

    in_category: int | None = None
    include_subcategories: bool = True
    search: str | None = None
    visible: bool | None = None
    completion_enabled: bool | None = None


@dataclass(frozen=True)
class CourseAggregates:
    """Learners of one course: those with an active enrolment, as ``courses`` counts them."""

    enrolled: int
    completed: int
    active: int


def _in_category(tables: MoodleTables, category: int, subcategories: bool) -> ColumnElement[bool]:
    """Courses of a category (and its descendants, whose ``path`` holds ``/<id>/``)."""
    course, cc = tables.course, tables.course_categories
    if not subcategories:
        return course.c.category == category
    descendants = select(cc.c.id).where(
        or_(cc.c.id == category, cc.c.path.like(f"%/{int(category)}/%"))
    )
    return course.c.category.in_(descendants.scalar_subquery())


def _words(text: str | None) -> list[str]:
    return [word.lower() for word in (text or "").split() if word]


def _user_conditions(
    tables: MoodleTables, flt: UserFilter, now: int, guest_id: int | None
) -> list[ColumnElement[bool]]:
    u, ue, e, course = tables.user, tables.user_enrolments, tables.enrol, tables.course
    conditions: list[ColumnElement[bool]] = [u.c.deleted == 0]
    if guest_id is not None:
        conditions.append(u.c.id != guest_id)
    if flt.suspended is not None:
        conditions.append(u.c.suspended == (1 if flt.suspended else 0))
    if flt.active_since is not None:
        conditions.append(u.c.lastaccess >= flt.active_since)
    for word in _words(flt.search):
        fields = [u.c.firstname, u.c.lastname]
        if flt.search_identity:
            fields += [u.c.email, u.c.username]
        conditions.append(
            or_(*(func.lower(field).contains(word, autoescape=True) for field in fields))
        )
    if flt.enrolled_in_course is not None or flt.in_category is not None:
        enrolled = (
            select(ue.c.id)
            .join(e, e.c.id == ue.c.enrolid)
            .where(ue.c.userid == u.c.id, active_enrolment(tables, moodle_now(now)))
        )
        if flt.enrolled_in_course is not None:
            enrolled = enrolled.where(e.c.courseid == flt.enrolled_in_course)
        if flt.in_category is not None:
            enrolled = enrolled.join(course, course.c.id == e.c.courseid).where(
                _in_category(tables, flt.in_category, flt.include_subcategories),
                course.c.id != SITE_COURSE_ID,
            )
        conditions.append(exists(enrolled))
    return conditions


def _guest(ctx: RequestContext) -> int | None:
    value = ctx.site.get("siteguest", "").strip()
    return int(value) if value.isdigit() else None


async def list_users(
    ctx: RequestContext, flt: UserFilter, *, after: int | None, limit: int
) -> list[int]:
    """Ids of the matching users in id order, after ``after``, at most ``limit``."""
    u = ctx.tables.user
    query = select(u.c.id).where(*_user_conditions(ctx.tables, flt, ctx.now, _guest(ctx)))
    return await _page(ctx, query, u.c.id, after, limit)


async def count_users(ctx: RequestContext, flt: UserFilter) -> int:
    tables = ctx.tables
    conditions = _user_conditions(tables, flt, ctx.now, _guest(ctx))
    query = select(func.count()).select_from(tables.user).where(*conditions)
    return int((await ctx.reader.execute(query))[0][0])


def _course_conditions(tables: MoodleTables, flt: CourseFilter) -> list[ColumnElement[bool]]:
    course = tables.course
    conditions: list[ColumnElement[bool]] = [course.c.id != SITE_COURSE_ID]
    if flt.in_category is not None:
        conditions.append(_in_category(tables, flt.in_category, flt.include_subcategories))
    if flt.visible is not None:
        conditions.append(course.c.visible == (1 if flt.visible else 0))
    if flt.completion_enabled is not None:
        conditions.append(course.c.enablecompletion == (1 if flt.completion_enabled else 0))
    for word in _words(flt.search):
        fields = (course.c.fullname, course.c.shortname, course.c.idnumber)
        conditions.append(
            or_(*(func.lower(field).contains(word, autoescape=True) for field in fields))
        )
    return conditions


async def list_courses(
    ctx: RequestContext, flt: CourseFilter, *, after: int | None, limit: int
) -> list[int]:
    """Ids of the matching courses in id order, after ``after``, at most ``limit``."""
    course = ctx.tables.course
    query = select(course.c.id).where(*_course_conditions(ctx.tables, flt))
    return await _page(ctx, query, course.c.id, after, limit)


async def count_courses(ctx: RequestContext, flt: CourseFilter) -> int:
    tables = ctx.tables
    course = tables.course
    query = select(func.count()).select_from(course).where(*_course_conditions(tables, flt))
    return int((await ctx.reader.execute(query))[0][0])


async def _page(
    ctx: RequestContext,
    query: Select[Any],
    key: ColumnElement[int],
    after: int | None,
    limit: int,
) -> list[int]:
    if limit <= 0:
        return []
    if after is not None:
        query = query.where(key > after)
    rows = await ctx.reader.execute(query.order_by(key).limit(limit))
    return [int(row[0]) for row in rows]


def _active_learners(tables: MoodleTables, course_ids: Sequence[int], now: int) -> Select[Any]:
    """(course id, user id) of every active enrolment of a non-deleted user in those courses."""
    ue, e, u = tables.user_enrolments, tables.enrol, tables.user
    return (
        select(e.c.courseid, ue.c.userid)
        .join(e, e.c.id == ue.c.enrolid)
        .join(u, u.c.id == ue.c.userid)
        .where(
            e.c.courseid.in_(course_ids) if course_ids else false(),
            active_enrolment(tables, moodle_now(now)),
            u.c.deleted == 0,
        )
    )


async def course_aggregates(
    ctx: RequestContext, course_ids: Sequence[int], *, start: int, end: int
) -> dict[int, CourseAggregates]:
    """Learners enrolled, having completed, and active in [start, end) in each course.

    A learner is a user with an active enrolment (several enrolment methods count once); completed
    means ``course_completions.timecompleted > 0``; active means a log row in the course in the
    range (as time spent counts: not from the CLI, not on someone else's behalf).
    """
    ids = sorted(set(course_ids))
    result = {cid: CourseAggregates(0, 0, 0) for cid in ids}
    if not ids:
        return result
    tables, now = ctx.tables, ctx.now
    learners = _active_learners(tables, ids, now).subquery()
    cc = tables.course_completions
    enrolled_query = (
        select(
            learners.c.courseid,
            func.count(distinct(learners.c.userid)),
            func.count(distinct(case((cc.c.timecompleted > 0, learners.c.userid)))),
        )
        .select_from(learners)
        .outerjoin(cc, and_(cc.c.userid == learners.c.userid, cc.c.course == learners.c.courseid))
        .group_by(learners.c.courseid)
    )
    counts: dict[int, tuple[int, int]] = {
        int(cid): (int(n), int(done)) for cid, n, done in await ctx.reader.execute(enrolled_query)
    }
    log = tables.logstore_standard_log
    active_query = (
        select(learners.c.courseid, func.count(distinct(learners.c.userid)))
        .select_from(learners)
        .where(
            exists(
                select(log.c.id).where(
                    log.c.userid == learners.c.userid,
                    log.c.courseid == learners.c.courseid,
                    log.c.timecreated >= start,
                    log.c.timecreated < end,
                    counted_row(log),
                )
            )
        )
        .group_by(learners.c.courseid)
    )
    active = {int(cid): int(n) for cid, n in await ctx.reader.execute(active_query)}
    for cid in ids:
        enrolled, completed = counts.get(cid, (0, 0))
        result[cid] = CourseAggregates(enrolled, completed, active.get(cid, 0))
    return result


async def course_learners_active(
    ctx: RequestContext, course_ids: Sequence[int], *, start: int, end: int
) -> dict[int, set[int]]:
    """For each course, the learners with a log row in it in [start, end) (for time sums)."""
    ids = sorted(set(course_ids))
    result: dict[int, set[int]] = {cid: set() for cid in ids}
    if not ids:
        return result
    tables, now = ctx.tables, ctx.now
    learners = _active_learners(tables, ids, now).subquery()
    log = tables.logstore_standard_log
    query = (
        select(learners.c.courseid, learners.c.userid)
        .where(
            exists(
                select(log.c.id).where(
                    log.c.userid == learners.c.userid,
                    log.c.courseid == learners.c.courseid,
                    log.c.timecreated >= start,
                    log.c.timecreated < end,
                    counted_row(log),
                )
            )
        )
        .distinct()
    )
    for cid, uid in await ctx.reader.execute(query):
        result[int(cid)].add(int(uid))
    return result


def completion_rate(completed: int, enrolled: int) -> int:
    """``round(100 * completed / enrolled)``, halves up; 0 without learners."""
    return percent(completed, enrolled)
