"""GraphiQL works offline: the page and every asset it references come from our app."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import AsyncIterator
from html import unescape
from pathlib import Path

import pytest

from definum_gql.config import Settings
from definum_gql.demo import build_demo_site, demo_url
from definum_gql.graphql.http import DEMO_LEARNER, DEMO_STARTER, TOKEN_STARTER
from definum_gql.moodle.site import Moodle
from tests.builders import NOW
from tests.graphql_support import client, post

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


async def test_page_loads_without_a_token_and_its_assets_are_ours(moodle: Moodle) -> None:
    async with client(moodle) as http:
        page = await http.get("/graphql", headers=BROWSER)
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        html = page.text
        # No favicon request: an empty data: icon.
        references = [u for u in re.findall(r'(?:src|href)="([^"]+)"', html) if u != "data:,"]
        assert len(references) == 5  # CSS, React, ReactDOM, GraphiQL, our starter
        for url in references:
            assert url.startswith("/graphql/static/"), url
            asset = await http.get(url)
            assert asset.status_code == 200, url
            assert len(asset.content) > 100, url
            expected = "text/css" if url.endswith(".css") else "javascript"
            assert expected in asset.headers["content-type"], url
    # No other host is named anywhere in the page.
    assert "http://" not in html
    assert "https://" not in html
    assert "//" not in html.replace("<!DOCTYPE html>", "")
    assert 'data-endpoint="/graphql"' in html


async def test_starter_posts_to_our_endpoint_and_never_sends_the_placeholder(
    moodle: Moodle,
) -> None:
    async with client(moodle) as http:
        script = (await http.get("/graphql/static/definum-graphiql.js")).text
    assert "createFetcher({ url: endpoint })" in script
    assert 'var PLACEHOLDER = "<token>";' in script
    assert "if (auth.indexOf(PLACEHOLDER) !== -1) {" in script


def _attribute(html: str, name: str) -> str:
    found = re.search(rf'{name}="([^"]*)"', html)
    assert found is not None, name
    return unescape(found[1])


async def test_a_real_site_starts_with_the_token_starter_and_no_token(moodle: Moodle) -> None:
    async with client(moodle) as http:
        html = (await http.get("/graphql", headers=BROWSER)).text
    assert _attribute(html, "data-token") == ""
    assert _attribute(html, "data-query") == TOKEN_STARTER
    assert "query Me {" in TOKEN_STARTER


@pytest.fixture(scope="module")
async def demo(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[Moodle, str]]:
    path = tmp_path_factory.mktemp("graphiql") / "demo.sqlite"
    result = await build_demo_site(demo_url(path), users=12, courses=6, months=2, now=NOW)
    moodle = Moodle.from_settings(Settings(database_url=demo_url(path)))
    yield moodle, result.tokens["valid"]
    await moodle.dispose()


async def test_the_demo_starts_with_its_token_and_a_learner_with_data(
    demo: tuple[Moodle, str],
) -> None:
    moodle, token = demo
    async with client(moodle) as http:
        html = (await http.get("/graphql", headers=BROWSER)).text
    assert _attribute(html, "data-token") == token
    assert _attribute(html, "data-query") == DEMO_STARTER


@pytest.mark.parametrize("starter", ["demo", "token"])
async def test_each_starter_query_runs_on_the_demo(demo: tuple[Moodle, str], starter: str) -> None:
    moodle, token = demo
    document = DEMO_STARTER if starter == "demo" else TOKEN_STARTER
    answer = await post(moodle, document, token=token)
    body = answer.json()
    assert "errors" not in body, body
    with sqlite3.connect(moodle.settings.url().removeprefix("sqlite+aiosqlite:///")) as db:
        username = DEMO_LEARNER if starter == "demo" else "admin"
        first, last = db.execute(
            "SELECT firstname, lastname FROM mdl_user WHERE username = ?", (username,)
        ).fetchone()
    user = body["data"]["user" if starter == "demo" else "me"]
    assert user["fullname"] == f"{first} {last}"
    assert set(user["definumStats"]) >= {"courses", "loginsInMonth"}


def test_vendored_assets_load_nothing_from_another_host() -> None:
    static = Path(__file__).resolve().parents[1] / "definum_gql" / "graphql" / "static"
    css = (static / "graphiql.min.css").read_text(encoding="utf-8")
    # Fonts and images are embedded; no url() points outside.
    for target in re.findall(r"url\(([^)]*)\)", css):
        assert target.strip("'\"").startswith(("data:", "#")), target[:60]
    assert "@import" not in css
    for name in ("graphiql.min.js", "graphiql.min.css"):
        assert "sourceMappingURL" not in (static / name).read_text(encoding="utf-8")


async def test_page_needs_neither_token_nor_database() -> None:
    # Port 9 (discard) is closed on test machines: any connection attempt would fail.
    settings = Settings(database_url="postgresql+asyncpg://postgres@127.0.0.1:9/nowhere")
    moodle = Moodle.from_settings(settings)
    try:
        async with client(moodle) as http:
            page = await http.get("/graphql", headers=BROWSER)
    finally:
        await moodle.dispose()
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-cache"
