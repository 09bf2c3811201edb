"""The HTTP application: routes, health, CORS for dashboards on another origin."""

from __future__ import annotations

import httpx

from definum_gql.app import create_app
from definum_gql.config import Settings
from definum_gql.moodle.site import Moodle


async def client(settings: Settings, moodle: Moodle) -> httpx.AsyncClient:
    app = create_app(settings, moodle=moodle)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


async def test_root_redirects_to_graphiql_and_health_answers(
    settings: Settings, moodle: Moodle
) -> None:
    async with await client(settings, moodle) as http:
        home = await http.get("/")
        health = await http.get("/healthz")
    assert home.status_code == 307
    assert home.headers["location"] == "/graphql"
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
