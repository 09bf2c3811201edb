"""Fresh test databases on SQLite, PostgreSQL and MariaDB, dropped after the session."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
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


def _with_database(admin_url: str, name: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


async def create_database(backend: str, tmp_dir: Path) -> TestDatabase:
    """Create a new empty database on ``backend``; skips (or fails) when its server is down."""
    name = f"definum_test_{uuid.uuid4().hex[:10]}"
    tables = moodle_tables(PREFIX)
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_dir / (name + '.sqlite')}"
        admin_url = None
    else:
        admin_url = PG_ADMIN if backend == "postgresql" else MY_ADMIN
        admin = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
        try:
            async with admin.connect() as conn:
                if backend == "postgresql":
                    await conn.execute(
                        text(f"CREATE DATABASE {name} ENCODING 'UTF8' TEMPLATE template0")
                    )
                else:
                    await conn.execute(
                        text(
                            f"CREATE DATABASE {name} CHARACTER SET utf8mb4"
                            " COLLATE utf8mb4_unicode_ci"
                        )
                    )
        except (OSError, Exception) as exc:
            await admin.dispose()
            unreachable(backend, str(exc).splitlines()[0])
        await admin.dispose()
        url = _with_database(admin_url, name)
        if backend == "mariadb":
            url += "?charset=utf8mb4"
    writer = create_async_engine(url)
    async with writer.begin() as conn:
        await conn.run_sync(tables.metadata.create_all)
    return TestDatabase(backend, url, writer, tables, admin_url, name)


async def drop_database(db: TestDatabase) -> None:
    await db.writer.dispose()
    if db.admin_url is None:
        return
    admin = create_async_engine(db.admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            if db.backend == "postgresql":
                await conn.execute(text(f"DROP DATABASE IF EXISTS {db.name} WITH (FORCE)"))
            else:
                await conn.execute(text(f"DROP DATABASE IF EXISTS {db.name}"))
    finally:
        await admin.dispose()
