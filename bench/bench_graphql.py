"""GraphQL learner dashboard against a same-run Strawberry ceiling: in-process latency and wrk.

The document is ``queries/learner_dashboard.graphql`` (``--by USERNAME --value yamada.taro`` by
default; ``--random-users`` asks for a random user id per request, for big sites). The ceiling is
``bench/graphql_ceiling.py``: the same types and fields resolved from constants by Strawberry's own
ASGI app, so ours / ceiling is what definum-gql adds to Strawberry's cost.

(a) in-process: ``create_app(load_settings())`` (settings from the environment: ``--url`` and
``--env``) and the ceiling app, each driven by httpx.AsyncClient over httpx.ASGITransport, lifespan
entered; ``--requests`` sequential POSTs after ``--warmup-requests``, p50/p90 per run.
(b) throughput: ``definum-gql serve --workers N`` and the ceiling on uvicorn with as many workers,
wrk with a Lua POST script (``--connections 8``), runs alternating.

    .venv/bin/python bench/bench_graphql.py \\
        --url postgresql+asyncpg://postgres@127.0.0.1:5432/definum_scenario \\
        --env DEFINUM_TOKEN_CACHE_SECONDS=0 DEFINUM_CURRENT_MONTH_CACHE_SECONDS=0 \\
        DEFINUM_NOW=1795628523
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import os
import random
import sys
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from benchlib import (
    ROOT,
    WRK_RUN_HEADER,
    Server,
    ServerFailed,
    WrkResult,
    access_logged,
    add_common_args,
    alternate,
    env_pairs,
    fetch,
    free_port,
    load_average,
    lookup_token,
    lookup_user_ids,
    lua_string,
    md_table,
    median,
    ms,
    ours_argv,
    percentile,
    print_machine_info,
    quiet_request_lines,
    ratio,
    rps,
    run_wrk,
    running,
    server_env,
    start_server,
    utc_now,
    uvicorn_argv,
    with_body_check,
    write_script,
    wrk_run_row,
    wrk_summary,
)
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

OURS, CEILING = "definum-gql", "ceiling"
DOCUMENT = ROOT / "queries" / "learner_dashboard.graphql"
PLACEHOLDER = "__BENCH_USER_ID__"

POST_LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = %(authorization)s
wrk.body = %(body)s
"""

RANDOM_POST_LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = %(authorization)s
local before, after = %(before)s, %(after)s
local ids = {%(ids)s}
function init(args)
  math.randomseed(os.time() + (tonumber(tostring({}):sub(8), 16) or 0))
