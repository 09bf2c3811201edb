"""REST shim (`definum_get_stats`, JSON) against a same-run ceiling, with wrk and sequential calls.

Starts ``definum-gql serve --workers N`` and the ceiling (``bench/ceiling_app.py``: one SELECT on
mdl_user through SQLAlchemy Core async, same driver URL, same uvicorn worker count), warms both up,
then alternates them for ``--runs`` wrk runs (``-t2 -c4`` by default, ``--latency``), then times
sequential requests (each on a new connection, then all on one keep-alive connection). Prints
Markdown for BENCHMARKS.md: machine, per-run rows, medians over runs and ours / ceiling.

    .venv/bin/python bench/bench_rest.py \\
        --url postgresql+asyncpg://postgres@127.0.0.1:5432/definum_scenario \\
        --env DEFINUM_TOKEN_CACHE_SECONDS=0 DEFINUM_CURRENT_MONTH_CACHE_SECONDS=0 \\
        DEFINUM_NOW=1795628523

One learner (``--field username --value yamada.taro``) by default; ``--random-users`` asks for a
random ``useridfield=id`` among every non-deleted user with id > 2 instead (a wrk Lua script).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from dataclasses import dataclass
from urllib.parse import urlencode

from benchlib import (
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
    ratio,
    redact,
    run_wrk,
    running,
    sequential_ms,
    server_env,
    start_server,
    utc_now,
    uvicorn_argv,
    with_body_check,
    write_script,
    wrk_run_row,
    wrk_summary,
)

SHIM = "/webservice/rest/server.php"
OURS, CEILING = "definum-gql", "ceiling"

RANDOM_USERS_LUA = """
local token = %(token)s
local ids = {%(ids)s}
function init(args)
  math.randomseed(os.time() + (tonumber(tostring({}):sub(8), 16) or 0))
