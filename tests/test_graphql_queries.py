"""The documents in queries/ validate against the schema and answer hand-worked values.

One small site (Europe/Paris, now = Wednesday 2026-11-25 18:42:03 local) is built per database:

- courses Algebra (completion on), Biology (completion on), Chemistry (completion off);
- Ada: active enrolments in Algebra and Biology, a suspended one in Chemistry; Algebra completed
  on 2026-11-18 12:06:40; badges Starter (site, 2026-11-03 08:15) and Algebra Ace (Algebra,
  2026-11-20 14:30); lastlogin 2026-11-06 22:20:00, lastaccess 2026-11-20 14:30:00;
- Bob: enrolled in Algebra, never logged in; Cy: suspended account, enrolled in Biology.

Ada's log, with block_use_stats defaults (threshold 60 min, last-ping credit 15 min = 900 s):
- November: login 2026-11-10 09:00:00 (1794297600), Algebra view +180 s, Biology view +600 s.
  Laps: login 180 s (site), Algebra 600 - 180 = 420 s, Biology (last row) min(900, now - t) = 900.
  Total 180 + 420 + 900 = 1500 s = "25m 0s"; one login; one active day.
- October: login 2026-10-15 10:00:00 CEST (1792051200), Algebra view +1000 s, logout +1300 s.
  Laps: login 1000 s (site), Algebra 300 s, the logout earns nothing: 1300 s = "21m 40s".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from graphql import parse, validate

from definum_gql.config import Settings
from definum_gql.graphql import build_schema
from definum_gql.moodle.site import Moodle
from tests.builders import Site
from tests.graphql_support import admin_token, data

QUERIES = Path(__file__).resolve().parents[1] / "queries"
FILES = sorted(p.name for p in QUERIES.glob("*.graphql"))

NOV_LOGIN = 1794297600  # 2026-11-10T09:00:00+01:00
OCT_LOGIN = 1792051200  # 2026-10-15T10:00:00+02:00
LASTLOGIN = 1794000000  # 2026-11-06T22:20:00+01:00, a Friday
COMPLETED = 1795000000  # 2026-11-18T12:06:40+01:00
STARTER_ISSUED = 1793690100  # 2026-11-03T08:15:00+01:00, a Tuesday
ACE_ISSUED = 1795181400  # 2026-11-20T14:30:00+01:00, a Friday


def document(name: str) -> str:
    return (QUERIES / name).read_text(encoding="utf-8")


@pytest.mark.parametrize("name", FILES)
def test_every_query_file_is_valid_against_the_schema(name: str) -> None:
    schema = build_schema(Settings())
    errors = validate(schema._schema, parse(document(name)))
    assert errors == []


def test_every_query_file_is_executed_by_a_test() -> None:
    assert set(FILES) == set(EXECUTED)


async def build(site: Site) -> dict[str, int]:
    ids: dict[str, int] = {}
    ids["algebra"] = await site.course(fullname="Algebra", shortname="ALG", enablecompletion=1)
    ids["biology"] = await site.course(fullname="Biology", shortname="BIO", enablecompletion=1)
    ids["chemistry"] = await site.course(fullname="Chemistry", shortname="CHE", enablecompletion=0)
    ids["ada"] = await site.user(
        username="ada",
        firstname="Ada",
        lastname="Lovelace",
        email="ada@example.org",
        lastlogin=LASTLOGIN,
        currentlogin=COMPLETED,
        lastaccess=ACE_ISSUED,
    )
    ids["bob"] = await site.user(username="bob", firstname="Bob", lastname="Babbage")
    ids["cy"] = await site.user(username="cy", firstname="Cy", lastname="Clarke", suspended=1)
    await site.enrol(ids["ada"], ids["algebra"])
    await site.enrol(ids["ada"], ids["biology"])
    await site.enrol(ids["ada"], ids["chemistry"], status=1)
    await site.enrol(ids["bob"], ids["algebra"])
    await site.enrol(ids["cy"], ids["biology"])
    await site.completion(ids["ada"], ids["algebra"], COMPLETED)
    ids["starter"] = await site.badge(name="Starter")
    ids["ace"] = await site.badge(name="Algebra Ace", courseid=ids["algebra"], type=2)
    await site.issue(ids["starter"], ids["ada"], STARTER_ISSUED)
    await site.issue(ids["ace"], ids["ada"], ACE_ISSUED)
    await site.login(ids["ada"], NOV_LOGIN)
    await site.log(ids["ada"], NOV_LOGIN + 180, courseid=ids["algebra"])
    await site.log(ids["ada"], NOV_LOGIN + 600, courseid=ids["biology"])
    await site.login(ids["ada"], OCT_LOGIN)
    await site.log(ids["ada"], OCT_LOGIN + 1000, courseid=ids["algebra"])
    await site.log(
        ids["ada"],
        OCT_LOGIN + 1300,
        eventname="\\core\\event\\user_loggedout",
        action="loggedout",
        target="user",
    )
    return ids


async def run(site: Site, moodle: Moodle, name: str, variables: dict[str, Any]) -> dict[str, Any]:
    token = await admin_token(site)
    return await data(moodle, document(name), variables, token=token)


async def test_learner_dashboard(site: Site, moodle: Moodle) -> None:
    ids = await build(site)
    result = await run(
        site, moodle, "learner_dashboard.graphql", {"by": "USERNAME", "value": "ada"}
    )
    user = result["user"]
    assert user["id"] == ids["ada"]
    assert user["fullname"] == "Ada Lovelace"
    assert user["lastLogin"] == "2026-11-06T22:20:00+01:00"
    assert user["lastAccess"] == "2026-11-20T14:30:00+01:00"
    assert user["definumStats"] == {
        "courses": 2,  # Chemistry's enrolment is suspended
        "finishableCourses": 2,
        "finishedCourses": 1,
        "finishedCoursesRatio": 50,
        "numBadges": 2,
        "timeSpentInMonth": 1500,
        "timeSpentInMonthStr": "25m 0s",
        "loginsInMonth": 1,
    }
    enrolments = sorted(user["enrolments"], key=lambda e: e["course"]["id"])
    assert enrolments == [
        {
            "course": {"id": ids["algebra"], "fullname": "Algebra"},
            "method": "manual",
            "status": "ACTIVE",
            "timeStart": None,
            "timeEnd": None,
            "completion": {"completed": True, "timeCompleted": "2026-11-18T12:06:40+01:00"},
        },
        {
            "course": {"id": ids["biology"], "fullname": "Biology"},
            "method": "manual",
            "status": "ACTIVE",
            "timeStart": None,
            "timeEnd": None,
            "completion": None,
        },
    ]
    assert user["badges"] == [
        {
            "badge": {
                "id": ids["ace"],
                "name": "Algebra Ace",
                "issuerName": "Definum",
                "course": {"fullname": "Algebra"},
            },
            "dateIssued": "2026-11-20T14:30:00+01:00",
            "dateExpire": None,
            "expired": False,
        },
        {
            "badge": {
                "id": ids["starter"],
                "name": "Starter",
                "issuerName": "Definum",
                "course": None,
            },
            "dateIssued": "2026-11-03T08:15:00+01:00",
            "dateExpire": None,
            "expired": False,
        },
    ]
    assert user["activity"] == {
        "month": "2026-11",
        "logins": 1,
        "timeSpent": 1500,
        "timeSpentText": "25m 0s",
        "activeDays": 1,
        "byCourse": [
            {"courseId": ids["biology"], "course": {"fullname": "Biology"}, "timeSpent": 900},
            {"courseId": ids["algebra"], "course": {"fullname": "Algebra"}, "timeSpent": 420},
            {"courseId": 0, "course": None, "timeSpent": 180},
        ],
    }


async def test_legacy_stats_document_for_a_past_month(site: Site, moodle: Moodle) -> None:
    ids = await build(site)
    result = await run(
        site, moodle, "legacy_stats.graphql", {"value": str(ids["ada"]), "month": "2026-10"}
    )
    assert result["user"]["definumStats"] == {
        "id": ids["ada"],
        "lastname": "Lovelace",
        "firstname": "Ada",
        "courses": 2,
        "finishableCourses": 2,
        "finishedCourses": 1,
        "finishedCoursesRatio": 50,
        "badges": [
            {
                "id": ids["ace"],
                "name": "Algebra Ace",
                "issuerName": "Definum",
                "issuerUrl": "https://definum.example.org/",
                "issuerContact": "badges@example.org",
                "dateIssued": ACE_ISSUED,
                "dateIssuedStr": "Friday, 20 November 2026, 02:30 PM",
            },
            {
                "id": ids["starter"],
                "name": "Starter",
                "issuerName": "Definum",
                "issuerUrl": "https://definum.example.org/",
                "issuerContact": "badges@example.org",
                "dateIssued": STARTER_ISSUED,
                "dateIssuedStr": "Tuesday, 03 November 2026, 08:15 AM",
            },
        ],
        "numBadges": 2,
        "lastLogin": LASTLOGIN,
        "lastLoginStr": "Friday, 06 November 2026, 10:20 PM",
        "timeSpentInMonth": 1300,
        "timeSpentInMonthStr": "21m 40s",
        "loginsInMonth": 1,
    }


async def test_legacy_stats_document_defaults_to_this_month(site: Site, moodle: Moodle) -> None:
    ids = await build(site)
    result = await run(site, moodle, "legacy_stats.graphql", {"value": str(ids["bob"])})
    stats = result["user"]["definumStats"]
    assert stats["courses"] == 1
    assert stats["finishedCoursesRatio"] == 0
    assert stats["badges"] == []
    assert stats["lastLogin"] == 0
    assert stats["lastLoginStr"] == "Never"
    assert stats["timeSpentInMonthStr"] == "0s"


async def test_course_completion_report(site: Site, moodle: Moodle) -> None:
    ids = await build(site)
    result = await run(site, moodle, "course_completion_report.graphql", {})
    report = result["courses"]
    assert report["totalCount"] == 3
    assert report["pageInfo"]["hasNextPage"] is False
    assert [edge["node"] for edge in report["edges"]] == [
        {
            "id": ids["algebra"],
            "fullname": "Algebra",
            "shortname": "ALG",
            "completionEnabled": True,
            "enrolledLearners": 2,  # Ada, Bob
            "completedLearners": 1,  # Ada
            "completionRate": 50,
            "activeLearnersThisMonth": 1,  # Ada's view on 2026-11-10
            "timeSpentThisMonth": 420,
            "timeSpentThisMonthText": "7m 0s",
        },
        {
            "id": ids["biology"],
            "fullname": "Biology",
            "shortname": "BIO",
            "completionEnabled": True,
            "enrolledLearners": 2,  # Ada, Cy (a suspended account keeps its enrolment)
            "completedLearners": 0,
            "completionRate": 0,
            "activeLearnersThisMonth": 1,
            "timeSpentThisMonth": 900,
            "timeSpentThisMonthText": "15m 0s",
        },
        {
            "id": ids["chemistry"],
            "fullname": "Chemistry",
            "shortname": "CHE",
            "completionEnabled": False,
            "enrolledLearners": 0,  # Ada's enrolment is suspended
            "completedLearners": 0,
            "completionRate": None,
            "activeLearnersThisMonth": 0,
            "timeSpentThisMonth": 0,
            "timeSpentThisMonthText": "0s",
        },
    ]


async def test_course_completion_report_pages(site: Site, moodle: Moodle) -> None:
    ids = await build(site)
    first = await run(site, moodle, "course_completion_report.graphql", {"first": 2})
    page = first["courses"]
    assert [e["node"]["id"] for e in page["edges"]] == [ids["algebra"], ids["biology"]]
    assert page["pageInfo"]["hasNextPage"] is True
    after = page["pageInfo"]["endCursor"]
    second = await run(
        site, moodle, "course_completion_report.graphql", {"first": 2, "after": after}
    )
    assert [e["node"]["id"] for e in second["courses"]["edges"]] == [ids["chemistry"]]
    assert second["courses"]["pageInfo"]["hasNextPage"] is False


async def test_monthly_activity_chart(site: Site, moodle: Moodle) -> None:
    ids = await build(site)
    result = await run(
        site,
        moodle,
        "monthly_activity_chart.graphql",
        {"value": str(ids["ada"]), "from": "2026-09", "to": "2026-11"},
    )
    assert result["user"]["activityHistory"] == [
        {"month": "2026-09", "logins": 0, "timeSpent": 0, "timeSpentText": "0s", "activeDays": 0},
        {
            "month": "2026-10",
            "logins": 1,
            "timeSpent": 1300,
            "timeSpentText": "21m 40s",
            "activeDays": 1,
        },
        {
            "month": "2026-11",
            "logins": 1,
            "timeSpent": 1500,
            "timeSpentText": "25m 0s",
            "activeDays": 1,
        },
    ]


async def test_learner_list_pages_and_filters(site: Site, moodle: Moodle) -> None:
    ids = await build(site)

    async def usernames(**variables: Any) -> tuple[list[str], dict[str, Any], int]:
        result = await run(site, moodle, "learner_list.graphql", variables)
        users = result["users"]
        names = [edge["node"]["username"] for edge in users["edges"]]
        return names, users["pageInfo"], users["totalCount"]

    # Everyone but the guest and deleted users, in id order.
    assert (await usernames())[0] == ["admin", "ada", "bob", "cy"]
    names, info, total = await usernames(first=2)
    assert (names, info["hasNextPage"], total) == (["admin", "ada"], True, 4)
    names, info, total = await usernames(first=2, after=info["endCursor"])
    assert (names, info["hasNextPage"], total) == (["bob", "cy"], False, 4)
    assert (await usernames(course=ids["algebra"]))[0] == ["ada", "bob"]
    assert (await usernames(search="LOVEL"))[0] == ["ada"]
    assert (await usernames(suspended=True))[0] == ["cy"]
    assert (await usernames(suspended=False))[0] == ["admin", "ada", "bob"]
    # Ada's last access is 2026-11-20; midnight of the 15th in Paris is before it.
    assert (await usernames(activeSince="2026-11-15"))[0] == ["ada"]
    assert (await usernames(activeSince="2026-11-21T00:00:00+01:00"))[0] == []


async def test_learner_list_carries_each_learners_document(site: Site, moodle: Moodle) -> None:
    await build(site)
    result = await run(site, moodle, "learner_list.graphql", {"course": None})
    stats = {e["node"]["username"]: e["node"]["definumStats"] for e in result["users"]["edges"]}
    assert stats == {
        "admin": {
            "courses": 0,
            "finishedCoursesRatio": 0,
            "timeSpentInMonth": 0,
            "loginsInMonth": 0,
        },
        "ada": {
            "courses": 2,
            "finishedCoursesRatio": 50,
            "timeSpentInMonth": 1500,
            "loginsInMonth": 1,
        },
        "bob": {"courses": 1, "finishedCoursesRatio": 0, "timeSpentInMonth": 0, "loginsInMonth": 0},
        "cy": {"courses": 1, "finishedCoursesRatio": 0, "timeSpentInMonth": 0, "loginsInMonth": 0},
    }


# The dashboard's documents (definum_gql/dashboard runs them; copies kept equal by its tests).


async def test_me_is_the_tokens_owner(site: Site, moodle: Moodle) -> None:
    await build(site)
    result = await run(site, moodle, "me.graphql", {})
    assert result == {"me": {"id": 2, "fullname": "Admin User"}}


async def test_learner_search_pages_and_finds_an_exact_id_number(
    site: Site, moodle: Moodle
) -> None:
    ids = await build(site)
    dee = await site.user(
        username="dee", firstname="Dee", lastname="Dalton", email="dee@example.net", idnumber="X-42"
    )

    async def search(**variables: Any) -> dict[str, Any]:
        return await run(site, moodle, "learner_search.graphql", variables)

    # Every account's e-mail holds an "a" (example.org, example.com): all five, two a page.
    first = await search(search="a", first=2)
    users = first["users"]
    assert [e["node"]["id"] for e in users["edges"]] == [2, ids["ada"]]
    assert (users["totalCount"], users["pageInfo"]["hasNextPage"]) == (5, True)
    assert "byIdnumber" not in first  # not asked for
    after = users["pageInfo"]["endCursor"]
    second = await search(search="a", first=2, after=after)
    assert [e["node"]["id"] for e in second["users"]["edges"]] == [ids["bob"], ids["cy"]]
    assert (await search(search="LOVEL"))["users"]["edges"] == [
        {
            "node": {
                "id": ids["ada"],
                "fullname": "Ada Lovelace",
                "username": "ada",
                "email": "ada@example.org",
                "idnumber": "",
            }
        }
    ]
    # No name, e-mail or username holds "X-42": only the ID number finds Dee.
    exact = await search(search="X-42", idnumber="X-42", withIdnumber=True)
    assert exact["users"] == {
        "totalCount": 0,
        "pageInfo": {"hasNextPage": False, "endCursor": None},
        "edges": [],
    }
    assert exact["byIdnumber"] == {
        "id": dee,
        "fullname": "Dee Dalton",
        "username": "dee",
        "email": "dee@example.net",
        "idnumber": "X-42",
    }


async def test_learner_month(site: Site, moodle: Moodle) -> None:
    ids = await build(site)
    november = await run(
        site, moodle, "learner_month.graphql", {"value": str(ids["ada"]), "month": "2026-11"}
    )
    assert november["user"] == {
        "id": ids["ada"],
        "activity": {
            "month": "2026-11",
            "logins": 1,
            "timeSpent": 1500,
            "timeSpentText": "25m 0s",
            "activeDays": 1,
            "byCourse": [
                {
                    "courseId": ids["biology"],
                    "course": {"id": ids["biology"], "fullname": "Biology"},
                    "timeSpent": 900,
                    "timeSpentText": "15m 0s",
                },
                {
                    "courseId": ids["algebra"],
                    "course": {"id": ids["algebra"], "fullname": "Algebra"},
                    "timeSpent": 420,
                    "timeSpentText": "7m 0s",
                },
                {"courseId": 0, "course": None, "timeSpent": 180, "timeSpentText": "3m 0s"},
            ],
        },
        # block_dedication: one session from the login to the Biology view.
        "dedication": 600,
    }
    # Without $month: this month (November, by the frozen clock).
    this_month = await run(site, moodle, "learner_month.graphql", {"value": str(ids["ada"])})
    assert this_month["user"] == november["user"]
    october = await run(
        site, moodle, "learner_month.graphql", {"value": str(ids["ada"]), "month": "2026-10"}
    )
    activity = october["user"]["activity"]
    assert (activity["timeSpent"], activity["logins"], activity["activeDays"]) == (1300, 1, 1)
    # One session from the login to the logout, 1300 s after it.
    assert october["user"]["dedication"] == 1300


def _twelve_months() -> dict[str, str]:
    months = ["2025-12", *(f"2026-{m:02d}" for m in range(1, 12))]
    return {f"m{i}": month for i, month in enumerate(months, start=1)}


async def test_learner_time_by_month(site: Site, moodle: Moodle) -> None:
    ids = await build(site)
    variables: dict[str, Any] = {"value": str(ids["ada"]), **_twelve_months()}
    dedication = await run(site, moodle, "learner_time_by_month.graphql", variables)
    use_stats = await run(
        site, moodle, "learner_time_by_month.graphql", {**variables, "algorithm": "USE_STATS"}
    )
    zeros = {f"m{i}": 0 for i in range(1, 11)}
    # m11 is October, m12 November.
    assert dedication["user"] == {"id": ids["ada"], **zeros, "m11": 1300, "m12": 600}
    assert use_stats["user"] == {"id": ids["ada"], **zeros, "m11": 1300, "m12": 1500}


async def test_course_learners(site: Site, moodle: Moodle) -> None:
    ids = await build(site)
    variables = {"course": ids["algebra"], "first": 1}
    first = await run(site, moodle, "course_learners.graphql", variables)
    assert first["course"] == {
        "id": ids["algebra"],
        "fullname": "Algebra",
        "shortname": "ALG",
        "completionEnabled": True,
        "enrolledLearners": 2,
        "completedLearners": 1,
        "completionRate": 50,
        "activeLearnersThisMonth": 1,
        "timeSpentThisMonth": 420,
        "timeSpentThisMonthText": "7m 0s",
    }
    users = first["users"]
    assert (users["totalCount"], users["pageInfo"]["hasNextPage"]) == (2, True)
    (ada,) = [edge["node"] for edge in users["edges"]]
    assert (ada["id"], ada["fullname"]) == (ids["ada"], "Ada Lovelace")
    assert sorted(ada["enrolments"], key=lambda e: e["course"]["id"]) == [
        {
            "course": {"id": ids["algebra"]},
            "completion": {"completed": True, "timeCompleted": "2026-11-18T12:06:40+01:00"},
        },
        {"course": {"id": ids["biology"]}, "completion": None},
    ]
    assert ada["activity"] == {
        "month": "2026-11",
        "byCourse": [
            {"courseId": ids["biology"], "timeSpent": 900, "timeSpentText": "15m 0s"},
            {"courseId": ids["algebra"], "timeSpent": 420, "timeSpentText": "7m 0s"},
            {"courseId": 0, "timeSpent": 180, "timeSpentText": "3m 0s"},
        ],
    }
    after = users["pageInfo"]["endCursor"]
    second = await run(site, moodle, "course_learners.graphql", {**variables, "after": after})
    assert second["users"]["pageInfo"]["hasNextPage"] is False
    (bob,) = [edge["node"] for edge in second["users"]["edges"]]
    assert bob == {
        "id": ids["bob"],
        "fullname": "Bob Babbage",
        "enrolments": [{"course": {"id": ids["algebra"]}, "completion": None}],
        "activity": {"month": "2026-11", "byCourse": []},
    }


EXECUTED = {
    "learner_dashboard.graphql": test_learner_dashboard,
    "legacy_stats.graphql": test_legacy_stats_document_for_a_past_month,
    "course_completion_report.graphql": test_course_completion_report,
    "monthly_activity_chart.graphql": test_monthly_activity_chart,
    "learner_list.graphql": test_learner_list_pages_and_filters,
    "me.graphql": test_me_is_the_tokens_owner,
    "learner_search.graphql": test_learner_search_pages_and_finds_an_exact_id_number,
    "learner_month.graphql": test_learner_month,
    "learner_time_by_month.graphql": test_learner_time_by_month,
    "course_learners.graphql": test_course_learners,
}


async def test_all_enrolments_include_suspended_ones(site: Site, moodle: Moodle) -> None:
    ids = await build(site)
    query = """query($id: String!) { user(value: $id) {
      enrolments(activeOnly: false) { course { id } status active } } }"""
    result = await data(moodle, query, {"id": str(ids["ada"])}, token=await admin_token(site))
    enrolments = sorted(result["user"]["enrolments"], key=lambda e: e["course"]["id"])
    assert enrolments == [
        {"course": {"id": ids["algebra"]}, "status": "ACTIVE", "active": True},
        {"course": {"id": ids["biology"]}, "status": "ACTIVE", "active": True},
        {"course": {"id": ids["chemistry"]}, "status": "SUSPENDED", "active": False},
    ]


async def test_page_size_null_means_the_default(site: Site, moodle: Moodle) -> None:
    await build(site)
    query = "{ users(first: null) { edges { node { username } } } }"
    result = await data(moodle, query, token=await admin_token(site))
    assert len(result["users"]["edges"]) == 4


async def test_time_spent_by_either_algorithm(site: Site, moodle: Moodle) -> None:
    ids = await build(site)
    query = """query($id: String!) { user(value: $id) {
      useStats: timeSpent
      dedication: timeSpent(month: "2026-11", algorithm: DEDICATION)
      october: timeSpent(month: "2026-10") } }"""
    result = await data(moodle, query, {"id": str(ids["ada"])}, token=await admin_token(site))
    # block_dedication: November is one session from the login to the Biology view, 600 s.
    assert result["user"] == {"useStats": 1500, "dedication": 600, "october": 1300}
