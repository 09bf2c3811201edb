"""Does the wrong-token path take the same time whatever the token's prefix? (issue 11)

    .venv/bin/python reliability/timing.py [--rounds 3000]
        [--database-url postgresql+asyncpg://postgres@127.0.0.1:5432/definum_bench]
        [--token TOKEN]

Sends wrong tokens of several kinds to both doors of the app (in-process, no network: the
noise is the app's and the database's own), interleaved at random so that any drift of the
machine spreads over every kind alike: tokens sharing 0, 1, 8, 16 or 31 leading characters
with a real token, the real token in upper case (MariaDB's collation finds its row, the
constant-time comparison refuses it), lengths 1 and 128, and an empty token. Prints, per door
and kind, the median and the 90th percentile in microseconds and the median's distance from
the random token's; ``--output`` writes them as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reliability.common import emit, first_token, summary

DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/definum_bench"
HEX = "0123456789abcdef"


def _other(ch: str) -> str:
    return HEX[(HEX.index(ch) + 1) % 16] if ch in HEX else "0"


def kinds(token: str, rng: random.Random) -> dict[str, str]:
    def sharing(n: int) -> str:
        rest = "".join(rng.choice(HEX) for _ in range(len(token) - n - 1))
        return token[:n] + _other(token[n]) + rest

    return {
        "random": sharing(0),
        "prefix 1": sharing(1),
        "prefix 8": sharing(8),
        "prefix 16": sharing(16),
        "prefix 31": sharing(31),
        "upper case": token.upper(),
        "length 1": "a",
        "length 128": "".join(rng.choice(HEX) for _ in range(128)),
        "empty": "",
    }


async def measure(url: str, token: str, rounds: int) -> dict[str, Any]:
    import httpx

    from definum_gql.app import create_app
    from definum_gql.config import Settings
    from definum_gql.moodle.site import Moodle

    settings = Settings(database_url=url, log_format="json")
    moodle = Moodle.from_settings(settings)
    app = create_app(settings, moodle)
    transport = httpx.ASGITransport(app=app, client=("192.0.2.10", 40000))
    rng = random.Random(11)
    tokens = kinds(token, rng)
    timings: dict[tuple[str, str], list[float]] = {
        (door, kind): [] for door in ("rest", "graphql") for kind in tokens
    }
    import logging

    logging.getLogger("definum_gql").setLevel(logging.CRITICAL)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:

        async def once(door: str, value: str) -> float:
            started = time.perf_counter()
            if door == "rest":
                answer = await http.get(
                    "/webservice/rest/server.php",
                    params={
                        "wstoken": value,
                        "wsfunction": "definum_get_stats",
                        "useridfield": "id",
                        "userid": "3",
                        "moodlewsrestformat": "json",
                    },
                )
                assert answer.json()["errorcode"] == "invalidtoken", answer.text
            else:
                answer = await http.post(
                    "/graphql",
                    json={"query": "{ me { id } }"},
                    headers={"Authorization": f"Bearer {value}"},
                )
                assert answer.status_code == 401, answer.text
            return time.perf_counter() - started

        # Warm-up: connections, prepared statements, caches of the site's configuration.
        for door, kind in timings:
            for _ in range(20):
                await once(door, tokens[kind])
        order = [key for key in timings for _ in range(rounds)]
        rng.shuffle(order)
        for door, kind in order:
            timings[door, kind].append(await once(door, tokens[kind]))
    await moodle.dispose()

    result: dict[str, Any] = {}
    for door in ("rest", "graphql"):
        base = statistics.median(timings[door, "random"]) * 1e6
        rows = {}
        for kind in tokens:
            values = sorted(timings[door, kind])
            median = statistics.median(values) * 1e6
            rows[kind] = {
                "median_us": round(median, 1),
                "p90_us": round(values[int(0.9 * len(values))] * 1e6, 1),
                "vs_random_us": round(median - base, 1),
            }
        result[door] = rows
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3000, help="requests per door and kind")
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument(
        "--token", help="web service token (default: the database's first unrestricted one)"
    )
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    if args.token is None:
        args.token = first_token(args.database_url)
    load_before = os.getloadavg()
    figures = asyncio.run(measure(args.database_url, args.token, args.rounds))
    database = args.database_url.split("@")[-1]
    emit(summary(load_before, database=database, rounds=args.rounds, **figures), args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
