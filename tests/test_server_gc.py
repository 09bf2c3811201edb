"""Served processes keep start-up's objects out of the garbage collector (server.settle_gc).

Each case runs in a fresh interpreter: freezing is process-wide and would change the test run.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

# Prints the collector's state before and after building the app the way a served process does:
# the uvicorn factory of `serve --workers N`, or `server.run` (one worker; uvicorn.run replaced so
# that nothing is served: it records the state at the moment uvicorn would start).
PROBE = """
import gc, json, sys
import uvicorn
from definum_gql.config import load_settings
before = [gc.get_freeze_count(), gc.get_threshold()[0]]
if sys.argv[1] == "factory":
    from definum_gql.app import app_from_env
    app = app_from_env()
    after = [gc.get_freeze_count(), gc.get_threshold()[0]]
else:
    from definum_gql import server
    seen = []
    def run(app, **kw):
        seen.append([gc.get_freeze_count(), gc.get_threshold()[0]])
        seen.append(app)
    uvicorn.run = run
    server.run(load_settings(), workers=1)
    after, app = seen
# Frozen objects are out of the collector's reach: gc.get_objects() no longer lists them.
print(json.dumps({"before": before, "after": after,
                  "app_frozen": not any(o is app for o in gc.get_objects())}))
"""


@pytest.mark.parametrize("path", ["factory", "run"])
def test_a_served_process_freezes_what_start_up_built(tmp_path: Path, path: str) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "DEFINUM_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'never-opened.db'}",
    }
    done = subprocess.run(
        [sys.executable, "-c", PROBE, path],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    state = json.loads(done.stdout.strip().splitlines()[-1])
    frozen_before, young_before = state["before"]
    frozen, young = state["after"]
    # A fresh interpreter has nothing frozen; Strawberry, SQLAlchemy and Starlette alone make
    # tens of thousands of objects at import, and the app itself is frozen with them.
    assert frozen_before == 0
    assert frozen > 20_000
    assert state["app_frozen"]
    assert young > young_before
    # Building the app opens no database.
    assert not (tmp_path / "never-opened.db").exists()
