"""What the database server alone allows for targets 2 and 4: the log rows, read by the driver.

definum-gql cannot answer faster than its database hands over the rows a statistic needs. This
measures that floor with no definum-gql in the request path, on the 10,000-learner demo:

* ``learner``: the statement definum-gql sends for one learner's month (its own compiled text,
  with the index hints its site read chose), a random learner per statement, on each of
  ``--connections`` driver connections (8, as target 2's wrk; 32) for ``--duration`` seconds:
  statements/s. Beside it, the same rows' ``userid, timecreated, id`` alone, which Moodle's
  ``useconconcr`` index holds (no table page per row): what the server does when it need not
  read the table.
* ``batch``: 500 random learners' month, the same statement with an IN list of 500 (Moodle's
  indexes: a table page per row), and the month's counted rows read in primary-key order
  (``count(*)``: every page of the month once, what 500 random learners' rows touch), whole
  and in two halves at once, medians of ``--runs``.

Compare with ``bench_rest.py --random-users`` (target 2) and ``bench_stats.py --parts docs``
(target 4) in the same minutes.

    .venv/bin/python bench/bench_log_ceiling.py --month 2026-11 \\
        mysql+asyncmy://root@127.0.0.1:3306/definum_bench
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from benchlib import lookup_user_ids, machine_info

try:
    from sqlalchemy import bindparam, func, select
    from sqlalchemy.engine import make_url

    from definum_gql.config import Settings
    from definum_gql.moodle.engine import pg_session
    from definum_gql.moodle.queries import counted_row, index_hint
    from definum_gql.moodle.reader import Prepared, bucket, id_params
    from definum_gql.moodle.site import Moodle
    from definum_gql.stats.months import Month
except ModuleNotFoundError as exc:
    MISSING: str | None = exc.name
else:
    MISSING = None

#: Query = (SQL in the driver's style, argument tuple builder for a list of learner ids).
Query = tuple[str, Callable[[Sequence[int]], list[Any]]]


async def connect(url: str) -> Any:
    """A bare driver connection (asyncpg or asyncmy), autocommit as definum-gql's."""
    parsed = make_url(url)
    if parsed.drivername.startswith("postgresql"):
        import asyncpg

        return await asyncpg.connect(
            server_settings=pg_session(0),  # definum-gql's session: read-only, no JIT
            host=parsed.host,
            port=parsed.port or 5432,
            user=parsed.username,
            password=parsed.password,
            database=parsed.database,
        )
    import asyncmy

    return await asyncmy.connect(
        host=parsed.host or "127.0.0.1",
        port=parsed.port or 3306,
        user=parsed.username or "root",
        password=parsed.password or "",
        database=parsed.database,
        autocommit=True,
    )


async def fetch(conn: Any, sql: str, args: list[Any]) -> int:
    """The statement's rows, fetched whole; their count."""
    return len(await rows_of(conn, sql, args))


async def close(conn: Any) -> None:
    result = conn.close()
    if isinstance(result, Awaitable):
        await result


@dataclass(frozen=True)
class Ceiling:
    """The statements measured, compiled for the server's dialect after a site read (so with
    definum-gql's index hints)."""

    prepared: Prepared
    dialect: Any
    log: Any
    hints: tuple[str, ...]
    low: int
    high: int
    #: The count of the month's counted rows read in primary-key order: whole, then halves.
    counts: list[str]

    def rows(self, n: int) -> Query:
        """definum-gql's own statement for ``n`` learners' month rows."""
        compiled = self.prepared.compiled(self.dialect, bucket(n))
        return compiled.sql, self._binder(compiled.order, compiled.defaults)

    def keys(self, n: int) -> Query:
        """The same learners' rows in the same span, ``userid, timecreated, id`` alone and
        without the counted-row filter (it reads table columns), as the same index hints leave
        the server to read them."""
        log = self.log
        keys = select(log.c.userid, log.c.timecreated, log.c.id).where(
            log.c.timecreated >= bindparam("low"),
            log.c.timecreated < bindparam("high"),
            log.c.userid.in_([bindparam(f"id{k}") for k in range(bucket(n))]),
        )
        if self.hints:
            keys = keys.with_hint(log, index_hint(self.hints), dialect_name="mysql")
        order_by = keys.order_by(log.c.userid, log.c.timecreated, log.c.id)
        compiled = order_by.compile(dialect=self.dialect)
        return compiled.string, self._binder(tuple(compiled.positiontup or ()), {})

    def _binder(
        self, order: Sequence[str], defaults: Mapping[str, Any]
    ) -> Callable[[Sequence[int]], list[Any]]:
        def args(ids: Sequence[int]) -> list[Any]:
            values = {**defaults, **id_params(ids), "low": self.low, "high": self.high}
            return [values[k] for k in order]

        return args


async def ceiling_of(url: str, month: Month) -> Ceiling:
    """The statements to measure for ``month`` on ``url`` (one site read)."""
    moodle = Moodle.from_settings(Settings(database_url=url))
    try:
        async with moodle.request() as ctx:
            low, high = month.bounds(ctx.tz)
            log = ctx.tables.logstore_standard_log
            first, last = (
                await ctx.reader.execute(
                    select(func.min(log.c.id), func.max(log.c.id)).where(
                        log.c.timecreated >= low, log.c.timecreated < high
                    )
                )
            )[0]
        middle = (first + last) // 2
        counts = []
        for a, b in [(first, last), (first, middle), (middle + 1, last)]:
            count = select(func.count()).where(log.c.id.between(a, b), counted_row(log))
            # MariaDB would read the range through the realuserid index (ref NULL), a table
            # lookup per row: 3.8 s against 1.3 s for November here.
            count = count.with_hint(log, "FORCE INDEX (PRIMARY)", dialect_name="mysql")
            compiled = count.compile(
                dialect=moodle.db.dialect, compile_kwargs={"literal_binds": True}
            )
            counts.append(str(compiled))
        statements = moodle.statements
        return Ceiling(
            statements.log_rows,
            moodle.db.dialect,
            log,
            statements.ignored_log_indexes,
            low,
            high,
            counts,
        )
    finally:
        await moodle.dispose()


