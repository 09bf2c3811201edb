"""The dashboard at ``/``: a page and static files from the package, nothing from another host.

What the page does in a browser is tests/test_dashboard_browser.py's business.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from html import unescape
from pathlib import Path

import httpx
import pytest

from definum_gql import dashboard
from definum_gql.app import create_app
from definum_gql.config import Settings
from definum_gql.demo import build_demo_site, demo_url
from definum_gql.moodle.site import Moodle
from tests.builders import NOW

ROOT = Path(__file__).resolve().parents[1]
STATIC = ROOT / "definum_gql" / "dashboard" / "static"
#: The one absolute URL allowed in our scripts: SVG's namespace, a name that is never fetched.
SVG_NAMESPACE = "http://www.w3.org/2000/svg"


def client(moodle: Moodle) -> httpx.AsyncClient:
    """The whole app (the dashboard's routes are the app's, not GraphQL's)."""
    app = create_app(moodle.settings, moodle=moodle)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


def _attribute(html: str, name: str) -> str:
    found = re.search(rf'{name}="([^"]*)"', html)
    assert found is not None, name
    return unescape(found[1])


@pytest.fixture
async def offline() -> AsyncIterator[Moodle]:
    # Port 9 (discard) is closed on test machines: any connection attempt fails at once.
    settings = Settings(database_url="postgresql+asyncpg://postgres@127.0.0.1:9/nowhere")
    moodle = Moodle.from_settings(settings)
    yield moodle
    await moodle.dispose()


async def test_home_is_the_dashboard_and_everything_it_loads_is_ours(offline: Moodle) -> None:
    # Without a database, too: the page then says what is wrong instead of being blank.
    async with client(offline) as http:
        page = await http.get("/")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        html = page.text
        references = [u for u in re.findall(r'(?:src|href)="([^"]+)"', html) if u != "data:,"]
        # Style sheet, two scripts, the skip link, the home link and GraphQL's in the footer.
        assert sorted(references) == sorted(
            [
                "#/",
                "/dashboard/static/dashboard.css",
                "/dashboard/static/charts.js",
                "/dashboard/static/dashboard.js",
                "#main",
                "/graphql",
            ]
        )
        for url in [u for u in references if u.startswith("/dashboard/")]:
            asset = await http.get(url)
            assert asset.status_code == 200, url
            expected = "text/css" if url.endswith(".css") else "javascript"
            assert expected in asset.headers["content-type"], url
        for name in dashboard.DOCUMENTS:
            document = await http.get(f"/dashboard/static/queries/{name}.graphql")
            assert document.status_code == 200, name
    assert _attribute(html, "data-endpoint") == "/graphql"
    assert _attribute(html, "data-queries") == "/dashboard/static/queries/"
    # A real site's page holds no token.
    assert _attribute(html, "data-token") == ""
    assert _attribute(html, "data-learner") == ""
    assert "http://" not in html
    assert "https://" not in html
    assert "//" not in html.replace("<!DOCTYPE html>", "")


async def test_the_browser_is_told_to_load_nothing_from_elsewhere(offline: Moodle) -> None:
    async with client(offline) as http:
        page = await http.get("/")
    policy = dict(
        part.strip().split(" ", 1) for part in page.headers["content-security-policy"].split(";")
    )
    assert policy["default-src"] == "'none'"
    for directive in ("script-src", "style-src", "connect-src"):
        assert policy[directive] == "'self'", directive
    assert policy["img-src"] == "'self' data:"
    assert policy["form-action"] == "'none'"  # the token form never submits anywhere
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["cache-control"] == "no-cache"


def test_the_scripts_and_styles_name_no_other_host() -> None:
    for path in sorted(STATIC.glob("*.*")):
        text = path.read_text(encoding="utf-8").replace(SVG_NAMESPACE, "")
        assert not re.search(r"https?://|url\((?!#)|@import", text), path.name
    # The page's own code never logs (a token must not reach a console or its captures).
    for name in ("dashboard.js", "charts.js"):
        assert "console." not in (STATIC / name).read_text(encoding="utf-8"), name


def test_the_page_runs_the_documents_of_queries() -> None:
    copies = sorted(p.stem for p in (STATIC / "queries").glob("*.graphql"))
    assert copies == sorted(dashboard.DOCUMENTS)
    for name in copies:
        copy = (STATIC / "queries" / f"{name}.graphql").read_text(encoding="utf-8")
        original = (ROOT / "queries" / f"{name}.graphql").read_text(encoding="utf-8")
        assert copy == original, f"definum_gql/dashboard/static/queries/{name}.graphql differs"
    script = (STATIC / "dashboard.js").read_text(encoding="utf-8")
    assert sorted(set(re.findall(r'gql\("([a-z_]+)"', script))) == copies


async def test_the_demo_page_carries_the_demo_token(tmp_path: Path) -> None:
    path = tmp_path / "demo.sqlite"
    result = await build_demo_site(demo_url(path), users=12, courses=6, months=2, now=NOW)
    moodle = Moodle.from_settings(Settings(database_url=demo_url(path)))
    try:
        async with client(moodle) as http:
            html = (await http.get("/")).text
    finally:
        await moodle.dispose()
    assert _attribute(html, "data-token") == result.tokens["valid"]
    assert _attribute(html, "data-learner") == "user4"
