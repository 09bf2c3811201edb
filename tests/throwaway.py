"""Throwaway servers for tests of a deployment, never the machine's shared ones.

* :func:`postgres_primary`: a PostgreSQL primary in its own temporary directory (``initdb``, a
  free port on 127.0.0.1, its unix socket in that directory, ``wal_level=replica``, trust for
  127.0.0.1), with :meth:`Primary.replica` for streaming replicas (``pg_basebackup -R``, another
  free port). Every server can be stopped under a running service and started again. Servers run
  as the ``postgres`` OS user when we are root (PostgreSQL refuses root).
* :func:`running_nginx`: nginx with a generated configuration in a temporary directory (pid,
  error log and temporary paths inside it, ``daemon off``), e.g. :func:`balancer` in front of
  several backends.
* :func:`mariadb_server`: a MariaDB server in its own temporary directory
  (``mariadb-install-db``, ``mariadbd`` on a free port of 127.0.0.1, root without a password),
  run as the ``mysql`` OS user when we are root; it too can be stopped and started again.
* :func:`serve_process`: ``definum-gql serve`` (tests/served.py) with its output read as it comes,
  so that a chatty process never blocks on a full pipe and its log can be read while it runs.

A missing binary skips the test with the reason, or fails it under
``DEFINUM_TEST_REQUIRE_SERVERS=1``. Everything is stopped and removed when the block ends, even on
failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pwd
import shutil
import signal
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn, TypeVar
from urllib.parse import urlencode

import asyncpg
import pytest

from tests.databases import REQUIRE_SERVERS
from tests.served import RawAnswer, Served, free_port, raw_request, serving

PG_BIN = Path(os.environ.get("DEFINUM_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
NGINX = os.environ.get("DEFINUM_TEST_NGINX", "/usr/sbin/nginx")
#: How long any server may take to start, stop or catch up before the test fails.
DEADLINE = 60.0
#: The database the helpers create and read by default.
DATABASE = "moodle"

T = TypeVar("T")


def missing(what: str) -> NoReturn:
    """Skip for a missing binary or server; fail instead under DEFINUM_TEST_REQUIRE_SERVERS=1."""
    if REQUIRE_SERVERS:
        pytest.fail(f"{what} (DEFINUM_TEST_REQUIRE_SERVERS=1)")
    pytest.skip(what)


async def poll(
    check: Callable[[], Awaitable[T | None]], what: str, deadline: float = DEADLINE
) -> T:
    """``check()`` again and again until it returns something other than None (or False); fails
    with ``what`` when ``deadline`` seconds have passed."""
    give_up = time.monotonic() + deadline
    while True:
        value = await check()
        if value is not None and value is not False:
            return value
        if time.monotonic() > give_up:
            raise AssertionError(f"still waiting after {deadline:g} s: {what}")
        await asyncio.sleep(0.05)


async def run(argv: Sequence[str], *, limit: float = DEADLINE) -> str:
    """Run a command; its stdout, or an AssertionError with everything it wrote."""
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), limit)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError(f"{argv[0]} did not finish within {limit:g} s") from None
    if process.returncode != 0:
        raise AssertionError(
            f"{' '.join(argv)} exited with {process.returncode}:\n"
            f"{out.decode(errors='replace')}{err.decode(errors='replace')}"
        )
    return out.decode(errors="replace")


# --- PostgreSQL ---


def _is_root() -> bool:
    return os.geteuid() == 0


def _as_postgres(argv: Sequence[str]) -> list[str]:
    """PostgreSQL's server programs refuse to run as root: run them as ``postgres`` then."""
    return ["runuser", "-u", "postgres", "--", *argv] if _is_root() else list(argv)


def _pg_tool(name: str, *args: str) -> list[str]:
    return _as_postgres([str(PG_BIN / name), *args])


def _postgres_binaries() -> None:
    for name in ("initdb", "pg_ctl", "pg_basebackup", "postgres"):
        if not (PG_BIN / name).is_file():
            missing(f"PostgreSQL's {name} is not installed in {PG_BIN} (DEFINUM_TEST_PG_BIN)")
    if shutil.which("psql") is None:
        missing("the psql client is not installed")
    if _is_root():
        if shutil.which("runuser") is None:
            missing("runuser is not installed (needed to run PostgreSQL as postgres)")
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            missing("there is no postgres OS user to run PostgreSQL as")


