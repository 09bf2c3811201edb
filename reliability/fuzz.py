"""The long version of the generated-input tests (issue 11).

    .venv/bin/python reliability/fuzz.py [--examples 5000]

Runs tests/test_rest_generated.py (hypothesis-made raw requests on SQLite, PostgreSQL and
MariaDB; schemathesis from the OpenAPI document against a real serve),
tests/test_graphql_generated.py (hypothesis-graphql documents, valid and invalid, on the three
databases) and tests/test_injection.py
with ``DEFINUM_FUZZ_EXAMPLES`` cases per generated test instead of the normal suite's 200, new
random cases each run (the normal suite's are fixed), every database required. Exit status is
pytest's.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=5000, help="cases per generated test")
    args = parser.parse_args()
    env = {
        **os.environ,
        "DEFINUM_FUZZ_EXAMPLES": str(args.examples),
        "DEFINUM_TEST_REQUIRE_SERVERS": "1",
    }
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "--hypothesis-show-statistics",
        "tests/test_rest_generated.py",
        "tests/test_graphql_generated.py",
        "tests/test_injection.py",
    ]
    return subprocess.call(command, env=env, cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main())
