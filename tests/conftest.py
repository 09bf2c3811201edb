"""Fixtures: one parametrized database fixture runs each database test on all three databases."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from definum_gql.config import Settings
from definum_gql.moodle.engine import READER_OPTION
from definum_gql.moodle.reader import GLOBAL_LISTENERS
from definum_gql.moodle.site import Moodle
from tests.builders import NOW, Site
from tests.databases import (
    BACKENDS,
    MakeMoodle,
    TestDatabase,
    create_database,
    drop_database,
    settings_for,
)

SHARED = Path(__file__).resolve().parents[1].parent / "shared"

# Every statement that any definum-gql engine ran on a database during the whole run, checked at
# the end (after_cursor_execute: what the guard refused never reached the database).
_AUDIT: list[str] = []
_READ_ONLY = re.compile(r"^\s*(SELECT|SHOW|SET)\b", re.IGNORECASE)


@event.listens_for(Engine, "after_cursor_execute")
def _audit(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
    if conn.get_execution_options().get(READER_OPTION):
        _AUDIT.append(statement)


# Statements our readers send straight to the driver (reader.py) pass here instead.
GLOBAL_LISTENERS.append(_AUDIT.append)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    writes = [
        s for s in _AUDIT if not _READ_ONLY.match(s) and not s.lstrip().upper().startswith("PRAGMA")
    ]
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(
            f"read-only audit: {len(_AUDIT)} statements from definum-gql engines, "
            f"{len(writes)} not SELECT/SHOW/SET"
        )
    if writes:
        for statement in writes[:10]:
            if reporter is not None:
                reporter.write_line(f"  non-read statement: {statement[:120]!r}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session", params=BACKENDS)
async def database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[TestDatabase]:
    db = await create_database(request.param, tmp_path_factory.mktemp(request.param))
    yield db
    await drop_database(db)


@pytest.fixture
async def site(database: TestDatabase) -> Site:
    """An empty, freshly installed Moodle site on the current database."""
    builder = Site(database)
    await builder.reset()
    return builder


@pytest.fixture
async def by_learner(site: Site) -> AsyncIterator[None]:
    """The recommended index on the log, (userid, timecreated, id): batches then read each
    learner's rows through it (Statements.log_by_learner). Dropped after the test."""
    await site.index("definum_test_usetim_ix", "userid, timecreated, id")
    try:
        yield
    finally:
        await site.drop_index("definum_test_usetim_ix")


@pytest.fixture
def frozen_now() -> int:
    return NOW


@pytest.fixture
def settings(database: TestDatabase) -> Settings:
    return settings_for(database.url)


@pytest.fixture
async def moodle(settings: Settings, frozen_now: int) -> AsyncIterator[Moodle]:
    """definum-gql's read-only view of the site, with the clock frozen at the contract's now."""
    instance = Moodle.from_settings(settings, clock=lambda: float(frozen_now))
    yield instance
    await instance.dispose()


@pytest.fixture
async def moodle_with(database: TestDatabase, frozen_now: int) -> AsyncIterator[MakeMoodle]:
    """Makes a Moodle view with some caches (or other settings) turned back on, clock frozen."""
    made: list[Moodle] = []

    def make(**values: Any) -> Moodle:
        made.append(
            Moodle.from_settings(
                settings_for(database.url, **values), clock=lambda: float(frozen_now)
            )
        )
        return made[-1]

    yield make
    for instance in made:
        await instance.dispose()


@pytest.fixture
def shared_dir() -> Path:
    if not (SHARED / "moodle").is_dir():
        pytest.skip("../shared is absent (a fresh clone); CI has it")
    return SHARED
