"""Long load on a real ``definum-gql serve``: REST and GraphQL mixed, memory watched (issue 11).

    .venv/bin/python reliability/load.py [--minutes 10] [--connections 32] [--workers 2]
        [--database-url postgresql+asyncpg://postgres@127.0.0.1:5432/definum_bench]
        [--token TOKEN]

Serves the 10,000-learner demo (bench/demo_build.py builds it) with ``--workers``, checks the
token answers, then runs wrk (reliability/mix.lua) for ``--minutes`` at ``--connections``:
half REST ``definum_get_stats``, 45 % GraphQL (the same figures and a name), 5 % GraphQL
without a token (deliberate 401), each for a random learner. Every answer is sorted by what it
says: anything that is not a full answer or the deliberate 401 counts as an error. The workers'
resident memory (VmRSS, summed) is sampled every 15 s; start is after a 30 s warm-up.

Prints a JSON summary (and ``--output`` writes it): machine, date, load average before and
after, requests, errors, latency percentiles, memory at start and end. Exits 1 on any error.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from reliability.common import emit, first_token, summary  # noqa: E402

DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/definum_bench"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def rss(pid: int) -> int:
    """Resident memory of ``pid`` in bytes (0 once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except FileNotFoundError:
        pass
    return 0


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(c) for c in path.read_text().split()] if path.exists() else []


def wait_listening(port: int, process: subprocess.Popen[bytes], deadline: float = 120) -> None:
    give_up = time.monotonic() + deadline
    while time.monotonic() < give_up:
        if process.poll() is not None:
            raise SystemExit(f"serve exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit("serve did not become ready")


def learner_range(url: str) -> tuple[int, int, list[int]]:
    """The learners the mix asks about: the first and last id of users who are neither the guest
    nor the admin (ids 1 and 2), and the ids between them that are deleted or missing (REST
    answers those ``invaliduser``, rightly, so the mix leaves them out)."""
    import asyncio

    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    async def read() -> list[int]:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                statement = "SELECT id FROM mdl_user WHERE deleted = 0 AND id > 2 ORDER BY id"
                return [int(r[0]) for r in await conn.execute(text(statement))]
        finally:
            await engine.dispose()

    live = asyncio.run(read())
    if not live:
        raise SystemExit("the database has no learners")
    present = set(live)
    return live[0], live[-1], [i for i in range(live[0], live[-1] + 1) if i not in present]


def check_token(port: int, token: str, learner: int) -> None:
    url = (
        f"http://127.0.0.1:{port}/webservice/rest/server.php?wstoken={token}"
        f"&wsfunction=definum_get_stats&useridfield=id&userid={learner}&moodlewsrestformat=json"
    )
    with urllib.request.urlopen(url, timeout=30) as answer:
        body = json.loads(answer.read())
    if body.get("id") != learner:
        raise SystemExit(f"the token does not answer: {body}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument(
        "--token", help="web service token (default: the database's first unrestricted one)"
    )
    parser.add_argument("--output", type=Path)
    parser.add_argument("--log", type=Path, help="serve's output (default: a temporary file)")
    args = parser.parse_args()
    if args.token is None:
        args.token = first_token(args.database_url)

    port = free_port()
    env = {
        **os.environ,
        "DEFINUM_CONFIG_FILE": "",
        "DEFINUM_DATABASE_URL": args.database_url,
        "DEFINUM_LOG_FORMAT": "json",
    }
    if args.log is None:
        handle, name = tempfile.mkstemp(prefix="definum-load-", suffix=".log")
        os.close(handle)
        args.log = Path(name)
    log_path: Path = args.log
    log = log_path.open("wb")  # kept open for the child
    serve = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "definum_gql",
            "serve",
            "--port",
            str(port),
            "--workers",
            str(args.workers),
        ],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    samples: list[tuple[float, int]] = []
    try:
        first, last, missing = learner_range(args.database_url)
        wait_listening(port, serve)
        check_token(port, args.token, first)
        workers = children(serve.pid)
        skip = ",".join(str(i) for i in missing)
        load_before = os.getloadavg()
        seconds = int(args.minutes * 60)
        wrk = subprocess.Popen(
            [
                "wrk",
                f"-t{args.threads}",
                f"-c{args.connections}",
                f"-d{seconds}s",
                "--timeout",
                "30s",
                "--latency",
                "-s",
                str(HERE / "mix.lua"),
                f"http://127.0.0.1:{port}",
            ],
            env={
                **os.environ,
                "DEFINUM_TOKEN": args.token,
                "DEFINUM_FIRST_ID": str(first),
                "DEFINUM_LAST_ID": str(last),
                "DEFINUM_SKIP_IDS": skip,
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        started = time.monotonic()
        while wrk.poll() is None:
            elapsed = time.monotonic() - started
            if elapsed >= 30 or not samples:
                samples.append((round(elapsed, 1), sum(rss(w) for w in workers)))
            time.sleep(15)
        out, err = wrk.communicate()
        alive = [w for w in workers if rss(w)]
        workers_after = children(serve.pid)
    finally:
        serve.send_signal(signal.SIGTERM)
        try:
            serve.wait(60)
        except subprocess.TimeoutExpired:
            serve.kill()
        log.close()
    text = out.decode()
    line = next((ln for ln in text.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        raise SystemExit(f"wrk said:\n{text}\n{err.decode()}")
    result: dict[str, Any] = json.loads(line.removeprefix("RESULT "))
    warm = [s for s in samples if s[0] >= 30]
    figures = {
        "minutes": args.minutes,
        "connections": args.connections,
        "workers": args.workers,
        "database": args.database_url.split("@")[-1],
        "learners": f"ids {first}..{last}, {len(missing)} left out (deleted)",
        **result,
        "requests_per_second": round(result["requests"] / (result["duration_us"] / 1e6), 1),
        "errors": result["bad"]
        + result["connect_errors"]
        + result["read_errors"]
        + result["write_errors"]
        + result["timeouts"],
        "workers_alive_at_end": len(alive) == len(workers)
        and sorted(workers_after) == sorted(workers),
        "rss_mb_start": round(warm[0][1] / 2**20, 1) if warm else None,
        "rss_mb_end": round(warm[-1][1] / 2**20, 1) if warm else None,
        "rss_samples_mb": [(t, round(b / 2**20, 1)) for t, b in samples],
        "wrk_stderr": err.decode()[-2000:],
        "serve_log": str(log_path),
    }
    emit(summary(load_before, **figures), args.output)
    ok = figures["errors"] == 0 and figures["workers_alive_at_end"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
