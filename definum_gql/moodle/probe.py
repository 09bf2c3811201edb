"""Is this a Moodle database? Asked once before serving or answering on the command line.

A wrong ``DEFINUM_DATABASE_URL`` or ``DEFINUM_TABLE_PREFIX`` would otherwise show up later as a
traceback (``stats``) or as GraphQL's "database unavailable" on every request (``serve``). The
probe reads through the same read-only engine as everything else: it asks whether the prefix's
``config`` and ``user`` tables exist and can be read, and when they do not exist, which prefixes
the database does have.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from definum_gql.config import Settings, mask_database_url
from definum_gql.moodle.engine import create_reader_engine
from definum_gql.moodle.reader import Database, DatabaseReadError, DatabaseUnavailable, Reader
from definum_gql.moodle.site import table_exists

#: The tables every Moodle site has; both must be there.
REQUIRED = ("config", "user")


class NotAMoodleDatabase(Exception):
    """The database cannot be reached, or holds no Moodle site with this prefix (one line)."""


class DatabaseUnreachable(NotAMoodleDatabase):
    """The database did not answer: it may be down for now (serve starts anyway; /readyz says)."""


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL (None for other databases and in-memory ones)."""
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    if database.startswith("file:"):
        from urllib.parse import unquote

        database = unquote(database.removeprefix("file:").partition("?")[0])
    return Path(database)


async def probe(db: Database, settings: Settings) -> None:
    """Raise :class:`NotAMoodleDatabase` unless ``db`` answers and holds the prefix's tables."""
    shown = mask_database_url(settings.url())
    prefix = settings.table_prefix
    path = sqlite_file(settings.url())
    if path is not None and not path.is_file():
        raise NotAMoodleDatabase(f"no SQLite database at {path} (DEFINUM_DATABASE_URL: {shown})")
    try:
        async with db.reader() as reader:
            missing = await missing_tables(reader, prefix, REQUIRED)
            found = await prefixes(reader) if missing else []
            if not missing:
                # Present but perhaps not readable by this account: a GRANT forgotten.
                for name in REQUIRED:
                    await reader.execute(text(f"SELECT id FROM {prefix}{name} WHERE id = 0"))
    except DatabaseUnavailable as exc:
        raise DatabaseUnreachable(f"cannot reach the database {shown}: {exc}") from None
    except DatabaseReadError as exc:
        raise NotAMoodleDatabase(f"cannot read the database {shown}: {exc}") from None
    if not missing:
        return
    what = (
        f"no Moodle tables with prefix {prefix!r}"
        if len(missing) == len(REQUIRED)
        else f"no table {missing[0]} (prefix {prefix!r})"
    )
    others = [p for p in found if p != prefix]
    hint = (
        f" it has Moodle tables with prefix {', '.join(repr(p) for p in others)}" if others else ""
    )
    raise NotAMoodleDatabase(f"{what} in {shown} (is DEFINUM_TABLE_PREFIX right?{hint})")


async def missing_tables(reader: Reader, prefix: str, names: Sequence[str]) -> list[str]:
    """The full names of the tables of ``names`` that ``prefix`` lacks (probe, doctor, /readyz)."""
    return [prefix + name for name in names if not await _exists(reader, prefix + name)]


async def _exists(reader: Reader, name: str) -> bool:
    """Whether the table exists, readable or not: PostgreSQL's catalog lists every table, where
    information_schema (site.table_exists) shows only those the account has a privilege on."""
    if reader.database.backend != "postgresql":
        return await table_exists(reader, name)
    query = text(
        "SELECT 1 FROM pg_catalog.pg_tables WHERE schemaname = current_schema()"
        " AND tablename = :name"
    )
    return bool(await reader.execute(query.bindparams(name=name)))


async def prefixes(reader: Reader) -> list[str]:
    """The prefixes of the Moodle sites in the database: those of ``*config_plugins`` tables."""
    database = reader.database
    pattern = "%config_plugins"
    if database.backend == "sqlite":
        query = text("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE :p")
    elif database.backend == "postgresql":
        query = text(
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = current_schema() AND table_name LIKE :p"
        )
    else:
        query = text(
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = DATABASE() AND table_name LIKE :p"
        )
    rows = await reader.execute(query.bindparams(p=pattern))
    names = sorted(str(row[0]) for row in rows)
    return [
        name.removesuffix("config_plugins") for name in names if name.endswith("config_plugins")
    ]


async def check_database(settings: Settings) -> None:
    """:func:`probe` on an engine of its own, closed afterwards (before serving)."""
    db = Database(create_reader_engine(settings.url(), pool_size=1), 1)
    try:
        await probe(db, settings)
    finally:
        await db.dispose()
