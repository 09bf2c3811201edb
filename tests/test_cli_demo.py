"""The demo through the command: `demo-db` never destroys a site it did not build, the same seed
and --now give the same rows, the current month always has activity, and `serve --demo` /
`stats --demo` rebuild a stale demo file.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from definum_gql.demo import DemoMarker, stale_reason
from tests import databases
from tests.builders import NOW, Site
from tests.databases import BACKENDS, create_database, drop_database

SMALL = ("--users", "12", "--courses", "4", "--months", "1")
# 2026-12-01T00:00 in Europe/Paris (UTC+1) is 2026-11-30T23:00Z: NOW (2026-11-25T17:42:03Z)
# plus 5 days 5:17:57.
DECEMBER = NOW + 5 * 86400 + 5 * 3600 + 17 * 60 + 57
assert DECEMBER == 1796079600
# 2026-07-01T00:00 in Europe/Paris (UTC+2) is 2026-06-30T22:00Z: 2026-01-01T00:00Z
# (1767225600) plus 180 days and 22 hours.
JULY = 1767225600 + 180 * 86400 + 22 * 3600


async def run_cli(*args: str, **extra: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEFINUM_")}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "definum_gql",
        *args,
        env={**env, "DEFINUM_CONFIG_FILE": "", **extra},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    return process.returncode or 0, out.decode(), err.decode()


def dump(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows (sqlite_stat1 too) ordered by all columns, read with plain sqlite3."""
    with sqlite3.connect(path) as db:
        names = [
            name
            for (name,) in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            )
        ]
        out = {}
        for name in names:
            width = len(db.execute(f"SELECT * FROM {name} LIMIT 1").description)
            order = ", ".join(str(n) for n in range(1, width + 1))
            out[name] = db.execute(f"SELECT * FROM {name} ORDER BY {order}").fetchall()
        return out


def scalar(path: Path, sql: str, *params: Any) -> Any:
    with sqlite3.connect(path) as db:
        return db.execute(sql, params).fetchone()[0]


def marker_of(path: Path) -> dict[str, int]:
    value = scalar(path, "SELECT value FROM mdl_config WHERE name = 'definum_demo'")
    return dict(json.loads(value))


# Item: seed + --now give identical rows.


async def test_same_seed_and_now_give_identical_files(tmp_path: Path) -> None:
    first, second, later = tmp_path / "a.sqlite", tmp_path / "b.sqlite", tmp_path / "c.sqlite"
    now = ("--seed", "7", "--now", "2026-11-25T17:42:03Z")
    a = await run_cli("demo-db", str(first), *SMALL, *now)
    b = await run_cli("demo-db", str(second), *SMALL, "--seed", "7", "--now", str(NOW))
    c = await run_cli("demo-db", str(later), *SMALL, "--seed", "7", "--now", "2026-11-26")
    assert (a[0], b[0], c[0]) == (0, 0, 0)
    rows = dump(first)
    assert rows == dump(second)
    assert len(rows["mdl_logstore_standard_log"]) > 1000
    assert a[1] == b[1]  # the token
    assert len(a[1].strip()) == 32
    # Another "now" gives another log, but the same tokens: they come from the seed alone.
    assert dump(later)["mdl_logstore_standard_log"] != rows["mdl_logstore_standard_log"]
    assert c[1] == a[1]
    assert marker_of(first) == {
        "now": NOW,
        "seed": 7,
        "users": 12,
        "courses": 4,
        "months": 1,
        "version": 1,
    }
    # Not a terminal: one plain line per finished stage, no escape codes, then the summary.
    assert "\x1b" not in a[2]
    lines = a[2].splitlines()
    assert lines[:3] == ["  schema: 1/1", "  site: 1/1", "  people: 1/1"]
    assert lines[-1].startswith("Built in ")
    assert lines[-1].endswith(
        f"14 users, 4 courses, {len(rows['mdl_logstore_standard_log']):,} log rows"
    )


async def test_a_bad_now_is_one_line(tmp_path: Path) -> None:
    code, out, err = await run_cli("demo-db", str(tmp_path / "x.sqlite"), "--now", "tomorrow")
    assert (code, out) == (2, "")
    assert err == (
        "error: --now: 'tomorrow' is neither a Unix time nor an ISO date"
        " (e.g. 1795628523, 2026-12-01 or 2026-12-01T08:30:00+01:00)\n"
    )
    assert os.listdir(tmp_path) == []


# Item: the current month has activity even in its first hour.


