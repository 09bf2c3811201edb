"""A demo Moodle site: realistic, deterministic, on SQLite, PostgreSQL or MariaDB.

``build_demo_site`` writes it with its own engine (the only code in definum-gql that writes, and
never to a real Moodle: it creates the tables itself). The CLI's ``demo-db`` and ``serve --demo``
call it.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import func, inspect, select
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from definum_gql.demo.activity import LOG_COLUMNS
from definum_gql.demo.generator import DemoGenerator
from definum_gql.demo.loader import (
    Progress,
    analyze,
    backend,
    create_indexes,
    insert_records,
    insert_rows,
    reset_sequences,
    tune_session,
)
from definum_gql.demo.model import DemoSpec
from definum_gql.moodle.tables import MoodleTables, moodle_tables

T = TypeVar("T")

__all__ = ["DemoResult", "DemoSiteExists", "build_demo_site", "default_demo_path", "demo_url"]


class DemoSiteExists(Exception):
    """The database already holds Moodle tables and ``replace`` was not asked for."""


@dataclass
class DemoResult:
    """What was built. ``tokens`` maps a label to a web service token of the ``definum`` service:
    ``valid`` (the admin's, printed by the CLI), ``expired``, ``iprestricted`` (10.0.0.0/8 only)
    and ``suspended_owner``."""

    url: str
    users: int
    courses: int
    log_rows: int
    tokens: dict[str, str]


def default_demo_path() -> Path:
    """Where the demo SQLite file lives: ``$XDG_DATA_HOME/definum-gql/demo.sqlite``."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "definum-gql" / "demo.sqlite"


def demo_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path.expanduser().resolve()}"


async def build_demo_site(
    url: str,
    *,
    users: int = 200,
    courses: int = 12,
    months: int = 3,
    seed: int = 42,
    now: int | None = None,
    prefix: str = "mdl_",
    progress: Progress | None = None,
    replace: bool = True,
) -> DemoResult:
    """Create Moodle's tables in the database at ``url`` and fill them with a demo site.

    Args:
        url: an async SQLAlchemy URL; for PostgreSQL and MariaDB the database must exist, for
            SQLite the file (and its folder) is created.
        users: how many people besides the guest and admin accounts.
        courses: how many courses besides the site course.
        months: how far back the activity log reaches (about 250 rows per user and month).
        seed, now: the same pair always gives the same rows (``now`` defaults to the clock).
        prefix: Moodle's table prefix.
        progress: called as ``(stage, done, total)``; the ``logs`` stage counts days.
        replace: drop our tables first if they exist; otherwise an existing site is an error.
    """
    spec = DemoSpec(users, courses, months, seed, int(time.time()) if now is None else now)
    report = progress or (lambda stage, done, total: None)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        await asyncio.to_thread(_make_folder, parsed.database)
    elif parsed.get_backend_name() == "mysql" and "charset" not in parsed.query:
        parsed = parsed.update_query_dict({"charset": "utf8mb4"})
    tables = moodle_tables(prefix)
    engine = create_async_engine(parsed)
    generator = DemoGenerator(spec)
    try:
        async with engine.connect() as conn:
            await tune_session(conn)
            report("schema", 0, 1)
            await _create_schema(conn, tables, replace)
            await conn.commit()
            report("schema", 1, 1)

            report("site", 0, 1)
            site = generator.site()
            people = generator.people()
            for name, rows in site.items():
                await insert_rows(conn, getattr(tables, name), rows)
            await conn.commit()
            report("site", 1, 1)
            report("people", 0, 1)
            for name, rows in people.items():
                await insert_rows(conn, getattr(tables, name), rows)
            await conn.commit()
            report("people", 1, 1)

            await _load_logs(conn, tables, generator, report)

            report("users", 0, 1)
            await insert_rows(conn, tables.user, generator.users())
            await insert_rows(conn, tables.user_lastaccess, generator.user_lastaccess())
            await conn.commit()
            report("users", 1, 1)

            await create_indexes(conn, tables.logstore_standard_log, report)
            await conn.commit()
            report("analyze", 0, 1)
            await reset_sequences(conn, tables.metadata.sorted_tables)
            await conn.commit()
            await analyze(conn, tables.metadata.sorted_tables)
            await conn.commit()
            report("analyze", 1, 1)
            user_rows = await conn.scalar(select(func.count()).select_from(tables.user))
    finally:
        await engine.dispose()
    return DemoResult(
        url=url,
        users=int(user_rows or 0),
        courses=spec.courses,
        log_rows=generator.log_rows,
        tokens=dict(generator.tokens),
    )


def _make_folder(database: str) -> None:
    Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)


async def _create_schema(conn: AsyncConnection, tables: MoodleTables, replace: bool) -> None:
    def existing(sync: Connection) -> set[str]:
        return set(inspect(sync).get_table_names())

    present = await conn.run_sync(existing)
    ours = [t for t in tables.metadata.sorted_tables if t.name in present]
    if ours and not replace:
        raise DemoSiteExists(
            f"the database already has Moodle tables ({ours[0].name}, ...); pass replace=True"
        )
    await conn.run_sync(tables.metadata.drop_all)
    await conn.run_sync(tables.metadata.create_all)
    # The log is loaded without its secondary indexes, which are built once at the end.
    for index in tables.logstore_standard_log.indexes:
        await conn.run_sync(index.drop)


async def _load_logs(
    conn: AsyncConnection, tables: MoodleTables, generator: DemoGenerator, report: Progress
) -> None:
    log = tables.logstore_standard_log
    days = generator.log_days
    report("logs", 0, days)
    chunks = _ahead(generator.logs())
    if backend(conn) == "postgresql":

        async def records() -> AsyncIterator[tuple[Any, ...]]:
            done = 0
            async for chunk in chunks:
                for record in chunk:
                    yield record
                done += 1
                report("logs", done, days)

        await insert_records(conn, log, LOG_COLUMNS, records())
        await conn.commit()
        return
    done, pending = 0, []
    async for chunk in chunks:
        pending.extend(chunk)
        done += 1
        if len(pending) >= 50_000:
            await insert_records(conn, log, LOG_COLUMNS, pending)
            await conn.commit()
            pending = []
        report("logs", done, days)
    await insert_records(conn, log, LOG_COLUMNS, pending)
    await conn.commit()


async def _ahead(items: Iterator[T]) -> AsyncIterator[T]:
    """Make the next item in a worker thread while the caller waits on the database."""
    loop = asyncio.get_running_loop()
    end = object()
    pending = loop.run_in_executor(None, next, items, end)
    while True:
        item = await pending
        if item is end:
            return
        pending = loop.run_in_executor(None, next, items, end)
        yield item  # type: ignore[misc]
