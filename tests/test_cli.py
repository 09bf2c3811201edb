"""The definum-gql command: `stats` prints the REST shim's exact bytes (and a newline); the demo
token is found; flags are named when wrong; `config` never cuts a value; `serve` prints an address
that can be opened."""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import socket
import sys
from pathlib import Path

import httpx
import pytest
from rich.console import Console

from definum_gql.app import create_app
from definum_gql.cli import _demo_token, build_progress
from definum_gql.config import Settings
from definum_gql.demo import DemoResult, build_demo_site, demo_url
from tests.builders import NOW
from tests.cli_support import run_command


@pytest.fixture(scope="module")
async def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, DemoResult]:
    path = tmp_path_factory.mktemp("cli") / "demo.sqlite"
    result = await build_demo_site(demo_url(path), users=12, courses=6, months=2, now=NOW)
    return path, result


run_cli = run_command  # the bytes of both streams


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
    # The shim's bytes, as Moodle's: JSON without a final newline, XML with one. The terminal
    # command ends both with a newline (added to JSON only).
    assert answer.content.endswith(b"\n") == (fmt == "xml")
    assert printed == (answer.content if fmt == "xml" else answer.content + b"\n")
    assert b'"id":5' in printed if fmt == "json" else b'<KEY name="id"><VALUE>5</VALUE>' in printed


async def test_stats_for_no_such_user_says_so_and_exits_1(demo: tuple[Path, DemoResult]) -> None:
    path, _ = demo
    code, out, err = await run_cli(demo_url(path), "stats", "nobody@nowhere", "--by", "email")
    assert code == 1
    assert out == b""
    assert b"no user with email 'nobody@nowhere'" in err
    assert b"Traceback" not in err


def _one_error(code: int, out: bytes, err: bytes) -> str:
    assert code == 2
    assert out == b""
    lines = err.decode().splitlines()
    assert len(lines) == 1, err.decode()
    return lines[0]


async def test_an_unsupported_lang_flag_is_refused(demo: tuple[Path, DemoResult]) -> None:
    path, _ = demo
    line = _one_error(*await run_cli(demo_url(path), "stats", "5", "--lang", "de"))
    assert line == "error: --lang must be one of en, fr, not 'de'"


@pytest.mark.parametrize(("lang", "month"), [("en", "November 2026"), ("fr", "novembre 2026")])
async def test_a_supported_lang_flag_is_used(
    demo: tuple[Path, DemoResult], lang: str, month: str
) -> None:
    path, _ = demo
    code, out, _ = await run_cli(demo_url(path), "stats", "5", "--format", "json", "--lang", lang)
    assert code == 0
    # The demo's activity ends on 2026-11-25, so the last login is a day of November 2026.
    assert month in json.loads(out)["lastloginstr"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ("serve", "--port", "99999"),
            "error: --port: Input should be less than or equal to 65535",
        ),
        (("serve", "--port", "0"), "error: --port: Input should be greater than or equal to 1"),
        (
            ("serve", "--host", "http://0.0.0.0"),
            "error: --host: 'http://0.0.0.0' is not an address or host name"
            " (e.g. 127.0.0.1, 0.0.0.0, ::)",
        ),
    ],
)
async def test_a_bad_flag_is_named_as_the_flag(args: tuple[str, ...], expected: str) -> None:
    assert _one_error(*await run_cli("sqlite+aiosqlite:///unused.sqlite", *args)) == expected


async def test_a_bad_environment_port_is_still_named_as_the_setting() -> None:
    code, out, err = await run_cli("sqlite+aiosqlite:///unused.sqlite", "serve", DEFINUM_PORT="0")
    assert _one_error(code, out, err) == (
        "error: DEFINUM_PORT: Input should be greater than or equal to 1"
    )


async def test_export_schema_into_a_missing_folder_is_one_line(tmp_path: Path) -> None:
    target = tmp_path / "missing" / "schema.graphql"
    line = _one_error(*await run_cli("", "export-schema", "--output", str(target)))
    assert line == f"error: --output: cannot write {target}: No such file or directory"
    assert not target.parent.exists()


