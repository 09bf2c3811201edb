"""A short run of the long load test, reliability/load.py (issue 11).

wrk (reliability/mix.lua) for a few seconds at 8 connections against ``definum-gql serve
--workers 2`` on a small demo site: half REST ``definum_get_stats``, most of the rest GraphQL for
the same random learners, a twentieth GraphQL without a token (the deliberate 401). Every answer
must be a full answer or that 401, and both workers must still be the ones that started.
RELIABILITY.md has the ten-minute figures on the 10,000-learner demo.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
from pathlib import Path

from definum_gql.demo import build_demo_site, demo_url
from tests.throwaway import missing

ROOT = Path(__file__).resolve().parents[1]


async def test_a_short_mixed_load_answers_every_request(tmp_path: Path) -> None:
    if shutil.which("wrk") is None:
        missing("wrk is not installed (apt-get install wrk)")
    url = demo_url(tmp_path / "demo.sqlite")
    demo = await build_demo_site(url, users=60, courses=6, months=2)
    summary_file = tmp_path / "load.json"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "reliability" / "load.py"),
        "--minutes=0.1",
        "--connections=8",
        "--workers=2",
        f"--database-url={url}",
        f"--token={demo.tokens['valid']}",
        f"--output={summary_file}",
        f"--log={tmp_path / 'serve.log'}",
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 180)
    assert process.returncode == 0, output.decode(errors="replace")[-3000:]
    summary = json.loads(summary_file.read_text())
    assert summary["errors"] == 0, summary
    assert summary["workers_alive_at_end"], summary
    # Each kind of request was sent and answered as it should be.
    assert summary["rest_ok"] > 0, summary
    assert summary["graphql_ok"] > 0, summary
    assert summary["refused_401"] > 0, summary
    answered = summary["rest_ok"] + summary["graphql_ok"] + summary["refused_401"]
    assert answered == summary["requests"], summary
    log = (tmp_path / "serve.log").read_text(errors="replace")
    assert "Traceback" not in log, log[-3000:]
    assert '"level": "error"' not in log, log[-3000:]