def _directory_for_postgres(prefix: str) -> Path:
    """A new temporary directory that the ``postgres`` user owns (and may write into)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    if _is_root():
        owner = pwd.getpwnam("postgres")
        os.chown(path, owner.pw_uid, owner.pw_gid)
    return path


@dataclass
class PgServer:
    """One throwaway PostgreSQL server: ``root`` holds its data, its socket and its log."""

    name: str
    root: Path
    port: int
    running: bool = False

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def logfile(self) -> Path:
        return self.root / "server.log"

    def url(self, database: str = DATABASE) -> str:
        """The SQLAlchemy URL definum-gql is given (``postgresql+asyncpg``)."""
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    async def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
        log = str(self.logfile)
        await run(_pg_tool("pg_ctl", "-D", str(self.data), "-l", log, "-o", options, "-w", "start"))
        self.running = True

    async def stop(self, mode: str = "fast") -> None:
        """Stop the server (``fast``: open sessions are cut, as in an outage)."""
        await run(_pg_tool("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop"))
        self.running = False

    async def _connect(self, database: str) -> Any:
        return await asyncpg.connect(
            host="127.0.0.1", port=self.port, user="postgres", database=database, timeout=10
        )

    async def fetchval(self, sql: str, *args: Any, database: str = DATABASE) -> Any:
        """One value of one statement, on a connection of its own (not definum-gql's)."""
        conn = await self._connect(database)
        try:
            return await conn.fetchval(sql, *args)
        finally:
            await conn.close()

    async def execute(self, sql: str, *args: Any, database: str = DATABASE) -> None:
        conn = await self._connect(database)
        try:
            await conn.execute(sql, *args)
        finally:
            await conn.close()

    async def psql_file(self, path: Path, database: str = DATABASE) -> None:
        """Run an SQL file with psql, as an administrator restores a dump (meta-commands too)."""
        server = f"-h 127.0.0.1 -p {self.port} -U postgres -d {database}".split()
        await run(
            ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", *server, "-f", str(path)], limit=300
        )

    async def pause_replay(self) -> None:
        """A replica stops applying the WAL it receives (until :meth:`resume_replay`)."""
        await self.execute("SELECT pg_wal_replay_pause()", database="postgres")

        async def paused() -> bool:
            state = await self.fetchval(
                "SELECT pg_get_wal_replay_pause_state()", database="postgres"
            )
            return bool(state == "paused")

        await poll(paused, f"{self.name}: WAL replay to pause")

    async def resume_replay(self) -> None:
        await self.execute("SELECT pg_wal_replay_resume()", database="postgres")


@dataclass
class Primary(PgServer):
    """The primary: databases, dumps, and streaming replicas of it."""

    replicas: list[PgServer] = field(default_factory=list)

    async def create_database(self, name: str = DATABASE) -> None:
        await self.execute(
            f"CREATE DATABASE {name} ENCODING 'UTF8' TEMPLATE template0", database="postgres"
        )

    async def load_scenario(self, shared_dir: Path, database: str = DATABASE) -> None:
        """The shared Moodle scenario site: the schema dump, then the scenario's rows."""
        await self.create_database(database)
        for part in ("schema", "scenario"):
            await self.psql_file(shared_dir / "moodle" / f"postgres-{part}.sql", database)

    async def current_lsn(self) -> str:
        return str(await self.fetchval("SELECT pg_current_wal_lsn()::text", database="postgres"))

    async def replica(self, name: str) -> PgServer:
        """A streaming replica of this primary, on a free port, started (hot standby: it
        answers reads) and caught up with everything committed so far."""
        root = _directory_for_postgres(f"definum-{name}-")
        replica = PgServer(name, root, free_port())
        self.replicas.append(replica)
        source = f"-h 127.0.0.1 -p {self.port} -U postgres".split()
        options = ["-R", "-X", "stream", "--checkpoint=fast", "--no-sync"]
        await run(_pg_tool("pg_basebackup", *source, "-D", str(replica.data), *options))
        await replica.start()
        await self.wait_for(replica)
        return replica

    async def wait_for(self, replica: PgServer) -> None:
        """Until ``replica`` has replayed everything this primary has written so far."""
        target = await self.current_lsn()

        async def replayed() -> bool:
            done: bool = await replica.fetchval(
                "SELECT pg_last_wal_replay_lsn() >= $1::text::pg_lsn", target, database="postgres"
            )
            return done

        await poll(replayed, f"{replica.name} to replay the primary's WAL up to {target}")


PRIMARY_SETTINGS = """
# definum-gql tests: a throwaway primary
wal_level = replica
max_wal_senders = 10
hot_standby = on
# Nothing here outlives the test: durability only costs time.
fsync = off
full_page_writes = off
"""


@contextlib.asynccontextmanager
async def postgres_primary() -> AsyncIterator[Primary]:
    """A fresh primary on a free port; it and its replicas are stopped and removed at the end."""
    _postgres_binaries()
    root = _directory_for_postgres("definum-primary-")
    primary = Primary("primary", root, free_port())
    try:
        options = ["-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"]
        await run(_pg_tool("initdb", "-D", str(primary.data), *options))
        # initdb's pg_hba.conf trusts local and 127.0.0.1 (replication included) with --auth.
        with (primary.data / "postgresql.conf").open("a") as conf:
            conf.write(PRIMARY_SETTINGS)
        await primary.start()
        yield primary
    finally:
        for server in [*primary.replicas, primary]:
            if server.running or (server.data / "postmaster.pid").exists():
                with contextlib.suppress(AssertionError):
                    await server.stop("immediate")
        for server in [*primary.replicas, primary]:
            shutil.rmtree(server.root, ignore_errors=True)


# --- MariaDB ---

MARIADBD = os.environ.get("DEFINUM_TEST_MARIADBD", "/usr/sbin/mariadbd")
MARIADB_INSTALL_DB = os.environ.get("DEFINUM_TEST_MARIADB_INSTALL_DB", "mariadb-install-db")


def _as_mysql(argv: Sequence[str]) -> list[str]:
    return ["runuser", "-u", "mysql", "--", *argv] if _is_root() else list(argv)


def _mariadb_binaries() -> str:
    if not Path(MARIADBD).is_file():
        missing(f"mariadbd is not installed at {MARIADBD} (DEFINUM_TEST_MARIADBD)")
    install = shutil.which(MARIADB_INSTALL_DB)
    if install is None:
        missing(f"{MARIADB_INSTALL_DB} is not installed (DEFINUM_TEST_MARIADB_INSTALL_DB)")
    if _is_root():
        if shutil.which("runuser") is None:
            missing("runuser is not installed (needed to run MariaDB as mysql)")
        try:
            pwd.getpwnam("mysql")
        except KeyError:
            missing("there is no mysql OS user to run MariaDB as")
    return install


def _directory_for_mysql(prefix: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    if _is_root():
        owner = pwd.getpwnam("mysql")
        os.chown(path, owner.pw_uid, owner.pw_gid)
    return path


@dataclass
class MariaServer:
    """One throwaway MariaDB server: ``root`` holds its data, socket, pid file and error log."""

    name: str
    root: Path
    port: int
    process: asyncio.subprocess.Process | None = None

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def logfile(self) -> Path:
        return self.root / "error.log"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    def url(self, database: str = DATABASE, user: str = "root", password: str = "") -> str:
        """The SQLAlchemy URL definum-gql is given (``mysql+asyncmy``)."""
        secret = f":{password}" if password else ""
        return f"mysql+asyncmy://{user}{secret}@127.0.0.1:{self.port}/{database}?charset=utf8mb4"

    def log(self) -> str:
        return self.logfile.read_text(errors="replace") if self.logfile.exists() else ""

    async def start(self) -> None:
        argv = [
            MARIADBD,
            "--no-defaults",
            f"--datadir={self.data}",
            f"--port={self.port}",
            "--bind-address=127.0.0.1",
            f"--socket={self.root / 'mysqld.sock'}",
            f"--pid-file={self.root / 'mysqld.pid'}",
            f"--log-error={self.logfile}",
            "--skip-name-resolve",
            "--innodb-buffer-pool-size=32M",
            "--innodb-flush-log-at-trx-commit=0",
            "--max-connections=500",
            "--character-set-server=utf8mb4",
            "--collation-server=utf8mb4_unicode_ci",
        ]
        self.process = await asyncio.create_subprocess_exec(
            *_as_mysql(argv),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )

        async def answers() -> bool:
            if self.process is not None and self.process.returncode is not None:
                raise AssertionError(f"{self.name}: mariadbd exited at start:\n{self.log()}")
            try:
                await self.fetchval("SELECT 1", database="mysql")
            except Exception:
                return False
            return True

        await poll(answers, f"{self.name}: MariaDB to accept connections on {self.port}")

    async def stop(self, mode: str = "fast") -> None:
        """Stop the server: ``fast`` (SIGTERM: sessions cut, a clean shutdown) or
        ``immediate`` (SIGKILL, a crash)."""
        process = self.process
        if process is None or process.returncode is not None:
            return
        # runuser passes SIGTERM on to mariadbd; SIGKILL would leave mariadbd behind it.
        pid = int((self.root / "mysqld.pid").read_text().strip())
        os.kill(pid, signal.SIGKILL if mode == "immediate" else signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), DEADLINE)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise AssertionError(
                f"{self.name}: mariadbd did not stop within {DEADLINE:g} s"
            ) from None
        self.process = None

    async def _connect(self, database: str) -> Any:
        import asyncmy

        return await asyncmy.connect(
            host="127.0.0.1",
            port=self.port,
            user="root",
            password="",
            database=database,
            autocommit=True,
            connect_timeout=10,
        )

    async def fetchall(self, sql: str, *args: Any, database: str = DATABASE) -> list[Any]:
        """All rows of one statement, on a connection of its own (not definum-gql's)."""
        conn = await self._connect(database)
        try:
            async with conn.cursor() as cursor:
                await cursor.execute(sql, args or None)
                return list(await cursor.fetchall())
        finally:
            conn.close()

    async def fetchval(self, sql: str, *args: Any, database: str = DATABASE) -> Any:
        rows = await self.fetchall(sql, *args, database=database)
        return rows[0][0] if rows else None

    async def execute(self, sql: str, *args: Any, database: str = DATABASE) -> None:
        await self.fetchall(sql, *args, database=database)

    async def create_database(self, name: str = DATABASE) -> None:
        await self.execute(
            f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
            database="mysql",
        )


@contextlib.asynccontextmanager
async def mariadb_server(name: str = "mariadb") -> AsyncIterator[MariaServer]:
    """A fresh MariaDB server on a free port; stopped and removed at the end."""
    install = _mariadb_binaries()
    root = _directory_for_mysql(f"definum-{name}-")
    server = MariaServer(name, root, free_port())
    try:
        options = ["--auth-root-authentication-method=normal", "--skip-test-db"]
        await run(
            _as_mysql([install, "--no-defaults", f"--datadir={server.data}", *options]),
            limit=120,
        )
        await server.start()
        yield server
    finally:
        with contextlib.suppress(Exception):
            await server.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


# --- definum-gql serve ---


async def _drain(served: Served) -> None:
    stream = served.process.stdout
    assert stream is not None
    while line := await stream.readline():
        served.log += line


@contextlib.asynccontextmanager
async def serve_process(env: Mapping[str, str], args: Sequence[str] = ()) -> AsyncIterator[Served]:
    """``definum-gql serve`` (tests/served.py's :func:`serving`), its output read as it comes
    into ``served.log``."""
    async with serving(dict(env), args) as served:
        drain = asyncio.create_task(_drain(served))
        try:
            yield served
        finally:
            # Cancelled between lines, readline leaves any partial line for serving()'s read.
            drain.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await drain


# --- HTTP ---


def get(target: str, headers: Mapping[str, str] | None = None) -> bytes:
    lines = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
    return f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n{lines}Connection: close\r\n\r\n".encode()


def post_json(target: str, payload: Any, headers: Mapping[str, str] | None = None) -> bytes:
    body = json.dumps(payload).encode()
    lines = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
    return (
        f"POST {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n{lines}"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode() + body


def rest_target(token: str, userid: int | str, field: str = "id", fmt: str = "json") -> str:
    """A definum_get_stats call (GET) for the user whose ``field`` is ``userid``."""
    query = {
        "wstoken": token,
        "wsfunction": "definum_get_stats",
        "useridfield": field,
        "userid": str(userid),
        "moodlewsrestformat": fmt,
    }
    return "/webservice/rest/server.php?" + urlencode(query)


async def request(port: int, raw: bytes) -> RawAnswer:
    return await asyncio.wait_for(raw_request(port, raw), DEADLINE)


# --- nginx ---


@dataclass
class Nginx:
    port: int
    prefix: Path
    process: asyncio.subprocess.Process

    @property
    def error_log(self) -> str:
        path = self.prefix / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""


def _nginx_binary() -> str:
    if not Path(NGINX).is_file():
        missing(f"nginx is not installed at {NGINX} (DEFINUM_TEST_NGINX)")
    return NGINX


def nginx_conf(prefix: Path, http: str) -> str:
    """A whole nginx.conf around ``http`` (the inside of the http block), everything nginx
    writes kept in ``prefix``."""
    temp = "".join(
        f"    {kind}_temp_path {prefix / kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return (
        "daemon off;\nmaster_process on;\nworker_processes 1;\n"
        f"pid {prefix / 'nginx.pid'};\nerror_log {prefix / 'error.log'} info;\n"
        "events { worker_connections 256; }\n"
        "http {\n"
        f"{temp}"
        f"    access_log {prefix / 'access.log'};\n"
        f"{http}\n"
        "}\n"
    )


def _nginx_prefix() -> Path:
    prefix = Path(tempfile.mkdtemp(prefix="definum-nginx-"))
    # Workers run as an unprivileged user when we are root: they must reach their temp paths.
    prefix.chmod(0o755)
    return prefix


async def nginx_check(http: str, files: Mapping[str, str] | None = None) -> str:
    """``nginx -t`` on a configuration around ``http`` (``files``: more files next to it, by
    name); everything nginx said, or an AssertionError saying why it refused."""
    binary = _nginx_binary()
    prefix = _nginx_prefix()
    try:
        for name, text in (files or {}).items():
            (prefix / name).write_text(text.replace("{prefix}", str(prefix)))
        conf = prefix / "nginx.conf"
        conf.write_text(nginx_conf(prefix, http.replace("{prefix}", str(prefix))))
        process = await asyncio.create_subprocess_exec(
            *[binary, "-t", "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")],
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await asyncio.wait_for(process.communicate(), DEADLINE)
        said = out.decode(errors="replace")
        assert process.returncode == 0, f"nginx -t refused the configuration:\n{said}"
        return said
    finally:
        shutil.rmtree(prefix, ignore_errors=True)


async def _accepts(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    return True


@contextlib.asynccontextmanager
async def running_nginx(
    http: str, port: int, files: Mapping[str, str] | None = None
) -> AsyncIterator[Nginx]:
    """nginx serving ``http`` (which listens on ``port``) until the block ends; ``files`` go
    next to its nginx.conf (``{prefix}`` in ``http`` and in them is that directory)."""
    binary = _nginx_binary()
    prefix = _nginx_prefix()
    for name, text in (files or {}).items():
        (prefix / name).write_text(text.replace("{prefix}", str(prefix)))
    conf = prefix / "nginx.conf"
    conf.write_text(nginx_conf(prefix, http.replace("{prefix}", str(prefix))))
    process = await asyncio.create_subprocess_exec(
        *[binary, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")],
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    nginx = Nginx(port, prefix, process)
    try:

        async def listening() -> bool:
            if process.returncode is not None:
                raise AssertionError(f"nginx exited at start:\n{nginx.error_log}")
            return await _accepts(port)

        await poll(listening, f"nginx to listen on {port}")
        yield nginx
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGQUIT)  # graceful: lets workers finish
            try:
                await asyncio.wait_for(process.wait(), 20)
            except TimeoutError:
                process.kill()
                await process.wait()
        shutil.rmtree(prefix, ignore_errors=True)


def balancer(
    port: int, backends: Sequence[int], *, max_fails: int = 1, fail_timeout: int = 60
) -> str:
    """An http block's inside: one server on ``port`` spreading requests over ``backends``.

    As deploy/nginx-definum.conf: the next backend is tried on a connection error, a timeout or
    a 502/503 (database unavailable), even for POST (definum-gql never writes); a backend that
    failed ``max_fails`` times is left alone for ``fail_timeout`` seconds (passive health).
    ``X-Upstream`` tells the client which backends (``a, b`` after a retry) were asked.
    """
    servers = "".join(
        f"        server 127.0.0.1:{backend} max_fails={max_fails} fail_timeout={fail_timeout}s;\n"
        for backend in backends
    )
    return (
        "    upstream definum {\n"
        f"{servers}"
        "        keepalive 8;\n"
        "        keepalive_timeout 4s;\n"
        "    }\n"
        "    server {\n"
        f"        listen 127.0.0.1:{port};\n"
        "        location / {\n"
        "            proxy_pass http://definum;\n"
        "            proxy_http_version 1.1;\n"
        '            proxy_set_header Connection "";\n'
        "            proxy_set_header Host $host;\n"
        "            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
        "            proxy_set_header X-Forwarded-Proto $scheme;\n"
        "            proxy_next_upstream error timeout http_502 http_503 non_idempotent;\n"
        "            proxy_next_upstream_tries 3;\n"
        "            proxy_connect_timeout 2s;\n"
        "            add_header X-Upstream $upstream_addr always;\n"
        "        }\n"
        "    }\n"
    )


def upstreams(answer: RawAnswer) -> list[int]:
    """The backend ports nginx asked for ``answer``, in order (from ``X-Upstream``)."""
    return [int(addr.rsplit(":", 1)[1]) for addr in answer.headers["x-upstream"].split(", ")]