async def test_export_schema_writes_the_file(tmp_path: Path) -> None:
    target = tmp_path / "schema.graphql"
    code, _, _ = await run_cli("", "export-schema", "--output", str(target))
    assert code == 0
    assert target.read_text(encoding="utf-8") == COMMITTED_SCHEMA.read_text(encoding="utf-8")


COMMITTED_SCHEMA = Path(__file__).resolve().parents[1] / "schema" / "schema.graphql"
LONG_URL = (
    "postgresql+asyncpg://definum_reader_with_a_long_name@db.a-rather-long-host-name.example.org"
    ":5432/moodle_production?password=hunter2&ssl=require"
)


async def test_config_masks_a_query_password_and_never_cuts_a_value() -> None:
    code, out, err = await run_cli(LONG_URL, "config", COLUMNS="80")
    assert (code, err) == (0, b"")
    text = out.decode()
    assert "hunter2" not in text
    shown = LONG_URL.replace("hunter2", "***")
    assert len(shown) > 80
    lines = {line.split()[0]: line.split(maxsplit=1)[1] for line in text.splitlines()}
    assert lines["DEFINUM_DATABASE_URL"] == shown
    assert lines["DEFINUM_TABLE_PREFIX"] == "mdl_"
    assert lines["DEFINUM_TRUSTED_PROXIES"] == "[]"
    assert lines["DEFINUM_MOODLE_URL"] == "(not set)"
    assert len(lines) == len(Settings.model_fields)


async def test_config_json_masks_a_query_password_too() -> None:
    code, out, _ = await run_cli(LONG_URL, "config", "--json")
    assert code == 0
    assert '"database_url": "' + LONG_URL.replace("hunter2", "***") + '"' in out.decode()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize(
    ("host", "printed"),
    [
        ("0.0.0.0", "GraphiQL on http://127.0.0.1:{port}/graphql (listening on all interfaces"),
        ("127.0.0.1", "GraphiQL on http://127.0.0.1:{port}/graphql"),
    ],
)
async def test_serve_prints_an_address_that_answers(
    demo: tuple[Path, DemoResult], host: str, printed: str
) -> None:
    path, _ = demo
    port = _free_port()
    env = {**os.environ, "DEFINUM_DATABASE_URL": demo_url(path), "DEFINUM_CONFIG_FILE": ""}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "definum_gql", "serve", "--host", host, "--port", str(port)),
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    log = ""
    try:
        while "Uvicorn running on" not in log:
            line = (await asyncio.wait_for(process.stderr.readline(), 60)).decode()
            assert line, f"serve exited: {log}"
            log += line
        found = re.search(r"GraphiQL on (http://\S+)", log)
        assert found is not None
        async with httpx.AsyncClient() as http:
            page = await http.get(found[1], headers={"Accept": "text/html"})
    finally:
        process.terminate()
        await process.wait()
    assert log.splitlines()[0].startswith(printed.format(port=port))
    assert page.status_code == 200
    assert "graphiql" in page.text.lower()


def test_build_progress_is_gone_when_the_build_ends() -> None:
    """On a terminal the bars are live while the demo builds; afterwards the server's log lines
    must print alone, with no bars redrawn under them."""
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=100)
    with build_progress(console) as report:
        report("schema", 0, 1)
        report("schema", 1, 1)
        report("logs", 3, 10)
        console.print("during the build")
        during = screen.getvalue().rpartition("during the build")[2]
    mark = len(screen.getvalue())
    console.print("INFO:     Uvicorn running")
    after = screen.getvalue()[mark:]
    # While building, printing redraws the bars below; afterwards nothing follows the line.
    assert "logs" in during
    assert after.rstrip("\n").endswith("INFO:     Uvicorn running")
    assert "logs" not in after
    assert "schema" not in after


def test_build_progress_elsewhere_is_plain_lines() -> None:
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=False, width=100)
    with build_progress(console) as report:
        report("schema", 0, 1)
        report("schema", 1, 1)
        report("logs", 3, 10)
        report("logs", 10, 10)
    assert screen.getvalue() == "  schema: 1/1\n  logs: 10/10\n"
