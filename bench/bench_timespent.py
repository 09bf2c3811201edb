"""Time spent of every user for one month, against a plain count(*) of the same log rows.

    python bench/bench_timespent.py [URL ...] [--month 2026-10] [--runs 5] [--chunk 1000]

Default URLs: the ``definum_bench`` demo (bench/demo_build.py) on PostgreSQL and MariaDB. For each
database it times, in the same run and interleaved: ``SELECT count(*)`` over the month's counted
rows, ``time_spent`` (streamed rows folded in Python, both algorithms) and the window-function
alternative (LEAD() and SUM() in the database); it prints medians, rows per second, the ratio to
count(*) and the number of SQL statements. ``time_spent`` runs the window way for use_stats on
PostgreSQL and the streamed way everywhere else.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, func, or_, select

from definum_gql.config import Settings
from definum_gql.moodle.site import Moodle
from definum_gql.stats import timespent
from definum_gql.stats.months import Month
from definum_gql.stats.timespent import Algorithm, TimeSpent, UseStatsParams

NOW = 1795628523  # the demo's frozen clock
URLS = [
    "postgresql+asyncpg://postgres@127.0.0.1:5432/definum_bench",
    "mysql+asyncmy://root@127.0.0.1:3306/definum_bench",
]


async def bench(url: str, month: Month, runs: int, limit: int | None) -> list[str]:
    moodle = Moodle.from_settings(Settings(database_url=url, pool_size=2))
    statements = 0

    def count_statement(*args: Any) -> None:
        nonlocal statements
        statements += 1

    event.listen(moodle.engine.sync_engine, "before_cursor_execute", count_statement)
    t = moodle.tables
    log = t.logstore_standard_log
    async with moodle.connect() as conn:
        site = await moodle.site(conn)
        tz = moodle.timezone(site)
        params = UseStatsParams(3600, 900, False)
        users = [int(u) for u in (await conn.execute(select(t.user.c.id))).scalars()]
        users = users[:limit] if limit else users
        start, end = month.bounds(tz)
        end = min(end, NOW + 1)
        rows_query = (
            select(func.count())
            .select_from(log)
            .where(
                log.c.timecreated >= start,
                log.c.timecreated < end,
                or_(log.c.origin.is_(None), log.c.origin != "cli"),
                log.c.action != "failed",
                log.c.realuserid.is_(None),
                log.c.userid.in_(users) if limit else log.c.userid > 0,
            )
        )
        rows = int((await conn.execute(rows_query)).scalar_one())

    async def count_rows() -> Any:
        async with moodle.connect() as conn:
            return (await conn.execute(rows_query)).scalar_one()

    def spent(algorithm: Algorithm) -> Callable[[], Awaitable[Any]]:
        async def run() -> dict[int, list[TimeSpent]]:
            async with moodle.connect() as conn:
                return await timespent.streamed_time_spent(
                    conn,
                    t,
                    users,
                    [(start, end)],
                    now=NOW,
                    params=params,
                    tz=tz,
                    algorithm=algorithm,
                )

        return run

    async def window() -> dict[int, list[TimeSpent]]:
        async with moodle.connect() as conn:
            return await timespent.sql_window_use_stats(
                conn, t, users, [(start, end)], now=NOW, params=params, tz=tz
            )

    contenders: dict[str, Callable[[], Awaitable[Any]]] = {
        "count(*) of the same rows": count_rows,
        "use_stats, streamed + Python fold": spent(Algorithm.USE_STATS),
        "use_stats, LEAD()/SUM() in the database": window,
        "dedication, streamed + Python fold": spent(Algorithm.DEDICATION),
    }
    timings: dict[str, list[float]] = {name: [] for name in contenders}
    counts: dict[str, int] = {}
    answers: dict[str, Any] = {}
    for _ in range(runs):
        for name, run in contenders.items():
            before = statements
            started = time.perf_counter()
            answers[name] = await run()
            timings[name].append(time.perf_counter() - started)
            counts[name] = statements - before
    shipped = answers["use_stats, streamed + Python fold"]
    assert shipped == answers["use_stats, LEAD()/SUM() in the database"], "the two disagree"
    await moodle.dispose()

    baseline = statistics.median(timings["count(*) of the same rows"])
    total = sum(s[0].total for s in shipped.values())
    lines = [
        f"### {moodle.engine.dialect.name} — {month}, {len(users):,} users, {rows:,} log rows "
        f"(time spent of all: {total / 3600:,.0f} h)",
        "",
        "| computation | median | min | rows/s | × count(*) | SQL statements |",
        "|---|---|---|---|---|---|",
    ]
    for name, values in timings.items():
        median = statistics.median(values)
        lines.append(
            f"| {name} | {median:.2f} s | {min(values):.2f} s | {rows / median / 1e6:.2f} M "
            f"| {median / baseline:.1f} | {counts[name]} |"
        )
    return lines


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("urls", nargs="*", default=URLS)
    parser.add_argument("--month", default="2026-10")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--chunk", type=int, default=timespent.CHUNK)
    parser.add_argument("--users", type=int, default=None, help="only the first N user ids")
    args = parser.parse_args()
    timespent.CHUNK = args.chunk
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()}, {os.cpu_count()} CPUs, "
        f"chunk {args.chunk}, {args.runs} runs, users {args.users or 'all'}, load {load}"
    )
    for url in args.urls:
        print("\n".join(await bench(url, Month.parse(args.month), args.runs, args.users)))
        print()


if __name__ == "__main__":
    asyncio.run(main())
