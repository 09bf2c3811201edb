"""The definum-gql command: `stats` prints the REST shim's exact bytes; the demo token is found."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import httpx
import pytest

from definum_gql.app import create_app
from definum_gql.cli import _demo_token
from definum_gql.config import Settings
from definum_gql.demo import DemoResult, build_demo_site, demo_url
from tests.builders import NOW


@pytest.fixture(scope="module")
async def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, DemoResult]:
    path = tmp_path_factory.mktemp("cli") / "demo.sqlite"
    result = await build_demo_site(demo_url(path), users=12, courses=6, months=2, now=NOW)
    return path, result


async def run_cli(url: str, *args: str) -> tuple[int, bytes, bytes]:
    env = {**os.environ, "DEFINUM_DATABASE_URL": url, "DEFINUM_CONFIG_FILE": ""}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "definum_gql",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    return process.returncode or 0, out, err


async def test_demo_token_is_read_back_from_an_existing_demo_file(
    demo: tuple[Path, DemoResult],
) -> None:
    path, result = demo
    assert _demo_token(path, "mdl_") == result.tokens["valid"]
    assert _demo_token(path.with_name("missing.sqlite"), "mdl_") is None


@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_stats_prints_the_same_bytes_as_the_rest_shim(
    demo: tuple[Path, DemoResult], fmt: str
) -> None:
    path, result = demo
    url = demo_url(path)
    # Both use the real clock; the demo's activity ended at NOW, long enough ago that a few
    # seconds between the two calls cannot change a number.
    code, printed, _ = await run_cli(url, "stats", "5", "--by", "id", "--format", fmt)
    assert code == 0
    app = create_app(Settings(database_url=url))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        answer = await http.get(
            "/webservice/rest/server.php",
            params={
                "wstoken": result.tokens["valid"],
                "wsfunction": "definum_get_stats",
                "useridfield": "id",
                "userid": "5",
                "moodlewsrestformat": fmt,
            },
        )
    assert answer.status_code == 200
    assert printed == answer.content
    assert b'"id":5' in printed if fmt == "json" else b'<KEY name="id"><VALUE>5</VALUE>' in printed


async def test_stats_for_no_such_user_says_so_and_exits_1(demo: tuple[Path, DemoResult]) -> None:
    path, _ = demo
    code, out, err = await run_cli(demo_url(path), "stats", "nobody@nowhere", "--by", "email")
    assert code == 1
    assert out == b""
    assert b"no user with email 'nobody@nowhere'" in err
    assert b"Traceback" not in err
