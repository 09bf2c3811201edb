"""Helpers shared by the HTTP benchmarks (bench_rest.py, bench_graphql.py).

Servers run in their own process group (killed as a group at the end), logs go to a temporary
file (shown when a server fails to start), load comes from wrk with ``--latency``, and results
are printed as Markdown rows for BENCHMARKS.md. Imports nothing from definum_gql, so the
benchmarks' plumbing keeps working while the package changes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_URL = "mysql+asyncmy://root@127.0.0.1:3306/definum_scenario"
HOST = "127.0.0.1"


def venv_bin(name: str) -> str:
    """An executable beside the running interpreter (the venv's ``bin``), not resolved."""
    return str(Path(sys.executable).parent / name)


# --- command line ------------------------------------------------------------------------------


def add_common_args(parser: argparse.ArgumentParser, *, connections: int, workers: int) -> None:
    """The options every HTTP benchmark takes."""
    parser.add_argument(
        "--url", default=DEFAULT_URL, help="database URL (DEFINUM_DATABASE_URL) [%(default)s]"
    )
    parser.add_argument(
        "--token",
        help="web service token (default: the unrestricted, unexpired tokentype 0 token with "
        "the lowest id, a site admin's first)",
    )
    parser.add_argument(
        "--env",
        action="extend",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for the servers, e.g. DEFINUM_NOW=1795628523",
    )
    parser.add_argument("--prefix", default="mdl_", help="Moodle table prefix [%(default)s]")
    parser.add_argument(
        "--workers", type=int, default=workers, help="uvicorn workers [%(default)s]"
    )
    parser.add_argument(
        "--connections", type=int, default=connections, help="wrk connections [%(default)s]"
    )
    parser.add_argument("--threads", type=int, default=2, help="wrk threads [%(default)s]")
    parser.add_argument(
        "--duration", type=int, default=20, help="seconds per wrk run [%(default)s]"
    )
    parser.add_argument(
        "--warmup", type=int, default=5, help="seconds of wrk warm-up per server [%(default)s]"
    )
    parser.add_argument("--runs", type=int, default=3, help="runs per contender [%(default)s]")
    parser.add_argument(
        "--port", type=int, default=0, help="port of our server (0: a free one) [%(default)s]"
    )
    parser.add_argument(
        "--ceiling-port", type=int, default=0, help="port of the ceiling (0: a free one)"
    )
    parser.add_argument(
        "--ceiling-log-level",
        default="info",
        help="the ceiling's uvicorn --log-level; 'info' keeps uvicorn's access log on, as "
        "definum-gql serve does [%(default)s]",
    )


def env_pairs(pairs: Sequence[str]) -> dict[str, str]:
    """``["K=V", ...]`` as a dict; a pair without ``=`` stops the benchmark."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"--env expects KEY=VALUE, got {pair!r}")
        out[key] = value
    return out


def redact(url: str) -> str:
    """The database URL without its password."""
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)


# --- database look-ups -------------------------------------------------------------------------


def lookup_token(url: str, prefix: str) -> str:
    """The lowest-id unrestricted, unexpired permanent token (tokentype 0), a site admin's first:
    GraphQL lookups by username need moodle/site:viewuseridentity, which admins always have."""

    async def run() -> str | None:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                admins = (
                    await conn.execute(
                        text(f"SELECT value FROM {prefix}config WHERE name = 'siteadmins'")
                    )
                ).scalar_one_or_none()
                ids = [int(i) for i in str(admins or "").split(",") if i.strip().isdigit()]
                first = ", ".join(str(i) for i in ids) or "0"
                token = (
                    await conn.execute(
                        text(
                            f"SELECT token FROM {prefix}external_tokens WHERE tokentype = 0"
                            " AND (validuntil IS NULL OR validuntil = 0)"
                            " AND (iprestriction IS NULL OR iprestriction = '')"
                            f" ORDER BY CASE WHEN userid IN ({first}) THEN 0 ELSE 1 END, id"
                            " LIMIT 1"
                        )
                    )
                ).scalar_one_or_none()
        finally:
            await engine.dispose()
        return None if token is None else str(token)

    token = asyncio.run(run())
    if token is None:
        raise SystemExit("no unrestricted permanent token in the database; pass --token")
    return token


def lookup_user_ids(url: str, prefix: str) -> list[int]:
    """Ids of every non-deleted user except guest and admin (id > 2), ascending."""

    async def run() -> list[int]:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                rows = await conn.execute(
                    text(f"SELECT id FROM {prefix}user WHERE deleted = 0 AND id > 2 ORDER BY id")
                )
                return [int(row[0]) for row in rows]
        finally:
            await engine.dispose()

    ids = asyncio.run(run())
    if not ids:
        raise SystemExit("no users with id > 2 in the database")
    return ids


def database_version(url: str) -> str:
    """``SELECT version()`` (PostgreSQL, MariaDB, MySQL); '?' when it fails."""

    async def run() -> str:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                return str((await conn.execute(text("SELECT version()"))).scalar_one())
        finally:
            await engine.dispose()

    try:
        return asyncio.run(run()).split(",")[0]
    except Exception as exc:
        return f"? ({type(exc).__name__})"


# --- machine ---------------------------------------------------------------------------------


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def utc_now() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())


def git_revision() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"
    return f"{head}{' + uncommitted changes' if dirty else ''}"


def machine_info(url: str) -> list[str]:
    """Markdown bullet lines: nproc, CPU, memory, load, date, database, code revision."""
    memory = "?"
    with contextlib.suppress(OSError, ValueError, IndexError):
        kib = int(Path("/proc/meminfo").read_text().split("\n")[0].split()[1])
        memory = f"{kib / 1024 / 1024:.1f} GiB"
    return [
        f"- date: {utc_now()}",
        f"- nproc: {len(os.sched_getaffinity(0))}; CPU: {cpu_model()}; RAM: {memory}",
        f"- load average (1, 5, 15 min): {load_average()}",
        f"- kernel: {platform.system()} {platform.release()}; Python {platform.python_version()}",
        f"- database: {redact(url)} ({database_version(url)})",
        f"- definum-gql revision: {git_revision()}",
    ]


def print_machine_info(url: str, title: str) -> None:
    print(f"## {title}\n")
    for line in machine_info(url):
        print(line)
    print(flush=True)


# --- servers ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """A server process group with its log file."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: IO[bytes]

    def log_tail(self, lines: int = 30) -> str:
        self.log.flush()
        with open(self.log.name, "rb") as handle:
            return "\n".join(handle.read().decode("utf-8", "replace").splitlines()[-lines:])

    def log_text(self) -> str:
        self.log.flush()
        with open(self.log.name, "rb") as handle:
            return handle.read().decode("utf-8", "replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        # Workers left behind by a supervisor that died first.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.log.close()
        with contextlib.suppress(OSError):
            os.unlink(self.log.name)


def start_server(
    name: str, argv: list[str], env: dict[str, str], port: int, ready_path: str
) -> Server:
    """Start ``argv`` in a new session and wait until ``GET ready_path`` answers 200."""
    # Closed (and removed) by Server.stop: the server writes to it for the whole benchmark.
    log = tempfile.NamedTemporaryFile(  # noqa: SIM115
        prefix=f"bench-{name}-", suffix=".log", delete=False
    )
    process = subprocess.Popen(
        argv,
        env=env,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    server = Server(name, process, port, log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = server.log_tail()
            server.stop()
            raise ServerFailed(f"{name} exited with code {process.returncode}:\n{tail}")
        if "Traceback (most recent call last)" in server.log_text():
            # uvicorn's supervisor restarts crashing workers forever: give up at once.
            time.sleep(0.5)
            tail = server.log_tail()
            server.stop()
            raise ServerFailed(f"{name} failed while starting:\n{tail}")
        try:
            with urllib.request.urlopen(f"http://{HOST}:{port}{ready_path}", timeout=2) as r:
                if r.status == 200:
                    return server
        except (OSError, urllib.error.HTTPError):
            pass
        time.sleep(0.2)
    tail = server.log_tail()
    server.stop()
    raise ServerFailed(f"{name} did not answer {ready_path} within 60 s:\n{tail}")


class ServerFailed(RuntimeError):
    """A server did not start."""


def server_env(url: str, extra: dict[str, str]) -> dict[str, str]:
    env = {**os.environ, "DEFINUM_DATABASE_URL": url, "CEILING_DATABASE_URL": url, **extra}
    # The ceilings are imported from bench/, next to the package.
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return env


def ours_argv(port: int, workers: int) -> list[str]:
    return [
        venv_bin("definum-gql"),
        "serve",
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]


def uvicorn_argv(app: str, port: int, workers: int, log_level: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        log_level,
    ]


@contextlib.contextmanager
def running(servers: list[Server]) -> Iterator[list[Server]]:
    """Stop every server on the way out, whatever happened (SIGTERM included)."""

    def terminate(signum: int, frame: object) -> None:
        raise SystemExit(f"stopped by signal {signum}")

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield servers
    finally:
        for server in servers:
            server.stop()
        signal.signal(signal.SIGTERM, previous)


def access_logged(server: Server) -> bool:
    """Whether the server wrote uvicorn access-log lines (they cost time per request)."""
    return bool(re.search(r'"(GET|POST) /\S* HTTP/1\.1" \d{3}', server.log_text()))


# --- HTTP ------------------------------------------------------------------------------------


def fetch(
    port: int,
    path: str,
    method: str = "GET",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def sequential_ms(
    port: int,
    paths: Sequence[str],
    count: int,
    *,
    keep_alive: bool,
    method: str = "GET",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> list[float]:
    """Latencies (ms) of ``count`` requests one after the other, cycling through ``paths``.

    New connection: each request opens its own TCP connection (connect time included) and
    closes it; keep-alive: all requests share one connection, opened before the clock starts.
    """
    headers = headers or {}
    latencies: list[float] = []
    if keep_alive:
        conn = http.client.HTTPConnection(HOST, port, timeout=60)
        conn.connect()
        try:
            for i in range(count):
                started = time.perf_counter()
                conn.request(method, paths[i % len(paths)], body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                latencies.append((time.perf_counter() - started) * 1000)
                check_status(response.status)
        finally:
            conn.close()
        return latencies
    for i in range(count):
        started = time.perf_counter()
        conn = http.client.HTTPConnection(HOST, port, timeout=60)
        try:
            conn.request(
                method,
                paths[i % len(paths)],
                body=body,
                headers={**headers, "Connection": "close"},
            )
            response = conn.getresponse()
            response.read()
        finally:
            conn.close()
        latencies.append((time.perf_counter() - started) * 1000)
        check_status(response.status)
    return latencies


def check_status(status: int) -> None:
    if status != 200:
        raise SystemExit(f"HTTP {status} during a sequential measure")


# --- wrk -------------------------------------------------------------------------------------


@dataclass
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    non2xx: int
    socket_errors: str
    load: str
    bad_bodies: int | None = None

    @property
    def errors(self) -> str:
        bad = "?" if self.bad_bodies is None else str(self.bad_bodies)
        return f"{self.non2xx} / {bad} / {self.socket_errors}"


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def parse_duration_ms(value: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", value.strip())
    if not match:
        raise ValueError(f"not a wrk duration: {value!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_wrk(output: str, load: str = "") -> WrkResult:
    def grab(pattern: str) -> str | None:
        match = re.search(pattern, output, re.MULTILINE)
        return match.group(1) if match else None

    rps, p50, p99, requests = (
        grab(r"^Requests/sec:\s+([\d.]+)"),
        grab(r"^\s+50%\s+(\S+)"),
        grab(r"^\s+99%\s+(\S+)"),
        grab(r"^\s+(\d+) requests in"),
    )
    if rps is None or p50 is None or p99 is None or requests is None:
        raise SystemExit(f"could not read wrk's output:\n{output}")
    errors = grab(r"^\s+Socket errors:\s+(.*)$")
    return WrkResult(
        rps=float(rps),
        p50_ms=parse_duration_ms(p50),
        p99_ms=parse_duration_ms(p99),
        requests=int(requests),
        non2xx=int(grab(r"Non-2xx or 3xx responses:\s+(\d+)") or 0),
        socket_errors=errors.strip() if errors else "none",
        load=load,
        bad_bodies=None if (bad := grab(r"^bad answers: (\d+)$")) is None else int(bad),
    )


def run_wrk(
    port: int,
    path: str,
    *,
    threads: int,
    connections: int,
    duration: int,
    script: Path | None = None,
) -> WrkResult:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install -y wrk)")
    load = load_average().split()[0]
    argv = [
        "wrk",
        f"-t{max(1, min(threads, connections))}",
        f"-c{connections}",
        f"-d{duration}s",
        "--latency",
        "--timeout",
        "30s",
    ]
    if script is not None:
        argv += ["-s", str(script)]
    argv.append(f"http://{HOST}:{port}{path}")
    run = subprocess.run(argv, capture_output=True, text=True, check=False)
    if run.returncode != 0:
        raise SystemExit(f"wrk failed ({run.returncode}): {run.stderr or run.stdout}")
    return parse_wrk(run.stdout, load)


CHECK_LUA = """
-- Counts 2xx answers that carry an error (Moodle's "exception", GraphQL's "errors").
local bench_threads = {}
function setup(thread)
  table.insert(bench_threads, thread)
end
function response(status, headers, body)
  if string.find(body, %(needle)s, 1, true) then
    bad = (bad or 0) + 1
  end
end
function done(summary, latency, requests)
  local n = 0
  for _, thread in ipairs(bench_threads) do
    n = n + (thread:get("bad") or 0)
  end
  io.write(string.format("bad answers: %%d\\n", n))
end
"""


def with_body_check(source: str, needle: str) -> str:
    """``source`` plus a count of answers containing ``needle``, printed as 'bad answers: N'."""
    return source + CHECK_LUA % {"needle": lua_string(needle)}


def lua_string(value: str) -> str:
    """A Lua string literal (ASCII input)."""
    for plain, escaped in (("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\r", "\\r")):
        value = value.replace(plain, escaped)
    return f'"{value}"'


def write_script(source: str, name: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix="bench-wrk-")) / name
    path.write_text(source, encoding="ascii")
    return path


# --- statistics and Markdown -----------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), -(-len(ordered) * q // 100)))
    return ordered[int(rank) - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def ms(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f} ms"
    if value >= 10:
        return f"{value:.1f} ms"
    return f"{value:.2f} ms"


def rps(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def ratio(ours: float, ceiling: float) -> str:
    return f"{ours / ceiling:.3f}" if ceiling else "?"


def md_table(header: Sequence[str], rows: Sequence[Sequence[Any]], right: int = 0) -> None:
    """A Markdown table; columns from ``right`` on are right-aligned (0: none)."""
    print("| " + " | ".join(header) + " |")
    align = ["---:" if right and i >= right else "---" for i in range(len(header))]
    print("|" + "|".join(align) + "|")
    for row in rows:
        print("| " + " | ".join(str(cell) for cell in row) + " |")
    print(flush=True)


def alternate(runs: int, contenders: Sequence[str]) -> Iterator[tuple[int, str]]:
    """(run, contender) pairs, the order reversed every other run to spread drift evenly."""
    for run in range(1, runs + 1):
        order = list(contenders) if run % 2 else list(reversed(contenders))
        for name in order:
            yield run, name


WRK_RUN_HEADER = (
    "run",
    "server",
    "workers",
    "conns",
    "req/s",
    "p50",
    "p99",
    "requests",
    "non-2xx / bad answers / socket errors",
    "load 1 min",
)


def wrk_run_row(run: int, name: str, workers: int, connections: int, r: WrkResult) -> list[object]:
    """One row under WRK_RUN_HEADER."""
    return [
        run,
        name,
        workers,
        connections,
        rps(r.rps),
        ms(r.p50_ms),
        ms(r.p99_ms),
        r.requests,
        r.errors,
        r.load,
    ]


def wrk_summary(
    results: dict[str, list[WrkResult]], workers: int, connections: int, ours: str, ceiling: str
) -> None:
    """Medians over runs per server, and ours ÷ ceiling when both ran."""
    rows: list[list[object]] = []
    for name, rs in results.items():
        rows.append(
            [
                name,
                workers,
                connections,
                rps(median([r.rps for r in rs])),
                ms(median([r.p50_ms for r in rs])),
                ms(median([r.p99_ms for r in rs])),
                ", ".join(rps(r.rps) for r in rs),
            ]
        )
    if results.get(ours) and results.get(ceiling):
        o, c = results[ours], results[ceiling]
        rows.append(
            [
                "**ours ÷ ceiling**",
                "",
                "",
                ratio(median([r.rps for r in o]), median([r.rps for r in c])),
                ratio(median([r.p50_ms for r in o]), median([r.p50_ms for r in c])),
                ratio(median([r.p99_ms for r in o]), median([r.p99_ms for r in c])),
                "",
            ]
        )
    md_table(["server", "workers", "conns", "req/s", "p50", "p99", "req/s per run"], rows)
    for name, rs in results.items():
        failed = sum(r.non2xx + (r.bad_bodies or 0) for r in rs)
        if failed:
            print(f"**WARNING: {failed} of {name}'s answers were errors; its figures are void.**\n")


def quiet_request_lines() -> None:
    """In-process runs, the app's one line per request would flood the report (and cost time)."""
    import logging

    logging.getLogger("definum_gql.access").setLevel(logging.WARNING)
