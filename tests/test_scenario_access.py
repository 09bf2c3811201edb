"""Who may read what, and other web service functions, on the real Moodle 4.1 scenario site.

The scenario's rows used here (../shared/moodle, the same in both dumps):
  services: 1 moodle_mobile_app (disabled, 401 core functions), 2 definum (definum_get_stats; its
  shortname is NULL), 3 otherservice (core_webservice_get_site_info only), 4 disableddefinum
  (disabled), 5 restricteddefinum (nobody listed).
  tokens: 1 -> user 3 wsdefinum on service 2; 7 -> user 3 on service 3; 8 -> user 3 on service 4;
  10 -> user 2, the site admin, on service 2.
  user 3's roles: 9 wsdefinum at the system context (webservice/rest:use only) and the default
  user role 7, which holds none of moodle/site:viewuseridentity (roles 1, 3, 4),
  moodle/user:viewdetails (1, 3, 4, 5, 6) or moodle/course:viewhiddencourses (1, 2, 3, 4).
  users: 7 bob (bob.durand@example.com, EMP-0002, lastaccess 1795192800 = 2026-11-20 17:40 in
  Paris), 11 emma (enrolled in course 6), 15 sam (suspended).
  courses 2-7; course 6 "Hidden archive course" is hidden (visible 0).
Clock frozen at the contract's now, 2026-11-25T17:42:03Z.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from definum_gql.graphql import graphql_routes
from definum_gql.moodle.site import Moodle
from definum_gql.rest import rest_routes
from tests.databases import settings_for
from tests.scenario import (
    SCENARIO_BACKENDS,
    SCENARIO_NOW,
    ScenarioDatabase,
    drop_scenario,
    load_scenario,
)

#: Token strings by id (each dump's Moodle generated its own).
TOKENS: dict[str, dict[int, str]] = {
    "postgresql": {
        1: "a7997863f1ce2024f9709523f2e6b096",
        7: "d3bdf7e7e064c6490bf150c32ab908e9",
        8: "585c1b2e3c75e888f7e506b8f0b74a1d",
        10: "55fbed007b4ce947c4096903928731e8",
    },
    "mariadb": {
        1: "2a103eef02b6eea92fc4be4dce1779dd",
        7: "eade91f07d47c01be05423235e12f3df",
        8: "4725893752f544ba5b5813f8db635424",
        10: "ebcad92f7a0109f8fabedcc23f275dd2",
    },
}
LOCAL = ("127.0.0.1", 40000)
SITE_INFO = "core_webservice_get_site_info"
IDENTITY = "moodle/site:viewuseridentity"
DETAILS = "moodle/user:viewdetails"
HIDDEN = "moodle/course:viewhiddencourses"


@dataclasses.dataclass
class Scenario:
    backend: str
    database: ScenarioDatabase
    #: Configured with ``self_services = ["otherservice"]``.
    moodle: Moodle

    def token(self, token_id: int) -> str:
        return TOKENS[self.backend][token_id]


@pytest.fixture(scope="session")
async def _sites() -> AsyncIterator[dict[str, Scenario | BaseException]]:
    sites: dict[str, Scenario | BaseException] = {}
    yield sites
    for site in sites.values():
        if isinstance(site, Scenario):
            await site.moodle.dispose()
            await drop_scenario(site.database)


@pytest.fixture(params=SCENARIO_BACKENDS)
async def scenario(
    request: pytest.FixtureRequest,
    shared_dir: Path,
    _sites: dict[str, Scenario | BaseException],
) -> Scenario:
    backend: str = request.param
    if backend not in _sites:
        try:
            db = await load_scenario(backend, shared_dir)
        except BaseException as exc:
            _sites[backend] = exc  # not retried by every test
            raise
        settings = settings_for(db.url, self_services=["otherservice"])
        moodle = Moodle.from_settings(settings, clock=lambda: float(SCENARIO_NOW))
        _sites[backend] = Scenario(backend, db, moodle)
    site = _sites[backend]
    if isinstance(site, BaseException):
        raise site
    return site


# -- REST: functions other than definum_get_stats --------------------------------------------


class Upstream:
    def __init__(self) -> None:
        self.seen: list[str] = []
        self.transport = httpx.MockTransport(self.answer)

    def answer(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request.url.params["wsfunction"])
        return httpx.Response(200, content=b'{"sitename":"Definum Oracle"}')


async def _rest(
    moodle: Moodle, token: str, function: str, fmt: str = "json", upstream: Upstream | None = None
) -> bytes:
    app = Starlette(
        routes=rest_routes(moodle, forward_transport=upstream.transport if upstream else None)
    )
    transport = httpx.ASGITransport(app=app, client=LOCAL)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.get(
            "/webservice/rest/server.php",
            params={"wstoken": token, "wsfunction": function, "moodlewsrestformat": fmt},
        )
    assert response.status_code == 200
    return response.content


ACCESS_JSON = (
    b'{"exception":"webservice_access_exception","errorcode":"accessexception",'
    b'"message":"Access control exception"}'
)
ACCESS_XML = (
    b'<?xml version="1.0" encoding="UTF-8" ?>\n'
    b'<EXCEPTION class="webservice_access_exception">\n'
    b"<ERRORCODE>accessexception</ERRORCODE>\n"
    b"<MESSAGE>Access control exception</MESSAGE>\n"
    b"</EXCEPTION>\n"
)


async def test_a_core_function_outside_the_definum_service_is_an_access_exception(
    scenario: Scenario,
) -> None:
    # core_webservice_get_site_info is in external_functions, not in service 2.
    token = scenario.token(1)
    assert await _rest(scenario.moodle, token, SITE_INFO) == ACCESS_JSON
    assert await _rest(scenario.moodle, token, SITE_INFO, "xml") == ACCESS_XML
    # Service 4 is disabled (and lacks it too).
    assert await _rest(scenario.moodle, scenario.token(8), SITE_INFO) == ACCESS_JSON


async def test_a_name_absent_from_external_functions_is_unknown(scenario: Scenario) -> None:
    assert await _rest(scenario.moodle, scenario.token(1), "local_definum_nothing") == (
        b'{"exception":"dml_missing_record_exception","errorcode":"invalidrecord",'
        b'"message":"Can\'t find data record in database table external_functions."}'
    )


async def test_a_function_of_the_tokens_service_is_not_available_without_moodle(
    scenario: Scenario,
) -> None:
    assert await _rest(scenario.moodle, scenario.token(7), SITE_INFO, "xml") == (
        b'<?xml version="1.0" encoding="UTF-8" ?>\n'
        b'<EXCEPTION class="moodle_exception">\n'
        b"<ERRORCODE>servicenotavailable</ERRORCODE>\n"
        b"<MESSAGE>Web service is not available (it doesn't exist or might be disabled)"
        b"</MESSAGE>\n"
        b"</EXCEPTION>\n"
    )


async def test_only_the_tokens_functions_are_forwarded(scenario: Scenario) -> None:
    forwarding = Moodle.from_settings(
        settings_for(scenario.database.url, moodle_url="http://moodle.example/"),
        clock=lambda: float(SCENARIO_NOW),
    )
    upstream = Upstream()
    try:
        allowed = await _rest(forwarding, scenario.token(7), SITE_INFO, upstream=upstream)
        refused = await _rest(forwarding, scenario.token(1), SITE_INFO, upstream=upstream)
    finally:
        await forwarding.dispose()
    assert allowed == b'{"sitename":"Definum Oracle"}'
    assert refused == ACCESS_JSON
    assert upstream.seen == [SITE_INFO]


# -- GraphQL: what each token's owner sees ----------------------------------------------------


async def _graphql(moodle: Moodle, token: str, query: str) -> dict[str, Any]:
    app = Starlette(routes=graphql_routes(moodle))
    transport = httpx.ASGITransport(app=app, client=LOCAL)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.post(
            "/graphql", json={"query": query}, headers={"Authorization": f"Bearer {token}"}
        )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _refusals(body: dict[str, Any]) -> list[tuple[list[Any], str | None]]:
    errors = body.get("errors", [])
    assert all(e["extensions"]["code"] == "FORBIDDEN" for e in errors), errors
    return sorted((e["path"], e["extensions"].get("capability")) for e in errors)


PEOPLE = """
{
  me { id username }
  bob: user(value: "7") { fullname username idnumber email lastAccess }
  sam: user(value: "15") { fullname suspended }
  emma: user(value: "11") { enrolments(activeOnly: true) { course { id fullname } } }
  courses { totalCount edges { node { id } } }
}
"""


async def test_the_rest_only_client_sees_no_identity_details_or_hidden_course(
    scenario: Scenario,
) -> None:
    body = await _graphql(scenario.moodle, scenario.token(1), PEOPLE)
    assert body["data"] == {
        "me": {"id": 3, "username": "wsdefinum"},
        "bob": {
            "fullname": "Bob Durand",
            "username": None,
            "idnumber": None,
            "email": None,
            "lastAccess": None,
        },
        "sam": {"fullname": "Sam Suspendu", "suspended": None},
        # emma's active enrolments: hidden course 6 and course 7 (History of Art).
        "emma": {
            "enrolments": [{"course": None}, {"course": {"id": 7, "fullname": "History of Art"}}]
        },
        "courses": {
            "totalCount": 5,
            "edges": [{"node": {"id": cid}} for cid in (2, 3, 4, 5, 7)],
        },
    }
    assert _refusals(body) == [
        (["bob", "email"], IDENTITY),
        (["bob", "idnumber"], IDENTITY),
        (["bob", "lastAccess"], DETAILS),
        (["bob", "username"], IDENTITY),
        (["emma", "enrolments", 0, "course"], HIDDEN),
        (["sam", "suspended"], DETAILS),
    ]


async def test_the_site_admin_sees_everything(scenario: Scenario) -> None:
    body = await _graphql(scenario.moodle, scenario.token(10), PEOPLE)
    assert "errors" not in body, body["errors"]
    assert body["data"] == {
        "me": {"id": 2, "username": "admin"},
        "bob": {
            "fullname": "Bob Durand",
            "username": "bob",
            "idnumber": "EMP-0002",
            "email": "bob.durand@example.com",
            "lastAccess": "2026-11-20T17:40:00+01:00",
        },
        "sam": {"fullname": "Sam Suspendu", "suspended": True},
        "emma": {
            "enrolments": [
                {"course": {"id": 6, "fullname": "Hidden archive course"}},
                {"course": {"id": 7, "fullname": "History of Art"}},
            ]
        },
        "courses": {
            "totalCount": 6,
            "edges": [{"node": {"id": cid}} for cid in (2, 3, 4, 5, 6, 7)],
        },
    }


async def test_a_self_service_token_reads_its_owner_only(scenario: Scenario) -> None:
    # Token 7's service, otherservice, is listed in self_services: GraphQL takes it.
    query = '{ me { id username email } bob: user(value: "7") { id } users { totalCount } }'
    body = await _graphql(scenario.moodle, scenario.token(7), query)
    assert body["data"] == {
        "me": {"id": 3, "username": "wsdefinum", "email": "wsdefinum@example.com"},
        "bob": None,
        "users": None,
    }
    assert sorted((e["path"], e["extensions"]) for e in body["errors"]) == [
        (["bob"], {"code": "FORBIDDEN", "service": "otherservice"}),
        (["users"], {"code": "FORBIDDEN", "service": "otherservice"}),
    ]
