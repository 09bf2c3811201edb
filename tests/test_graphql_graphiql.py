"""GraphiQL works offline: the page and every asset it references come from our app."""

from __future__ import annotations

import re
from pathlib import Path

from definum_gql.config import Settings
from definum_gql.moodle.site import Moodle
from tests.graphql_support import client

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


async def test_starter_posts_to_our_endpoint_with_a_token_header_template(moodle: Moodle) -> None:
    async with client(moodle) as http:
        script = (await http.get("/graphql/static/definum-graphiql.js")).text
    assert "createFetcher({ url: endpoint })" in script
    assert 'defaultHeaders: "{\\"Authorization\\": \\"Bearer <token>\\"}"' in script


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