end
function request()
  local id = ids[math.random(#ids)]
  return wrk.format("GET", %(shim)s .. "?wstoken=" .. token ..
    "&wsfunction=definum_get_stats&moodlewsrestformat=json&useridfield=id&userid=" .. id)
end
"""


def shim_path(token: str, field: str, value: str) -> str:
    query = {
        "wstoken": token,
        "wsfunction": "definum_get_stats",
        "moodlewsrestformat": "json",
        "useridfield": field,
        "userid": value,
    }
    return f"{SHIM}?{urlencode(query)}"


@dataclass
class Seq:
    run: int
    server: str
    connection: str
    latencies: list[float]

    @property
    def p50(self) -> float:
        return median(self.latencies)

    @property
    def p95(self) -> float:
        return percentile(self.latencies, 95)

    @property
    def p99(self) -> float:
        return percentile(self.latencies, 99)


def check_answer(server: Server, path: str) -> int:
    """One call must succeed; returns the answer's size in bytes."""
    status, body = fetch(server.port, path)
    try:
        answer = json.loads(body)
    except ValueError:
        answer = None
    if status != 200 or not isinstance(answer, dict) or "exception" in answer:
        raise SystemExit(
            f"{server.name} refused the bench call ({status}): {body[:400]!r}\n"
            f"server log:\n{server.log_tail(40)}"
        )
    return len(body)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join((__doc__ or "").splitlines()[1:]),
    )
    add_common_args(parser, connections=4, workers=2)
    parser.add_argument("--field", default="username", help="useridfield [%(default)s]")
    parser.add_argument("--value", default="yamada.taro", help="userid [%(default)s]")
    parser.add_argument(
        "--random-users",
        action="store_true",
        help="a random useridfield=id among non-deleted users with id > 2, per request",
    )
    parser.add_argument(
        "--sequential",
        type=int,
        default=200,
        help="sequential requests per connection mode, server and run (0: skip) [%(default)s]",
    )
    parser.add_argument(
        "--contenders",
        nargs="+",
        choices=[OURS, CEILING],
        default=[OURS, CEILING],
        help="which servers to measure [both]",
    )
    parser.add_argument("--seed", type=int, default=1, help="random users' seed (sequential)")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    args.contenders = [name for name in (OURS, CEILING) if name in args.contenders]
    extra = env_pairs(args.env)
    token = args.token or lookup_token(args.url, args.prefix)
    if args.random_users:
        ids = lookup_user_ids(args.url, args.prefix)
        rng = random.Random(args.seed)
        sample_paths = [shim_path(token, "id", str(rng.choice(ids))) for _ in range(64)]
        source = RANDOM_USERS_LUA % {
            "token": lua_string(token),
            "ids": ",".join(map(str, ids)),
            "shim": lua_string(SHIM),
        }
        wrk_path, who = SHIM, f"a random user among {len(ids)} (ids {ids[0]}..{ids[-1]})"
    else:
        sample_paths = [shim_path(token, args.field, args.value)]
        source = ""
        wrk_path, who = sample_paths[0], f"{args.field} = {args.value}"

    script = write_script(with_body_check(source, '"exception"'), "rest.lua")

    print_machine_info(args.url, "REST shim: definum_get_stats (JSON) against a same-run ceiling")
    print(
        f"- learner: {who}; token {token[:6]}…; wrk -t{min(args.threads, args.connections)} "
        f"-c{args.connections} -d{args.duration}s --latency, {args.warmup} s warm-up per server;"
        f" {args.runs} runs, alternating"
    )
    print(f"- workers: {args.workers} each; server env: {' '.join(args.env) or '(none)'}")
    print(
        f"- ceiling: bench/ceiling_app.py, one `SELECT id, firstname, lastname, lastlogin FROM "
        f"{args.prefix}user WHERE {'id' if args.random_users else 'username'} = :u` "
        f"(SQLAlchemy Core async, {redact(args.url)})\n",
        flush=True,
    )

    env = server_env(args.url, {**extra, "CEILING_TABLE_PREFIX": args.prefix})
    servers: list[Server] = []
    with running(servers):
        port = args.port or free_port()
        ceiling_port = args.ceiling_port or free_port()
        starts = {
            OURS: (ours_argv(port, args.workers), port, "/healthz"),
            CEILING: (
                uvicorn_argv(
                    "bench.ceiling_app:app", ceiling_port, args.workers, args.ceiling_log_level
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
            size = check_answer(server, sample_paths[0])
            print(f"- {server.name}: port {server.port}, a sample answer is {size} bytes")
            if args.warmup:
                run_wrk(
                    server.port,
                    wrk_path,
                    threads=args.threads,
                    connections=args.connections,
                    duration=args.warmup,
                    script=script,
                )
        print()

        results: dict[str, list[WrkResult]] = {name: [] for name in args.contenders}
        print(f"### wrk, per run (started {utc_now()})\n")
        rows: list[list[object]] = []
        for run, name in alternate(args.runs, args.contenders):
            r = run_wrk(
                by_name[name].port,
                wrk_path,
                threads=args.threads,
                connections=args.connections,
                duration=args.duration,
                script=script,
            )
            results[name].append(r)
            rows.append(wrk_run_row(run, name, args.workers, args.connections, r))
            print(f"<!-- run {run} {name}: {r.rps:.1f} req/s -->", file=sys.stderr, flush=True)
        md_table(WRK_RUN_HEADER, rows)

        sequences: list[Seq] = []
        if args.sequential:
            for run, name in alternate(args.runs, args.contenders):
                for keep_alive in (False, True):
                    # Untimed: the first requests of a fresh connection or path are slower.
                    sequential_ms(by_name[name].port, sample_paths, 20, keep_alive=keep_alive)
                    latencies = sequential_ms(
                        by_name[name].port, sample_paths, args.sequential, keep_alive=keep_alive
                    )
                    label = "keep-alive" if keep_alive else "new connection"
                    sequences.append(Seq(run, name, label, latencies))
            print(f"### {args.sequential} sequential requests, per run\n")
            md_table(
                ["run", "server", "connection", "median", "p95", "p99"],
                [
                    [s.run, s.server, s.connection, ms(s.p50), ms(s.p95), ms(s.p99)]
                    for s in sequences
                ],
            )

        access = {server.name: access_logged(server) for server in servers}

    print(f"### Summary: medians of {args.runs} runs\n")
    wrk_summary(results, args.workers, args.connections, OURS, CEILING)

    if sequences:
        seq_rows: list[list[object]] = []
        for connection in ("new connection", "keep-alive"):
            values: dict[str, tuple[float, float, float]] = {}
            for name in args.contenders:
                mine = [s for s in sequences if s.server == name and s.connection == connection]
                values[name] = (
                    median([s.p50 for s in mine]),
                    median([s.p95 for s in mine]),
                    median([s.p99 for s in mine]),
                )
                seq_rows.append([name, connection, *(ms(v) for v in values[name])])
            if len(values) == 2:
                seq_rows.append(
                    [
                        "**ours ÷ ceiling**",
                        connection,
                        *(ratio(o, c) for o, c in zip(values[OURS], values[CEILING], strict=True)),
                    ]
                )
        print(f"### {args.sequential} sequential requests: medians of {args.runs} runs\n")
        md_table(["server", "connection", "median", "p95", "p99"], seq_rows)

    print(f"- finished {utc_now()}, load average {load_average()}")
    print(
        "- uvicorn access log lines written: "
        + ", ".join(f"{name} {'yes' if on else 'no'}" for name, on in access.items())
    )


if __name__ == "__main__":
    main()
