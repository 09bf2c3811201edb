"""Who may read whom through GraphQL: the token owner's capabilities, self services, `me`.

Each token owner below holds exactly the roles written next to it; the expected values are the
rows the test writes. Capabilities are Moodle's in the system context (contract step 5's
resolution): a role assigned there or the default user role (7) allows, none prohibits; site
admins (id 2) have every one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette

from definum_gql.graphql import graphql_routes
from definum_gql.moodle.site import Moodle
from tests.builders import NOW, Site
from tests.databases import MakeMoodle
from tests.graphql_support import StatementCounter, admin_token, client, post
from tests.rest_support import call

IDENTITY = "moodle/site:viewuseridentity"
DETAILS = "moodle/user:viewdetails"
HIDDEN = "moodle/course:viewhiddencourses"
#: NOW - 3600 (16:42:03Z) and NOW - 7200 in the site's timezone, Europe/Paris (UTC+1 in November).
HOUR_AGO = "2026-11-25T17:42:03+01:00"
TWO_HOURS_AGO = "2026-11-25T16:42:03+01:00"
QUERIES = Path(__file__).resolve().parents[1] / "queries"


@dataclass
class Learners:
    """The site's learners, courses and the tokens of owners holding each capability."""

    alice: int
    sam: int
    shown: int
    hidden: int
    plain: str  # webservice/rest:use only (the default user role)
    identity: str  # + moodle/site:viewuseridentity (role 4 at the system context)
    details: str  # + moodle/user:viewdetails (role 3)
    hidden_courses: str  # + moodle/course:viewhiddencourses (role 2)
    plain_owner: int
    identity_owner: int
    admin: str  # the site admin (id 2): every capability, no role needed


async def build(site: Site) -> Learners:
    await site.allow(7)  # every user may use REST (and so GraphQL)
    for role, capability in ((4, IDENTITY), (3, DETAILS), (2, HIDDEN)):
        await site.allow(role, capability)
    service = await site.service()
    tokens: dict[int, str] = {}
    owners: dict[int, int] = {}
    for role in (0, 4, 3, 2):
        owner = await site.user(username=f"reader{role}", email=f"reader{role}@example.com")
        if role:
            await site.assign(owner, role)
        owners[role] = owner
        tokens[role] = await site.token(owner, service)
    alice = await site.user(
        username="alice",
        idnumber="A-1",
        email="alice@zeta.example",
        firstname="Alice",
        lastname="Martin",
        lastaccess=NOW - 3600,
        currentlogin=NOW - 7200,
    )
    sam = await site.user(
        username="sam", email="sam@zeta.example", firstname="Sam", lastname="Suspended", suspended=1
    )
    shown = await site.course(fullname="Shown", shortname="SHOWN")
    hidden = await site.course(fullname="Hidden", shortname="HIDDEN", visible=0)
    await site.enrol(alice, shown)
    await site.enrol(alice, hidden)
    await site.enrol(sam, shown)
    return Learners(
        alice,
        sam,
        shown,
        hidden,
        tokens[0],
        tokens[4],
        tokens[3],
        tokens[2],
        owners[0],
        owners[4],
        await site.token(2, service),
    )


