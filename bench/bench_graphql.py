"""GraphQL load benchmark: one uvicorn worker, an httpx load generator on 127.0.0.1.

    /work/venv/bin/python bench/bench_graphql.py \
        --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/definum_bench

1. the learner dashboard (queries/learner_dashboard.graphql) for one user, 8 concurrent clients;
2. a page of 500 learners with their definumStats, sequentially;
then counts the SQL statements each request sends (in-process, same code, same database).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import event, select

from definum_gql.app import create_app
from definum_gql.config import Settings
from definum_gql.moodle.site import Moodle

ROOT = Path(__file__).resolve().parents[1]
DASHBOARD = (ROOT / "queries" / "learner_dashboard.graphql").read_text(encoding="utf-8")
PAGE = """
query Page($first: Int!) {
  users(first: $first) {
    pageInfo { hasNextPage endCursor }
    edges { node { id definumStats {
      id lastname firstname courses finishableCourses finishedCourses finishedCoursesRatio
      badges { id name dateIssued dateIssuedStr } numBadges lastLogin lastLoginStr
      timeSpentInMonth timeSpentInMonthStr loginsInMonth
    } } }
  }
}
"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))
    return ordered[index]


async def find_token(moodle: Moodle) -> str:
    t, s = moodle.tables.external_tokens, moodle.tables.external_services
    async with moodle.connect() as conn:
        query = (
            select(t.c.token)
            .join(s, s.c.id == t.c.externalserviceid)
            .where(t.c.tokentype == 0, s.c.shortname == moodle.settings.service, t.c.userid == 2)
            .limit(1)
        )
        token = (await conn.execute(query)).scalar_one_or_none()
    if token is None:
        sys.exit("no token of the admin on the definum service; pass --token")
    return str(token)


async def wait_ready(url: str) -> None:
    async with httpx.AsyncClient() as http:
        for _ in range(100):
            try:
                await http.get(url.replace("/graphql", "/healthz"))
                return
            except httpx.TransportError:
                await asyncio.sleep(0.1)
    sys.exit("the server did not start")


async def load(
    url: str, token: str, body: dict[str, Any], clients: int, requests: int
) -> tuple[list[float], float]:
    """Latencies in ms of ``requests`` POSTs spread over ``clients`` connections; wall time."""
    latencies: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(requests):
        queue.put_nowait(n)
    headers = {"Authorization": f"Bearer {token}"}

    async def worker(http: httpx.AsyncClient) -> None:
        while True:
            try:
                queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            started = time.perf_counter()
            response = await http.post(url, json=body, headers=headers)
            latencies.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200 or "errors" in response.json():
                sys.exit(f"request failed: {response.status_code} {response.text[:300]}")

    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(timeout=120, limits=limits) as http:
        started = time.perf_counter()
        await asyncio.gather(*(worker(http) for _ in range(clients)))
        wall = time.perf_counter() - started
    return latencies, wall


async def count_statements(settings: Settings, token: str, body: dict[str, Any]) -> int:
    moodle = Moodle.from_settings(settings)
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    transport = httpx.ASGITransport(app=create_app(settings, moodle), client=("127.0.0.1", 1))
    async with httpx.AsyncClient(transport=transport, base_url="http://bench", timeout=120) as http:
        await http.post("/graphql", json=body, headers={"Authorization": f"Bearer {token}"})
        event.listen(moodle.engine.sync_engine, "before_cursor_execute", count)
        await http.post("/graphql", json=body, headers={"Authorization": f"Bearer {token}"})
        event.remove(moodle.engine.sync_engine, "before_cursor_execute", count)
    await moodle.dispose()
    return len(statements)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url",
        default="postgresql+asyncpg://postgres@127.0.0.1:5432/definum_bench",
    )
    parser.add_argument("--token")
    parser.add_argument("--user", default="3", help="user id for the dashboard")
    parser.add_argument("--port", type=int, default=8791)
    parser.add_argument("--dashboard-requests", type=int, default=800)
    parser.add_argument("--page-requests", type=int, default=10)
    args = parser.parse_args()

    settings = Settings(database_url=args.database_url)
    probe = Moodle.from_settings(settings)
    token = args.token or await find_token(probe)
    await probe.dispose()

    env = {**os.environ, "DEFINUM_DATABASE_URL": args.database_url, "DEFINUM_PORT": str(args.port)}
    server = await asyncio.create_subprocess_exec(
        *[
            sys.executable,
            "-m",
            "uvicorn",
            "definum_gql.app:app_from_env",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(args.port),
            "--workers",
            "1",
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env=env,
    )
    url = f"http://127.0.0.1:{args.port}/graphql"
    try:
        await wait_ready(url)
        dashboard = {"query": DASHBOARD, "variables": {"value": args.user}}
        await load(url, token, dashboard, 8, 40)  # warm-up: pool, site cache
        latencies, wall = await load(url, token, dashboard, 8, args.dashboard_requests)
        print(
            f"dashboard, 8 clients, {len(latencies)} requests: "
            f"p50 {percentile(latencies, 50):.1f} ms, p99 {percentile(latencies, 99):.1f} ms, "
            f"{len(latencies) / wall:.0f} req/s"
        )
        page = {"query": PAGE, "variables": {"first": 500}}
        await load(url, token, page, 1, 1)
        page_latencies, _ = await load(url, token, page, 1, args.page_requests)
        print(
            f"500-learner page with definumStats, 1 client, {len(page_latencies)} requests: "
            f"p50 {statistics.median(page_latencies):.0f} ms, "
            f"max {max(page_latencies):.0f} ms"
        )
    finally:
        server.terminate()
        await server.wait()
    print(
        f"SQL statements: dashboard {await count_statements(settings, token, dashboard)}, "
        f"500-learner page {await count_statements(settings, token, page)}"
    )


if __name__ == "__main__":
    asyncio.run(main())
