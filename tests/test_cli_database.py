"""The wrong database, said in one line: no Moodle tables, the wrong DEFINUM_TABLE_PREFIX, a
server that cannot be reached, a SQLite file that does not exist (and is never created).

``stats`` answers with the line and exit code 2; ``serve`` refuses to start (exit code 2) before
uvicorn runs. Each server database is a throwaway one, dropped at the end.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from definum_gql.config import Settings
from definum_gql.moodle.probe import NotAMoodleDatabase, check_database
from definum_gql.moodle.site import DatabaseUnavailable, Moodle
from tests import databases
from tests.cli_support import run_command
from tests.databases import BACKENDS, admin_execute, create_database, drop_database
from tests.served import raw_request, serving


async def run_cli(url: str, *args: str, **extra: str) -> tuple[int, str, str]:
    """The real command in a subprocess; ``serve`` that starts anyway is stopped (a failure)."""
    code, out, err = await run_command(url, *args, **extra)
    return code, out.decode(), err.decode()


def shown(url: str) -> str:
    """The URL as printed: without its password."""
    return make_url(url).render_as_string(hide_password=True)


@pytest.fixture(scope="module", params=BACKENDS)
async def empty_moodle(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[databases.TestDatabase]:
    """A new database with Moodle's tables (prefix mdl_) and no rows (tests only read it)."""
    db = await create_database(request.param, tmp_path_factory.mktemp("empty"))
    yield db
    await drop_database(db)


@pytest.fixture(scope="module", params=BACKENDS)
async def no_tables(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[databases.TestDatabase]:
    """A new database without any table."""
    db = await create_database(request.param, tmp_path_factory.mktemp("bare"))
    async with db.writer.begin() as conn:
        await conn.run_sync(db.tables.metadata.drop_all)
    yield db
    await drop_database(db)


@pytest.mark.parametrize("command", ["stats", "serve"])
async def test_a_database_without_moodle_tables_is_one_line(
    no_tables: databases.TestDatabase, command: str
) -> None:
    args = ("stats", "5") if command == "stats" else ("serve", "--port", "1")
    code, out, err = await run_cli(no_tables.url, *args)
    assert (code, out) == (2, "")
    assert err == (
        f"error: no Moodle tables with prefix 'mdl_' in {shown(no_tables.url)}"
        " (is DEFINUM_TABLE_PREFIX right?)\n"
    )


@pytest.mark.parametrize("command", ["stats", "serve"])
async def test_the_wrong_prefix_is_one_line_naming_the_one_found(
    empty_moodle: databases.TestDatabase, command: str
) -> None:
    args = ("stats", "5") if command == "stats" else ("serve", "--port", "1")
    code, out, err = await run_cli(empty_moodle.url, *args, DEFINUM_TABLE_PREFIX="xyz_")
    assert (code, out) == (2, "")
    assert err == (
        f"error: no Moodle tables with prefix 'xyz_' in {shown(empty_moodle.url)}"
        " (is DEFINUM_TABLE_PREFIX right? it has Moodle tables with prefix 'mdl_')\n"
    )


async def test_the_right_prefix_passes_the_check(empty_moodle: databases.TestDatabase) -> None:
    # The tables are there but empty: the check passes and the learner is not found (exit 1).
    code, out, err = await run_cli(empty_moodle.url, "stats", "5")
    assert (code, out) == (1, "")
    assert err == "error: no user with id '5'\n"


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+asyncpg://reader:s3cret@127.0.0.1:1/moodle",
        "mysql+asyncmy://reader:s3cret@127.0.0.1:1/moodle",
    ],
)
async def test_a_server_that_cannot_be_reached_is_one_line(url: str) -> None:
    code, out, err = await run_cli(url, "stats", "5")
    assert (code, out) == (2, "")
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"error: cannot reach the database {shown(url)}: ")
    assert "s3cret" not in err


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+asyncpg://reader:s3cret@127.0.0.1:1/moodle",
        "mysql+asyncmy://reader:s3cret@127.0.0.1:1/moodle",
    ],
)
async def test_serve_starts_while_its_database_is_down_and_says_so(url: str) -> None:
    # A process started during an outage (or before its database) must come up and recover by
    # itself; the load balancer learns from /readyz meanwhile.
    get = "GET {} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    async with serving({"DEFINUM_DATABASE_URL": url}) as served:
        ready = await raw_request(served.port, get.format("/readyz").encode())
        alive = await raw_request(served.port, get.format("/healthz").encode())
    log = served.log.decode()
    assert f"warning: cannot reach the database {shown(url)}: " in log
    assert "serving anyway (/readyz answers 503 until it answers)" in log
    assert ready.status == 503
    assert alive.status == 200
    assert "s3cret" not in log


