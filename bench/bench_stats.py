"""Batch statistics on the 10,000-learner demo: 500 documents, and every learner's month.

    .venv/bin/python bench/bench_stats.py [URL ...] [--month 2026-10] [--runs 3] \\
        [--parts docs,month,pages]

Default URLs: ``definum_bench`` (bench/demo_build.py, clock frozen at 2026-11-25T17:42:03Z) on
PostgreSQL and MariaDB. In-process, each contender timed in the same run, medians of ``--runs``:

* docs: ``definum_stats`` for 500 random learners (current month), and the same 500 through
  GraphQL in one request (``users(first: 500)`` from a random cursor, ``definumStats``);
* month: every learner's time spent for one month, ``folded_trails`` (what requests use: on
  PostgreSQL LEAD()/SUM() in the database in two statements at once, elsewhere the rows read once
  and folded in Python) and ``window_trails`` in one statement, against a ``count(*)`` of the
  same rows; counted rows per second (``folded``: ``folded_trails`` alone);
* pages: the same month through GraphQL, paging ``users(first: 500)`` asking
  ``activity(month) { timeSpent }``, against the batch figure: each run a new app with the month
  cache empty and the served defaults (100,000 entries, read-ahead of 10,000 learners);
* pages-uncached: the same with no month cache (so no read-ahead): every page computes its own.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

# Without the project's venv these are missing: --help still answers, a run says so in one line.
try:
    import httpx
    from sqlalchemy import func, select

    from definum_gql.app import create_app
    from definum_gql.config import Settings
    from definum_gql.moodle.queries import counted_row
    from definum_gql.moodle.site import Moodle
    from definum_gql.server import settle_gc
    from definum_gql.stats.document import definum_stats
    from definum_gql.stats.months import Month
    from definum_gql.stats.timespent import Algorithm, folded_trails, window_trails
except ModuleNotFoundError as exc:
    MISSING: str | None = exc.name
else:
    MISSING = None

NOW = 1795628523
URLS = [
    "postgresql+asyncpg://postgres@127.0.0.1:5432/definum_bench",
    "mysql+asyncmy://root@127.0.0.1:3306/definum_bench",
]
DOC_FIELDS = "courses finishedCoursesRatio numBadges timeSpentInMonth loginsInMonth"


def quiet_request_lines() -> None:
    """In-process runs: the app's one line per request would flood the report (and cost time)."""
    import logging

    logging.getLogger("definum_gql.access").setLevel(logging.WARNING)


def settings(url: str) -> Settings:
    # Cold: no month cache; the site and token caches are on as when served.
    return Settings(database_url=url, month_cache_entries=0, current_month_cache_seconds=0)


async def timed(run: Callable[[], Awaitable[Any]], runs: int) -> tuple[list[float], Any]:
    times, answer = [], None
    for _ in range(runs):
        started = time.perf_counter()
        answer = await run()
        times.append(time.perf_counter() - started)
    return times, answer


def row(name: str, times: list[float], extra: str = "") -> str:
    return (
        f"| {name} | {statistics.median(times) * 1000:,.0f} ms | {min(times) * 1000:,.0f} ms "
        f"| {extra} |"
    )


def client_of(moodle: Moodle) -> httpx.AsyncClient:
    """An HTTP client of the app serving ``moodle``, in-process."""
    transport = httpx.ASGITransport(
        app=create_app(moodle.settings, moodle), client=("127.0.0.1", 1)
    )
    return httpx.AsyncClient(transport=transport, base_url="http://bench", timeout=600)


