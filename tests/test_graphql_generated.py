"""Generated GraphQL documents (issue 11): hypothesis-graphql writes queries from our own schema,
valid ones (any field, any argument value the types allow: months, ids, searches, cursors, page
sizes, unicode, NUL) and invalid ones (wrong types, unknown fields, missing arguments), and every
answer must be one the service may give.

* A valid document is answered 200 with a ``data`` key; its errors, if any, are the client's
  (each with a code the API documents, never the masked "Unexpected error.").
* An invalid one is answered 200 or 400 with GraphQL errors that carry a code, and no data.
* No answer is a 5xx, nothing is logged as an error.

Run on SQLite, PostgreSQL and MariaDB against a small site that holds some of everything
(learners, courses, a hidden one, completions, badges, logs). ``DEFINUM_FUZZ_EXAMPLES`` sets the
number of cases (reliability/fuzz.py runs many more, with fresh random cases).
"""

from __future__ import annotations

import logging

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis_graphql import Mode

from definum_gql.moodle.site import Moodle
from tests.builders import NOW, Site
from tests.graphql_fuzz import check_refusal, check_valid_answer, documents
from tests.graphql_support import admin_token, client
from tests.rest_fuzz import EXAMPLES

DAY = 86400


@pytest.fixture
async def api(site: Site, moodle: Moodle) -> tuple[httpx.AsyncClient, str]:
    """A small site with some of everything, and the site admin's token."""
    shown = await site.course(fullname="Biology", shortname="BIO")
    hidden = await site.course(fullname="Secret", shortname="SEC", visible=0, enablecompletion=1)
    learners = [
        await site.user(username="ana", firstname="Ana", lastname="Ñúñez", email="ana@x.test"),
        await site.user(username="bo", firstname="Bo", lastname="李", idnumber="B-1", suspended=1),
        await site.user(username="cy", firstname="Cy", lastname="<b>&</b>", lastaccess=NOW - DAY),
    ]
    for learner in learners:
        await site.enrol(learner, shown)
        await site.enrol(learner, hidden)
        await site.login(learner, NOW - 3 * DAY)
        await site.log(learner, NOW - 3 * DAY + 60, courseid=shown)
    await site.completion(learners[0], hidden, NOW - 5 * DAY)
    badge = await site.badge(name="Star", courseid=shown)
    await site.issue(badge, learners[0], NOW - 4 * DAY)
    return client(moodle), await admin_token(site)


async def ask(api: tuple[httpx.AsyncClient, str], document: object) -> httpx.Response:
    http, token = api
    headers = {"Authorization": f"Bearer {token}"}
    return await http.post("/graphql", json={"query": str(document)}, headers=headers)


GENERATED = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=EXAMPLES <= 200,  # the normal suite: the same cases every run
)


@GENERATED
@given(document=documents(Mode.POSITIVE))
async def test_valid_generated_queries_are_answered(
    api: tuple[httpx.AsyncClient, str], document: object, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="definum_gql"):
        response = await ask(api, document)
    check_valid_answer(response.status_code, response.json(), document)
    assert not caplog.records, caplog.text  # nothing went wrong on our side


@GENERATED
@given(document=documents(Mode.NEGATIVE))
async def test_invalid_generated_queries_are_refused_with_a_code(
    api: tuple[httpx.AsyncClient, str], document: object, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="definum_gql"):
        response = await ask(api, document)
    check_refusal(response.status_code, response.json(), document)
    assert not caplog.records, caplog.text
