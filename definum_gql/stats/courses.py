"""Courses, enrolments and completion, as Moodle's enrol_get_all_users_courses sees them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from definum_gql.moodle.tables import MoodleTables
from definum_gql.stats.users import chunks

SITE_COURSE_ID = 1


def moodle_now(now: int) -> int:
    """enrol_get_all_users_courses rounds the time to 100 s (PHP ``round(time(), -2)``)."""
    return (now + 50) // 100 * 100


def active_enrolment(tables: MoodleTables, now: int) -> ColumnElement[bool]:
    """The contract's active enrolment, on ``user_enrolments`` joined to ``enrol``.

    Both the enrolment and its instance enabled, started before now and not ended, with now
    rounded to 100 s as ``enrol_get_all_users_courses`` does.
    """
    ue, e = tables.user_enrolments, tables.enrol
    rounded = moodle_now(now)
    return and_(
        ue.c.status == 0,
        e.c.status == 0,
        ue.c.timestart < rounded,
        or_(ue.c.timeend == 0, ue.c.timeend > rounded),
    )


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
    status: str  # active | suspended | disabled | not_started | ended
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


async def load_courses(
    conn: AsyncConnection, tables: MoodleTables, ids: Sequence[int]
) -> dict[int, CourseRow]:
    c = tables.course
    found: dict[int, CourseRow] = {}
    for batch in chunks(ids):
        rows = await conn.execute(
            select(
                c.c.id,
                c.c.fullname,
                c.c.shortname,
                c.c.idnumber,
                c.c.category,
                c.c.visible,
                c.c.enablecompletion,
                c.c.startdate,
                c.c.enddate,
            ).where(c.c.id.in_(batch))
        )
        for r in rows:
            found[int(r.id)] = CourseRow(
                id=int(r.id),
                fullname=r.fullname,
                shortname=r.shortname,
                idnumber=r.idnumber or "",
                category=int(r.category),
                visible=bool(r.visible),
                enablecompletion=bool(r.enablecompletion),
                startdate=int(r.startdate or 0),
                enddate=int(r.enddate or 0),
            )
    return found


def _status(ue_status: int, e_status: int, timestart: int, timeend: int, now: int) -> str:
    if ue_status != 0:
        return "suspended"
    if e_status != 0:
        return "disabled"
    if timestart >= now:
        return "not_started"
    if timeend and timeend <= now:
        return "ended"
    return "active"


async def load_enrolments(
    conn: AsyncConnection,
    tables: MoodleTables,
    user_ids: Sequence[int],
    now: int,
    active_only: bool = True,
    guest_id: int = 1,
) -> dict[int, list[EnrolmentRow]]:
    """Each user's enrolments in real courses (not the site course), ordered by course id.

    An enrolment is active as Moodle's ``enrol_get_all_users_courses($user, true)`` says: both the
    enrolment and its instance enabled, started before now and not ended (now rounded to 100 s).
    """
    ue, e, cc, c = tables.user_enrolments, tables.enrol, tables.course_completions, tables.course
    rounded = moodle_now(now)
    result: dict[int, list[EnrolmentRow]] = {i: [] for i in user_ids}
    for batch in chunks(user_ids):
        query = (
            select(
                ue.c.id,
                ue.c.userid,
                ue.c.status,
                ue.c.enrolid,
                ue.c.timestart,
                ue.c.timeend,
                ue.c.timecreated,
                e.c.courseid,
                e.c.enrol,
                e.c.status.label("e_status"),
                cc.c.timeenrolled,
                cc.c.timestarted,
                cc.c.timecompleted,
                cc.c.id.label("cc_id"),
                c.c.enablecompletion,
            )
            .join(e, e.c.id == ue.c.enrolid)
            .join(c, c.c.id == e.c.courseid)
            .outerjoin(cc, and_(cc.c.userid == ue.c.userid, cc.c.course == e.c.courseid))
            .where(ue.c.userid.in_(batch), e.c.courseid != SITE_COURSE_ID)
            .order_by(ue.c.userid, e.c.courseid, ue.c.id)
        )
        if active_only:
            query = query.where(active_enrolment(tables, now))
        for r in await conn.execute(query):
            user_id = int(r.userid)
            if user_id == guest_id:
                continue
            status = _status(
                int(r.status), int(r.e_status), int(r.timestart), int(r.timeend), rounded
            )
            completion = None
            if r.cc_id is not None:
                completion = CompletionRow(
                    timeenrolled=int(r.timeenrolled or 0),
                    timestarted=int(r.timestarted or 0),
                    timecompleted=int(r.timecompleted) if r.timecompleted else None,
                    completed=bool(r.timecompleted and r.timecompleted > 0),
                )
            result[user_id].append(
                EnrolmentRow(
                    id=int(r.id),
                    userid=user_id,
                    courseid=int(r.courseid),
                    enrolid=int(r.enrolid),
                    method=r.enrol,
                    status=status,
                    timestart=int(r.timestart),
                    timeend=int(r.timeend),
                    timecreated=int(r.timecreated or 0),
                    active=status == "active",
                    completion_enabled=bool(r.enablecompletion),
                    completion=completion,
                )
            )
    return result


async def course_counts(
    conn: AsyncConnection,
    tables: MoodleTables,
    user_ids: Sequence[int],
    now: int,
    guest_id: int = 1,
    *,
    all_time: bool = True,
) -> dict[int, CourseCounts]:
    """courses / finishablecourses / finishedcourses / ratio of the contract, per user.

    ``all_time`` also counts every completion ever (one more statement; the legacy document
    does not need it).
    """
    enrolments = await load_enrolments(conn, tables, user_ids, now, True, guest_id)
    completions = await _completions_all_time(conn, tables, user_ids) if all_time else {}
    counts: dict[int, CourseCounts] = {}
    for user_id, rows in enrolments.items():
        courses = {row.courseid for row in rows}
        finishable = {row.courseid for row in rows if row.completion_enabled}
        finished = {
            row.courseid
            for row in rows
            if row.courseid in finishable and row.completion and row.completion.completed
        }
        counts[user_id] = CourseCounts(
            courses=len(courses),
            finishable=len(finishable),
            finished=len(finished),
            ratio=percent(len(finished), len(finishable)),
            completions_all_time=completions.get(user_id, 0),
        )
    return counts


async def _completions_all_time(
    conn: AsyncConnection, tables: MoodleTables, user_ids: Sequence[int]
) -> dict[int, int]:
    cc = tables.course_completions
    counts: dict[int, int] = {}
    for batch in chunks(user_ids):
        rows = await conn.execute(
            select(cc.c.userid, func.count())
            .where(cc.c.userid.in_(batch), cc.c.timecompleted > 0)
            .group_by(cc.c.userid)
        )
        counts.update({int(u): int(n) for u, n in rows})
    return counts
