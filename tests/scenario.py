"""The shared Moodle 4.1 scenario site, loaded from its dumps into throwaway databases.

The PostgreSQL dump carries psql meta-commands (``\\restrict``), so both dumps are loaded with the
servers' own command-line clients, exactly as an administrator would restore them.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.engine import URL, make_url

from tests.databases import MY_ADMIN, PG_ADMIN, unreachable

SCENARIO_BACKENDS = ("postgresql", "mariadb")
#: The contract's "now": 2026-11-25T17:42:03Z, when the scenario site was built.
SCENARIO_NOW = 1795628523
_CLIENT = {"postgresql": "psql", "mariadb": "mariadb"}
_TIMEOUT = 300.0


@dataclass(frozen=True)
class ScenarioDatabase:
    backend: str
    name: str
    url: str
    admin: URL


async def _run(argv: list[str], env: dict[str, str], stdin: Path | None = None) -> tuple[int, str]:
    """Runs a client; returns its exit code and its stderr (stdout discarded)."""
    data = await asyncio.to_thread(stdin.read_bytes) if stdin else b""
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    try:
        _, err = await asyncio.wait_for(process.communicate(data), _TIMEOUT)
    except TimeoutError:
        process.kill()
        await process.wait()
        return -1, f"{argv[0]} timed out after {_TIMEOUT:.0f} s"
    return int(process.returncode or 0), err.decode(errors="replace")


def _psql(admin: URL, database: str) -> tuple[list[str], dict[str, str]]:
    env = dict(os.environ, PGCONNECT_TIMEOUT="5")
    if admin.password:
        env["PGPASSWORD"] = str(admin.password)
    argv = [
        "psql",
        "-X",
        "-h",
        admin.host or "127.0.0.1",
        "-p",
        str(admin.port or 5432),
        "-U",
        admin.username or "postgres",
        "-v",
        "ON_ERROR_STOP=1",
        "-q",
        "-d",
        database,
    ]
    return argv, env


def _mariadb(admin: URL, database: str | None) -> tuple[list[str], dict[str, str]]:
    env = dict(os.environ)
    if admin.password:
        env["MYSQL_PWD"] = str(admin.password)
    argv = [
        "mariadb",
        "--no-defaults",
        "--connect-timeout=5",
        f"-h{admin.host or '127.0.0.1'}",
        f"-P{admin.port or 3306}",
        f"-u{admin.username or 'root'}",
    ]
    return ([*argv, database] if database else argv), env


async def _admin_sql(backend: str, admin: URL, sql: str) -> tuple[int, str]:
    if backend == "postgresql":
        argv, env = _psql(admin, "postgres")
    else:
        argv, env = _mariadb(admin, None)
    return await _run([*argv, "-e" if backend == "mariadb" else "-c", sql], env)


async def load_scenario(backend: str, shared_dir: Path) -> ScenarioDatabase:
    """A new database on ``backend`` holding the scenario site (skips/fails when unavailable)."""
    client = _CLIENT[backend]
    if shutil.which(client) is None:
        unreachable(backend, f"the {client} client is not installed")
    admin = make_url(PG_ADMIN if backend == "postgresql" else MY_ADMIN)
    name = f"definum_scenario_{uuid.uuid4().hex[:10]}"
    if backend == "postgresql":
        create = f"CREATE DATABASE {name} ENCODING 'UTF8' TEMPLATE template0"
    else:
        create = f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
    code, err = await _admin_sql(backend, admin, create)
    if code != 0:
        unreachable(backend, (err.strip().splitlines() or ["no output"])[0])
    db = ScenarioDatabase(backend, name, _reader_url(backend, admin, name), admin)
    dumps = "postgres" if backend == "postgresql" else "mariadb"
    for part in ("schema", "scenario"):
        dump = shared_dir / "moodle" / f"{dumps}-{part}.sql"
        if backend == "postgresql":
            argv, env = _psql(admin, name)
            code, err = await _run([*argv, "-f", str(dump)], env)
        else:
            argv, env = _mariadb(admin, name)
            code, err = await _run(argv, env, stdin=dump)
        if code != 0:
            await drop_scenario(db)
            pytest.fail(f"loading {dump.name} into {backend} failed: {err.strip()[:500]}")
    return db


def _reader_url(backend: str, admin: URL, name: str) -> str:
    url = admin.set(database=name).render_as_string(hide_password=False)
    return url + "?charset=utf8mb4" if backend == "mariadb" else url


async def drop_scenario(db: ScenarioDatabase) -> None:
    if db.backend == "postgresql":
        sql = f"DROP DATABASE IF EXISTS {db.name} WITH (FORCE)"
    else:
        sql = f"DROP DATABASE IF EXISTS {db.name}"
    await _admin_sql(db.backend, db.admin, sql)
