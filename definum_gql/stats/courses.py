"""Courses, enrolments and completion, as Moodle's enrol_get_all_users_courses sees them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from definum_gql.moodle.queries import SITE_COURSE_ID, active_enrolment, moodle_now
from definum_gql.moodle.site import RequestContext

__all__ = ["SITE_COURSE_ID", "active_enrolment", "moodle_now"]


class EnrolmentStatus(StrEnum):
    """Where an enrolment stands now; only ``ACTIVE`` gives access."""

    ACTIVE = "active"
    SUSPENDED = "suspended"
    DISABLED = "disabled"
    NOT_STARTED = "not_started"
    ENDED = "ended"


def percent(part: int, whole: int) -> int:
    """round(100 * part / whole) with halves up, in integers (no float or banker's rounding)."""
    if whole <= 0:
        return 0
    return (200 * part + whole) // (2 * whole)


@dataclass(frozen=True)
class CourseRow:
    id: int
    fullname: str
    shortname: str
    idnumber: str
    category: int
    visible: bool
    enablecompletion: bool
    startdate: int
    enddate: int


@dataclass(frozen=True)
class CompletionRow:
    timeenrolled: int
    timestarted: int
    timecompleted: int | None
    completed: bool


@dataclass(frozen=True)
class EnrolmentRow:
    id: int
    userid: int
    courseid: int
    enrolid: int
    method: str
    status: EnrolmentStatus
    timestart: int
    timeend: int
    timecreated: int
    active: bool
    completion_enabled: bool
    completion: CompletionRow | None


@dataclass(frozen=True)
class CourseCounts:
    courses: int
    finishable: int
    finished: int
    ratio: int
    completions_all_time: int


async def load_courses(ctx: RequestContext, ids: Sequence[int]) -> dict[int, CourseRow]:
    found: dict[int, CourseRow] = {}
    for r in await ctx.reader.rows(ctx.statements.courses, ids):
        found[int(r[0])] = CourseRow(
            id=int(r[0]),
            fullname=r[1],
            shortname=r[2],
            idnumber=r[3] or "",
            category=int(r[4]),
            visible=bool(r[5]),
            enablecompletion=bool(r[6]),
            startdate=int(r[7] or 0),
            enddate=int(r[8] or 0),
        )
    return found


def _status(
    ue_status: int, e_status: int, timestart: int, timeend: int, now: int
) -> EnrolmentStatus:
    if ue_status != 0:
        return EnrolmentStatus.SUSPENDED
    if e_status != 0:
        return EnrolmentStatus.DISABLED
    if timestart >= now:
        return EnrolmentStatus.NOT_STARTED
    if timeend and timeend <= now:
        return EnrolmentStatus.ENDED
    return EnrolmentStatus.ACTIVE


async def load_enrolments(
    ctx: RequestContext, user_ids: Sequence[int], active_only: bool = True
) -> dict[int, list[EnrolmentRow]]:
    """Each user's enrolments in real courses (not the site course), ordered by course id.

    An enrolment is active as Moodle's ``enrol_get_all_users_courses($user, true)`` says: both the
    enrolment and its instance enabled, started before now and not ended (now rounded to 100 s).
    The guest has none.
    """
    rounded = moodle_now(ctx.now)
    statement = ctx.statements.enrolments if active_only else ctx.statements.all_enrolments
    result: dict[int, list[EnrolmentRow]] = {i: [] for i in user_ids}
    guest_id = ctx.site.guest_id
    for r in await ctx.reader.rows(statement, user_ids, rounded=rounded):
        row = enrolment_row(r, rounded)
        if row.userid != guest_id:
            result[row.userid].append(row)
    return result


def enrolment_row(r: Sequence[Any], rounded: int) -> EnrolmentRow:
    """A row of the enrolment statements (queries.py), ``rounded`` being Moodle's now."""
    (
        ue_id,
        user_id,
        ue_status,
        enrolid,
        timestart,
        timeend,
        timecreated,
        courseid,
        method,
        e_status,
        timeenrolled,
        timestarted,
        timecompleted,
        cc_id,
        enablecompletion,
    ) = r
    status = _status(int(ue_status), int(e_status), int(timestart), int(timeend), rounded)
    completion = None
    if cc_id is not None:
        completion = CompletionRow(
            timeenrolled=int(timeenrolled or 0),
            timestarted=int(timestarted or 0),
            timecompleted=int(timecompleted) if timecompleted else None,
            completed=bool(timecompleted and timecompleted > 0),
        )
    return EnrolmentRow(
        id=int(ue_id),
        userid=int(user_id),
        courseid=int(courseid),
        enrolid=int(enrolid),
        method=method,
        status=status,
        timestart=int(timestart),
        timeend=int(timeend),
        timecreated=int(timecreated or 0),
        active=status is EnrolmentStatus.ACTIVE,
        completion_enabled=bool(enablecompletion),
        completion=completion,
    )


def counts_of(rows: Iterable[EnrolmentRow], completions_all_time: int = 0) -> CourseCounts:
    """courses / finishablecourses / finishedcourses / ratio of the contract, from the active
    enrolments of one user."""
    active = [row for row in rows if row.active]
    courses = {row.courseid for row in active}
    finishable = {row.courseid for row in active if row.completion_enabled}
    finished = {
        row.courseid
        for row in active
        if row.courseid in finishable and row.completion and row.completion.completed
    }
    return CourseCounts(
        courses=len(courses),
        finishable=len(finishable),
        finished=len(finished),
        ratio=percent(len(finished), len(finishable)),
        completions_all_time=completions_all_time,
    )


async def course_counts(
    ctx: RequestContext, user_ids: Sequence[int], *, all_time: bool = True
) -> dict[int, CourseCounts]:
    """:func:`counts_of` per user; ``all_time`` also counts every completion ever."""
    enrolments = await load_enrolments(ctx, user_ids, True)
    completions = await completions_all_time(ctx, user_ids) if all_time else {}
    return {
        user_id: counts_of(rows, completions.get(user_id, 0))
        for user_id, rows in enrolments.items()
    }


async def completions_all_time(ctx: RequestContext, user_ids: Sequence[int]) -> dict[int, int]:
    rows = await ctx.reader.rows(ctx.statements.completions, user_ids)
    return {int(u): int(n) for u, n in rows}
