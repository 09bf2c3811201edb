"""Throughput of the REST shim on the 10k-user demo database, measured with wrk.

Runs uvicorn (1 and 4 workers) on ``definum_bench`` (PostgreSQL), then wrk at 1, 8 and 32
connections with a Lua script that asks ``definum_get_stats`` for a random user id in JSON.
Prints one Markdown table row per run (req/s, p50, p99, errors) for BENCHMARKS.md.

    /work/venv/bin/python bench/bench_rest.py [--duration 20] [--workers 1 4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

DB_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/definum_bench"

LUA = """
local token = "%(token)s"
local lo, hi = %(lo)d, %(hi)d
function init(args)
  math.randomseed(os.time() + (tonumber(tostring({}):sub(8), 16) or 0))
end
function request()
  local id = math.random(lo, hi)
  return wrk.format("GET", "/webservice/rest/server.php?wstoken=" .. token ..
    "&wsfunction=definum_get_stats&moodlewsrestformat=json&useridfield=id&userid=" .. id)
end
"""


async def bench_inputs(url: str) -> tuple[str, int, int, int]:
    """A site admin's unrestricted token, the user id range and the log row count."""
    engine = create_async_engine(url)
    async with engine.connect() as conn:
        admins = (
            await conn.execute(text("SELECT value FROM mdl_config WHERE name = 'siteadmins'"))
        ).scalar_one()
        admin = int(str(admins).split(",")[0])
        token = (
            await conn.execute(
                text(
                    "SELECT token FROM mdl_external_tokens WHERE userid = :u AND tokentype = 0"
                    " AND (validuntil IS NULL OR validuntil = 0)"
                    " AND (iprestriction IS NULL OR iprestriction = '') ORDER BY id LIMIT 1"
                ),
                {"u": admin},
            )
        ).scalar_one()
        lo, hi = (
            await conn.execute(
                text("SELECT min(id), max(id) FROM mdl_user WHERE deleted = 0 AND id > 2")
            )
        ).one()
        logs = (
            await conn.execute(text("SELECT count(*) FROM mdl_logstore_standard_log"))
        ).scalar_one()
    await engine.dispose()
    return str(token), int(lo), int(hi), int(logs)


def wait_ready(port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("uvicorn did not start")


def parse_wrk(output: str) -> dict[str, str]:
    def grab(pattern: str) -> str:
        match = re.search(pattern, output, re.MULTILINE)
        return match.group(1) if match else "?"

    return {
        "rps": grab(r"^Requests/sec:\s+([\d.]+)"),
        "p50": grab(r"^\s+50%\s+(\S+)"),
        "p99": grab(r"^\s+99%\s+(\S+)"),
        "requests": grab(r"^\s+(\d+) requests in"),
        "non2xx": grab(r"Non-2xx or 3xx responses:\s+(\d+)") if "Non-2xx" in output else "0",
        "errors": grab(r"Socket errors:(.*)$") if "Socket errors" in output else "none",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db-url", default=DB_URL)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--connections", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--duration", type=int, default=20, help="seconds per wrk run")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install -y wrk)")

    token, lo, hi, logs = asyncio.run(bench_inputs(args.db_url))
    print(
        f"# users {lo}..{hi}, {logs} log rows, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
    )
    script = Path(tempfile.mkdtemp()) / "random_user.lua"
    script.write_text(LUA % {"token": token, "lo": lo, "hi": hi})
    env = {**os.environ, "DEFINUM_DATABASE_URL": args.db_url, "DEFINUM_AUTH": "on"}
    print("| workers | connections | req/s | p50 | p99 | requests | non-2xx | socket errors |")
    print("|---|---|---|---|---|---|---|---|")
    for workers in args.workers:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "definum_gql.app:app_from_env",
                "--factory",
                "--port",
                str(args.port),
                "--workers",
                str(workers),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            env=env,
            start_new_session=True,
        )
        try:
            wait_ready(args.port, time.monotonic() + 60)
            sample = (
                f"http://127.0.0.1:{args.port}/webservice/rest/server.php?wstoken={token}"
                f"&wsfunction=definum_get_stats&moodlewsrestformat=json&useridfield=id&userid={lo}"
            )
            with urllib.request.urlopen(sample, timeout=30) as r:
                answer = json.loads(r.read())
            if "exception" in answer:
                raise SystemExit(f"the shim refused the bench call: {answer}")
            subprocess.run(
                ["wrk", "-t1", "-c8", "-d5s", "-s", str(script), f"http://127.0.0.1:{args.port}"],
                capture_output=True,
                check=True,
            )
            for connections in args.connections:
                threads = min(connections, 2)
                run = subprocess.run(
                    [
                        "wrk",
                        f"-t{threads}",
                        f"-c{connections}",
                        f"-d{args.duration}s",
                        "--latency",
                        "--timeout",
                        "30s",
                        "-s",
                        str(script),
                        f"http://127.0.0.1:{args.port}",
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                r = parse_wrk(run.stdout)
                print(
                    f"| {workers} | {connections} | {r['rps']} | {r['p50']} | {r['p99']} "
                    f"| {r['requests']} | {r['non2xx']} | {r['errors'].strip()} |",
                    flush=True,
                )
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
