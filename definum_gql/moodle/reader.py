"""How statements reach the Moodle database: built once, compiled once, run on the driver.

A request's statements are few and always the same, so each is a :class:`Prepared`: a Core SELECT
built once with named parameters and compiled once per dialect (and per IN-list size bucket) to
the driver's SQL. On PostgreSQL and MariaDB it then runs straight on the driver connection (asyncpg
with its prepared-statement cache, asyncmy), skipping SQLAlchemy's per-execution work, which was
two thirds of a REST call's CPU (BENCHMARKS.md). SQLite (the demo) and the dynamic list statements
go through SQLAlchemy.

Every statement, whichever way it runs, passes the read guard first, and every failure leaves this
module as one of two exceptions: :class:`DatabaseUnavailable` (the server cannot be reached: 503 on
both doors) or :class:`DatabaseReadError` (the statement failed). This is the one place that
decides whether the database is down.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import weakref
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Mapping,
    Sequence,
)
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import ClauseElement, Executable, Select, event
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.compiler import SQLCompiler

from definum_gql.moodle.engine import ReadOnlyViolation, is_mariadb, refuse_writes
from definum_gql.observe import count_statement, pool_in_use

log = logging.getLogger("definum_gql.db")

#: Ids per IN list: keeps statements bounded on every database.
CHUNK = 1000

Row = Sequence[Any]
#: Called with the SQL of every statement a reader sends (tests count and audit them).
Listener = Callable[[str], None]
#: Process-wide listeners (the test suite's read-only audit).
GLOBAL_LISTENERS: list[Listener] = []


class DatabaseUnavailable(Exception):
    """The Moodle database cannot be reached (REST answers dml_connection_exception, HTTP 503)."""


class DatabaseReadError(Exception):
    """A statement failed on a reachable database (REST answers dmlreadexception)."""


class ReaderClosed(Exception):
    """A statement asked for after its request ended (a DataLoader batch still running when
    an error ended the request's execution); nobody waits for its answer."""


class QueryTimeout(DatabaseReadError):
    """A statement ran past DEFINUM_STATEMENT_TIMEOUT_MS and the database cancelled it; the
    connection stays usable (GraphQL answers QUERY_TIMEOUT)."""


# PostgreSQL's query_canceled; MariaDB's ER_STATEMENT_TIMEOUT, MySQL's ER_QUERY_TIMEOUT.
_PG_CANCELED = "57014"
_MYSQL_TIMEOUT = {1969, 3024}


def is_timeout(exc: BaseException) -> bool:
    """Whether ``exc`` is the database cancelling a statement for running too long."""
    orig = getattr(exc, "orig", None)
    if orig is not None and orig is not exc and is_timeout(orig):
        return True
    if getattr(exc, "sqlstate", None) == _PG_CANCELED:
        return True
    module = type(exc).__module__
    if module.startswith(("asyncmy", "pymysql", "aiomysql")):
        return bool(exc.args) and exc.args[0] in _MYSQL_TIMEOUT
    return False


# MariaDB client and server codes that mean the connection is gone (CR_*, ER_CONNECTION_KILLED,
# ER_SERVER_SHUTDOWN...).
_MYSQL_GONE = {1040, 1053, 1077, 1152, 1154, 1156, 1158, 1159, 1160, 1161, 1927, 2002, 2003}
_MYSQL_GONE |= {2006, 2013, 2014, 2045, 2055}


# MariaDB/MySQL's ER_KEY_DOES_NOT_EXITS: an index hint names an index the table no longer has
# (dropped or renamed since the site read that chose the hint).
_MYSQL_NO_SUCH_KEY = 1176
#: The index hints queries.index_hint writes; they only steer the plan.
_INDEX_HINT = re.compile(r" IGNORE INDEX \((?:`(?:[^`]|``)*`(?:, )?)+\)")


def names_a_missing_index(exc: BaseException) -> bool:
    """Whether ``exc`` is MariaDB/MySQL refusing a hint that names an index it does not have."""
    orig = getattr(exc, "orig", None)
    if orig is not None and orig is not exc:
        return names_a_missing_index(orig)
    module = type(exc).__module__
    return (
        module.startswith(("asyncmy", "pymysql", "aiomysql"))
        and bool(exc.args)
        and exc.args[0] == _MYSQL_NO_SUCH_KEY
    )


def without_index_hints(sql: str) -> str:
    """``sql`` with its ``IGNORE INDEX`` hints left out."""
    return _INDEX_HINT.sub("", sql)


def is_connection_error(exc: BaseException) -> bool:
    """Whether ``exc`` says the database connection is unusable (rather than one statement bad)."""
    if isinstance(exc, DatabaseUnavailable):
        return True
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated or isinstance(exc, InterfaceError):
            return True
        orig = exc.orig
        if isinstance(exc, OperationalError) and orig is None:
            return True
        return orig is not None and is_connection_error(orig)
    if isinstance(exc, (OSError, ConnectionError, TimeoutError)):
        return True
    module = type(exc).__module__
    if module.startswith("asyncpg"):
        import asyncpg

        return isinstance(
            exc,
            (
                asyncpg.exceptions.InterfaceError,
                # The protocol's state is broken (seen after the server ended the session).
                asyncpg.exceptions.InternalClientError,
                asyncpg.exceptions.PostgresConnectionError,
                asyncpg.exceptions.CannotConnectNowError,
                asyncpg.exceptions.AdminShutdownError,
                asyncpg.exceptions.CrashShutdownError,
            ),
        )
    if module.startswith(("asyncmy", "pymysql", "aiomysql")):
        code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
        name = type(exc).__name__
        return name == "InterfaceError" or code in _MYSQL_GONE
    return False


def first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc)
    return text.splitlines()[0] if text.strip() else type(exc).__name__