async def ask(
    moodle: Moodle, token: str, query: str, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    response = await post(moodle, query, variables, token=token)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def refusals(body: dict[str, Any]) -> list[tuple[list[Any], str | None]]:
    """(path, capability) of each error, all of them FORBIDDEN."""
    errors = body.get("errors", [])
    assert all(e["extensions"]["code"] == "FORBIDDEN" for e in errors), errors
    return sorted((e["path"], e["extensions"].get("capability")) for e in errors)


# -- identity fields: moodle/site:viewuseridentity -------------------------------------------

USER_IDENTITY = "query($id: String!) { user(value: $id) { id fullname username idnumber email } }"


async def test_identity_fields_need_viewuseridentity(site: Site, moodle: Moodle) -> None:
    ids = await build(site)
    variables = {"id": str(ids.alice)}
    refused = await ask(moodle, ids.plain, USER_IDENTITY, variables)
    assert refused["data"] == {
        "user": {
            "id": ids.alice,
            "fullname": "Alice Martin",
            "username": None,
            "idnumber": None,
            "email": None,
        }
    }
    assert refusals(refused) == [
        (["user", "email"], IDENTITY),
        (["user", "idnumber"], IDENTITY),
        (["user", "username"], IDENTITY),
    ]
    message = refused["errors"][0]["message"]
    assert IDENTITY in message
    assert "token's owner does not have" in message
    for token in (ids.identity, ids.admin):
        shown = await ask(moodle, token, USER_IDENTITY, variables)
        assert "errors" not in shown, shown
        assert shown["data"]["user"] == {
            "id": ids.alice,
            "fullname": "Alice Martin",
            "username": "alice",
            "idnumber": "A-1",
            "email": "alice@zeta.example",
        }


async def test_finding_a_user_by_an_identity_field_needs_viewuseridentity(
    site: Site, moodle: Moodle
) -> None:
    ids = await build(site)
    query = "query($by: UserIdField!, $v: String!) { user(by: $by, value: $v) { id } }"
    for by, value in (("USERNAME", "alice"), ("IDNUMBER", "A-1"), ("EMAIL", "ALICE@zeta.example")):
        refused = await ask(moodle, ids.plain, query, {"by": by, "v": value})
        assert refused["data"] == {"user": None}
        assert refusals(refused) == [(["user"], IDENTITY)]
        assert refused["errors"][0]["message"].startswith(f"Finding a user by {by} needs")
        found = await ask(moodle, ids.identity, query, {"by": by, "v": value})
        assert found == {"data": {"user": {"id": ids.alice}}}
    # By id, no capability is needed (REST answers the same learner to the same token).
    assert await ask(moodle, ids.plain, query, {"by": "ID", "v": str(ids.alice)}) == {
        "data": {"user": {"id": ids.alice}}
    }


SEARCH = """
query($search: String!) {
  users(filter: { search: $search }) { totalCount edges { node { id } } }
}
"""


async def test_search_looks_in_identity_fields_only_with_viewuseridentity(
    site: Site, moodle: Moodle
) -> None:
    ids = await build(site)

    async def found(token: str, words: str) -> list[int]:
        body = await ask(moodle, token, SEARCH, {"search": words})
        assert "errors" not in body, body
        users = body["data"]["users"]
        assert users["totalCount"] == len(users["edges"])
        return [edge["node"]["id"] for edge in users["edges"]]

    # "zeta" is only in alice's and sam's e-mail addresses; "alice" in her name and username.
    assert await found(ids.plain, "zeta") == []
    assert await found(ids.identity, "zeta") == [ids.alice, ids.sam]
    assert await found(ids.plain, "mart") == [ids.alice]  # last name
    assert await found(ids.plain, "reader4") == []  # a username, no name holds it
    assert await found(ids.identity, "reader4") == [ids.identity_owner]


# -- suspended users and access times: moodle/user:viewdetails -------------------------------

DETAILS_QUERY = """
query($id: String!) { user(value: $id) { id suspended lastLogin currentLogin lastAccess } }
"""


async def test_suspension_and_access_times_need_viewdetails(site: Site, moodle: Moodle) -> None:
    ids = await build(site)
    refused = await ask(moodle, ids.plain, DETAILS_QUERY, {"id": str(ids.sam)})
    # The suspended learner is answered (as REST answers her), her flag is not.
    assert refused["data"] == {
        "user": {
            "id": ids.sam,
            "suspended": None,
            "lastLogin": None,
            "currentLogin": None,
            "lastAccess": None,
        }
    }
    assert refusals(refused) == [
        (["user", "currentLogin"], DETAILS),
        (["user", "lastAccess"], DETAILS),
        (["user", "suspended"], DETAILS),
    ]
    sam = await ask(moodle, ids.details, DETAILS_QUERY, {"id": str(ids.sam)})
    assert sam["data"]["user"]["suspended"] is True
    alice = await ask(moodle, ids.details, DETAILS_QUERY, {"id": str(ids.alice)})
    assert alice == {
        "data": {
            "user": {
                "id": ids.alice,
                "suspended": False,
                "lastLogin": None,
                "currentLogin": TWO_HOURS_AGO,
                "lastAccess": HOUR_AGO,
            }
        }
    }


LIST = """
query($filter: UserFilter) { users(filter: $filter) { totalCount edges { node { id } } } }
"""


async def test_lists_show_suspended_users_but_not_who_they_are(site: Site, moodle: Moodle) -> None:
    ids = await build(site)
    course = {"enrolledInCourse": ids.shown}
    listed = await ask(moodle, ids.plain, LIST, {"filter": course})
    # Leaving sam out would tell who is suspended: he is listed like alice.
    assert listed == {
        "data": {
            "users": {
                "totalCount": 2,
                "edges": [{"node": {"id": ids.alice}}, {"node": {"id": ids.sam}}],
            }
        }
    }
    for condition in ({"suspended": True}, {"suspended": False}, {"activeSince": "2026-11-01"}):
        refused = await ask(moodle, ids.plain, LIST, {"filter": {**course, **condition}})
        assert refused["data"] == {"users": None}
        assert refusals(refused) == [(["users"], DETAILS)]
    suspended = await ask(moodle, ids.details, LIST, {"filter": {**course, "suspended": True}})
    assert suspended["data"]["users"]["edges"] == [{"node": {"id": ids.sam}}]
    recent = await ask(moodle, ids.details, LIST, {"filter": {"activeSince": "2026-11-25"}})
    assert recent["data"]["users"]["edges"] == [{"node": {"id": ids.alice}}]


async def test_a_refused_field_leaves_the_rest_of_the_answer(site: Site, moodle: Moodle) -> None:
    ids = await build(site)
    query = """
    query($id: String!) {
      user(value: $id) { id }
      users(filter: { suspended: true }) { totalCount }
      course(id: 1) { id }
    }
    """
    body = await ask(moodle, ids.plain, query, {"id": str(ids.alice)})
    assert body["data"] == {"user": {"id": ids.alice}, "users": None, "course": None}
    assert refusals(body) == [(["users"], DETAILS)]


# -- every user sees their own fields ---------------------------------------------------------

OWN = "{ me { id username email idnumber suspended lastAccess } }"


async def test_me_is_the_token_owner_with_every_field(site: Site, moodle: Moodle) -> None:
    ids = await build(site)
    await site.set(site.t.user, ids.plain_owner, idnumber="R-0", lastaccess=NOW - 3600)
    body = await ask(moodle, ids.plain, OWN)
    assert body == {
        "data": {
            "me": {
                "id": ids.plain_owner,
                "username": "reader0",
                "email": "reader0@example.com",
                "idnumber": "R-0",
                "suspended": False,
                "lastAccess": HOUR_AGO,
            }
        }
    }
    # The same user found by id: still the owner's own fields.
    by_id = "query($id: String!) { user(value: $id) { username lastAccess } }"
    own = await ask(moodle, ids.plain, by_id, {"id": str(ids.plain_owner)})
    assert own == {"data": {"user": {"username": "reader0", "lastAccess": HOUR_AGO}}}


async def test_me_is_null_without_authentication(site: Site, moodle_with: MakeMoodle) -> None:
    demo = moodle_with(auth="off")
    async with client(demo) as http:
        response = await http.post("/graphql", json={"query": "{ me { id } }"})
    assert response.json() == {"data": {"me": None}}


# -- hidden courses: moodle/course:viewhiddencourses -----------------------------------------

COURSE = "query($id: Int!) { course(id: $id) { id fullname visible } }"
COURSES = """
query($filter: CourseFilter) { courses(filter: $filter) { totalCount edges { node { id } } } }
"""
ENROLMENTS = "query($id: String!) { user(value: $id) { enrolments { course { id fullname } } } }"


async def test_hidden_courses_need_viewhiddencourses(site: Site, moodle: Moodle) -> None:
    ids = await build(site)
    shown = await ask(moodle, ids.plain, COURSE, {"id": ids.shown})
    assert shown == {"data": {"course": {"id": ids.shown, "fullname": "Shown", "visible": True}}}
    hidden = await ask(moodle, ids.plain, COURSE, {"id": ids.hidden})
    assert hidden["data"] == {"course": None}
    assert refusals(hidden) == [(["course"], HIDDEN)]
    assert hidden["errors"][0]["message"].startswith(f"Hidden course {ids.hidden} needs")
    allowed = await ask(moodle, ids.hidden_courses, COURSE, {"id": ids.hidden})
    assert allowed == {
        "data": {"course": {"id": ids.hidden, "fullname": "Hidden", "visible": False}}
    }


async def test_course_lists_leave_hidden_courses_out(site: Site, moodle: Moodle) -> None:
    ids = await build(site)
    listed = await ask(moodle, ids.plain, COURSES)
    assert listed == {
        "data": {"courses": {"totalCount": 1, "edges": [{"node": {"id": ids.shown}}]}}
    }
    refused = await ask(moodle, ids.plain, COURSES, {"filter": {"visible": False}})
    assert refused["data"] == {"courses": None}
    assert refusals(refused) == [(["courses"], HIDDEN)]
    everything = await ask(moodle, ids.hidden_courses, COURSES)
    assert everything["data"]["courses"]["totalCount"] == 2
    only_hidden = await ask(moodle, ids.hidden_courses, COURSES, {"filter": {"visible": False}})
    assert only_hidden["data"]["courses"]["edges"] == [{"node": {"id": ids.hidden}}]


async def test_an_enrolment_in_a_hidden_course_hides_the_course(site: Site, moodle: Moodle) -> None:
    ids = await build(site)
    body = await ask(moodle, ids.plain, ENROLMENTS, {"id": str(ids.alice)})
    # Enrolments come in course order: Shown, then Hidden.
    assert body["data"] == {
        "user": {
            "enrolments": [{"course": {"id": ids.shown, "fullname": "Shown"}}, {"course": None}]
        }
    }
    assert refusals(body) == [(["user", "enrolments", 1, "course"], HIDDEN)]
    allowed = await ask(moodle, ids.hidden_courses, ENROLMENTS, {"id": str(ids.alice)})
    assert allowed["data"]["user"]["enrolments"][1] == {
        "course": {"id": ids.hidden, "fullname": "Hidden"}
    }


# -- self services: their owner only ----------------------------------------------------------


async def _mobile(site: Site, moodle_with: MakeMoodle, owner: int) -> tuple[Moodle, str]:
    mobile = await site.service("moodle_mobile_app", functions=("core_webservice_get_site_info",))
    token = await site.token(owner, mobile)
    return moodle_with(self_services=["moodle_mobile_app"]), token


async def test_a_self_service_token_reads_its_owner(site: Site, moodle_with: MakeMoodle) -> None:
    ids = await build(site)
    moodle, token = await _mobile(site, moodle_with, ids.alice)
    query = """
    {
      me {
        id username email suspended lastAccess
        definumStats { courses }
        enrolments { course { id } }
      }
    }
    """
    body = await ask(moodle, token, query)
    # Her own identity and details; the hidden course still needs the capability she lacks.
    assert body["data"] == {
        "me": {
            "id": ids.alice,
            "username": "alice",
            "email": "alice@zeta.example",
            "suspended": False,
            "lastAccess": HOUR_AGO,
            "definumStats": {"courses": 2},
            "enrolments": [{"course": {"id": ids.shown}}, {"course": None}],
        }
    }
    assert refusals(body) == [(["me", "enrolments", 1, "course"], HIDDEN)]
    own = await ask(
        moodle, token, "query($id: String!) { user(value: $id) { id } }", {"id": str(ids.alice)}
    )
    assert own == {"data": {"user": {"id": ids.alice}}}


async def test_a_self_service_token_is_refused_everyone_else(
    site: Site, moodle_with: MakeMoodle
) -> None:
    ids = await build(site)
    moodle, token = await _mobile(site, moodle_with, ids.alice)
    query = """
    query($other: String!, $nobody: String!, $course: Int!) {
      other: user(value: $other) { id }
      nobody: user(value: $nobody) { id }
      users { totalCount }
      courses { totalCount }
      course(id: $course) {
        fullname enrolledLearners completedLearners completionRate activeLearnersThisMonth
        timeSpentThisMonth timeSpentThisMonthText
      }
    }
    """
    variables = {"other": str(ids.sam), "nobody": "999999", "course": ids.shown}
    body = await ask(moodle, token, query, variables)
    # A missing user is refused too: null would tell which ids exist.
    assert body["data"] == {
        "other": None,
        "nobody": None,
        "users": None,
        "courses": None,
        "course": {
            "fullname": "Shown",
            "enrolledLearners": None,
            "completedLearners": None,
            "completionRate": None,
            "activeLearnersThisMonth": None,
            "timeSpentThisMonth": None,
            "timeSpentThisMonthText": None,
        },
    }
    errors = body["errors"]
    assert sorted(e["path"][-1] for e in errors) == sorted(
        [
            "other",
            "nobody",
            "users",
            "courses",
            "enrolledLearners",
            "completedLearners",
            "completionRate",
            "activeLearnersThisMonth",
            "timeSpentThisMonth",
            "timeSpentThisMonthText",
        ]
    )
    for error in errors:
        assert error["extensions"] == {"code": "FORBIDDEN", "service": "moodle_mobile_app"}
        assert "reads its owner only" in error["message"]


async def test_a_self_service_token_is_refused_unless_opted_in(site: Site, moodle: Moodle) -> None:
    ids = await build(site)
    mobile = await site.service("moodle_mobile_app", functions=("core_webservice_get_site_info",))
    token = await site.token(ids.alice, mobile)
    response = await post(moodle, "{ me { id } }", token=token)
    assert response.status_code == 403
    assert response.json()["errors"][0]["extensions"] == {
        "code": "FORBIDDEN",
        "reason": "servicedenied",
    }


async def test_rest_refuses_a_self_service_token(site: Site, moodle_with: MakeMoodle) -> None:
    ids = await build(site)
    moodle, token = await _mobile(site, moodle_with, ids.alice)
    query = {
        "wstoken": token,
        "wsfunction": "definum_get_stats",
        "useridfield": "id",
        "userid": str(ids.alice),
        "moodlewsrestformat": "json",
    }
    response = await call(moodle, query)
    assert response.content == (
        b'{"exception":"webservice_access_exception","errorcode":"accessexception",'
        b'"message":"Access control exception"}'
    )


# -- the site's switch for web services -------------------------------------------------------


async def test_graphql_is_closed_when_web_services_are_off(site: Site, moodle: Moodle) -> None:
    token = await admin_token(site)
    closed = {
        "errors": [
            {
                "message": "Web services are turned off on this Moodle site (enablewebservices, "
                "or REST not among webserviceprotocols): GraphQL is closed with them.",
                "extensions": {"code": "WEB_SERVICES_DISABLED", "reason": "webservicesdisabled"},
            }
        ]
    }
    for config in ({"enablewebservices": "0"}, {"webserviceprotocols": "soap,xmlrpc"}):
        await site.config(enablewebservices="1", webserviceprotocols="rest")
        await site.config(**config)
        response = await post(moodle, "{ me { id } }", token=token)
        assert response.status_code == 403
        assert response.json() == closed
        # Even an unknown token gets the switch's answer: it is checked first, as in REST.
        unknown = await post(moodle, "{ me { id } }", token="f" * 32)
        assert unknown.status_code == 403
        assert unknown.json() == closed


async def test_the_switch_closes_graphql_without_authentication_too(
    site: Site, moodle_with: MakeMoodle
) -> None:
    await site.config(enablewebservices="0")
    demo = moodle_with(auth="off")
    async with client(demo) as http:
        response = await http.post("/graphql", json={"query": "{ me { id } }"})
    assert response.status_code == 403
    assert response.json()["errors"][0]["extensions"]["code"] == "WEB_SERVICES_DISABLED"


async def test_graphiql_still_loads_when_web_services_are_off(site: Site, moodle: Moodle) -> None:
    await site.config(enablewebservices="0")
    async with client(moodle) as http:
        page = await http.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")


# -- what it costs -----------------------------------------------------------------------------


async def test_capabilities_cost_no_statement_once_the_token_is_known(
    site: Site, moodle_with: MakeMoodle
) -> None:
    ids = await build(site)
    cached = moodle_with(site_cache_seconds=3600, token_cache_seconds=3600)
    transport = httpx.ASGITransport(
        app=Starlette(routes=graphql_routes(cached)), client=("192.0.2.10", 40000)
    )
    body = {"query": USER_IDENTITY, "variables": {"id": str(ids.alice)}}
    headers = {"Authorization": f"Bearer {ids.plain}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        await http.post("/graphql", json=body, headers=headers)
        with StatementCounter(cached) as counter:
            response = await http.post("/graphql", json=body, headers=headers)
    assert refusals(response.json()) == [
        (["user", "email"], IDENTITY),
        (["user", "idnumber"], IDENTITY),
        (["user", "username"], IDENTITY),
    ]
    # The user lookup only: the capabilities came with the cached token.
    assert len(counter.statements) == 1
    assert counter.reading("mdl_role_capabilities") == []


async def test_the_dashboard_document_runs_for_an_owner_without_capabilities(
    site: Site, moodle: Moodle
) -> None:
    ids = await build(site)
    document = (QUERIES / "learner_dashboard.graphql").read_text()
    body = await ask(moodle, ids.plain, document, {"by": "ID", "value": str(ids.alice)})
    user = body["data"]["user"]
    assert (user["id"], user["fullname"], user["email"], user["lastAccess"]) == (
        ids.alice,
        "Alice Martin",
        None,
        None,
    )
    assert user["definumStats"]["courses"] == 2  # hidden courses count, as in REST
    assert [e["course"] for e in user["enrolments"]] == [
        {"id": ids.shown, "fullname": "Shown"},
        None,
    ]
    assert refusals(body) == [
        (["user", "email"], IDENTITY),
        (["user", "enrolments", 1, "course"], HIDDEN),
        (["user", "lastAccess"], DETAILS),
    ]
