"""What a hostile GraphQL request costs the server (issue 11: "cheaply, time per rejected document
bounded and measured").

    .venv/bin/python reliability/rejections.py [--rounds 30] [--output FILE]

Sends every hostile request of tests/test_graphql_hostile.py (depth bombs, alias floods, fragment
cycles and bombs, huge pages, batches, megabyte documents, introspection floods, wrong variable
types, unicode, nested JSON) to the app in-process (ASGI, no network) on a small SQLite demo site,
``--rounds`` times each, interleaved, with the demo's valid token; beside them, as yardsticks, a
one-field query (``{ me { id } }``) and the learner dashboard (queries/learner_dashboard.graphql).
Prints per request the answer (status, first error code) and the median and maximum time in
milliseconds, and the statements each sent to the database; ``--output`` writes them as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from definum_gql.app import create_app
from definum_gql.config import Settings
from definum_gql.demo import build_demo_site, demo_url
from reliability.common import ROOT, emit, summary
from tests.builders import NOW
from tests.test_graphql_hostile import HOSTILE, Hostile, send


def yardsticks() -> list[Hostile]:
    dashboard = (ROOT / "queries" / "learner_dashboard.graphql").read_text()
    return [
        Hostile("(yardstick) { me { id } }", {"query": "{ me { id } }"}),
        Hostile(
            "(yardstick) learner_dashboard",
            {"query": dashboard, "variables": {"by": "ID", "value": "4"}},
        ),
    ]


async def measure(rounds: int) -> dict[str, Any]:
    import httpx

    from definum_gql.moodle.reader import GLOBAL_LISTENERS

    with tempfile.TemporaryDirectory() as folder:
        url = demo_url(Path(folder) / "demo.sqlite")
        demo = await build_demo_site(url, users=60, courses=6, months=3, now=NOW)
        token = demo.tokens["valid"]
        settings = Settings(database_url=url, now=NOW, log_format="json")
        app = create_app(settings)
        cases = [*yardsticks(), *HOSTILE]
        times: dict[str, list[float]] = {case.name: [] for case in cases}
        answers: dict[str, str] = {}
        statements: dict[str, int] = {}
        sent: list[str] = []
        GLOBAL_LISTENERS.append(sent.append)
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://testserver") as http,
        ):
            for case in cases:  # warm-up: the schema, caches, the site's configuration
                await send(http, case, token)
            for _ in range(rounds):
                order = list(cases)
                random.shuffle(order)
                for case in order:
                    sent.clear()
                    started = time.perf_counter()
                    response = await send(http, case, token)
                    times[case.name].append(time.perf_counter() - started)
                    statements[case.name] = len(sent)
                    codes = [e["extensions"]["code"] for e in response.json().get("errors", [])]
                    answers[case.name] = f"{response.status_code} {codes[0] if codes else 'data'}"
        GLOBAL_LISTENERS.remove(sent.append)
    return {
        case.name: {
            "answer": answers[case.name],
            "median_ms": round(statistics.median(times[case.name]) * 1000, 2),
            "max_ms": round(max(times[case.name]) * 1000, 2),
            "statements": statements[case.name],
        }
        for case in cases
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    load_before = os.getloadavg()
    figures = asyncio.run(measure(args.rounds))
    emit(summary(load_before, rounds=args.rounds, requests=figures), args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
