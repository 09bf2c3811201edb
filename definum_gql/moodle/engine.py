"""Async engines on the Moodle database that cannot write.

Three locks, so that a bug in our code can never change a Moodle site: the session itself is
read-only (PostgreSQL ``default_transaction_read_only``, MariaDB ``SET SESSION TRANSACTION READ
ONLY``, SQLite ``PRAGMA query_only`` on a file opened ``mode=ro``), and a cursor hook refuses any
statement that is not a read before it is sent. A SQLite file that does not exist is never created:
opening it fails.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

READ_STATEMENT = re.compile(r"^\s*(SELECT|SHOW|SET|PRAGMA|EXPLAIN)\b", re.IGNORECASE)
#: Execution option marking the engines that belong to definum-gql (tests audit them).
READER_OPTION = "definum_reader"


class ReadOnlyViolation(RuntimeError):
    """Our code tried to send a statement that could write; it was never sent."""


def refuse_writes(statement: str) -> None:
    """The guard every statement passes before it is sent, whichever way it is sent."""
    if not READ_STATEMENT.match(statement):
        raise ReadOnlyViolation(f"refused to send a non-read statement: {statement[:60]!r}")


def _refuse_writes(
    conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
) -> None:
    refuse_writes(statement)


#: Every PostgreSQL session, through SQLAlchemy or the driver's pool (reader.py).
PG_SESSION = {
    "default_transaction_read_only": "on",
    "application_name": "definum-gql",
    # plan_cache_mode stays "auto": the short statements of a request reuse a generic plan
    # (planning the document statement took half its time); the ones over a time range and many
    # learners are sent unnamed, so they are planned for their values (Prepared.custom_plan).
    # JIT compiles for ~50 ms before a statement that then runs in a few: a loss for short
    # statistics statements (measured on the 5M-row demo log).
    "jit": "off",
}
#: Every MariaDB/MySQL session starts with this.
MYSQL_SESSION = "SET SESSION TRANSACTION READ ONLY"


def pg_session(statement_timeout_ms: int) -> dict[str, str]:
    """A PostgreSQL session's settings: read-only, and the statement timeout (0: none)."""
    settings = dict(PG_SESSION)
    if statement_timeout_ms:
        settings["statement_timeout"] = str(statement_timeout_ms)
    return settings


def is_mariadb(server_version: object) -> bool:
    """Whether a MySQL-protocol server's version string (asyncmy's ``get_server_info()``) is
    MariaDB's rather than MySQL's."""
    return "mariadb" in str(server_version).lower()


def mysql_timeout(server_version: str, statement_timeout_ms: int) -> str | None:
    """The SET that bounds a MariaDB/MySQL session's statements (None: no limit).

    MariaDB's ``max_statement_time`` is in seconds and covers every statement; MySQL's
    ``max_execution_time`` is in milliseconds and covers SELECT, which is all we send.
    """
    if not statement_timeout_ms:
        return None
    if is_mariadb(server_version):
        return f"SET SESSION max_statement_time = {statement_timeout_ms / 1000:.3f}"
    return f"SET SESSION max_execution_time = {int(statement_timeout_ms)}"


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def read_only_sqlite(url: URL) -> URL:
    """``url`` opening its SQLite file read-only (a URI filename with ``mode=ro``).

    SQLite's default mode creates a missing file; ``mode=ro`` makes opening it fail instead. An
    in-memory database is left as it is.
    """
    database = url.database
    if not database or database == ":memory:" or "mode=memory" in str(url):
        return url
    if not database.startswith("file:"):
        database = "file:" + quote(database, safe="/")
    return url.set(database=database).update_query_dict({"mode": "ro", "uri": "true"})


def create_reader_engine(
    url: str, *, pool_size: int = 10, statement_timeout_ms: int = 0
) -> AsyncEngine:
    """An engine for reading a Moodle site: pooled, autocommit and read-only.

    No ping on checkout (a dead connection is replaced when a request's first statement fails,
    see reader.py) and no transactions: each read stands alone, as Moodle's own reads do, which
    saves the BEGIN/ROLLBACK round trips of every request.
    """
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    kwargs: dict[str, Any] = {}
    if backend == "postgresql":
        kwargs["connect_args"] = {"server_settings": pg_session(statement_timeout_ms)}
    elif backend == "mysql" and "charset" not in parsed.query:
        parsed = parsed.update_query_dict({"charset": "utf8mb4"})
    elif backend == "sqlite":
        parsed = read_only_sqlite(parsed)
    if backend != "sqlite":
        kwargs.update(
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_recycle=3600,
            isolation_level="AUTOCOMMIT",
            pool_reset_on_return=None,
        )
    engine = create_async_engine(parsed, execution_options={READER_OPTION: True}, **kwargs)
    sync = engine.sync_engine

    @event.listens_for(sync, "connect")
    def _lock_session(dbapi_connection: Any, connection_record: Any) -> None:
        if backend == "sqlite":
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA query_only = ON")
            cursor.close()
            # SQLite's lower() folds ASCII only; the other databases fold all of Unicode.
            dbapi_connection.create_function("lower", 1, _lower)
        elif backend == "mysql":
            cursor = dbapi_connection.cursor()
            cursor.execute(MYSQL_SESSION)
            cursor.execute("SELECT VERSION()")
            bound = mysql_timeout(str(cursor.fetchone()[0]), statement_timeout_ms)
            if bound is not None:
                cursor.execute(bound)
            cursor.close()

    event.listen(sync, "before_cursor_execute", _refuse_writes)
    return engine