async def bench(url: str, month: Month, runs: int, parts: set[str]) -> list[str]:
    moodle = Moodle.from_settings(settings(url), clock=lambda: float(NOW))
    statements: list[str] = []
    moodle.db.listeners.append(statements.append)
    t = moodle.tables
    async with moodle.request() as ctx:
        users = [
            int(r[0]) for r in await ctx.reader.execute(select(t.user.c.id).order_by(t.user.c.id))
        ]
        token = (
            await ctx.reader.execute(
                select(t.external_tokens.c.token).where(t.external_tokens.c.userid == 2).limit(1)
            )
        )[0][0]
        tz = ctx.tz
    backend = moodle.db.backend
    lines = [f"### {backend}: {len(users):,} users", ""]
    rng = random.Random(11)
    http = client_of(moodle)
    settle_gc()  # as a served process does
    quiet_request_lines()
    headers = {"Authorization": f"Bearer {token}"}

    async def graphql(query: str, client: httpx.AsyncClient = http) -> dict[str, Any]:
        response = await client.post("/graphql", json={"query": query}, headers=headers)
        body: dict[str, Any] = response.json()
        assert "errors" not in body, body
        data: dict[str, Any] = body["data"]
        return data

    if "docs" in parts:
        lines += ["| 500 learners' documents | median | min | statements |", "|---|---|---|---|"]

        async def stats() -> int:
            async with moodle.request() as ctx:
                return len(await definum_stats(ctx, rng.sample(users, 500)))

        async def page() -> int:
            start = rng.choice(users[: len(users) - 600])
            cursor = base64.urlsafe_b64encode(f"user:{start}".encode()).decode()
            data = await graphql(
                f'{{ users(first: 500, after: "{cursor}") '
                f"{{ edges {{ node {{ definumStats {{ {DOC_FIELDS} }} }} }} }} }}"
            )
            return len(data["users"]["edges"])

        for name, run in (("definum_stats(500 ids)", stats), ("GraphQL users(first: 500)", page)):
            await run()  # warm
            statements.clear()
            times, answer = await timed(run, runs)
            assert answer == 500, answer
            lines.append(row(name, times, f"{len(statements) // runs}"))
        lines.append("")

    if parts & {"month", "folded", "pages", "pages-uncached"}:
        start, end = month.bounds(tz)
        end = min(end, NOW + 1)
        log = t.logstore_standard_log
        async with moodle.request() as ctx:
            counted = int(
                (
                    await ctx.reader.execute(
                        select(func.count()).where(
                            log.c.userid.between(users[0], users[-1]),
                            log.c.timecreated >= start,
                            log.c.timecreated < end,
                            counted_row(log),
                        )
                    )
                )[0][0]
            )

        async def count() -> int:
            async with moodle.request() as ctx:
                query = select(func.count()).where(
                    log.c.userid.between(users[0], users[-1]),
                    log.c.timecreated >= start,
                    log.c.timecreated < end,
                    counted_row(log),
                )
                return int((await ctx.reader.execute(query))[0][0])

        async def folded() -> int:
            async with moodle.request() as ctx:
                trails = await folded_trails(ctx, users, [(start, end)])
            return sum(sum(s.total for s in tr[0].spent.values()) for tr in trails.values())

        async def window() -> int:
            async with moodle.request() as ctx:
                trails = await window_trails(ctx, users, [(start, end)])
            return sum(tr[0].spent[Algorithm.USE_STATS].total for tr in trails.values())

        async def paged(client: httpx.AsyncClient) -> int:
            total, after = 0, ""
            while True:
                data = await graphql(
                    f"{{ users(first: 500{after}) {{ pageInfo {{ hasNextPage endCursor }} "
                    f'edges {{ node {{ activity(month: "{month}") {{ timeSpent }} }} }} }} }}',
                    client,
                )
                total += sum(
                    int(e["node"]["activity"]["timeSpent"]) for e in data["users"]["edges"]
                )
                info = data["users"]["pageInfo"]
                if not info["hasNextPage"]:
                    return total
                after = f', after: "{info["endCursor"]}"'

        async def pages_uncached() -> int:
            return await paged(http)

        async def pages() -> int:
            # As served: a new process's empty month cache, read-ahead on (the settings' defaults).
            served = Moodle.from_settings(
                Settings(database_url=url, current_month_cache_seconds=0),
                clock=lambda: float(NOW),
            )
            client = client_of(served)
            try:
                return await paged(client)
            finally:
                await client.aclose()
                await served.dispose()

        contenders: dict[str, Callable[[], Awaitable[int]]] = {"count(*) of the same rows": count}
        if parts & {"month", "folded"}:
            contenders["folded_trails (what requests use)"] = folded
        # MariaDB's window plan took 55 s (BENCHMARKS.md).
        if "month" in parts and backend == "postgresql":
            contenders["window_trails, one statement (LEAD/SUM in the database)"] = window
        if "pages" in parts:
            contenders["GraphQL, users(first: 500) pages, activity { timeSpent }, as served"] = (
                pages
            )
        if "pages-uncached" in parts:
            contenders["GraphQL pages, no month cache (each page computes its own)"] = (
                pages_uncached
            )
        timings: dict[str, list[float]] = {name: [] for name in contenders}
        answers: dict[str, int] = {}
        for _ in range(runs):
            for name, contender in contenders.items():
                started = time.perf_counter()
                answers[name] = await contender()
                timings[name].append(time.perf_counter() - started)
        totals = {v for k, v in answers.items() if not k.startswith("count")}
        assert len(totals) <= 1, answers
        baseline = statistics.median(timings["count(*) of the same rows"])
        lines += [
            f"{month}: {counted:,} counted log rows",
            "",
            "| every learner's month | median | min | counted rows/s | × count(*) |",
            "|---|---|---|---|---|",
        ]
        for name, values in timings.items():
            median = statistics.median(values)
            lines.append(
                row(name, values, f"{counted / median / 1e6:.2f} M | {median / baseline:.1f}")
            )
        lines.append("")
    await http.aclose()
    await moodle.dispose()
    return lines


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench_stats.py",
        description=(__doc__ or "Batch statistics benchmark.").partition("\n")[0],
    )
    parser.add_argument(
        "urls", nargs="*", default=URLS, help="databases built by bench/demo_build.py"
    )
    parser.add_argument("--month", default="2026-10", help="YYYY-MM (default: %(default)s)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs (default: %(default)s)")
    parser.add_argument(
        "--parts", default="docs,month,pages", help="comma-separated (default: %(default)s)"
    )
    return parser.parse_args(argv)


async def main(args: argparse.Namespace) -> None:
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()}, {os.cpu_count()} CPUs, "
        f"{args.runs} runs, load {load}"
    )
    for url in args.urls:
        lines = await bench(url, Month.parse(args.month), args.runs, set(args.parts.split(",")))
        print("\n".join(lines))


if __name__ == "__main__":
    arguments = parse_args()
    if MISSING is not None:
        sys.exit(
            f"error: module {MISSING!r} not found: run it with the project's venv"
            " (.venv/bin/python bench/bench_stats.py)"
        )
    asyncio.run(main(arguments))
