"""Figures for database faults under load (issue 11): how fast requests fail during an outage,
how soon the service answers again, what killed sessions and a locked table cost.

    .venv/bin/python reliability/faults.py [--rounds 5] [--backend postgresql mariadb]

Each round, on throwaway servers (tests/throwaway.py) holding a demo site, a real
``definum-gql serve --workers 2`` (statement timeout 1 s, pool size 2, caches off) answers six
clients mixing REST and GraphQL (tests/test_faults.py's load) while:

* restart: the server is stopped for 3 s and started again;
* kill: every session of definum-gql is terminated;
* lock: mdl_user is locked for 3 s.

Reports per fault (medians over the rounds): answers by kind, the latency of requests sent and
answered during the fault, and the time from the end of the fault to the first full answer.
Also checks that SIGTERM stops the service within 30 s each round (a hang is reported).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reliability.common import emit, summary
from tests.test_faults import Database, Load, _env
from tests.throwaway import mariadb_server, postgres_primary, serve_process

NOW = 1795628523
HOLD = 3.0


def _ms(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"median_ms": None, "p99_ms": None}
    ordered = sorted(values)
    return {
        "median_ms": round(statistics.median(ordered) * 1000, 1),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1000, 1),
    }


async def _round(db: Database, fault: str) -> dict[str, Any]:
    async with serve_process(_env(db), ["--workers", "2"]) as served:
        load = Load(served.port, db.token)
        await load.baseline()
        async with load.running():
            await load.wait_for(20, 0, {"ok"}, "answers before the fault")
            begin = time.monotonic()
            if fault == "restart":
                await db.stop()
                await asyncio.sleep(HOLD)
                stopping = time.monotonic()
                await db.start()
            elif fault == "kill":
                await db.kill_sessions()
                stopping = time.monotonic()
            else:
                async with db.user_table_locked():
                    await asyncio.sleep(HOLD)
                    stopping = time.monotonic()
            end = time.monotonic()
            await load.wait_for(20, end, {"ok"}, "full answers after the fault")
        during = load.within(begin, stopping)
        first_ok = min(
            (o.finished for o in load.outcomes if o.kind == "ok" and o.started >= end),
            default=None,
        )
        kinds: dict[str, int] = {}
        for o in load.since(begin):
            kinds[o.kind] = kinds.get(o.kind, 0) + 1
        pid = served.process.pid
        workers = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()  # noqa: ASYNC240
        served.process.send_signal(signal.SIGTERM)
        stop_started = time.monotonic()
        try:
            await asyncio.wait_for(served.process.wait(), 30)
            hang = False
        except TimeoutError:
            hang = True
            for worker in workers:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(worker), signal.SIGKILL)
            await served.process.wait()
        return {
            "kinds_after_fault_began": kinds,
            "latency_during": _ms([o.finished - o.started for o in during]),
            "answers_during": len(during),
            "recovery_s": round(first_ok - end, 3) if first_ok is not None else None,
            "bad": len(load.bad()),
            "stop_s": round(time.monotonic() - stop_started, 2),
            "shutdown_hang": hang,
        }


async def backend_rounds(backend: str, rounds: int) -> dict[str, Any]:
    from definum_gql.demo import build_demo_site

    manager: Any = postgres_primary() if backend == "postgresql" else mariadb_server()
    out: dict[str, Any] = {}
    async with manager as server:
        await server.create_database()
        demo = await build_demo_site(server.url(), users=12, courses=6, months=2, now=NOW)
        db = Database(backend, server, demo.tokens["valid"])
        for fault in ("restart", "kill", "lock"):
            results = [await _round(db, fault) for _ in range(rounds)]
            medians: dict[str, Any] = {}
            for key in ("median_ms", "p99_ms"):
                values = [r["latency_during"][key] for r in results if r["latency_during"][key]]
                medians[f"latency_during_{key}"] = statistics.median(values) if values else None
            recovery = [r["recovery_s"] for r in results if r["recovery_s"] is not None]
            out[fault] = {
                **medians,
                "recovery_s_median": statistics.median(recovery) if recovery else None,
                "bad_answers": sum(r["bad"] for r in results),
                "shutdown_hangs": sum(r["shutdown_hang"] for r in results),
                "rounds": results,
            }
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--backend", nargs="+", default=["postgresql", "mariadb"])
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    load_before = os.getloadavg()
    figures = {b: asyncio.run(backend_rounds(b, args.rounds)) for b in args.backend}
    emit(summary(load_before, rounds=args.rounds, **figures), args.output)
    bad = any(f["bad_answers"] for b in figures.values() for f in b.values())
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
