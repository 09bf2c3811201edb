"""The HTTP application: routes, health, CORS for dashboards on another origin."""

from __future__ import annotations

import httpx

from definum_gql.app import create_app
from definum_gql.config import Settings
from definum_gql.moodle.site import Moodle
from tests.databases import MakeMoodle, settings_for


async def client(settings: Settings, moodle: Moodle) -> httpx.AsyncClient:
    app = create_app(settings, moodle=moodle)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


async def test_root_serves_the_dashboard_and_health_answers(
    settings: Settings, moodle: Moodle
) -> None:
    async with await client(settings, moodle) as http:
        home = await http.get("/")
        health = await http.get("/healthz")
    assert home.status_code == 200
    assert home.headers["content-type"].startswith("text/html")
    assert "/dashboard/static/" in home.text
    assert health.json() == {"status": "ok"}


async def test_cors_preflight_allows_configured_origins_only(
    settings: Settings, moodle: Moodle
) -> None:
    configured = settings.model_copy(update={"cors_origins": ["https://portal.example.org"]})
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    }
    async with await client(configured, moodle) as http:
        allowed = await http.options(
            "/graphql", headers={"Origin": "https://portal.example.org", **preflight}
        )
        refused = await http.options(
            "/graphql", headers={"Origin": "https://evil.example.com", **preflight}
        )
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://portal.example.org"
    assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers


async def test_without_cors_settings_no_cors_headers_are_sent(
    settings: Settings, moodle: Moodle
) -> None:
    async with await client(settings, moodle) as http:
        answer = await http.get("/healthz", headers={"Origin": "https://portal.example.org"})
    assert "access-control-allow-origin" not in answer.headers


async def test_readiness_needs_moodle_s_tables_under_the_prefix(
    settings: Settings, moodle: Moodle, moodle_with: MakeMoodle
) -> None:
    async with await client(settings, moodle) as http:
        ready = await http.get("/readyz")
    wrong = moodle_with(table_prefix="xyz_")
    async with await client(wrong.settings, wrong) as http:
        unready = await http.get("/readyz")
        alive = await http.get("/healthz")
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
    assert unready.status_code == 503
    assert unready.json() == {
        "status": "unavailable",
        "reason": "Moodle tables missing with prefix 'xyz_': xyz_config, xyz_user, "
        "xyz_external_tokens, xyz_logstore_standard_log",
    }
    # Liveness does not ask the database.
    assert alive.json() == {"status": "ok"}


async def test_readiness_says_503_when_the_database_cannot_be_reached() -> None:
    # Nothing listens on port 1: the connection is refused at once.
    settings = settings_for("postgresql+asyncpg://nobody@127.0.0.1:1/moodle")
    broken = Moodle.from_settings(settings)
    try:
        async with await client(settings, broken) as http:
            answer = await http.get("/readyz")
    finally:
        await broken.dispose()
    assert answer.status_code == 503
    assert answer.json()["reason"].startswith("the database is unavailable: ")