@pytest.mark.parametrize(
    ("month_start", "minutes"),
    [(DECEMBER, 30), (DECEMBER, 5), (JULY, 20), (DECEMBER, 23 * 60)],
    ids=["december+30min", "december+5min", "july+20min", "december+23h"],
)
async def test_the_current_month_has_activity_from_its_first_hour(
    tmp_path: Path, month_start: int, minutes: int
) -> None:
    now = month_start + minutes * 60
    path = tmp_path / "demo.sqlite"
    code, _, _ = await run_cli("demo-db", str(path), *SMALL, "--now", str(now))
    assert code == 0
    learners = scalar(
        path,
        "SELECT COUNT(DISTINCT userid) FROM mdl_logstore_standard_log"
        " WHERE timecreated >= ? AND timecreated < ? AND userid > 2",
        month_start,
        now,
    )
    later = scalar(
        path, "SELECT COUNT(*) FROM mdl_logstore_standard_log WHERE timecreated >= ?", now
    )
    assert learners >= 3
    assert later == 0
    # The dashboards say so: a learner's logins this month, counted by hand and by `stats`.
    with sqlite3.connect(path) as db:
        user, logins = db.execute(
            "SELECT userid, COUNT(*) FROM mdl_logstore_standard_log"
            " WHERE timecreated >= ? AND timecreated < ? AND action = 'loggedin' AND userid > 2"
            " AND realuserid IS NULL GROUP BY userid ORDER BY userid LIMIT 1",
            (month_start, now),
        ).fetchone()
    code, out, _ = await run_cli(
        "stats",
        str(user),
        "--format",
        "json",
        DEFINUM_DATABASE_URL=f"sqlite+aiosqlite:///{path}",
        DEFINUM_NOW=str(now),
    )
    assert code == 0
    assert json.loads(out)["loginsinmonth"] == logins >= 1


# Item: demo-db replaces only what it built.