async def all_ended(*work: Awaitable[Any]) -> list[Any]:
    """The answers of ``work``, run at once, once every one has ended; then the first failure
    is raised. (Statements on other connections never outlive the block that lent them.)"""
    outcomes = await asyncio.gather(*work, return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
    return outcomes


def bucket(n: int) -> int:
    """IN lists are padded to a power of two, so a statement has a handful of compiled forms."""
    size = 1
    while size < n:
        size *= 2
    return size


@dataclass(frozen=True)
class _Compiled:
    sql: str
    order: tuple[str, ...]
    defaults: Mapping[str, Any]


@dataclass(eq=False)
class Prepared:
    """A SELECT built once: ``build(n)`` makes it for an IN list of ``n`` ids named ``id0..``.

    ``listed`` is None for statements without an id list (``build`` then receives 0).
    """

    name: str
    build: Callable[[int], Select[Any]]
    listed: bool = False
    #: PostgreSQL plans it for each call's values: a generic plan of a statement over a time
    #: range and many learners took 20x longer (BENCHMARKS.md, "Plans").
    custom_plan: bool = False
    #: MariaDB: sent as text, never PREPAREd (see ``Statements.log_ids``).
    text: bool = False
    _compiled: dict[tuple[str, int], _Compiled] = field(default_factory=dict, repr=False)

    def compiled(self, dialect: Dialect, n: int) -> _Compiled:
        key = (dialect.name, n)
        found = self._compiled.get(key)
        if found is None:
            statement = self.build(n).compile(dialect=dialect)
            if "POSTCOMPILE" in statement.string:
                # An expanding IN would need SQLAlchemy at every execution: use id_list().
                raise ValueError(f"{self.name}: IN lists must be written with id_list()")
            defaults = {k: b.value for k, b in statement.binds.items()}
            order = tuple(statement.positiontup or ())
            found = self._compiled[key] = _Compiled(statement.string, order, defaults)
        return found


def id_params(ids: Sequence[int]) -> dict[str, int]:
    """``id0..idN`` for a padded IN list (the padding repeats the last id)."""
    size = bucket(len(ids))
    padded = list(ids) + [ids[-1]] * (size - len(ids))
    return {f"id{i}": v for i, v in enumerate(padded)}


def id_list(n: int) -> list[Any]:
    """The bind parameters of an IN list of ``n`` ids, for ``Prepared.build``."""
    from sqlalchemy import bindparam

    return [bindparam(f"id{i}") for i in range(n)]


class DriverPool:
    """The drivers' own pools (asyncpg, asyncmy), for the statements sent on the driver.

    Checking a connection out of SQLAlchemy's pool cost 0.1-0.27 ms of CPU a request (three
    greenlet switches); the driver's pool costs 0.001 (asyncmy) to 0.07 ms (asyncpg). Sessions
    are set up as the engine's are (read-only, autocommit), from the engine's own URL.
    """

    #: Waiting for a free connection longer than this is an outage (SQLAlchemy's default).
    TIMEOUT = 30.0

    def __init__(self, engine: AsyncEngine, size: int, statement_timeout_ms: int = 0) -> None:
        self.engine = engine
        self.driver = engine.dialect.driver
        self.size = size
        self.statement_timeout_ms = statement_timeout_ms
        self._pool: Any = None
        self._lock = asyncio.Lock()
        #: asyncmy connections whose statement timeout is set (asyncmy has no per-connection
        #: setup hook beyond init_command, which cannot know MariaDB from MySQL).
        self._bounded: weakref.WeakSet[Any] = weakref.WeakSet()
        #: Whether the server is MariaDB (not MySQL): None until a connection has said.
        self.mariadb: bool | None = None

    async def _create(self) -> Any:
        _, kwargs = self.engine.dialect.create_connect_args(self.engine.url)
        if self.driver == "asyncpg":
            import asyncpg

            from definum_gql.moodle.engine import pg_session

            return await asyncpg.create_pool(
                **kwargs,
                min_size=0,
                max_size=self.size,
                server_settings=pg_session(self.statement_timeout_ms),
                max_inactive_connection_lifetime=3600,
                reset=_no_reset,
            )
        import asyncmy

        from definum_gql.moodle.engine import MYSQL_SESSION

        kwargs.setdefault("charset", "utf8mb4")
        return await asyncmy.create_pool(
            **kwargs,
            minsize=0,
            maxsize=self.size,
            pool_recycle=3600,
            autocommit=True,
            init_command=MYSQL_SESSION,
        )

    async def acquire(self) -> Any:
        if self._pool is None:
            async with self._lock:
                if self._pool is None:
                    self._pool = await self._create()
        if self.driver == "asyncpg":
            conn = await self._pool.acquire(timeout=self.TIMEOUT)
        else:
            conn = await asyncio.wait_for(self._pool.acquire(), self.TIMEOUT)
            if self.mariadb is None:
                self.mariadb = is_mariadb(conn.get_server_info())
            if self.statement_timeout_ms and conn not in self._bounded:
                await self._bound(conn)
        pool_in_use(1)
        return conn

    async def _bound(self, conn: Any) -> None:
        from definum_gql.moodle.engine import mysql_timeout

        statement = mysql_timeout(conn.get_server_info(), self.statement_timeout_ms)
        if statement is not None:
            try:
                async with conn.cursor() as cursor:
                    await cursor.execute(statement)
            except BaseException:
                self._pool.release(conn)
                raise
        self._bounded.add(conn)

    async def release(self, conn: Any, broken: bool = False) -> None:
        pool_in_use(-1)
        if self.driver == "asyncpg":
            if broken:
                conn.terminate()
            await self._pool.release(conn)
        else:
            if broken:
                conn.close()
            self._pool.release(conn)

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if self.driver == "asyncpg":
            await pool.close()
        else:
            pool.close()
            await pool.wait_closed()


#: The driver's placeholders (%s) and escaped percent signs (%%) in compiled MySQL statements.
_MARK = re.compile(r"%(%|s)")


def _literal(conn: Any, value: Any) -> str:
    """``value`` as an SQL literal, escaped by the driver for this connection's settings."""
    return "NULL" if value is None else str(conn.escape(value))


async def _no_reset(conn: Any) -> None:
    """Nothing to reset: our sessions never change their state (asyncpg's reset is a round trip)."""


class Database:
    """The engine and what its readers share: the driver pool and statement listeners."""

    def __init__(
        self, engine: AsyncEngine, pool_size: int = 10, statement_timeout_ms: int = 0
    ) -> None:
        self.engine = engine
        self.dialect = engine.dialect
        self.backend = engine.dialect.name
        #: Statements go straight to the driver with asyncpg and asyncmy; SQLite and other
        #: drivers go through SQLAlchemy.
        self.raw = engine.dialect.driver in ("asyncpg", "asyncmy")
        self.pool = DriverPool(engine, 2 * pool_size, statement_timeout_ms) if self.raw else None
        #: Connections requests hold beside their own (Reader.side_by_side): at most half the
        #: driver pool, so requests that hold one and wait for a second never take it all.
        self.spare_limit = pool_size if self.raw else 0
        self.spares_in_use = 0
        self.listeners: list[Listener] = []
        event.listen(engine.sync_engine, "before_cursor_execute", self._on_cursor_execute)
        #: MariaDB server-side statements: SQL -> name (the same on every connection), and the
        #: SQL the server would not prepare (sent as text from then on).
        self._statement_names: dict[str, str] = {}
        self._unpreparable: set[str] = set()
        #: A statement named an index the log no longer has: the site's index facts are read
        #: again at the next request (Moodle.site), not only when its cache expires.
        self.index_facts_stale = False

    async def server_statement(self, conn: Any, cursor: Any, sql: str) -> str | None:
        """The name of ``sql`` prepared on MariaDB connection ``conn`` (PREPARE at its first use
        there), or None where statements go as text: MySQL (its EXECUTE takes only @variables),
        or a statement the server refused to prepare."""
        if sql in self._unpreparable:
            return None
        state: dict[str, Any] | None = getattr(conn, "_definum_statements", None)
        if state is None:
            state = {"mariadb": is_mariadb(conn.get_server_info()), "names": set()}
            conn._definum_statements = state
        if not state["mariadb"]:
            return None
        name = self._statement_names.setdefault(sql, f"definum_{len(self._statement_names)}")
        if name not in state["names"]:
            text = _MARK.sub(lambda m: "%" if m[1] == "%" else "?", sql)
            try:
                await cursor.execute(f"PREPARE {name} FROM {_literal(conn, text)}")
            except Exception as exc:
                if is_connection_error(exc) or names_a_missing_index(exc):
                    raise
                log.warning(
                    "MariaDB would not prepare a statement (%s): sent as text", first_line(exc)
                )
                self._unpreparable.add(sql)
                return None
            state["names"].add(name)
        return name

    def _on_cursor_execute(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        self.notify(statement)

    def notify(self, sql: str) -> None:
        for listener in (*self.listeners, *GLOBAL_LISTENERS):
            listener(sql)

    def reader(self) -> Reader:
        return Reader(self)

    def unhinted(self, sql: str, exc: BaseException) -> str | None:
        """``sql`` without its index hints when ``exc`` is the server refusing one for an index
        dropped since the site was read (the statement is then sent again without them, and
        the index facts are read again at the next request); otherwise None."""
        if not names_a_missing_index(exc):
            return None
        plain = without_index_hints(sql)
        if plain == sql:
            return None
        self.index_facts_stale = True
        log.info("an index hint named a missing index, sent without hints: %s", first_line(exc))
        return plain

    def take_spares(self, wanted: int) -> int:
        """How many of ``wanted`` connections beside the requests' own the pool can spare now
        (within ``spare_limit``; none through SQLAlchemy's pools), counted until given back."""
        taken = max(0, min(wanted, self.spare_limit - self.spares_in_use))
        self.spares_in_use += taken
        return taken

    def give_back_spares(self, taken: int) -> None:
        self.spares_in_use -= taken

    async def dispose(self) -> None:
        if self.pool is not None:
            await self.pool.close()
        await self.engine.dispose()


class Reader:
    """One request's use of the database: one pooled connection, taken at the first statement.

    A connection found dead at a request's first statement is replaced once and the statement
    sent again (reads are safe to repeat); this replaces a ping on every checkout.
    """

    def __init__(self, database: Database, parent: Reader | None = None) -> None:
        self.database = database
        #: The request's own reader, for a reader beside it (side_by_side): once that one is
        #: closed (the request has answered), this one takes no new statement either.
        self._parent = parent
        self.statements = 0
        self._conn: AsyncConnection | None = None
        self._driver: Any = None
        self._used = False
        #: A statement was cancelled mid-flight: the connection is not fit for another one.
        self._stale = False
        #: Statements on the wire now, and whether the request has ended.
        self._in_flight = 0
        self._closed = False

    async def __aenter__(self) -> Reader:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """The request has ended: its connection goes back to the pool, and no statement may
        take another. A driver connection with a statement still on the wire (a task the
        request left behind) would go back to the pool with it, so it is closed instead.
        (SQLAlchemy's own connections, SQLite's, are returned as they are: invalidating an
        aiosqlite connection mid-statement never finishes.)"""
        self._closed = True
        in_flight = self._in_flight > 0 and self.database.raw
        await self._give_back(broken=self._stale or in_flight)

    async def _give_back(self, broken: bool) -> None:
        self._stale = False
        conn, self._conn = self._conn, None
        driver, self._driver = self._driver, None
        try:
            if driver is not None and self.database.pool is not None:
                await self.database.pool.release(driver, broken)
            if conn is not None:
                await (conn.invalidate() if broken else conn.close())
        except Exception as exc:  # a broken connection is dropped by the pool
            log.debug("returning a connection failed: %s", first_line(exc))

    @asynccontextmanager
    async def side_by_side(self, wanted: int) -> AsyncIterator[list[Reader]]:
        """This reader and up to ``wanted`` more, each on a connection of its own, for
        statements sent at the same time (a batch cut in parts: PostgreSQL runs each on a core).

        Only connections the pool can spare are taken (none through SQLAlchemy: SQLite), so
        the list may hold this reader alone; the others are closed when the block ends.
        """
        others = self.spares(wanted)
        try:
            yield [self, *others]
        finally:
            for other in others:
                await self.give_back(other)

    def spares(self, wanted: int) -> list[Reader]:
        """Up to ``wanted`` readers beside this one on connections the pool spares (none through
        SQLAlchemy: SQLite); each is handed back with :meth:`give_back`."""
        return [
            Reader(self.database, parent=self) for _ in range(self.database.take_spares(wanted))
        ]

    async def give_back(self, other: Reader) -> None:
        """Close a reader :meth:`spares` made, and count its statements as this one's."""
        self.database.give_back_spares(1)
        self.statements += other.statements
        await other.close()

    async def connection(self) -> AsyncConnection:
        """The SQLAlchemy connection (SQLite and drivers without a pool of their own)."""
        if self._conn is None:
            self._refuse_if_closed()
            try:
                conn = await self.database.engine.connect()
            except Exception as exc:
                raise DatabaseUnavailable(first_line(exc)) from exc
            if self._closed:  # the request ended while the connection was on its way
                await conn.close()
                self._refuse_if_closed()
            self._conn = conn
        return self._conn

    async def driver(self) -> Any:
        """The driver connection, taken from the driver's pool at the first statement."""
        # Also for a reader beside a request that has answered: its batch stops at its next
        # statement instead of keeping a spare connection busy for nobody.
        self._refuse_if_closed()
        if self._stale:
            await self._give_back(broken=True)
            self._used = False  # a fresh checkout: its first statement may retry once
        if self._driver is None:
            assert self.database.pool is not None
            self._refuse_if_closed()
            try:
                driver = await self.database.pool.acquire()
            except Exception as exc:
                raise DatabaseUnavailable(first_line(exc)) from exc
            if self._closed:  # the request ended while the connection was on its way
                await self.database.pool.release(driver)
                self._refuse_if_closed()
            self._driver = driver
        return self._driver

    def _refuse_if_closed(self) -> None:
        # Without this, a batch left running took a connection after close() and kept it for
        # good: the pool never emptied and the worker's shutdown waited forever.
        if self._closed or (self._parent is not None and self._parent._closed):
            raise ReaderClosed("the request has ended")

    async def _discard(self) -> None:
        await self._give_back(broken=True)

    def _notify(self, sql: str) -> None:
        # Statements sent through SQLAlchemy meet the same guard and listeners in its events.
        self.statements += 1
        if self.database.raw:
            refuse_writes(sql)
            self.database.notify(sql)

    async def rows(
        self, prepared: Prepared, ids: Iterable[int] | None = None, **params: Any
    ) -> list[Row]:
        """All rows of ``prepared``; an id list longer than ``CHUNK`` is sent in chunks."""
        if not prepared.listed:
            return await self._run(prepared, 0, params)
        wanted = list(dict.fromkeys(ids or ()))
        found: list[Row] = []
        for start in range(0, len(wanted), CHUNK):
            batch = wanted[start : start + CHUNK]
            found.extend(await self._run(prepared, len(batch), {**params, **id_params(batch)}))
        return found

    @property
    def streams(self) -> bool:
        """Whether :meth:`batches` hands rows over as they arrive (MariaDB/MySQL's driver)."""
        return self.database.backend == "mysql" and self.database.raw

    async def batches(
        self,
        prepared: Prepared,
        size: int = 20_000,
        ids: Sequence[int] | None = None,
        **params: Any,
    ) -> AsyncGenerator[list[Row], None]:
        """The rows of ``prepared`` in batches of at most ``size``, as they arrive (a listed
        statement: for ``ids``, at most ``CHUNK`` of them).

        On MariaDB an unbuffered cursor: the caller works on one batch while the server sends
        the next (every learner's month: the server's 3-4 s and our fold's 1.5 s overlap). A
        stream left unfinished leaves rows on the wire, so the connection is not reused.
        Elsewhere one batch holds every row (asyncpg streams only inside a transaction).
        """
        n = 0
        if prepared.listed:
            if not ids or len(ids) > CHUNK:
                raise ValueError(f"a listed statement streams 1 to {CHUNK} ids")
            n = len(ids)
            params = {**params, **id_params(ids)}
        if not self.streams:
            yield await self._run(prepared, n, params)
            return
        from asyncmy.cursors import SSCursor

        compiled = prepared.compiled(self.database.dialect, bucket(n) if n else 0)
        args = tuple(params[k] if k in params else compiled.defaults[k] for k in compiled.order)
        started = time.perf_counter()
        finished = False
        self._in_flight += 1
        try:
            sql = compiled.sql
            for attempt in (0, 1, 2):
                try:
                    driver = await self.driver()
                    self._notify(sql)
                    cursor = driver.cursor(SSCursor)
                    await cursor.execute(sql, args)
                    break
                except Exception as exc:
                    sql = await self._again(sql, exc, attempt)
            self._used = True
            while True:
                try:
                    batch = list(await cursor.fetchmany(size))
                except Exception as exc:
                    await self._failed(exc, retry=False)
                    raise AssertionError("unreachable") from exc
                if not batch:
                    break
                yield batch
            finished = True
            await cursor.close()
        finally:
            self._in_flight -= 1
            if not finished:
                self._stale = True
            count_statement(time.perf_counter() - started)

    async def _failed(self, exc: Exception, retry: bool) -> None:
        """Map a failed statement to what the doors answer and raise it; or, when a dead
        connection was dropped and the statement may be sent again (``retry``: it was the
        first on a fresh connection), return."""
        if isinstance(exc, (ReadOnlyViolation, ReaderClosed)):
            raise exc
        if is_timeout(exc):
            raise QueryTimeout(first_line(exc)) from exc
        if not is_connection_error(exc):
            raise DatabaseReadError(first_line(exc)) from exc
        await self._discard()
        if not retry:
            raise DatabaseUnavailable(first_line(exc)) from exc
        log.info("dead database connection replaced: %s", first_line(exc))

    async def _run(self, prepared: Prepared, n: int, params: Mapping[str, Any]) -> list[Row]:
        compiled = prepared.compiled(self.database.dialect, bucket(n) if n else 0)
        defaults = compiled.defaults
        args = [params[k] if k in params else defaults[k] for k in compiled.order]
        return await self._run_compiled(
            compiled, args, prepared.custom_plan, reusable=not prepared.text
        )

    async def _run_compiled(
        self, compiled: _Compiled, args: list[Any], custom_plan: bool, reusable: bool = False
    ) -> list[Row]:
        sql = compiled.sql
        for attempt in (0, 1, 2):
            try:
                return await self._send(sql, args, custom_plan, reusable)
            except Exception as exc:
                sql = await self._again(sql, exc, attempt)
        raise AssertionError("unreachable")

    async def _again(self, sql: str, exc: Exception, attempt: int) -> str:
        """What to send after ``sql`` failed with ``exc`` on ``attempt`` (0, 1, 2), or raise
        what the doors answer: ``sql`` without its index hints when one named an index dropped
        since the site read; ``sql`` itself when a fresh connection's first statement found it
        dead and it was replaced (:meth:`_failed`)."""
        plain = self.database.unhinted(sql, exc) if attempt < 2 else None
        if plain is not None:
            return plain
        await self._failed(exc, retry=attempt == 0 and not self._used)
        return sql

    async def _send(
        self, sql: str, args: list[Any], custom_plan: bool = False, reusable: bool = False
    ) -> list[Row]:
        started = time.perf_counter()
        self._in_flight += 1
        try:
            return await self._send_timed(sql, args, custom_plan, reusable)
        finally:
            self._in_flight -= 1
            count_statement(time.perf_counter() - started)

    async def _send_timed(
        self, sql: str, args: list[Any], custom_plan: bool, reusable: bool
    ) -> list[Row]:
        rows: list[Row]
        if not self.database.raw:
            conn = await self.connection()
            self._notify(sql)
            rows = list((await conn.exec_driver_sql(sql, tuple(args))).all())
            self._used = True
            return rows
        driver = await self.driver()
        self._notify(sql)
        try:
            rows = await self._on_driver(driver, sql, args, custom_plan, reusable)
        except asyncio.CancelledError:
            # Cancelled mid-statement (the executor cancels a failed field's siblings, or the
            # client went away): asyncmy has closed the connection and asyncpg's may still owe
            # an answer, so the request's next statement takes a fresh one.
            self._stale = True
            raise
        self._used = True
        return rows

    async def _on_driver(
        self, driver: Any, sql: str, args: list[Any], custom_plan: bool, reusable: bool
    ) -> list[Row]:
        rows: list[Row]
        if self.database.backend == "postgresql":
            if custom_plan:
                # The unnamed statement is planned for these values (never a generic plan).
                unnamed = await driver.prepare(sql, name="")
                rows = await unnamed.fetch(*args)
            else:
                rows = await driver.fetch(sql, *args)
        else:
            async with driver.cursor() as cursor:
                name = (
                    await self.database.server_statement(driver, cursor, sql) if reusable else None
                )
                if name is None:
                    await cursor.execute(sql, tuple(args))
                else:
                    # MariaDB parses a prepared statement once per connection (the document
                    # statement: 0.67 -> ~0.5 ms of server time a call); the values go as
                    # literals, escaped by the driver exactly as its own %s interpolation does.
                    values = ", ".join(_literal(driver, a) for a in args)
                    await cursor.execute(
                        f"EXECUTE {name} USING {values}" if args else f"EXECUTE {name}"
                    )
                rows = list(await cursor.fetchall())
        return rows

    async def execute(self, statement: Executable) -> list[Row]:
        """A statement built for this call (lists, filters); errors mapped as for rows().

        On the servers it is compiled here and sent on the driver with a plan for its values;
        SQLite runs it through SQLAlchemy.
        """
        if self.database.raw:
            assert isinstance(statement, ClauseElement)
            compiled = cast(
                SQLCompiler,
                statement.compile(
                    dialect=self.database.dialect, compile_kwargs={"render_postcompile": True}
                ),
            )
            values = compiled.construct_params() or {}
            order = tuple(compiled.positiontup or ())
            args = [values[k] for k in order]
            prepared = _Compiled(compiled.string, order, values)
            return await self._run_compiled(prepared, args, custom_plan=True)
        for attempt in (0, 1):
            first = not self._used
            conn = await self.connection()
            started = time.perf_counter()
            self._in_flight += 1
            try:
                result = await conn.execute(statement)
                rows: list[Row] = list(result.all()) if result.returns_rows else []
            except Exception as exc:
                await self._failed(exc, retry=attempt == 0 and first)
                continue
            finally:
                self._in_flight -= 1
                count_statement(time.perf_counter() - started)
            self.statements += 1
            self._used = True
            return rows
        raise AssertionError("unreachable")
