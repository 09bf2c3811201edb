"""The data layer: read-only by construction, site configuration, on every database."""

from __future__ import annotations

import asyncio
from contextlib import aclosing
from typing import Any

import pytest
from sqlalchemy import insert, text

from definum_gql.moodle.engine import ReadOnlyViolation
from definum_gql.moodle.queries import (
    BATCH_LEARNERS,
    index_hint,
    lookup_indexes,
    statements,
    userid_only_indexes,
)
from definum_gql.moodle.reader import (
    DatabaseReadError,
    DatabaseUnavailable,
    Reader,
    ReaderClosed,
    without_index_hints,
)
from definum_gql.moodle.site import Moodle
from definum_gql.moodle.tables import moodle_tables
from definum_gql.stats.timespent import window_trails
from tests import databases
from tests.builders import BASE_CONFIG, Site
from tests.databases import MakeMoodle


async def test_reader_refuses_to_send_a_write(site: Site, moodle: Moodle) -> None:
    async with moodle.request() as ctx:
        with pytest.raises(ReadOnlyViolation):
            await ctx.reader.execute(insert(moodle.tables.config).values(name="x", value="y"))
        # The statements sent straight to the driver pass the same guard.
        with pytest.raises(ReadOnlyViolation):
            await ctx.reader._send("DELETE FROM mdl_config", [])
    async with moodle.engine.connect() as conn:
        with pytest.raises(ReadOnlyViolation):
            await conn.execute(insert(moodle.tables.config).values(name="x", value="y"))
    assert await site.count(site.t.config) == len(BASE_CONFIG)


async def test_database_session_itself_is_read_only(site: Site, moodle: Moodle) -> None:
    """Even a statement that bypasses our guard (sent on the raw driver connection) is refused."""
    before = await site.count(site.t.config)
    async with moodle.engine.connect() as conn:
        raw = await conn.get_raw_connection()
        driver = raw.driver_connection
        backend = moodle.engine.dialect.name
        statement = "INSERT INTO mdl_config (name, value) VALUES ('sneaky', 'x')"
        with pytest.raises(Exception) as caught:
            await _raw_execute(driver, backend, statement)
        assert "read" in str(caught.value).lower() or "only" in str(caught.value).lower()
        await conn.rollback()
    if moodle.db.raw:
        # The driver's own pool (the request path) opens its sessions read-only too.
        async with moodle.request() as ctx:
            driver = await ctx.reader.driver()
            with pytest.raises(Exception) as caught:
                await _raw_execute(driver, moodle.engine.dialect.name, statement)
            assert "read" in str(caught.value).lower() or "only" in str(caught.value).lower()
    assert await site.count(site.t.config) == before


async def test_site_config_reads_config_and_plugin_rows(site: Site, moodle: Moodle) -> None:
    await site.config(timezone="America/New_York", forcetimezone="Asia/Tokyo", lang="fr")
    await site.plugin_config("block_use_stats", threshold="30")
    config = await moodle.site()
    assert config.get("lang") == "fr"
    assert config.plugin("block_use_stats", "threshold") == "30"
    assert config.site_admins == frozenset({2})
    # forcetimezone wins over timezone when it is not 99.
    assert moodle.timezone(config).key == "Asia/Tokyo"
    assert moodle.lang(config) == "fr"
    assert config.has_oidc is True


async def test_timezone_99_means_the_configured_server_zone(site: Site, moodle: Moodle) -> None:
    await site.config(timezone="99", forcetimezone="99")
    config = await moodle.site()
    assert moodle.timezone(config).key == "UTC"
    assert moodle.timezone(config, override="Europe/Paris").key == "Europe/Paris"


async def test_a_connection_killed_while_pooled_is_replaced_at_the_first_statement(
    moodle: Moodle, site: Site, database: databases.TestDatabase
) -> None:
    """No ping on checkout: the first statement of a request retries once on a new connection."""
    if database.backend == "sqlite":
        pytest.skip("SQLite has no server connection to lose")
    async with moodle.request() as ctx:
        pid_query = (
            "SELECT pg_backend_pid()"
            if database.backend == "postgresql"
            else ("SELECT CONNECTION_ID()")
        )
        pid = (await ctx.reader.execute(text(pid_query)))[0][0]
    kill = (
        f"SELECT pg_terminate_backend({pid})"
        if database.backend == "postgresql"
        else (f"KILL {pid}")
    )
    async with site.db.writer.connect() as admin:
        await admin.execute(text(kill))
    async with moodle.request() as ctx:  # the pooled connection is the dead one
        rows = await ctx.reader.rows(ctx.statements.config)
        again = (await ctx.reader.execute(text(pid_query)))[0][0]
    assert {name for name, _ in rows} >= set(BASE_CONFIG)
    assert again != pid


