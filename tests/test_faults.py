"""Database faults under a running service (issue 11), on throwaway PostgreSQL and MariaDB servers
the test owns (tests/throwaway.py): restarted under load, sessions killed, a table locked; and
SIGTERM with a request in flight.

A real ``definum-gql serve --workers 2`` answers a steady mix of REST and GraphQL calls while the
fault happens. Every answer must be the full answer, or the door's own words for the fault:
REST ``dbconnectionfailed`` (503) or ``dmlreadexception`` (a statement cancelled by
DEFINUM_STATEMENT_TIMEOUT_MS), GraphQL ``DATABASE_UNAVAILABLE`` (503) or ``QUERY_TIMEOUT`` (504);
never a 500, never a hang (each request has a deadline), and the service answers again by itself
once the database is back, with the same workers. The time figures are reliability/faults.py's
(RELIABILITY.md); tests only bound them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from definum_gql.demo import build_demo_site
from tests.builders import NOW
from tests.served import RawAnswer, Served
from tests.throwaway import (
    MariaServer,
    Primary,
    get,
    mariadb_server,
    poll,
    post_json,
    postgres_primary,
    request,
    rest_target,
    serve_process,
)

LEARNER = 5
STATEMENT_TIMEOUT_MS = 1000
QUERY = """query Stats($value: String!) {
  user(by: ID, value: $value) { id lastname definumStats { courses loginsInMonth } }
}"""
UNREACHABLE = {
    "exception": "dml_connection_exception",
    "errorcode": "dbconnectionfailed",
    "message": "Database connection failed",
}
READ_ERROR = {
    "exception": "dml_read_exception",
    "errorcode": "dmlreadexception",
    "message": "Error reading from database",
}
#: Every cache off: each request reads the database, so each one meets the fault.
NO_CACHES = {
    "DEFINUM_TOKEN_CACHE_SECONDS": "0",
    "DEFINUM_SITE_CACHE_SECONDS": "0",
    "DEFINUM_MONTH_CACHE_ENTRIES": "0",
    "DEFINUM_CURRENT_MONTH_CACHE_SECONDS": "0",
}


@dataclass
class Database:
    """A throwaway server holding a demo site, with the faults a test can cause."""

    backend: str
    server: Primary | MariaServer
    token: str

    @property
    def url(self) -> str:
        return self.server.url()

    async def stop(self) -> None:
        await self.server.stop("fast")

    async def start(self) -> None:
        await self.server.start()

    async def kill_sessions(self) -> int:
        """Ends every session definum-gql has open (as an administrator or a failover would)."""
        if isinstance(self.server, Primary):
            killed = await self.server.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE application_name = 'definum-gql'",
                database="postgres",
            )
            return int(killed)
        rows = await self.server.fetchall(
            "SELECT id FROM information_schema.processlist"
            " WHERE db = 'moodle' AND id <> CONNECTION_ID() AND command <> 'Daemon'"
        )
        for (session,) in rows:
            with contextlib.suppress(Exception):  # gone meanwhile
                await self.server.execute(f"KILL {int(session)}")
        return len(rows)

    async def waiting_on_lock(self) -> int:
        """How many of definum-gql's statements wait for a table lock."""
        if isinstance(self.server, Primary):
            value = await self.server.fetchval(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE application_name = 'definum-gql' AND wait_event_type = 'Lock'",
                database="postgres",
            )
        else:
            value = await self.server.fetchval(
                "SELECT count(*) FROM information_schema.processlist"
                " WHERE state LIKE '%metadata lock%' AND info LIKE 'SELECT%'"
            )
        return int(value)

    @contextlib.asynccontextmanager
    async def user_table_locked(self) -> AsyncIterator[None]:
        """mdl_user locked against reads (a migration, a dump) until the block ends."""
        server = self.server
        if isinstance(server, Primary):
            import asyncpg

            conn = await asyncpg.connect(
                host="127.0.0.1", port=server.port, user="postgres", database="moodle"
            )
            try:
                async with conn.transaction():
                    await conn.execute("LOCK TABLE mdl_user IN ACCESS EXCLUSIVE MODE")
                    yield
            finally:
                await conn.close()
        else:
            conn = await server._connect("moodle")
            try:
                async with conn.cursor() as cursor:
                    await cursor.execute("LOCK TABLES mdl_user WRITE")
                    try:
                        yield
                    finally:
                        await cursor.execute("UNLOCK TABLES")
            finally:
                conn.close()


