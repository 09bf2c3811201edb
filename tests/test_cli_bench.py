"""The benchmark scripts answer --help, even without the project's venv."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench"


def test_bench_stats_help_needs_no_venv() -> None:
    # -S: no site-packages, as when run with another Python than the venv's.
    done = subprocess.run(
        [sys.executable, "-S", str(BENCH / "bench_stats.py"), "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.startswith("usage: bench_stats.py [-h] [--month MONTH] [--runs RUNS]")
    assert "--parts PARTS  comma-separated (default: docs,month,pages)" in done.stdout


def test_bench_stats_without_its_modules_says_so_in_one_line() -> None:
    done = subprocess.run(
        [sys.executable, "-S", str(BENCH / "bench_stats.py")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr == (
        "error: module 'httpx' not found: run it with the project's venv"
        " (.venv/bin/python bench/bench_stats.py)\n"
    )
