"""A demo Moodle site: realistic, deterministic, on SQLite, PostgreSQL or MariaDB.

``build_demo_site`` writes it with its own engine (the only code in definum-gql that writes, and
never to a real Moodle: it creates the tables itself). The CLI's ``demo-db`` and ``serve --demo``
call it.

A demo site carries a marker: the row ``definum_demo`` of ``{prefix}config``, whose value is the
JSON of how it was built (seed, sizes, ``now``). Moodle ignores configuration it does not know.
``build_demo_site`` replaces a site only when it has the marker or holds no rows at all (unless
``force``), and ``serve --demo`` rebuilds its file when the marker's ``now`` is stale.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote
from zoneinfo import ZoneInfo

from sqlalchemy import Table, func, inspect, select
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from definum_gql.demo.activity import LOG_COLUMNS, month_start
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
from definum_gql.demo.model import DAY, DemoSpec
from definum_gql.demo.rows import CONFIG
from definum_gql.moodle.tables import MoodleTables, moodle_tables

T = TypeVar("T")

__all__ = [
    "DEMO_MARKER",
    "DemoMarker",
    "DemoResult",
    "DemoSiteExists",
    "build_demo_site",
    "default_demo_path",
    "demo_url",
    "read_demo_marker",
    "stale_reason",
]

#: The ``{prefix}config`` row that marks a site built by ``build_demo_site``.
DEMO_MARKER = "definum_demo"
#: The demo site's own timezone (its ``config`` row): the months its activity fills.
DEMO_TIMEZONE = CONFIG["timezone"]


class DemoSiteExists(Exception):
    """The database holds a site that may not be replaced; the message says what it holds."""


@dataclass(frozen=True)
class DemoMarker:
    """How a demo site was built: the value of its ``definum_demo`` config row."""

    now: int
    seed: int
    users: int
    courses: int
    months: int
    version: int = 1

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, value: str) -> DemoMarker | None:
        try:
            data = json.loads(value)
            return cls(**{k: int(data[k]) for k in ("now", "seed", "users", "courses", "months")})
        except (ValueError, TypeError, KeyError):
            return None

    def sizes(self) -> dict[str, int]:
        """What to build it again with: ``build_demo_site``'s keyword arguments."""
        return {
            "users": self.users,
            "courses": self.courses,
            "months": self.months,
            "seed": self.seed,
        }


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


def read_demo_marker(path: Path, prefix: str = "mdl_") -> DemoMarker | None:
    """The marker of the demo SQLite file at ``path`` (opened read-only, never created)."""
    uri = "file:" + quote(str(path.expanduser().resolve()), safe="/") + "?mode=ro"
    try:
        with sqlite3.connect(uri, uri=True) as db:
            row = db.execute(
                f"SELECT value FROM {prefix}config WHERE name = ?", (DEMO_MARKER,)
            ).fetchone()
    except sqlite3.Error:
        return None
    return DemoMarker.from_json(str(row[0])) if row else None


def stale_reason(
    path: Path, marker: DemoMarker | None, now: int, *, frozen: bool, timezone: str | None = None
) -> str | None:
    """Why the demo file must be (re)built before serving at ``now``, or None when it is fresh.

    Fresh means its activity reaches the current month (``timezone``: the site's, by default the
    demo's own) and ends less than a day ago; with a frozen clock (``DEFINUM_NOW``), that it was
    built for exactly that moment.
    """
    if not path.exists():
        return "first run"
    if marker is None:
        return "it has no demo marker: built by an older version"
    if frozen:
        return None if marker.now == now else "built for another DEFINUM_NOW"
    if marker.now > now:
        return "built for a later time than now"
    if marker.now < month_start(now, ZoneInfo(timezone or DEMO_TIMEZONE)):
        return "built before this month"
    if now - marker.now > DAY:
        return "built more than a day ago"
    return None


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
    force: bool = False,
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
        replace: drop Moodle's tables first if they exist (only those, never other tables);
            otherwise an existing site is an error.
        force: replace a site that was not built here too. Without it, tables that hold rows
            are dropped only when the site has the demo marker; otherwise :class:`DemoSiteExists`
            says what they hold.
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
            await _create_schema(conn, tables, replace, force)
            await conn.commit()
            report("schema", 1, 1)

            report("site", 0, 1)
            site = generator.site()
            people = generator.people()
            marker = DemoMarker(spec.now, spec.seed, spec.users, spec.courses, spec.months)
            site["config"].append(
                {"id": len(site["config"]) + 1, "name": DEMO_MARKER, "value": marker.to_json()}
            )
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


async def _create_schema(
    conn: AsyncConnection, tables: MoodleTables, replace: bool, force: bool
) -> None:
    def existing(sync: Connection) -> set[str]:
        return set(inspect(sync).get_table_names())

    present = await conn.run_sync(existing)
    ours = [t for t in tables.metadata.sorted_tables if t.name in present]
    if ours and not replace:
        raise DemoSiteExists(
            f"the database already has Moodle tables ({ours[0].name}, ...); pass replace=True"
        )
    if ours and not force:
        held = await _foreign_site(conn, tables, ours)
        if held:
            raise DemoSiteExists(f"a Moodle site not built by demo-db: {held}")
    await conn.run_sync(tables.metadata.drop_all)
    await conn.run_sync(tables.metadata.create_all)
    # The log is loaded without its secondary indexes, which are built once at the end.
    for index in tables.logstore_standard_log.indexes:
        await conn.run_sync(index.drop)


async def _foreign_site(conn: AsyncConnection, tables: MoodleTables, present: list[Table]) -> str:
    """What dropping ``present`` would destroy ("1,234 users, 5.6 M log rows"), or "" when
    nothing: the site has the demo marker, or its tables hold no rows."""
    if tables.config in present:
        config = tables.config
        marked = await conn.scalar(
            select(func.count()).select_from(config).where(config.c.name == DEMO_MARKER)
        )
        if marked:
            return ""
    filled = [t for t in present if await conn.scalar(select(1).select_from(t).limit(1))]
    if not filled:
        return ""
    counts = []
    for table, noun in ((tables.user, "users"), (tables.logstore_standard_log, "log rows")):
        if table in filled:
            rows = int(await conn.scalar(select(func.count()).select_from(table)) or 0)
            counts.append(f"{_amount(rows)} {noun}")
    names = ", ".join(t.name for t in filled[:3]) + (", ..." if len(filled) > 3 else "")
    return ", ".join(counts) or f"rows in {len(filled)} tables ({names})"


def _amount(n: int) -> str:
    """1,234 below a million, then 5.6 M."""
    return f"{n:,}" if n < 1_000_000 else f"{n / 1_000_000:.1f} M"


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