end
function request()
  return wrk.format(nil, nil, nil, before .. ids[math.random(#ids)] .. after)
end
"""


@dataclass
class Latency:
    run: int
    server: str
    latencies: list[float]
    seconds: float
    load: str

    @property
    def p50(self) -> float:
        return median(self.latencies)

    @property
    def p90(self) -> float:
        return percentile(self.latencies, 90)

    @property
    def p99(self) -> float:
        return percentile(self.latencies, 99)

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds


def body_for(document: str, by: str, value: str) -> dict[str, Any]:
    return {"query": document, "variables": {"by": by, "value": value}}


def encode(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=True).encode()


def check_answer(name: str, status: int, raw: bytes) -> dict[str, Any]:
    """The answer's data; stops the benchmark on an HTTP or GraphQL error or a missing user."""
    try:
        answer = json.loads(raw)
    except ValueError:
        answer = None
    if status != 200 or not isinstance(answer, dict) or answer.get("errors"):
        raise SystemExit(f"{name} refused the dashboard ({status}): {raw[:500]!r}")
    data = answer.get("data") or {}
    if not data.get("user"):
        raise SystemExit(f"{name} found no user: {raw[:500]!r}")
    return dict(data)


def shape(data: dict[str, Any], size: int) -> str:
    user = data["user"]
    by_course = len((user.get("activity") or {}).get("byCourse") or [])
    return (
        f"{len(user.get('enrolments') or [])} enrolments, {len(user.get('badges') or [])} "
        f"badges, {by_course} byCourse rows, {size} bytes"
    )


# --- (a) in-process --------------------------------------------------------------------------


@contextlib.contextmanager
def counting_statements(app: Any) -> Iterator[list[str] | None]:
    """The SQL of every statement ours sends inside the block; None when it cannot be seen.

    definum-gql's reader runs most statements on the raw driver, past SQLAlchemy's events, and
    calls its ``GLOBAL_LISTENERS`` for every statement; older code only had the engine's events.
    """
    seen: list[str] = []
    try:
        reader = importlib.import_module("definum_gql.moodle.reader")
    except ImportError:
        reader = None
    listeners = getattr(reader, "GLOBAL_LISTENERS", None)
    if isinstance(listeners, list):
        listeners.append(seen.append)
        try:
            yield seen
        finally:
            listeners.remove(seen.append)
        return
    engine = getattr(getattr(app.state, "moodle", None), "engine", None)
    if not isinstance(engine, AsyncEngine):
        yield None
        return

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)


async def inprocess(
    args: argparse.Namespace, token: str, bodies: Sequence[bytes]
) -> tuple[list[Latency], dict[str, str], str]:
    """Per-run latencies of both apps, the answers' shapes, and our statements per request."""
    os.environ["DEFINUM_DATABASE_URL"] = args.url
    os.environ.update(env_pairs(args.env))
    from graphql_ceiling import app as ceiling_app

    from definum_gql.app import create_app
    from definum_gql.config import load_settings
    from definum_gql.server import settle_gc

    apps: dict[str, Any] = {}
    if OURS in args.contenders:
        apps[OURS] = create_app(load_settings())
        quiet_request_lines()
    if CEILING in args.contenders:
        apps[CEILING] = ceiling_app
    settle_gc()  # as a served process does, for both apps alike
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    results: list[Latency] = []
    shapes: dict[str, str] = {}
    statements = "?"

    async with app_clients(apps) as clients:
        for name, client in clients.items():
            response = await client.post("/graphql", content=bodies[0], headers=headers)
            data = check_answer(name, response.status_code, response.content)
            shapes[name] = shape(data, len(response.content))
        if OURS in apps:
            with counting_statements(apps[OURS]) as seen:
                await clients[OURS].post("/graphql", content=bodies[0], headers=headers)
            statements = "?" if seen is None else str(len(seen))

        for run, name in alternate(args.runs, list(apps)):
            client = clients[name]
            for i in range(args.warmup_requests):
                await client.post("/graphql", content=bodies[i % len(bodies)], headers=headers)
            latencies: list[float] = []
            load = load_average().split()[0]
            began = time.perf_counter()
            for i in range(args.requests):
                started = time.perf_counter()
                response = await client.post(
                    "/graphql", content=bodies[i % len(bodies)], headers=headers
                )
                latencies.append((time.perf_counter() - started) * 1000)
                if response.status_code != 200 or b'"errors"' in response.content:
                    raise SystemExit(f"{name}: HTTP {response.status_code} {response.text[:300]}")
            results.append(Latency(run, name, latencies, time.perf_counter() - began, load))
            print(f"<!-- in-process run {run} {name} done -->", file=sys.stderr, flush=True)
    return results, shapes, statements


@contextlib.asynccontextmanager
async def app_clients(apps: dict[str, Any]) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    """httpx clients over ASGITransport, each app's lifespan entered (as uvicorn would)."""
    async with contextlib.AsyncExitStack() as stack:
        clients: dict[str, httpx.AsyncClient] = {}
        for name, app in apps.items():
            await stack.enter_async_context(app.router.lifespan_context(app))
            transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
            clients[name] = await stack.enter_async_context(
                httpx.AsyncClient(transport=transport, base_url="http://bench", timeout=120)
            )
        yield clients


def report_inprocess(args: argparse.Namespace, results: list[Latency]) -> None:
    print(
        f"### (a) in-process, {args.requests} sequential requests after "
        f"{args.warmup_requests} warm-up, per run\n"
    )
    md_table(
        ["run", "server", "p50", "p90", "p99", "req/s", "load 1 min"],
        [[r.run, r.server, ms(r.p50), ms(r.p90), ms(r.p99), rps(r.rate), r.load] for r in results],
    )
    medians: dict[str, tuple[float, float, float, float]] = {}
    rows: list[list[object]] = []
    for name in args.contenders:
        mine = [r for r in results if r.server == name]
        if not mine:
            continue
        medians[name] = (
            median([r.p50 for r in mine]),
            median([r.p90 for r in mine]),
            median([r.p99 for r in mine]),
            median([r.rate for r in mine]),
        )
        p50, p90, p99, rate = medians[name]
        rows.append([name, ms(p50), ms(p90), ms(p99), rps(rate)])
    if len(medians) == 2:
        o, c = medians[OURS], medians[CEILING]
        rows.append(["**ours ÷ ceiling**", *(ratio(a, b) for a, b in zip(o, c, strict=True))])
    print(f"### (a) in-process: medians of {args.runs} runs\n")
    md_table(["server", "p50", "p90", "p99", "req/s (sequential)"], rows)


# --- (b) wrk ---------------------------------------------------------------------------------


def wrk_script(token: str, body: dict[str, Any], ids: list[int] | None) -> Path:
    authorization = lua_string(f"Bearer {token}")
    if ids is None:
        source = POST_LUA % {
            "authorization": authorization,
            "body": lua_string(encode(body).decode()),
        }
        return write_script(with_body_check(source, '"errors"'), "graphql_post.lua")
    before, _, after = encode(body).decode().partition(PLACEHOLDER)
    source = RANDOM_POST_LUA % {
        "authorization": authorization,
        "before": lua_string(before),
        "after": lua_string(after),
        "ids": ",".join(map(str, ids)),
    }
    return write_script(with_body_check(source, '"errors"'), "graphql_random.lua")


def throughput(
    args: argparse.Namespace, token: str, bodies: Sequence[bytes], script: Path
) -> tuple[dict[str, list[WrkResult]], dict[str, bool]]:
    env = server_env(args.url, env_pairs(args.env))
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    servers: list[Server] = []
    results: dict[str, list[WrkResult]] = {name: [] for name in args.contenders}
    with running(servers):
        port = args.port or free_port()
        ceiling_port = args.ceiling_port or free_port()
        starts = {
            OURS: (ours_argv(port, args.workers), port, "/healthz"),
            CEILING: (
                uvicorn_argv(
                    "bench.graphql_ceiling:app", ceiling_port, args.workers, args.ceiling_log_level
                ),
                ceiling_port,
                "/",
            ),
        }
        for name in args.contenders:
            argv, p, ready = starts[name]
            try:
                servers.append(start_server(name, argv, env, p, ready))
            except ServerFailed as exc:
                raise SystemExit(f"{exc}\n(the other servers are stopped)") from None
        by_name = {server.name: server for server in servers}
        for server in servers:
            status, raw = fetch(server.port, "/graphql", "POST", bodies[0], headers)
            try:
                check_answer(server.name, status, raw)
            except SystemExit as exc:
                raise SystemExit(f"{exc}\nserver log:\n{server.log_tail(40)}") from None
            if args.warmup:
                run_wrk(
                    server.port,
                    "/graphql",
                    threads=args.threads,
                    connections=args.connections,
                    duration=args.warmup,
                    script=script,
                )
        rows: list[list[object]] = []
        for run, name in alternate(args.runs, args.contenders):
            r = run_wrk(
                by_name[name].port,
                "/graphql",
                threads=args.threads,
                connections=args.connections,
                duration=args.duration,
                script=script,
            )
            results[name].append(r)
            rows.append(wrk_run_row(run, name, args.workers, args.connections, r))
            print(f"<!-- wrk run {run} {name}: {r.rps:.1f} req/s -->", file=sys.stderr, flush=True)
        print(f"### (b) wrk, per run (finished {utc_now()})\n")
        md_table(WRK_RUN_HEADER, rows)
        access = {server.name: access_logged(server) for server in servers}
    return results, access


def report_throughput(args: argparse.Namespace, results: dict[str, list[WrkResult]]) -> None:
    print(f"### (b) wrk: medians of {args.runs} runs\n")
    wrk_summary(results, args.workers, args.connections, OURS, CEILING)


# --- main ------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join((__doc__ or "").splitlines()[1:]),
    )
    add_common_args(parser, connections=8, workers=2)
    parser.add_argument("--by", default="USERNAME", help="UserIdField [%(default)s]")
    parser.add_argument("--value", default="yamada.taro", help="the learner [%(default)s]")
    parser.add_argument(
        "--random-users",
        action="store_true",
        help="a random user id (by: ID) among non-deleted users with id > 2, per request",
    )
    parser.add_argument(
        "--document", type=Path, default=DOCUMENT, help="GraphQL document [%(default)s]"
    )
    parser.add_argument(
        "--requests", type=int, default=300, help="in-process requests per run [%(default)s]"
    )
    parser.add_argument(
        "--warmup-requests",
        type=int,
        default=30,
        help="in-process warm-up requests per run [%(default)s]",
    )
    parser.add_argument(
        "--parts",
        nargs="+",
        choices=["inprocess", "wrk"],
        default=["inprocess", "wrk"],
        help="what to measure [both]",
    )
    parser.add_argument(
        "--contenders",
        nargs="+",
        choices=[OURS, CEILING],
        default=[OURS, CEILING],
        help="which apps to measure [both]",
    )
    parser.add_argument("--seed", type=int, default=1, help="random users' seed (in-process)")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    args.contenders = [name for name in (OURS, CEILING) if name in args.contenders]
    document = args.document.read_text(encoding="utf-8")
    token = args.token or lookup_token(args.url, args.prefix)
    ids: list[int] | None = None
    if args.random_users:
        ids = lookup_user_ids(args.url, args.prefix)
        rng = random.Random(args.seed)
        bodies = [encode(body_for(document, "ID", str(rng.choice(ids)))) for _ in range(256)]
        template = body_for(document, "ID", PLACEHOLDER)
        who = f"a random user id among {len(ids)} ({ids[0]}..{ids[-1]})"
    else:
        bodies = [encode(body_for(document, args.by, args.value))]
        template = body_for(document, args.by, args.value)
        who = f"by {args.by}, value {args.value}"

    print_machine_info(args.url, "GraphQL learner dashboard against a same-run Strawberry ceiling")
    print(
        f"- document: {args.document.name}, {who}; token {token[:6]}…; "
        f"server env: {' '.join(args.env) or '(none)'}"
    )
    print(
        "- ceiling: bench/graphql_ceiling.py (the same types and fields from constants, "
        "strawberry.asgi.GraphQL in Starlette, ParserCache + ValidationCache)\n",
        flush=True,
    )

    if "inprocess" in args.parts:
        results, shapes, statements = asyncio.run(inprocess(args, token, bodies))
        for name, text in shapes.items():
            print(f"- {name} answer: {text}")
        if OURS in args.contenders:
            print(f"- SQL statements of one warm dashboard request (definum-gql): {statements}")
        print()
        report_inprocess(args, results)

    if "wrk" in args.parts:
        print(
            f"- wrk -t{min(args.threads, args.connections)} -c{args.connections} "
            f"-d{args.duration}s --latency, POST /graphql (Lua), {args.warmup} s warm-up per "
            f"server; {args.workers} uvicorn workers each; started {utc_now()}\n",
            flush=True,
        )
        wrk_results, access = throughput(args, token, bodies, wrk_script(token, template, ids))
        report_throughput(args, wrk_results)
        print(
            "- uvicorn access log lines written: "
            + ", ".join(f"{name} {'yes' if on else 'no'}" for name, on in access.items())
        )
    print(f"- finished {utc_now()}, load average {load_average()}")


if __name__ == "__main__":
    main()