async def _raw_execute(driver: object, backend: str, statement: str) -> None:
    if backend == "mysql":
        async with driver.cursor() as cursor:  # type: ignore[attr-defined]
            await cursor.execute(statement)
    else:
        await driver.execute(statement)  # type: ignore[attr-defined]


async def test_a_connection_lost_after_the_first_statement_is_unavailable(
    moodle: Moodle, site: Site, database: databases.TestDatabase
) -> None:
    """Once a request has read something, a lost connection is not retried: it is an outage."""
    if database.backend == "sqlite":
        pytest.skip("SQLite has no server connection to lose")
    pid_query = (
        "SELECT pg_backend_pid()" if database.backend == "postgresql" else "SELECT CONNECTION_ID()"
    )
    kill = "SELECT pg_terminate_backend({})" if database.backend == "postgresql" else "KILL {}"
    async with moodle.request() as ctx:
        pid = (await ctx.reader.execute(text(pid_query)))[0][0]
        async with site.db.writer.connect() as admin:
            await admin.execute(text(kill.format(pid)))
        with pytest.raises(DatabaseUnavailable):
            await ctx.reader.rows(ctx.statements.config)


async def test_a_statement_cancelled_mid_flight_leaves_the_request_a_working_connection(
    moodle: Moodle, site: Site, database: databases.TestDatabase
) -> None:
    """The executor cancels a failed field's siblings while they read: the request's next
    statement is still answered (asyncmy closes a connection whose read was cancelled)."""
    if database.backend == "sqlite":
        pytest.skip("SQLite's statements run in a thread: nothing is cut mid-protocol")
    slow = "SELECT pg_sleep(2)" if database.backend == "postgresql" else "SELECT SLEEP(2)"
    sent = asyncio.Event()

    def on_statement(sql: str) -> None:
        if "sleep" in sql.lower():
            sent.set()

    async with moodle.request() as ctx:
        await ctx.reader.rows(ctx.statements.config)  # not the request's first statement
        moodle.db.listeners.append(on_statement)
        try:
            reading = asyncio.create_task(ctx.reader.execute(text(slow)))
            await sent.wait()  # the statement is on the wire: the task waits for its answer
            reading.cancel()
            with pytest.raises(asyncio.CancelledError):
                await reading
        finally:
            moodle.db.listeners.remove(on_statement)
        rows = await ctx.reader.rows(ctx.statements.config)
    assert {name for name, _ in rows} >= set(BASE_CONFIG)


async def _pool_empties(moodle: Moodle) -> None:
    """Closing the driver pool waits for every connection to come back (what a worker's
    shutdown does); a connection kept by a finished request makes it wait forever."""
    if moodle.db.pool is not None:
        await asyncio.wait_for(moodle.db.pool.close(), 10)


async def test_a_statement_asked_after_the_request_ended_takes_no_connection(
    moodle: Moodle, site: Site
) -> None:
    """A DataLoader batch still running when an error ended the request's execution asks for a
    statement after the request closed its reader: it is refused, and no connection is taken
    (one was, for good, and the worker's shutdown then never finished)."""
    async with moodle.request() as ctx:
        await ctx.reader.rows(ctx.statements.config)
    with pytest.raises(ReaderClosed):
        await ctx.reader.rows(ctx.statements.config)
    await _pool_empties(moodle)


