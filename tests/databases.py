"""Fresh test databases on SQLite, PostgreSQL and MariaDB, dropped after the session."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from definum_gql.config import Settings
from definum_gql.moodle.site import Moodle
from definum_gql.moodle.tables import MoodleTables, moodle_tables

BACKENDS = ("sqlite", "postgresql", "mariadb")
PG_ADMIN = os.environ.get(
    "DEFINUM_TEST_PG", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
MY_ADMIN = os.environ.get("DEFINUM_TEST_MARIADB", "mysql+asyncmy://root@127.0.0.1:3306/mysql")
REQUIRE_SERVERS = os.environ.get("DEFINUM_TEST_REQUIRE_SERVERS") == "1"
PREFIX = "mdl_"


@dataclass
class TestDatabase:
    """One empty database with Moodle's tables, and an engine that may write (tests only)."""

    backend: str
    url: str
    writer: AsyncEngine
    tables: MoodleTables
    admin_url: str | None = None
    name: str | None = None


#: No caches: tests change the site between calls and expect to see each change at once.
NO_CACHES: dict[str, Any] = {
    "site_cache_seconds": 0,
    "token_cache_seconds": 0,
    "month_cache_entries": 0,
    "current_month_cache_seconds": 0,
}


#: What the ``moodle_with`` fixture gives: settings overrides in, a Moodle view out.
MakeMoodle = Callable[..., Moodle]


def settings_for(url: str, **values: Any) -> Settings:
    """Settings for ``url`` with every cache off (``values`` may turn some back on)."""
    return Settings(database_url=url, **{**NO_CACHES, **values})


def unreachable(backend: str, reason: str) -> None:
    message = f"{backend} server unreachable: {reason}"
    if REQUIRE_SERVERS:
        pytest.fail(message + " (DEFINUM_TEST_REQUIRE_SERVERS=1)")
    pytest.skip(message)


def on_database(admin_url: str, name: str) -> str:
    """``admin_url`` pointed at database ``name`` (its password kept: the URL is used)."""
    from sqlalchemy.engine import make_url

    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


async def admin_execute(url: str, *statements: str) -> None:
    """Run ``statements`` as the test servers' administrator, outside any transaction."""
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            for statement in statements:
                await conn.execute(text(statement))
    finally:
        await engine.dispose()


def admin_url_of(backend: str) -> str:
    return PG_ADMIN if backend == "postgresql" else MY_ADMIN


async def create_server_database(backend: str, name: str) -> str:
    """A new empty database ``name`` on the PostgreSQL or MariaDB test server, and its URL;
    skips (or fails) when the server is down."""
    admin_url = admin_url_of(backend)
    if backend == "postgresql":
        statement = f"CREATE DATABASE {name} ENCODING 'UTF8' TEMPLATE template0"
    else:
        statement = f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
    try:
        await admin_execute(admin_url, statement)
    except Exception as exc:
        unreachable(backend, str(exc).splitlines()[0])
    url = on_database(admin_url, name)
    return url + "?charset=utf8mb4" if backend == "mariadb" else url


async def drop_server_database(backend: str, name: str) -> None:
    force = " WITH (FORCE)" if backend == "postgresql" else ""
    await admin_execute(admin_url_of(backend), f"DROP DATABASE IF EXISTS {name}{force}")


async def create_database(backend: str, tmp_dir: Path) -> TestDatabase:
    """Create a new empty database on ``backend``; skips (or fails) when its server is down."""
    name = f"definum_test_{uuid.uuid4().hex[:10]}"
    tables = moodle_tables(PREFIX)
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_dir / (name + '.sqlite')}"
        admin_url = None
    else:
        url = await create_server_database(backend, name)
        admin_url = admin_url_of(backend)
    writer = create_async_engine(url)
    async with writer.begin() as conn:
        await conn.run_sync(tables.metadata.create_all)
    return TestDatabase(backend, url, writer, tables, admin_url, name)


async def drop_database(db: TestDatabase) -> None:
    await db.writer.dispose()
    if db.admin_url is not None and db.name is not None:
        await drop_server_database(db.backend, db.name)


@asynccontextmanager
async def user_table_locked(database: TestDatabase) -> AsyncIterator[None]:
    """Holds a lock on mdl_user that makes every read of it wait (a migration, a dump...)."""
    async with database.writer.connect() as conn:
        if database.backend == "postgresql":
            transaction = await conn.begin()
            await conn.execute(text("LOCK TABLE mdl_user IN ACCESS EXCLUSIVE MODE"))
            try:
                yield
            finally:
                await transaction.rollback()
        else:
            await conn.execute(text("LOCK TABLES mdl_user WRITE"))
            try:
                yield
            finally:
                await conn.execute(text("UNLOCK TABLES"))