async def learner_rate(
    url: str, query: Query, ids: Sequence[int], connections: int, duration: float
) -> tuple[float, float]:
    """Statements/s and rows per statement, a random learner each, on ``connections``."""
    sql, args = query
    rng = random.Random(7)
    conns = [await connect(url) for _ in range(connections)]
    done, rows, stop = 0, 0, 0.0

    async def loop(conn: Any) -> None:
        nonlocal done, rows
        while time.perf_counter() < stop:
            n = await fetch(conn, sql, args([rng.choice(ids)]))
            rows, done = rows + n, done + 1

    try:
        for conn in conns:  # warm: each connection's first statement
            await fetch(conn, sql, args([rng.choice(ids)]))
        started = time.perf_counter()
        stop = started + duration
        await asyncio.gather(*(loop(conn) for conn in conns))
        elapsed = time.perf_counter() - started
    finally:
        for conn in conns:
            await close(conn)
    return done / elapsed, rows / max(done, 1)


async def one(url: str, sql: str, args: list[Any]) -> int:
    """Rows of one statement on a fresh connection (a count's value for a count)."""
    conn = await connect(url)
    try:
        if sql.lstrip().upper().startswith("SELECT COUNT"):
            rows = await rows_of(conn, sql, args)
            return int(rows[0][0])
        return await fetch(conn, sql, args)
    finally:
        await close(conn)


async def both(url: str, counts: Sequence[str]) -> int:
    return sum(await asyncio.gather(*(one(url, sql, []) for sql in counts)))


async def rows_of(conn: Any, sql: str, args: list[Any]) -> list[Any]:
    if hasattr(conn, "fetch"):  # asyncpg
        # Unnamed, so planned for these values each time, as definum-gql sends its statements
        # over a time range (Prepared.custom_plan); MariaDB's go as text here.
        unnamed = await conn.prepare(sql, name="")
        return list(await unnamed.fetch(*args))
    async with conn.cursor() as cursor:
        await cursor.execute(sql, tuple(args))
        return list(await cursor.fetchall())


async def bench(url: str, month: Month, args: argparse.Namespace) -> list[str]:
    ids = await asyncio.to_thread(lookup_user_ids, url, "mdl_")
    ceiling = await ceiling_of(url, month)
    lines = [f"### {make_url(url).get_backend_name()}, {month}", ""]
    if "learner" in args.parts:
        lines += [
            f"| one random learner's month, {args.duration:g} s a run | connections "
            "| statements/s | rows each |",
            "|---|---|---|---|",
        ]
        for name, query in (
            ("definum-gql's statement (every column a trail reads)", ceiling.rows(1)),
            ("the same rows' userid, timecreated, id (index only)", ceiling.keys(1)),
        ):
            for connections in args.connections:
                rate, rows = await learner_rate(url, query, ids, connections, args.duration)
                lines.append(f"| {name} | {connections} | {rate:,.0f} | {rows:,.0f} |")
        lines.append("")
    if "batch" in args.parts:
        rng = random.Random(11)
        sample = sorted(rng.sample(ids, 500))
        rows500 = ceiling.rows(500)
        whole, *halves = ceiling.counts
        lines += ["| 500 learners' month | median | min | rows |", "|---|---|---|---|"]
        contenders: dict[str, Callable[[], Awaitable[int]]] = {
            "500 random learners' rows, definum-gql's IN-list statement": lambda: one(
                url, rows500[0], rows500[1](sample)
            ),
            "the month's counted rows, read in primary-key order (`count(*)`)": lambda: one(
                url, whole, []
            ),
            "… in two halves at once, on two connections": lambda: both(url, halves),
        }
        for name, run in contenders.items():
            await run()  # warm
            times = []
            for _ in range(args.runs):
                started = time.perf_counter()
                n = await run()
                times.append(time.perf_counter() - started)
            lines.append(
                f"| {name} | {statistics.median(times) * 1000:,.0f} ms "
                f"| {min(times) * 1000:,.0f} ms | {n:,} |"
            )
        lines.append("")
    return lines


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("urls", nargs="+", help="databases built by bench/demo_build.py")
    parser.add_argument("--month", default="2026-11", help="YYYY-MM (default: %(default)s)")
    parser.add_argument(
        "--connections", type=int, nargs="+", default=[8, 32], help="(default: 8 32)"
    )
    parser.add_argument("--duration", type=float, default=15, help="seconds (default: 15)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs (default: 3)")
    parser.add_argument("--parts", default="learner,batch", help="(default: %(default)s)")
    return parser.parse_args(argv)


async def main(args: argparse.Namespace) -> None:
    month = Month.parse(args.month)
    for url in args.urls:
        print("\n".join(await asyncio.to_thread(machine_info, url)), "", sep="\n")
        print("\n".join(await bench(url, month, args)), flush=True)


if __name__ == "__main__":
    arguments = parse_args()
    if MISSING is not None:
        sys.exit(f"bench_log_ceiling: {MISSING} is missing: run it with the project's venv")
    asyncio.run(main(arguments))
