"""Build the benchmark demo site (10,000 users, ~5M log rows) and print the time of each stage.

    python bench/demo_build.py [postgresql|mariadb ...] [--users N] [--months M]

Builds into ``definum_bench`` on the local servers (created when missing), with the clock frozen
at 2026-11-25T17:42:03Z so that every benchmark run reads the same site.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from definum_gql.demo import build_demo_site

NOW = 1795628523
URLS = {
    "postgresql": "postgresql+asyncpg://postgres@127.0.0.1:5432/definum_bench",
    "mariadb": "mysql+asyncmy://root@127.0.0.1:3306/definum_bench",
}


async def ensure_database(url: str) -> None:
    parsed = make_url(url)
    name = parsed.database
    admin_db = "postgres" if parsed.get_backend_name() == "postgresql" else "mysql"
    admin = create_async_engine(parsed.set(database=admin_db), isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            if parsed.get_backend_name() == "postgresql":
                found = await conn.scalar(
                    text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
                )
                if not found:
                    await conn.execute(
                        text(f"CREATE DATABASE {name} ENCODING 'UTF8' TEMPLATE template0")
                    )
            else:
                found = await conn.scalar(
                    text("SELECT 1 FROM information_schema.schemata WHERE schema_name = :n"),
                    {"n": name},
                )
                if not found:
                    await conn.execute(
                        text(
                            f"CREATE DATABASE {name}"
                            " CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
                        )
                    )
    finally:
        await admin.dispose()


async def build(name: str, users: int, months: int, database: str) -> None:
    url = make_url(URLS[name]).set(database=database).render_as_string(hide_password=False)
    await ensure_database(url)
    started = time.perf_counter()
    stage_started: dict[str, float] = {}
    timings: dict[str, float] = {}

    def progress(stage: str, done: int, total: int) -> None:
        stage_started.setdefault(stage, time.perf_counter())
        if done == total:
            timings[stage] = time.perf_counter() - stage_started[stage]

    # The database is this script's own (created by it, named by --database): replace it even
    # when it predates demo-db's marker.
    result = await build_demo_site(
        url, users=users, months=months, now=NOW, seed=42, progress=progress, force=True
    )
    total = time.perf_counter() - started
    print(f"## {name}: {result.users} users, {result.courses} courses, {result.log_rows} log rows")
    for stage, seconds in timings.items():
        print(f"  {stage:<8} {seconds:8.1f} s")
    print(f"  {'total':<8} {total:8.1f} s")
    print(f"  valid token: {result.tokens['valid']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("databases", nargs="*", default=["postgresql", "mariadb"])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--months", type=int, default=2)
    parser.add_argument("--database", default="definum_bench")
    args = parser.parse_args()
    for name in args.databases:
        asyncio.run(build(name, args.users, args.months, args.database))


if __name__ == "__main__":
    main()
