"""Active enrolments, finishable and finished courses (contract section 4), one rule per test."""

from __future__ import annotations

from definum_gql.moodle.site import Moodle
from definum_gql.stats.courses import CourseCounts, course_counts, load_enrolments
from tests.builders import NOW, Site

DAY = 86400


async def counts(moodle: Moodle, user_id: int) -> CourseCounts:
    async with moodle.request() as ctx:
        return (await course_counts(ctx, [user_id]))[user_id]


async def test_active_enrolment_is_counted(site: Site, moodle: Moodle) -> None:
    user, course = await site.user(), await site.course()
    await site.enrol(user, course)
    assert (await counts(moodle, user)).courses == 1


async def test_suspended_enrolment_is_not_counted(site: Site, moodle: Moodle) -> None:
    user, course = await site.user(), await site.course()
    await site.enrol(user, course, status=1)
    assert (await counts(moodle, user)).courses == 0


async def test_enrolment_instance_disabled_is_not_counted(site: Site, moodle: Moodle) -> None:
    user, course = await site.user(), await site.course()
    await site.enrol(user, course, instance_status=1)
    assert (await counts(moodle, user)).courses == 0


async def test_enrolment_ended_yesterday_is_not_counted(site: Site, moodle: Moodle) -> None:
    user, ended, running = await site.user(), await site.course(), await site.course()
    await site.enrol(user, ended, timestart=NOW - 30 * DAY, timeend=NOW - DAY)
    await site.enrol(user, running, timestart=NOW - 30 * DAY, timeend=NOW + DAY)
    assert (await counts(moodle, user)).courses == 1


async def test_enrolment_not_yet_started_is_not_counted(site: Site, moodle: Moodle) -> None:
    user, course = await site.user(), await site.course()
    await site.enrol(user, course, timestart=NOW + 3600)
    assert (await counts(moodle, user)).courses == 0


async def test_now_is_rounded_to_100_seconds_as_moodle_does(site: Site, moodle: Moodle) -> None:
    # now 1795628523 rounds to 1795628500: a start 10 s ago (…513) is not yet before it,
    # a start 30 s ago (…493) is.
    user, late, early = await site.user(), await site.course(), await site.course()
    await site.enrol(user, late, timestart=NOW - 10)
    await site.enrol(user, early, timestart=NOW - 30)
    async with moodle.request() as ctx:
        rows = (await load_enrolments(ctx, [user], active_only=False))[user]
    assert {r.courseid: r.status for r in rows} == {late: "not_started", early: "active"}
    assert (await counts(moodle, user)).courses == 1


async def test_site_course_and_duplicate_enrolments_count_once_or_not_at_all(
    site: Site, moodle: Moodle
) -> None:
    user, course = await site.user(), await site.course()
    await site.enrol(user, 1)  # the site course
    await site.enrol(user, course, method="manual")
    await site.enrol(user, course, method="self")
    assert (await counts(moodle, user)).courses == 1


async def test_hidden_courses_count(site: Site, moodle: Moodle) -> None:
    user, hidden = await site.user(), await site.course(visible=0)
    await site.enrol(user, hidden)
    assert (await counts(moodle, user)).courses == 1


async def test_the_guest_user_has_no_courses(site: Site, moodle: Moodle) -> None:
    course = await site.course()
    await site.enrol(1, course)
    assert (await counts(moodle, 1)).courses == 0


async def test_finishable_and_finished_within_active_courses(site: Site, moodle: Moodle) -> None:
    user = await site.user()
    done1 = await site.course(enablecompletion=1)
    done2 = await site.course(enablecompletion=1)
    open_ = await site.course(enablecompletion=1)
    no_tracking = await site.course(enablecompletion=0)
    left = await site.course(enablecompletion=1)
    for course in (done1, done2, open_, no_tracking):
        await site.enrol(user, course)
    await site.enrol(user, left, status=1)
    await site.completion(user, done1, NOW - 5 * DAY)
    await site.completion(user, done2, NOW - 2 * DAY)
    await site.completion(user, open_, None, timestarted=NOW - 9 * DAY)
    await site.completion(user, no_tracking, NOW - DAY)  # not finishable: not counted as finished
    await site.completion(user, left, NOW - DAY)  # no longer enrolled: not counted
    result = await counts(moodle, user)
    # 4 active courses; 3 with completion; 2 of those completed: round(66.67) = 67.
    assert (result.courses, result.finishable, result.finished, result.ratio) == (4, 3, 2, 67)
    assert result.completions_all_time == 4


async def test_ratio_is_zero_without_finishable_courses(site: Site, moodle: Moodle) -> None:
    user, course = await site.user(), await site.course(enablecompletion=0)
    await site.enrol(user, course)
    result = await counts(moodle, user)
    assert (result.courses, result.finishable, result.finished, result.ratio) == (1, 0, 0, 0)


async def test_enrolment_list_carries_method_status_and_completion(
    site: Site, moodle: Moodle
) -> None:
    user, course, other = await site.user(), await site.course(), await site.course()
    await site.enrol(user, course, method="self", timestart=NOW - 10 * DAY)
    await site.enrol(user, other, status=1)
    await site.completion(user, course, NOW - DAY, timeenrolled=NOW - 10 * DAY)
    async with moodle.request() as ctx:
        everything = await load_enrolments(ctx, [user], active_only=False)
        active = await load_enrolments(ctx, [user])
    rows = everything[user]
    assert [(r.courseid, r.method, r.status) for r in rows] == [
        (course, "self", "active"),
        (other, "manual", "suspended"),
    ]
    assert rows[0].completion is not None
    assert rows[0].completion.completed
    assert rows[0].completion.timeenrolled == NOW - 10 * DAY
    assert rows[1].completion is None
    assert [r.courseid for r in active[user]] == [course]


async def test_many_users_in_one_batch(site: Site, moodle: Moodle) -> None:
    course = await site.course()
    users = [await site.user() for _ in range(5)]
    for i, user in enumerate(users):
        if i % 2 == 0:
            await site.enrol(user, course)
    async with moodle.request() as ctx:
        result = await course_counts(ctx, users)
    assert [result[u].courses for u in users] == [1, 0, 1, 0, 1]
