"""User.courseSummary: the legacy counts plus every completion ever, batched for a page."""

from __future__ import annotations

from definum_gql.moodle.site import Moodle
from tests.builders import NOW, Site
from tests.graphql_support import admin_token, data

QUERY = """
query ($ids: String!) {
  user(by: ID, value: $ids) {
    courseSummary {
      courses finishableCourses finishedCourses finishedCoursesRatio completionsAllTime
    }
    definumStats { courses finishableCourses finishedCourses finishedCoursesRatio }
  }
}
"""


async def test_course_summary_counts_completions_of_courses_left_or_untracked(
    site: Site, moodle: Moodle
) -> None:
    learner = await site.user()
    done = await site.course(enablecompletion=1)
    running = await site.course(enablecompletion=1)
    untracked = await site.course(enablecompletion=0)
    left = await site.course(enablecompletion=1)
    for course in (done, running, untracked):
        await site.enrol(learner, course)
    await site.enrol(learner, left, timestart=NOW - 90 * 86400, timeend=NOW - 86400)
    await site.completion(learner, done, NOW - 5 * 86400)
    await site.completion(learner, untracked, NOW - 4 * 86400)
    await site.completion(learner, left, NOW - 3 * 86400)
    await site.completion(learner, running, None)
    token = await admin_token(site)
    result = await data(moodle, QUERY, {"ids": str(learner)}, token=token)
    # Active: done, running, untracked (3); finishable: done, running (2); finished: done (1),
    # 50 %. Completions ever: done, untracked, left (3; running has no timecompleted).
    assert result["user"]["courseSummary"] == {
        "courses": 3,
        "finishableCourses": 2,
        "finishedCourses": 1,
        "finishedCoursesRatio": 50,
        "completionsAllTime": 3,
    }
    legacy = result["user"]["definumStats"]
    assert legacy == {
        "courses": 3,
        "finishableCourses": 2,
        "finishedCourses": 1,
        "finishedCoursesRatio": 50,
    }
