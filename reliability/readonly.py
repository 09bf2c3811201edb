"""The generated-input suites against an account that may only SELECT (issue 11), long run.

    .venv/bin/python reliability/readonly.py [--examples 2000] [--backend postgresql mariadb]

For each database server (the machine's PostgreSQL on 127.0.0.1:5432 and MariaDB on
127.0.0.1:3306, administrators without a password, as the test suite uses them): a fresh
database holding a demo site, an account granted SELECT on it and nothing else, a real
``definum-gql serve --workers 2`` reading through that account; then ``--examples`` generated
REST requests over raw sockets, as many schemathesis cases from the OpenAPI document, and as many
valid and invalid generated GraphQL documents (tests/readonly_account.py, which the normal suite
runs with a few dozen cases). Every answer must be one the service may give, and the server's log
must hold no error. The account and the database are dropped at the end, whatever happened.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reliability.common import emit, summary
from tests.readonly_account import (
    log_problems,
    select_only_site,
    served_generated,
    write_attempt,
)


async def one_backend(backend: str, examples: int) -> dict[str, Any]:
    started = time.monotonic()
    async with select_only_site(backend, users=200) as site:
        refused = await write_attempt(site.reader_url)
        counts, log = await served_generated(site, examples)
    return {
        "backend": backend,
        "account": f"{site.account} (SELECT only)",
        "write_refused": refused.splitlines()[0] if refused else "NOT REFUSED",
        "answers": dict(sorted(counts.items())),
        "total": sum(counts.values()),
        "log_errors": log_problems(log)[:10],
        "seconds": round(time.monotonic() - started, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--examples", type=int, default=2000, help="cases per generated suite")
    parser.add_argument("--backend", nargs="+", default=["postgresql", "mariadb"])
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    load_before = os.getloadavg()
    results = [asyncio.run(one_backend(b, args.examples)) for b in args.backend]
    emit(summary(load_before, examples=args.examples, results=results), args.output)
    ok = all(not r["log_errors"] and r["write_refused"] != "NOT REFUSED" for r in results)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
