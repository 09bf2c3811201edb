"""``definum-gql doctor`` on the real scenario site, an empty database and a read-only account."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from definum_gql.demo import build_demo_site, demo_url
from definum_gql.doctor import Report, Status, examine, render
from definum_gql.moodle.site import Moodle
from tests.builders import NOW
from tests.databases import admin_execute, settings_for
from tests.scenario import (
    SCENARIO_BACKENDS,
    ScenarioDatabase,
    drop_scenario,
    load_scenario,
)
from tests.test_cli import run_cli

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
HAS_SHARED = (SHARED / "moodle").is_dir()


@pytest.fixture(scope="module", params=SCENARIO_BACKENDS)
async def scenario(request: pytest.FixtureRequest) -> AsyncIterator[ScenarioDatabase]:
    if not HAS_SHARED:
        pytest.skip("../shared is absent (a fresh clone); CI has it")
    db = await load_scenario(request.param, SHARED)
    yield db
    await drop_scenario(db)


async def doctor(url: str, **settings: object) -> Report:
    moodle = Moodle.from_settings(settings_for(url, **settings))
    try:
        return await examine(moodle)
    finally:
        await moodle.dispose()


def by_check(report: Report) -> dict[str, list[tuple[Status, str]]]:
    found: dict[str, list[tuple[Status, str]]] = {}
    for finding in report.findings:
        found.setdefault(finding.check, []).append((finding.status, finding.summary))
    return found


async def test_the_scenario_site_passes_with_advice(scenario: ScenarioDatabase) -> None:
    report = await doctor(scenario.url)
    found = by_check(report)
    assert not report.blocking
    assert found["tables"] == [(Status.OK, "Moodle's tables found with prefix 'mdl_'")]
    assert found["moodle"] == [(Status.OK, "Moodle 4.1.10 (Build: 20240422) (version 2022112810)")]
    assert found["web services"][0][0] is Status.OK
    # The dump's services offering definum_get_stats (its own has no shortname) and their
    # tokens: service 2 holds tokens 1-6 and 10, of which token 2 expired in November 2026.
    assert found["service"] == [
        (Status.OK, "'definum' (id 2): enabled, 6 unexpired token(s)"),
        (Status.OK, "'Disabled definum copy' (id 4): disabled, 1 unexpired token(s)"),
        (
            Status.OK,
            "'Restricted definum copy' (id 5): enabled, restricted to listed users,"
            " 1 unexpired token(s)",
        ),
    ]
    # The test servers' admin accounts can write; Moodle's own indexes lack (userid, timecreated).
    assert found["account"][0][0] is Status.WARN
    assert found["index"][0][0] is Status.WARN
    index_fix = next(f for f in report.findings if f.check == "index").fix[0]
    assert index_fix.startswith("CREATE INDEX")
    assert "(userid, timecreated, id" in index_fix
    assert found["clock"][0][0] is Status.OK
    # The dumps hold auth_oidc's token table (two rows).
    assert found["auth_oidc"] == [
        (Status.OK, "auth_oidc present: oidcuniqueid/oidcusername lookups work")
    ]
    text = render(report)
    assert text.endswith("no blocking problem\n")
    assert "        fix: CREATE INDEX" in text


async def test_a_read_only_account_is_recognised(scenario: ScenarioDatabase) -> None:
    name = f"definum_ro_{uuid.uuid4().hex[:8]}"
    if scenario.backend == "postgresql":
        setup = [
            f"CREATE ROLE {name} LOGIN",
            f"GRANT CONNECT ON DATABASE {scenario.name} TO {name}",
            f"GRANT USAGE ON SCHEMA public TO {name}",
            f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {name}",
        ]
        teardown = [f"DROP OWNED BY {name}", f"DROP ROLE {name}"]
    else:
        setup = [f"CREATE USER '{name}'@'%'", f"GRANT SELECT ON {scenario.name}.* TO '{name}'@'%'"]
        teardown = [f"DROP USER '{name}'@'%'"]
    await admin_execute(scenario.url, *setup)
    try:
        url = make_url(scenario.url).set(username=name, password=None)
        report = await doctor(url.render_as_string(hide_password=False))
    finally:
        await admin_execute(scenario.url, *teardown)
    account = next(f for f in report.findings if f.check == "account")
    assert account.status is Status.OK, account
    assert name in account.summary
    assert not report.blocking


async def test_an_empty_database_is_a_blocking_problem(tmp_path: Path) -> None:
    path = tmp_path / "empty.sqlite"
    sqlite3.connect(path).close()
    report = await doctor(demo_url(path))
    assert report.blocking
    assert [f.check for f in report.findings] == ["connection", "tables"]
    tables = report.findings[1]
    assert tables.status is Status.FAIL
    assert tables.summary.startswith("no Moodle tables with prefix 'mdl_': missing mdl_config,")
    assert render(report).endswith(
        "blocking problems: definum-gql cannot serve this site as it is\n"
    )


async def test_the_wrong_prefix_is_a_blocking_problem(scenario: ScenarioDatabase) -> None:
    report = await doctor(scenario.url, table_prefix="moodle_")
    assert report.blocking
    assert report.findings[-1].check == "tables"
    assert report.findings[-1].fix == [
        "set DEFINUM_TABLE_PREFIX to Moodle's $CFG->prefix (config.php)"
    ]
    assert report.findings[-1].summary.endswith("(the database has a site with prefix 'mdl_')")


async def test_an_unreachable_database_is_a_blocking_problem() -> None:
    report = await doctor("postgresql+asyncpg://nobody:s3cret-pw@127.0.0.1:1/moodle")
    assert report.blocking
    assert report.findings[0].check == "connection"
    assert report.findings[0].summary.startswith(
        "cannot connect to postgresql+asyncpg://nobody:***@127.0.0.1:1/moodle: "
    )
    assert "s3cret-pw" not in render(report)


async def test_the_command_prints_the_report_and_exits_1_when_blocked(tmp_path: Path) -> None:
    path = tmp_path / "empty.sqlite"
    sqlite3.connect(path).close()
    code, out, _ = await run_cli(demo_url(path), "doctor")
    assert code == 1
    assert out.decode().endswith("blocking problems: definum-gql cannot serve this site as it is\n")
    assert "  fail  tables" in out.decode()


async def test_the_command_on_the_demo_site_has_no_blocking_problem(tmp_path: Path) -> None:
    path = tmp_path / "demo.sqlite"
    await build_demo_site(demo_url(path), users=12, courses=6, months=2, now=NOW)
    code, out, _ = await run_cli(demo_url(path), "doctor")
    assert code == 0, out.decode()
    assert out.decode().endswith("no blocking problem\n")