async def test_a_statement_on_the_wire_when_the_request_ends_does_not_go_back_to_the_pool(
    moodle: Moodle, site: Site, database: databases.TestDatabase
) -> None:
    """The request ends while a task it left behind waits for a statement's answer: that
    connection is closed rather than handed to the next request mid-statement."""
    if database.backend == "sqlite":
        pytest.skip("SQLite has no server connection to hand over")
    pg = database.backend == "postgresql"
    slow = "SELECT pg_sleep(1)" if pg else "SELECT SLEEP(1)"
    pid_query = "SELECT pg_backend_pid()" if pg else "SELECT CONNECTION_ID()"
    sent = asyncio.Event()

    def on_statement(sql: str) -> None:
        if "sleep" in sql.lower():
            sent.set()

    moodle.db.listeners.append(on_statement)
    try:
        async with moodle.request() as ctx:
            pid = (await ctx.reader.execute(text(pid_query)))[0][0]
            left_behind = asyncio.create_task(ctx.reader.execute(text(slow)))
            await sent.wait()
    finally:
        moodle.db.listeners.remove(on_statement)
    # The task's answer never comes: its connection was closed under it.
    with pytest.raises((DatabaseUnavailable, ReaderClosed)):
        await asyncio.wait_for(left_behind, 10)
    async with moodle.request() as ctx:
        again = (await ctx.reader.execute(text(pid_query)))[0][0]
    assert again != pid
    await _pool_empties(moodle)


async def test_a_stream_left_unfinished_leaves_no_rows_to_the_next_statement(
    site: Site, moodle: Moodle
) -> None:
    """Reader.batches: on MariaDB the rows come batch by batch on an unbuffered cursor; a caller
    that stops early leaves the rest on the wire, so the next statement takes a fresh connection
    (elsewhere the one batch holds every row)."""
    users = sorted([await site.user() for _ in range(3)])
    for n, user in enumerate(users):
        await site.log(user, 1_000_000 + n)
    span = {"first": users[0], "last": users[-1], "low": 1_000_000, "high": 1_000_003}
    async with moodle.request() as ctx:
        whole = await ctx.reader.rows(ctx.statements.log_span, None, **span)
        assert [r[0] for r in whole] == users  # in time order
        stream = ctx.reader.batches(ctx.statements.log_span, 1, None, **span)
        async with aclosing(stream):
            first = await anext(stream)
            streaming = ctx.reader._driver
        mariadb = moodle.db.backend == "mysql"
        assert [r[0] for r in first] == (users[:1] if mariadb else users)
        assert [list(r) for r in await ctx.reader.rows(ctx.statements.log_span, None, **span)] == [
            list(r) for r in whole
        ]
        # Not drained (a month is millions of rows): that connection is dropped.
        assert (ctx.reader._driver is not streaming) == mariadb
        streamed = [b async for b in ctx.reader.batches(ctx.statements.log_span, 2, None, **span)]
    assert [list(r) for b in streamed for r in b] == [list(r) for r in whole]


def moodle_log_indexes() -> dict[str, list[str]]:
    """The log's indexes as Moodle installs them (tables.py follows lib/db/install.xml)."""
    log = moodle_tables("mdl_").logstore_standard_log
    return {str(index.name): [c.name for c in index.columns] for index in log.indexes}


def test_only_a_userid_index_beside_a_wider_one_is_kept_from_mariadb() -> None:
    moodle_indexes = moodle_log_indexes()
    assert userid_only_indexes(moodle_indexes) == ("mdl_logsstanlog_use_ix",)
    # The recommended index alone is wide enough; names need not be Moodle's.
    assert userid_only_indexes({"u": ["USERID"], "r": ["userid", "timecreated", "id"]}) == ("u",)
    # Without an index holding userid and timecreated, the userid index is the best there is.
    assert userid_only_indexes({"u": ["userid"], "t": ["timecreated"]}) == ()
    assert userid_only_indexes({"u": ["userid"], "c": ["userid", "courseid"]}) == ()
    assert userid_only_indexes({}) == ()


async def test_mariadb_reads_a_learners_month_past_moodles_userid_index(
    site: Site, moodle: Moodle
) -> None:
    """On MariaDB the first site read lists the log's indexes, and the log statements from
    then on keep MariaDB off the userid-only one; the answers are the same."""
    user = await site.user()
    await site.login(user, 1_000_000)
    span = {"low": 1_000_000, "high": 1_000_001}
    async with moodle.request() as ctx:
        rows = await ctx.reader.rows(ctx.statements.log_rows, [user], **span)
    sent: list[str] = []
    moodle.db.listeners.append(sent.append)
    try:
        async with moodle.request() as ctx:
            assert await ctx.reader.rows(ctx.statements.log_rows, [user], **span) == rows
    finally:
        moodle.db.listeners.remove(sent.append)
    [log_statement] = [s for s in sent if "logstore_standard_log.timecreated" in s]
    hinted = "IGNORE INDEX (`mdl_logsstanlog_use_ix`)" in log_statement
    assert hinted == (moodle.db.backend == "mysql")
    assert [r[0] for r in rows] == [user]


