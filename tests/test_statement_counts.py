"""Statements per request, pinned for both doors: few, and each learner's log read once.

Counts are of statements sent to the site's database (the reader's listeners see every one,
whether it went straight to the driver or through SQLAlchemy).
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from starlette.applications import Starlette

from definum_gql.auth import Authenticator
from definum_gql.graphql import graphql_routes
from definum_gql.moodle.site import Moodle
from definum_gql.rest import rest_routes
from tests import databases
from tests.builders import NOW, Site
from tests.databases import MakeMoodle
from tests.graphql_support import StatementCounter
from tests.rest_support import PEER, params, ready

DASHBOARD = (
    Path(__file__).resolve().parents[1] / "queries" / "learner_dashboard.graphql"
).read_text()
DAY = NOW - 3 * 86400


@pytest.fixture
def cached(moodle_with: MakeMoodle) -> Moodle:
    """A Moodle as served: site configuration and checked tokens cached, month cache off."""
    return moodle_with(site_cache_seconds=3600, token_cache_seconds=3600)


async def _learner(site: Site) -> int:
    """A learner with an active enrolment, a badge and activity this month."""
    learner = await site.user(username="counted")
    course = await site.course()
    await site.enrol(learner, course)
    await site.issue(await site.badge(), learner, DAY)
    await site.login(learner, DAY)
    await site.log(learner, DAY + 60, courseid=course)
    return learner


def _app(moodle: Moodle) -> httpx.AsyncClient:
    auth = Authenticator(moodle.settings.token_cache_seconds)
    app = Starlette(
        routes=[
            *rest_routes(moodle, authenticator=auth),
            *graphql_routes(moodle, authenticator=auth),
        ]
    )
    transport = httpx.ASGITransport(app=app, client=PEER)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def test_a_rest_call_is_one_statement_once_site_and_token_are_known(
    site: Site, cached: Moodle, database: databases.TestDatabase
) -> None:
    learner = await _learner(site)
    await ready(site)
    async with _app(cached) as http:
        with StatementCounter(cached) as first:
            warm = await http.get("/webservice/rest/server.php", params=params(str(learner)))
        with StatementCounter(cached) as counter:
            response = await http.get("/webservice/rest/server.php", params=params(str(learner)))
    assert response.status_code == 200
    assert response.content == warm.content
    assert response.json()["numbadges"] == 1
    assert response.json()["loginsinmonth"] == 1
    # The first call also read the site configuration (config, config_plugins, whether
    # auth_oidc is installed; the log's indexes, and on MariaDB whether it takes the hint
    # naming them) and the token with its owner, capability and service.
    once = 6 if database.backend == "mariadb" else 5
    assert len(first.statements) == len(counter.statements) + once
    assert len(first.reading("mdl_external_tokens")) == 1
    log_reads = counter.reading("mdl_logstore_standard_log")
    if database.backend == "sqlite":
        # The demo's database: user, enrolments, badges and the month's log rows, one each.
        assert len(counter.statements) == 4
    else:
        # PostgreSQL and MariaDB: the user and everything the document needs, in one statement.
        assert len(counter.statements) == 1
    assert len(log_reads) == 1


async def test_the_dashboard_reads_the_learners_log_once(
    site: Site, cached: Moodle, database: databases.TestDatabase
) -> None:
    learner = await _learner(site)
    service = await site.service()
    token = await site.token(2, service)
    body = {"query": DASHBOARD, "variables": {"by": "ID", "value": str(learner)}}
    headers = {"Authorization": f"Bearer {token}"}
    async with _app(cached) as http:
        await http.post("/graphql", json=body, headers=headers)
        with StatementCounter(cached) as counter:
            response = await http.post("/graphql", json=body, headers=headers)
    answer = response.json()
    assert "errors" not in answer, answer
    user = answer["data"]["user"]
    assert user["definumStats"]["loginsInMonth"] == user["activity"]["logins"] == 1
    # definumStats and activity both need this month's rows: one read serves both.
    assert len(counter.reading("mdl_logstore_standard_log")) == 1
    # The user, its enrolments, its badges, the log, and the courses named by enrolments,
    # badges and time per course (one batch): five statements.
    assert len(counter.reading("mdl_user_enrolments")) == 1
    assert len(counter.reading("mdl_badge_issued")) == 1
    assert len(counter.statements) == 5, counter.statements


async def _session_counters(moodle: Moodle) -> tuple[int, int]:
    """(PREPARE, EXECUTE) statements run so far on the session the pool hands out next."""
    async with moodle.db.reader() as reader:
        rows = await reader.execute(text("SHOW SESSION STATUS LIKE 'Com_%_sql'"))
    found = {str(name).lower(): int(value) for name, value in rows}
    return found["com_prepare_sql"], found["com_execute_sql"]


async def test_mariadb_prepares_each_statement_once_per_connection(
    site: Site, moodle_with: MakeMoodle, database: databases.TestDatabase
) -> None:
    if database.backend != "mariadb":
        pytest.skip("server-side statements by name are MariaDB's (asyncpg prepares on its own)")
    # One connection in the pool: every call runs on the same session.
    cached = moodle_with(site_cache_seconds=3600, token_cache_seconds=3600, pool_size=1)
    learner = await _learner(site)
    await ready(site)
    async with _app(cached) as http:
        first = await http.get("/webservice/rest/server.php", params=params(str(learner)))
        prepared, executed = await _session_counters(cached)
        again = [
            await http.get("/webservice/rest/server.php", params=params(str(learner)))
            for _ in range(3)
        ]
        prepared_after, executed_after = await _session_counters(cached)
    assert all(answer.content == first.content for answer in again)
    assert first.json()["numbadges"] == 1
    # The document statement was prepared by the first call; the next three only EXECUTE it.
    assert prepared_after == prepared
    assert executed_after == executed + 3