@pytest.fixture(params=BACKENDS)
async def foreign_site(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[databases.TestDatabase]:
    """A Moodle site demo-db did not build: the installer's 2 users, 3 more, 4 log rows."""
    db = await create_database(request.param, tmp_path)
    site = Site(db)
    await site.reset()
    users = [await site.user() for _ in range(3)]
    for n, user in enumerate([*users, users[0]]):
        await site.log(user, NOW - n * 60)
    yield db
    await drop_database(db)


def _target(db: databases.TestDatabase) -> tuple[str, str]:
    """What to pass to demo-db, and how its refusal names it."""
    url = make_url(db.url)
    if db.backend == "sqlite":
        assert url.database is not None
        return url.database, url.database
    return db.url, url.render_as_string(hide_password=True)


async def test_demo_db_refuses_a_site_it_did_not_build(
    foreign_site: databases.TestDatabase,
) -> None:
    target, shown = _target(foreign_site)
    code, out, err = await run_cli("demo-db", target, *SMALL, "--now", str(NOW))
    assert (code, out) == (2, "")
    assert err == (
        f"error: {shown} holds a Moodle site not built by demo-db: 5 users, 4 log rows;"
        " pass --force to replace it\n"
    )
    site = Site(foreign_site)
    assert await site.count(foreign_site.tables.user) == 5
    assert await site.count(foreign_site.tables.logstore_standard_log) == 4

    code, out, _ = await run_cli("demo-db", target, *SMALL, "--now", str(NOW), "--force")
    assert code == 0
    assert len(out.strip()) == 32
    assert await site.count(foreign_site.tables.user) == 14
    # Built now, it is demo-db's own: replaced again without --force.
    code, again, _ = await run_cli("demo-db", target, *SMALL, "--now", str(NOW))
    assert (code, again) == (0, out)


async def test_demo_db_fills_empty_moodle_tables(tmp_path: Path) -> None:
    db = await create_database("sqlite", tmp_path)  # Moodle's tables, no rows
    try:
        code, _, _ = await run_cli("demo-db", _target(db)[0], *SMALL, "--now", str(NOW))
        assert code == 0
        assert await Site(db).count(db.tables.user) == 14
    finally:
        await drop_database(db)


async def test_demo_db_leaves_other_tables_alone(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
        db.execute("INSERT INTO notes (text) VALUES ('keep me')")
    code, _, _ = await run_cli("demo-db", str(path), *SMALL, "--now", str(NOW))
    assert code == 0
    assert dump(path)["notes"] == [(1, "keep me")]


# Item: serve --demo / stats --demo rebuild a stale demo file.


def test_stale_reason() -> None:
    path = Path(__file__)  # exists
    built = DemoMarker(now=DECEMBER + 600, seed=42, users=200, courses=12, months=3)
    assert stale_reason(Path("/nonexistent/demo.sqlite"), None, NOW, frozen=False) == "first run"
    assert stale_reason(path, None, NOW, frozen=False) == (
        "it has no demo marker: built by an older version"
    )
    # Built 10 minutes into December (Paris): fresh for the rest of that day.
    assert stale_reason(path, built, DECEMBER + 3600, frozen=False) is None
    assert stale_reason(path, built, DECEMBER + 600 + 86400, frozen=False) is None
    assert stale_reason(path, built, DECEMBER + 601 + 86400, frozen=False) == (
        "built more than a day ago"
    )
    # Built a minute before December began (Paris): stale as soon as it has.
    november = DemoMarker(now=DECEMBER - 60, seed=42, users=200, courses=12, months=3)
    assert stale_reason(path, november, DECEMBER - 1, frozen=False) is None
    assert stale_reason(path, november, DECEMBER, frozen=False) == "built before this month"
    # In UTC the month begins an hour later: still November there.
    assert stale_reason(path, november, DECEMBER, frozen=False, timezone="UTC") is None
    assert stale_reason(path, built, DECEMBER, frozen=False) == "built for a later time than now"
    # A frozen clock (DEFINUM_NOW) wants exactly its moment.
    assert stale_reason(path, built, DECEMBER + 600, frozen=True) is None
    assert stale_reason(path, built, DECEMBER + 601, frozen=True) == (
        "built for another DEFINUM_NOW"
    )


async def test_stats_demo_rebuilds_a_stale_demo_file(tmp_path: Path) -> None:
    data = {"XDG_DATA_HOME": str(tmp_path)}
    path = tmp_path / "definum-gql" / "demo.sqlite"
    code, token, _ = await run_cli("demo-db", *SMALL, "--seed", "9", "--now", "2026-10-15", **data)
    assert code == 0
    assert marker_of(path)["now"] == 1792022400  # 2026-10-15T00:00Z

    before = int(time.time())
    code, out, err = await run_cli("stats", "5", "--demo", "--format", "json", **data)
    after = int(time.time())
    assert code == 0
    assert err.splitlines()[0] == (
        f"Building the demo Moodle site in {path} (built before this month)..."
    )
    assert f"Demo token: {token.strip()}" in err
    rebuilt = marker_of(path)
    assert before <= rebuilt["now"] <= after
    assert (rebuilt["seed"], rebuilt["users"], rebuilt["courses"], rebuilt["months"]) == (
        9,
        12,
        4,
        1,
    )
    assert json.loads(out)["id"] == 5
    # Fresh now: used as it is.
    code, _, err = await run_cli("stats", "5", "--demo", **data)
    assert code == 0
    assert "Building" not in err
    assert marker_of(path) == rebuilt
    assert os.listdir(path.parent) == ["demo.sqlite"]


async def test_a_frozen_clock_rebuilds_the_demo_for_its_moment(tmp_path: Path) -> None:
    data = {"XDG_DATA_HOME": str(tmp_path)}
    path = tmp_path / "definum-gql" / "demo.sqlite"
    code, _, err = await run_cli("demo-db", *SMALL, "--now", str(NOW), **data)
    assert code == 0
    code, _, err = await run_cli("stats", "5", "--demo", **data, DEFINUM_NOW=str(DECEMBER + 1800))
    assert code == 0
    assert err.splitlines()[0].endswith("(built for another DEFINUM_NOW)...")
    assert marker_of(path)["now"] == DECEMBER + 1800
    assert marker_of(path)["users"] == 12
    code, _, err = await run_cli("stats", "5", "--demo", **data, DEFINUM_NOW=str(DECEMBER + 1800))
    assert (code, "Building" in err) == (0, False)


async def test_an_old_demo_file_without_marker_is_rebuilt(tmp_path: Path) -> None:
    data = {"XDG_DATA_HOME": str(tmp_path)}
    path = tmp_path / "definum-gql" / "demo.sqlite"
    path.parent.mkdir()
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE mdl_config (id INTEGER PRIMARY KEY, name TEXT, value TEXT)")
    code, _, err = await run_cli("stats", "5", "--demo", **data, DEFINUM_NOW=str(NOW))
    assert code == 0
    assert err.splitlines()[0] == (
        f"Building the demo Moodle site in {path}"
        " (it has no demo marker: built by an older version)..."
    )
    # Rebuilt with the defaults: 200 people, guest and admin.
    assert scalar(path, "SELECT COUNT(*) FROM mdl_user") == 202