def test_a_batch_on_mariadb_is_kept_from_indexes_that_send_it_to_the_table() -> None:
    # The recommended index, its last column in capitals as a server may list it.
    covering = "userid timecreated id action target courseid origin REALUSERID"
    indexes = moodle_log_indexes() | {"covering": covering.split(" ")}
    assert lookup_indexes(indexes) == (
        "mdl_logsstanlog_use_ix",
        "mdl_logsstanlog_useconconcr_ix",
    )
    assert lookup_indexes({"t": ["timecreated"]}) == ()


async def test_batch_statements_kept_from_the_lookup_indexes_answer_the_same(
    site: Site, moodle: Moodle
) -> None:
    """The statements MariaDB sends for 100 learners or more when the log outgrows its buffer
    pool (forced here: the test log is small) give the rows the plain ones give."""
    users = sorted([await site.user() for _ in range(3)])
    for n, user in enumerate(users):
        await site.login(user, 1_000_000 + n)
        await site.log(user, 1_000_100 + n)
    asked = users + list(range(900_000, 900_000 + BATCH_LEARNERS))
    span = {"low": 1_000_000, "high": 1_000_200}
    async with moodle.request() as ctx:
        plain = await ctx.reader.rows(ctx.statements.log_rows, asked, **span)
        kept = statements(
            "mdl_",
            ctx.statements.ignored_log_indexes,
            ("mdl_logsstanlog_use_ix", "mdl_logsstanlog_useconconcr_ix"),
        )
        sent: list[str] = []
        moodle.db.listeners.append(sent.append)
        try:
            hinted = await ctx.reader.rows(kept.log_rows, asked, **span)
        finally:
            moodle.db.listeners.remove(sent.append)
    assert [r[0] for r in plain] == [u for u in users for _ in range(2)]
    assert [list(r) for r in hinted] == [list(r) for r in plain]
    assert ("IGNORE INDEX" in sent[0]) == (moodle.db.backend == "mysql")


async def test_indexes_hidden_from_mariadb_are_never_named_and_names_are_quoted(
    site: Site, moodle: Moodle
) -> None:
    """An index made IGNORED (MariaDB 10.6+) is still listed by information_schema, and naming
    it in IGNORE INDEX is an error: it is left out. A name that needs quoting is quoted."""
    if moodle.db.backend != "mysql":
        pytest.skip("index hints are MariaDB's")
    user = await site.user()
    await site.login(user, 1_000_000)
    span = {"low": 1_000_000, "high": 1_000_001}
    log = "mdl_logstore_standard_log"
    # The test database's tables outlive the test: the indexes are put back below.
    async with site.db.writer.begin() as conn:
        await conn.execute(text(f"CREATE INDEX `log-user` ON {log} (userid)"))
        await conn.execute(text(f"ALTER TABLE {log} ALTER INDEX mdl_logsstanlog_use_ix IGNORED"))
    try:
        async with moodle.request() as ctx:
            assert ctx.statements.ignored_log_indexes == ("log-user",)
            rows = await ctx.reader.rows(ctx.statements.log_rows, [user], **span)
            assert [r[0] for r in rows] == [user]
    finally:
        async with site.db.writer.begin() as conn:
            await conn.execute(text(f"DROP INDEX `log-user` ON {log}"))
            await conn.execute(
                text(f"ALTER TABLE {log} ALTER INDEX mdl_logsstanlog_use_ix NOT IGNORED")
            )


def test_index_hints_are_left_out_whatever_their_names() -> None:
    hinted = f"SELECT a FROM t {index_hint(['x', 'odd`, name'])} WHERE b = %s"
    assert without_index_hints(hinted) == "SELECT a FROM t WHERE b = %s"
    assert without_index_hints("SELECT a FROM t") == "SELECT a FROM t"


