"""SQL, XML and JSON metacharacters through every parameter of both doors (issue 11).

Each value carries a marker (``zq9``) that no statement of ours contains: the statements the
database received (every one definum-gql sent, through the driver or SQLAlchemy) must never
hold it — values travel as bound parameters only. Every REST answer is Moodle's
(tests/rest_fuzz.py: XML read by a strict parser), and a learner whose stored names are made of
metacharacters comes back exactly as stored, in JSON, XML and GraphQL.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from defusedxml import ElementTree

from definum_gql.app import create_app
from definum_gql.config import Settings
from definum_gql.moodle.site import Moodle
from tests.builders import Site
from tests.rest_fuzz import PARAMETERS, check_answer
from tests.rest_support import TOKEN, params, ready

MARK = "zq9"
PAYLOADS = [
    # SQL
    f"{MARK}' OR '1'='1",
    f"{MARK}' OR 1=1 --",
    f'{MARK}"; DROP TABLE mdl_user; --',
    f"{MARK}') UNION SELECT password FROM mdl_user --",
    f"{MARK}%",
    f"{MARK}_",
    f"{MARK}\\",
    f"{MARK}\\'; SELECT 1; --",
    f"1 OR 1=1 {MARK}",
    # XML
    f"{MARK}<x>&amp;</x>",
    f"{MARK}]]><![CDATA[",
    f"{MARK}&#0;&lt;",
    # JSON
    f'{MARK}{{"a": 1}}',
    f'{MARK}", "id": 2, "x": "',
    f'{MARK}\\u0000\\"',
]

NASTY_NAME = {
    "firstname": "Robert'); DROP TABLE mdl_user;--",
    "lastname": 'Smith & <b>"Sons"</b> ]]> {"x": 1} \\',
    "username": "bobby'--",
    "email": "bob+'\"<x>@example.org",
    "idnumber": "E-1' OR '1'='1",
}


@contextmanager
def statements(moodle: Moodle) -> Iterator[list[str]]:
    seen: list[str] = []
    moodle.db.listeners.append(seen.append)
    try:
        yield seen
    finally:
        moodle.db.listeners.remove(seen.append)


def _client(settings: Settings, moodle: Moodle) -> httpx.AsyncClient:
    app = create_app(settings.model_copy(update={"debug": True}), moodle)
    transport = httpx.ASGITransport(app=app, client=("192.0.2.10", 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


def _check(response: httpx.Response, method: str = "GET") -> dict[str, Any] | None:
    headers = {k.lower(): v for k, v in response.headers.items()}
    return check_answer(response.status_code, headers, response.content, method)


@pytest.fixture
async def learner(site: Site) -> int:
    await ready(site)
    return await site.user(**NASTY_NAME)


async def test_metacharacters_through_every_rest_parameter(
    site: Site, settings: Settings, moodle: Moodle, learner: int
) -> None:
    answers = 0
    async with _client(settings, moodle) as http:
        with statements(moodle) as sent:
            for name in PARAMETERS:
                for payload in PAYLOADS:
                    for fmt in ("json", "xml"):
                        query = params(NASTY_NAME["idnumber"], field="idnumber", fmt=fmt)
                        query[name] = payload
                        get = await http.get("/webservice/rest/server.php", params=query)
                        post = await http.post("/webservice/rest/server.php", data=query)
                        for response, method in ((get, "GET"), (post, "POST")):
                            decoded = _check(response, method)
                            answers += 1
                            assert decoded is not None
                            # A spoiled token, function or lookup finds no one; a spoiled
                            # setting (format, language, zone) is ignored, as by Moodle.
                            found = "errorcode" not in decoded
                            assert found == (name.startswith("moodlews")), (name, decoded)
    assert answers == len(PARAMETERS) * len(PAYLOADS) * 4
    assert sent, "the calls reached the database"
    assert not [s for s in sent if MARK in s]


async def test_userid_payloads_find_no_one_on_any_field(
    site: Site, settings: Settings, moodle: Moodle, learner: int
) -> None:
    async with _client(settings, moodle) as http:
        with statements(moodle) as sent:
            for field in ("id", "username", "idnumber", "email", "oidcuniqueid", "oidcusername"):
                for payload in PAYLOADS:
                    query = params(payload, field=field)
                    answer = (await http.get("/webservice/rest/server.php", params=query)).json()
                    assert answer["errorcode"] in ("invaliduser", "invalidparameter"), answer
    assert not [s for s in sent if MARK in s]


async def test_a_learner_made_of_metacharacters_comes_back_as_stored(
    site: Site, settings: Settings, moodle: Moodle, learner: int
) -> None:
    async with _client(settings, moodle) as http:
        by_json = await http.get(
            "/webservice/rest/server.php",
            params=params(NASTY_NAME["idnumber"], field="idnumber"),
        )
        by_xml = await http.get(
            "/webservice/rest/server.php",
            params=params(NASTY_NAME["idnumber"], field="idnumber", fmt="xml"),
        )
    document = by_json.json()
    assert document["id"] == learner
    assert (document["firstname"], document["lastname"]) == (
        NASTY_NAME["firstname"],
        NASTY_NAME["lastname"],
    )
    assert b"\\/b>" in by_json.content  # PHP's json_encode escapes "/"
    root = ElementTree.fromstring(by_xml.content, forbid_dtd=True)
    single = root.find("SINGLE")
    assert single is not None
    values = {key.get("name"): key.findtext("VALUE") for key in single.findall("KEY")}
    assert values["id"] == str(learner)
    assert values["firstname"] == NASTY_NAME["firstname"]
    assert values["lastname"] == NASTY_NAME["lastname"]


GRAPHQL_BY = ["ID", "USERNAME", "IDNUMBER", "EMAIL"]


async def test_metacharacters_through_graphql(
    site: Site, settings: Settings, moodle: Moodle, learner: int
) -> None:
    token = await site.token(2, 1)  # the site admin, on the service ready() made
    auth = {"Authorization": f"Bearer {token}"}
    lookup = "query Q($by: UserIdField!, $v: String!) { user(by: $by, value: $v) { id } }"
    search = "query S($s: String) { users(first: 5, filter: {search: $s}) { totalCount } }"
    async with _client(settings, moodle) as http:
        with statements(moodle) as sent:
            for payload in PAYLOADS:
                for by in GRAPHQL_BY:
                    answer = await http.post(
                        "/graphql",
                        json={"query": lookup, "variables": {"by": by, "v": payload}},
                        headers=auth,
                    )
                    body = answer.json()
                    assert answer.status_code in (200, 400), body
                    assert body.get("data") in (None, {"user": None}), body
                    for error in body.get("errors", []):
                        assert error["extensions"]["code"] != "INTERNAL_SERVER_ERROR", error
                # The same value inline in the document, as a GraphQL string literal.
                inline = "{ user(by: USERNAME, value: " + json.dumps(payload) + ") { id } }"
                answer = await http.post("/graphql", json={"query": inline}, headers=auth)
                assert answer.json() == {"data": {"user": None}}, answer.text
                found = await http.post(
                    "/graphql", json={"query": search, "variables": {"s": payload}}, headers=auth
                )
                body = found.json()
                assert found.status_code in (200, 400), body
                if found.status_code == 200:
                    assert body["data"]["users"]["totalCount"] == 0, (payload, body)
                # In the token itself.
                refused = await http.post(
                    "/graphql",
                    json={"query": "{ me { id } }"},
                    headers={"Authorization": f"Bearer {payload}"},
                )
                assert refused.status_code == 401
                assert refused.json()["errors"][0]["extensions"]["code"] == "INVALID_TOKEN"
            # The learner's stored names come back exactly, through GraphQL too.
            mine = await http.post(
                "/graphql",
                json={
                    "query": lookup.replace("{ id }", "{ id firstname lastname }"),
                    "variables": {"by": "IDNUMBER", "v": NASTY_NAME["idnumber"]},
                },
                headers=auth,
            )
    assert mine.json() == {
        "data": {
            "user": {
                "id": learner,
                "firstname": NASTY_NAME["firstname"],
                "lastname": NASTY_NAME["lastname"],
            }
        }
    }
    assert sent
    assert not [s for s in sent if MARK in s]


def test_the_token_never_matches_a_pattern() -> None:
    """The token statement compares with '=', never LIKE: '%' is no wildcard there."""
    from definum_gql.moodle.queries import statements as build

    sql = str(build("mdl_").token.build(0))
    assert " LIKE " not in sql.upper()
    assert TOKEN not in sql