async def test_a_password_in_the_query_is_masked_too() -> None:
    url = "postgresql+asyncpg://reader@127.0.0.1:1/moodle?password=s3cret"
    code, _, err = await run_cli(url, "stats", "5")
    assert code == 2
    assert err.startswith(
        "error: cannot reach the database postgresql+asyncpg://reader@127.0.0.1:1/moodle"
        "?password=***: "
    )


@pytest.mark.parametrize("command", ["stats", "serve"])
async def test_a_missing_sqlite_file_is_one_line_and_never_created(
    tmp_path: Path, command: str
) -> None:
    missing = tmp_path / "moodle.sqlite"
    url = f"sqlite+aiosqlite:///{missing}"
    args = ("stats", "5") if command == "stats" else ("serve", "--port", "1")
    code, out, err = await run_cli(url, *args)
    assert (code, out) == (2, "")
    assert err == f"error: no SQLite database at {missing} (DEFINUM_DATABASE_URL: {url})\n"
    assert os.listdir(tmp_path) == []


async def test_the_reader_engine_never_creates_a_sqlite_file(tmp_path: Path) -> None:
    missing = tmp_path / "moodle.sqlite"
    moodle = Moodle.from_settings(Settings(database_url=f"sqlite+aiosqlite:///{missing}"))
    try:
        with pytest.raises(DatabaseUnavailable):
            async with moodle.request():
                pass
    finally:
        await moodle.dispose()
    assert os.listdir(tmp_path) == []


async def test_the_reader_engine_opens_sqlite_read_only(tmp_path: Path) -> None:
    db = await create_database("sqlite", tmp_path)
    moodle = Moodle.from_settings(Settings(database_url=db.url))
    try:
        async with moodle.engine.connect() as conn:
            raw = await conn.get_raw_connection()
            driver = raw.driver_connection
            assert driver is not None
            # Past our guard and PRAGMA query_only, the file itself refuses a write.
            await driver.execute("PRAGMA query_only = OFF")
            with pytest.raises(Exception, match="readonly database"):
                await driver.execute("DELETE FROM mdl_config")
    finally:
        await moodle.dispose()
        await drop_database(db)


async def test_check_database_passes_a_moodle_database(
    empty_moodle: databases.TestDatabase,
) -> None:
    await check_database(Settings(database_url=empty_moodle.url))
    with pytest.raises(NotAMoodleDatabase, match="prefix 'm_'"):
        await check_database(Settings(database_url=empty_moodle.url, table_prefix="m_"))


async def test_an_account_that_may_not_read_the_tables_is_one_line(tmp_path: Path) -> None:
    """The README's reader account without its GRANT SELECT: the tables exist, reading fails."""
    db = await create_database("postgresql", tmp_path)
    assert db.admin_url is not None
    role = f"definum_noread_{uuid.uuid4().hex[:8]}"
    try:
        await admin_execute(db.admin_url, f"CREATE ROLE {role} LOGIN")
        url = make_url(db.url).set(username=role).render_as_string(hide_password=False)
        code, out, err = await run_cli(url, "stats", "5")
        assert (code, out) == (2, "")
        assert err == (
            f"error: cannot read the database {shown(url)}: permission denied for table"
            " mdl_config\n"
        )
    finally:
        await drop_database(db)
        await admin_execute(db.admin_url, f"DROP ROLE IF EXISTS {role}")