async def test_an_index_dropped_after_the_site_read_is_no_longer_named(
    site: Site, moodle_with: MakeMoodle
) -> None:
    """A hint naming an index dropped since the site read is an error on MariaDB: the
    statement goes again without its hints, and the next request reads the indexes again
    instead of naming the missing one until the site cache expires."""
    moodle = moodle_with(site_cache_seconds=3600)
    if moodle.db.backend != "mysql":
        pytest.skip("index hints are MariaDB's")
    user = await site.user()
    await site.login(user, 1_000_000)
    await site.log(user, 1_000_000 + 60)
    span = {"low": 1_000_000, "high": 1_000_100}
    log = "mdl_logstore_standard_log"

    async def read() -> tuple[list[list[Any]], list[list[Any]]]:
        """The learner's rows, read at once and streamed as a batch reads them."""
        async with moodle.request() as ctx:
            assert "log-user" in ctx.statements.ignored_log_indexes
            found = await ctx.reader.rows(ctx.statements.log_rows, [user], **span)
            batches = ctx.reader.batches(ctx.statements.log_rows, ids=[user], **span)
            streamed = [list(row) async for batch in batches for row in batch]
        return [list(row) for row in found], streamed

    async with site.db.writer.begin() as conn:
        await conn.execute(text(f"CREATE INDEX `log-user` ON {log} (userid)"))
    dropped = False
    try:
        before, streamed = await read()
        assert [r[0] for r in before] == [user, user]
        assert streamed == before
        async with site.db.writer.begin() as conn:
            await conn.execute(text(f"DROP INDEX `log-user` ON {log}"))
        dropped = True
        sent: list[str] = []
        moodle.db.listeners.append(sent.append)
        try:
            # Within site_cache_seconds: the statements still name the dropped index.
            assert await read() == (before, before)
            async with moodle.request() as ctx:
                assert "log-user" not in ctx.statements.ignored_log_indexes
        finally:
            moodle.db.listeners.remove(sent.append)
        logs = [s for s in sent if "logstore_standard_log.timecreated" in s]
        # Each of the two statements: once as built, once without the hint.
        assert [("IGNORE INDEX" in s) for s in logs] == [True, False, True, False]
    finally:
        if not dropped:
            async with site.db.writer.begin() as conn:
                await conn.execute(text(f"DROP INDEX `log-user` ON {log}"))


async def test_a_failed_part_is_raised_once_every_part_has_ended(
    site: Site, moodle: Moodle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """window_trails: when the part on a spare connection fails, the part on the request's own
    connection is waited for, so that the request's next statement has the connection."""
    if moodle.db.backend == "sqlite":
        pytest.skip("SQLite has no spare connections: the parts take turns")
    users = [await site.user() for _ in range(2)]
    november = (1793487600, 1796079600)  # 2026-11 in Paris, the test site's zone
    for user in users:
        await site.log(user, 1795129200 + 9 * 3600)
    own_started, spare_failed, release = asyncio.Event(), asyncio.Event(), asyncio.Event()
    # A part is sent by rows() (PostgreSQL: its compiled shape) or execute() (MariaDB).
    send, send_rows = Reader.execute, Reader.rows

    async def gate(reader: Reader) -> None:
        if reader is not own:
            spare_failed.set()
            raise DatabaseReadError("the spare part failed")
        own_started.set()
        await release.wait()

    async def execute(reader: Reader, statement: Any) -> list[Any]:
        await gate(reader)
        return await send(reader, statement)

    async def rows(reader: Reader, prepared: Any, ids: Any = None, **params: Any) -> list[Any]:
        await gate(reader)
        return await send_rows(reader, prepared, ids, **params)

    async with moodle.request() as ctx:
        own = ctx.reader
        monkeypatch.setattr(Reader, "execute", execute)
        monkeypatch.setattr(Reader, "rows", rows)
        task = asyncio.create_task(window_trails(ctx, users, [november], parts=2))
        await own_started.wait()
        await spare_failed.wait()
        assert not task.done()
        release.set()
        with pytest.raises(DatabaseReadError, match="spare part failed"):
            await task
        assert own._in_flight == 0
        monkeypatch.setattr(Reader, "execute", send)
        monkeypatch.setattr(Reader, "rows", send_rows)
        answer = await window_trails(ctx, users, [november], parts=1)
    assert set(answer) == set(users)