@pytest.fixture(scope="module", params=["postgresql", "mariadb"])
async def database(request: pytest.FixtureRequest) -> AsyncIterator[Database]:
    server_cm: Any = postgres_primary() if request.param == "postgresql" else mariadb_server()
    async with server_cm as server:
        await server.create_database()
        demo = await build_demo_site(server.url(), users=12, courses=6, months=2, now=NOW)
        yield Database(request.param, server, demo.tokens["valid"])


def _env(db: Database, **more: str) -> dict[str, str]:
    return {
        "DEFINUM_DATABASE_URL": db.url,
        "DEFINUM_NOW": str(NOW),
        "DEFINUM_STATEMENT_TIMEOUT_MS": str(STATEMENT_TIMEOUT_MS),
        "DEFINUM_POOL_SIZE": "2",
        **NO_CACHES,
        **more,
    }


def workers(served: Served) -> set[int]:
    """The serve process's children (uvicorn's workers)."""
    pid = served.process.pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return {int(child) for child in children}


@dataclass
class Outcome:
    started: float
    door: str
    kind: str  # ok, unavailable, timeout, or bad
    status: int
    body: bytes
    finished: float


@dataclass
class Load:
    """Clients calling both doors in a loop, each answer sorted by what it says."""

    port: int
    token: str
    expected: dict[str, bytes] = field(default_factory=dict)
    outcomes: list[Outcome] = field(default_factory=list)
    _stop: bool = False

    def rest(self) -> bytes:
        return get(rest_target(self.token, LEARNER))

    def graphql(self) -> bytes:
        body = {"query": QUERY, "variables": {"value": str(LEARNER)}}
        return post_json("/graphql", body, {"Authorization": f"Bearer {self.token}"})

    async def baseline(self) -> None:
        for door, raw in (("rest", self.rest()), ("graphql", self.graphql())):
            answer = await request(self.port, raw)
            assert answer.status == 200, answer
            self.expected[door] = answer.body
        assert json.loads(self.expected["rest"])["id"] == LEARNER

    def kind(self, door: str, answer: RawAnswer) -> str:
        if answer.status == 200 and answer.body == self.expected[door]:
            return "ok"
        try:
            body = json.loads(answer.body)
        except ValueError:
            return "bad"
        if door == "rest":
            if answer.status == 503 and body == UNREACHABLE:
                return "unavailable"
            if answer.status == 200 and body == READ_ERROR:
                return "timeout"
            return "bad"
        codes = [error["extensions"]["code"] for error in body.get("errors", [])]
        if answer.status == 503 and codes == ["DATABASE_UNAVAILABLE"]:
            return "unavailable"
        # 504 when the token check timed out, 200 (a null field and its error) when a field's
        # statement did.
        if answer.status in (200, 504) and codes == ["QUERY_TIMEOUT"]:
            return "timeout"
        return "bad"

    async def _client(self, door: str) -> None:
        raw = self.rest() if door == "rest" else self.graphql()
        while not self._stop:
            started = time.monotonic()
            answer = await request(self.port, raw)  # fails the test past its deadline
            self.outcomes.append(
                Outcome(
                    started,
                    door,
                    self.kind(door, answer),
                    answer.status,
                    answer.body,
                    time.monotonic(),
                )
            )

    @contextlib.asynccontextmanager
    async def running(self, clients: int = 6) -> AsyncIterator[Load]:
        doors = ["rest", "graphql"] * (clients // 2)
        tasks = [asyncio.create_task(self._client(door)) for door in doors]
        try:
            yield self
        finally:
            self._stop = True
            await asyncio.gather(*tasks)

    def since(self, moment: float) -> list[Outcome]:
        """The answers to requests sent at ``moment`` or later."""
        return [o for o in self.outcomes if moment <= o.started]

    def within(self, start: float, end: float) -> list[Outcome]:
        """The requests sent and answered between ``start`` and ``end``."""
        return [o for o in self.outcomes if start <= o.started and o.finished <= end]

    async def wait_for(self, count: int, moment: float, kinds: set[str], what: str) -> None:
        async def enough() -> bool:
            return sum(o.kind in kinds for o in self.since(moment)) >= count

        await poll(enough, what)

    def bad(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.kind == "bad"]


@pytest.fixture(scope="module")
async def service(database: Database) -> AsyncIterator[tuple[Served, Load, set[int]]]:
    async with serve_process(_env(database), ["--workers", "2"]) as served:
        load = Load(served.port, database.token)
        await load.baseline()
        before = workers(served)
        yield served, load, before
        # No worker died (uvicorn would have replaced it with a new process).
        assert workers(served) == before
        await _stopped(served)
    assert b"Traceback" not in served.log, served.log.decode(errors="replace")[-5000:]


#: Seconds a stopping serve may take (uvicorn's graceful period is 25 s).
STOP_DEADLINE = 30.0


async def _stopped(served: Served) -> None:
    """SIGTERM; the process must exit within the graceful period. (After killed sessions a
    worker used to wait forever for a connection a left-behind DataLoader batch had taken
    after its request ended: moodle/reader.py now refuses that.)"""
    children = workers(served)
    served.process.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(served.process.wait(), STOP_DEADLINE)
    except TimeoutError:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        await served.process.wait()
        pytest.fail(f"serve still running {STOP_DEADLINE:g} s after SIGTERM")


async def test_a_database_restarted_under_load(
    database: Database, service: tuple[Served, Load, set[int]]
) -> None:
    served, template, _ = service
    load = Load(served.port, database.token, template.expected)
    async with load.running():
        await load.wait_for(10, 0, {"ok"}, "answers before the outage")
        await database.stop()
        down = time.monotonic()
        await load.wait_for(10, down, {"unavailable"}, "answers during the outage")
        starting = time.monotonic()
        await database.start()
        await load.wait_for(10, time.monotonic(), {"ok"}, "full answers once it is back")
    assert load.bad() == []
    during = load.within(down, starting)
    assert {o.kind for o in during} == {"unavailable"}
    assert {o.door for o in during} == {"rest", "graphql"}


async def test_killed_sessions_are_replaced(
    database: Database, service: tuple[Served, Load, set[int]]
) -> None:
    served, template, _ = service
    load = Load(served.port, database.token, template.expected)
    async with load.running():
        await load.wait_for(10, 0, {"ok"}, "answers before the sessions are killed")
        assert await database.kill_sessions() > 0
        killed = time.monotonic()
        await load.wait_for(20, killed, {"ok"}, "full answers after the sessions were killed")
    assert load.bad() == []
    # A request whose session died under it may say so (503); none waits, none is a 500.
    assert {o.kind for o in load.since(killed)} <= {"ok", "unavailable"}


async def test_a_locked_table_ends_in_the_statement_timeout(
    database: Database, service: tuple[Served, Load, set[int]]
) -> None:
    served, template, _ = service
    load = Load(served.port, database.token, template.expected)
    async with load.running():
        await load.wait_for(10, 0, {"ok"}, "answers before the lock")
        async with database.user_table_locked():
            locked = time.monotonic()
            await load.wait_for(10, locked, {"timeout"}, "answers while mdl_user is locked")
            releasing = time.monotonic()
        await load.wait_for(10, time.monotonic(), {"ok"}, "full answers once the lock is gone")
    during = load.within(locked, releasing)
    assert load.bad() == []
    # Every request reads mdl_user (its token's owner): none is answered in full meanwhile.
    assert {o.kind for o in during} <= {"timeout", "unavailable"}
    assert {o.door for o in during if o.kind == "timeout"} == {"rest", "graphql"}


async def test_sigterm_lets_a_request_in_flight_finish(database: Database) -> None:
    """The request waits on a lock when SIGTERM comes; once the lock goes it is answered in
    full, and the process exits cleanly."""
    env = _env(database, DEFINUM_STATEMENT_TIMEOUT_MS="60000")
    async with serve_process(env) as served:
        load = Load(served.port, database.token)
        await load.baseline()
        async with database.user_table_locked():
            flight = asyncio.ensure_future(request(served.port, load.rest()))
            await poll(database.waiting_on_lock, "the request to wait on the lock")
            served.process.send_signal(signal.SIGTERM)

            async def refusing() -> bool:
                try:
                    _, writer = await asyncio.open_connection("127.0.0.1", served.port)
                except OSError:
                    return True
                writer.close()
                return False

            await poll(refusing, "the server to stop taking connections")
            assert not flight.done()
        answer = await flight
        code = await asyncio.wait_for(served.process.wait(), 60)
    assert answer.status == 200
    assert answer.body == load.expected["rest"]
    # uvicorn ends by raising the signal it caught again (systemd counts that as a clean stop).
    assert code in (0, -signal.SIGTERM)
    assert b"Traceback" not in served.log
