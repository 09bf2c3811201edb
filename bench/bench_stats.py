"""Issue 3 benchmark: the definum_get_stats document for one user and for 500 users, in-process.

Usage: python bench/bench_stats.py [URL ...]   (default: the definum_bench demo on PostgreSQL and
MariaDB, built by bench/demo_build.py with now = 2026-11-25T17:42:03Z). Prints medians, p90 and the
number of SQL statements each call issues. Not a test: these machines are shared and noisy.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
import time
from typing import Any

from sqlalchemy import event, func, select

from definum_gql.config import Settings
from definum_gql.moodle.site import Moodle
from definum_gql.stats.document import definum_stats

NOW = 1795628523
DEFAULT_URLS = [
    "postgresql+asyncpg://postgres@127.0.0.1:5432/definum_bench",
    "mysql+asyncmy://root@127.0.0.1:3306/definum_bench",
]


async def bench(url: str, rounds_one: int = 200, rounds_batch: int = 15) -> None:
    moodle = Moodle.from_settings(Settings(database_url=url), clock=lambda: float(NOW))
    statements = 0

    def count(*args: Any) -> None:
        nonlocal statements
        statements += 1

    event.listen(moodle.engine.sync_engine, "before_cursor_execute", count)
    u = moodle.tables.user
    async with moodle.connect() as conn:
        ids = list((await conn.execute(select(u.c.id).where(u.c.deleted == 0))).scalars())
        logs = (
            await conn.execute(
                select(func.count()).select_from(moodle.tables.logstore_standard_log)
            )
        ).scalar_one()
        await moodle.site(conn)
    rng = random.Random(7)
    print(f"\n{moodle.engine.dialect.name}: {len(ids)} users, {logs} log rows")

    async def one_round(batch: list[int]) -> tuple[float, int]:
        nonlocal statements
        statements = 0
        start = time.perf_counter()
        async with moodle.connect() as conn:
            await definum_stats(moodle, conn, batch)
        return (time.perf_counter() - start) * 1000, statements

    for label, size, rounds in (("one user", 1, rounds_one), ("500 users", 500, rounds_batch)):
        for _ in range(3):  # warm the pool and caches
            await one_round(rng.sample(ids, size))
        times, counts = [], set()
        for _ in range(rounds):
            ms, n = await one_round(rng.sample(ids, size))
            times.append(ms)
            counts.add(n)
        times.sort()
        print(
            f"  {label:>9}: median {statistics.median(times):7.2f} ms, "
            f"p90 {times[int(len(times) * 0.9) - 1]:7.2f} ms, min {times[0]:7.2f} ms "
            f"over {rounds} rounds; SQL statements per call: {sorted(counts)}"
        )
    await moodle.dispose()


async def main(urls: list[str]) -> None:
    for url in urls:
        await bench(url)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:] or DEFAULT_URLS))
