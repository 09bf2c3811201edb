"""The demo site generator: deterministic, readable by definum-gql, every promised case present.

Each database gets its own fresh throwaway database for the demo (never the shared test one).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import and_, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from definum_gql.demo import (
    DemoResult,
    DemoSiteExists,
    build_demo_site,
    default_demo_path,
    demo_url,
)
from definum_gql.moodle.site import Moodle
from tests import databases
from tests.builders import NOW
from tests.databases import create_database, drop_database, settings_for

SMALL: dict[str, Any] = {"users": 24, "courses": 6, "months": 2, "seed": 7, "now": NOW}
# 2026-11-01T00:00 in Europe/Paris (UTC+1) is 2026-10-31T23:00Z: NOW minus 24 days 18:42:03.
MONTH_START = NOW - (24 * 86400 + 18 * 3600 + 42 * 60 + 3)
assert MONTH_START == 1793487600


@dataclass
class Demo:
    db: databases.TestDatabase
    result: DemoResult
    moodle: Moodle
    stages: list[tuple[str, int, int]] = field(default_factory=list)


async def _fresh(backend: str, tmp: Path) -> databases.TestDatabase:
    return await create_database(backend, tmp)


@pytest.fixture(scope="module")
async def demo(
    database: databases.TestDatabase, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Demo]:
    db = await _fresh(database.backend, tmp_path_factory.mktemp("demo"))
    stages: list[tuple[str, int, int]] = []
    result = await build_demo_site(
        db.url, progress=lambda s, d, t: stages.append((s, d, t)), **SMALL
    )
    settings = settings_for(db.url)
    moodle = Moodle.from_settings(settings, clock=lambda: float(NOW))
    yield Demo(db, result, moodle, stages)
    await moodle.dispose()
    await drop_database(db)


async def _all(conn: AsyncConnection, query: Any) -> list[Any]:
    return list((await conn.execute(query)).all())


async def _dump(db: databases.TestDatabase) -> dict[str, list[tuple[Any, ...]]]:
    out = {}
    async with db.writer.connect() as conn:
        for table in db.tables.metadata.sorted_tables:
            rows = await _all(conn, select(table).order_by(table.c.id))
            out[table.name] = [tuple(row) for row in rows]
    return out


async def test_same_seed_and_now_give_the_same_rows(
    demo: Demo, tmp_path_factory: pytest.TempPathFactory
) -> None:
    again = await _fresh(demo.db.backend, tmp_path_factory.mktemp("again"))
    try:
        result = await build_demo_site(again.url, **SMALL)
        assert result.tokens == demo.result.tokens
        first, second = await _dump(demo.db), await _dump(again)
        assert first == second
        assert len(first["mdl_logstore_standard_log"]) == demo.result.log_rows
        # Explicit ids must not break later inserts (PostgreSQL sequences were moved past them).
        log = again.tables.logstore_standard_log
        async with again.writer.begin() as conn:
            inserted = await conn.execute(
                insert(log).values(
                    eventname="x",
                    edulevel=0,
                    contextid=1,
                    contextlevel=10,
                    contextinstanceid=0,
                    userid=2,
                    timecreated=NOW,
                )
            )
        assert inserted.inserted_primary_key is not None
        assert inserted.inserted_primary_key[0] == demo.result.log_rows + 1
    finally:
        await drop_database(again)


async def test_another_seed_gives_another_site(
    demo: Demo, tmp_path_factory: pytest.TempPathFactory
) -> None:
    other = await _fresh(demo.db.backend, tmp_path_factory.mktemp("other"))
    try:
        result = await build_demo_site(other.url, **{**SMALL, "seed": 8})
        assert result.tokens["valid"] != demo.result.tokens["valid"]
        assert result.log_rows != demo.result.log_rows
    finally:
        await drop_database(other)


async def test_existing_site_is_kept_without_replace(demo: Demo) -> None:
    with pytest.raises(DemoSiteExists):
        await build_demo_site(demo.db.url, replace=False, **SMALL)


async def test_progress_reports_every_stage_to_its_end(demo: Demo) -> None:
    finished = [stage for stage, done, total in demo.stages if done == total]
    assert finished == ["schema", "site", "people", "logs", "users", "indexes", "analyze"]
    # 2 months of 2,629,800 s before NOW: from 2026-09-25T12:32:03Z, i.e. days 20721..20782
    # since the epoch, 62 days.
    assert ("logs", 62, 62) in demo.stages


async def test_result_counts_match_the_database(demo: Demo) -> None:
    t = demo.moodle.tables
    async with demo.moodle.engine.connect() as conn:
        users = await conn.scalar(select(func.count()).select_from(t.user))
        courses = await conn.scalar(select(func.count()).select_from(t.course))
        logs = await conn.scalar(select(func.count()).select_from(t.logstore_standard_log))
    # 24 people + guest + admin; 6 courses + the site course.
    assert (demo.result.users, users) == (26, 26)
    assert (demo.result.courses, courses) == (6, 7)
    assert demo.result.log_rows == logs
    # About 250 rows per user and month (24 users x 2 months x 250 = 12,000).
    assert 6_000 < logs < 18_000


async def test_site_configuration_is_read_by_read_only_moodle(demo: Demo) -> None:
    site = await demo.moodle.site()
    assert demo.moodle.timezone(site).key == "Europe/Paris"
    assert site.get("forcetimezone") == "99"
    assert demo.moodle.lang(site) == "en"
    assert site.site_admins == frozenset({2})
    assert site.mnet_localhost_id == 1
    for flag in ("enablewebservices", "enablebadges", "badges_allowcoursebadges"):
        assert site.flag(flag)
    assert not site.flag("maintenance_enabled")
    assert site.get("webserviceprotocols") == "rest"
    assert site.get("defaultuserroleid") == "7"
    assert site.get("siteguest") == "1"
    assert site.plugin("block_use_stats", "threshold") == "60"
    assert site.plugin("block_use_stats", "lastpingcredit") == "15"
    assert site.plugin("block_use_stats", "enrolmentfilter") == "1"
    assert site.plugin("block_use_stats", "version") is not None
    assert site.has_oidc


async def test_installed_site_has_moodles_fixed_ids(demo: Demo) -> None:
    t = demo.moodle.tables
    async with demo.moodle.engine.connect() as conn:
        site_course = (await conn.execute(select(t.course).where(t.course.c.id == 1))).one()
        system = (await conn.execute(select(t.context).where(t.context.c.id == 1))).one()
        users = dict(await _all(conn, select(t.user.c.id, t.user.c.username)))
        roles = dict(await _all(conn, select(t.role.c.id, t.role.c.shortname)))
        caps = await _all(conn, select(t.role_capabilities))
    assert site_course.format == "site"
    assert (system.contextlevel, system.instanceid) == (10, 0)
    assert (users[1], users[2]) == ("guest", "admin")
    assert (roles[1], roles[5], roles[7]) == ("manager", "student", "user")
    assert [(c.roleid, c.contextid, c.capability, c.permission) for c in caps] == [
        (7, 1, "webservice/rest:use", 1)
    ]


async def test_courses_include_hidden_and_without_completion(demo: Demo) -> None:
    c = demo.moodle.tables.course
    async with demo.moodle.engine.connect() as conn:
        rows = await _all(conn, select(c).where(c.c.id > 1))
        contexts = await _all(
            conn,
            select(demo.moodle.tables.context.c.instanceid).where(
                demo.moodle.tables.context.c.contextlevel == 50
            ),
        )
    assert {r.visible for r in rows} == {0, 1}
    assert {r.enablecompletion for r in rows} == {0, 1}
    assert {r.id for r in rows} | {1} == {i for (i,) in contexts}


async def test_enrolments_cover_every_state(demo: Demo) -> None:
    t = demo.moodle.tables
    ue, e = t.user_enrolments, t.enrol
    async with demo.moodle.engine.connect() as conn:
        rows = await _all(
            conn,
            select(
                ue.c.status, ue.c.timestart, ue.c.timeend, e.c.status.label("instance"), e.c.enrol
            ).join(e, e.c.id == ue.c.enrolid),
        )
        instances = await _all(conn, select(e.c.enrol, e.c.status))
    states = set()
    for row in rows:
        if row.instance == 1:
            states.add("disabled")
        elif row.status == 1:
            states.add("suspended")
        elif row.timestart > NOW:
            states.add("not_started")
        elif 0 < row.timeend < NOW:
            states.add("ended")
        else:
            states.add("active")
    assert states == {"active", "suspended", "ended", "not_started", "disabled"}
    assert {"manual", "self"} <= {r.enrol for r in rows}
    assert ("self", 1) in instances
    assert ("self", 0) in instances


async def test_a_completion_remains_for_a_course_the_user_left(demo: Demo) -> None:
    t = demo.moodle.tables
    cc, ue, e = t.course_completions, t.user_enrolments, t.enrol
    enrolled = (
        select(ue.c.id)
        .join(e, e.c.id == ue.c.enrolid)
        .where(and_(ue.c.userid == cc.c.userid, e.c.courseid == cc.c.course))
    )
    async with demo.moodle.engine.connect() as conn:
        orphans = await _all(
            conn, select(cc).where(cc.c.timecompleted > 0).where(~enrolled.exists())
        )
        completed = await conn.scalar(
            select(func.count()).select_from(cc).where(cc.c.timecompleted > 0)
        )
    assert orphans
    assert completed
    assert completed > len(orphans)


async def test_badges_site_course_and_expired_issued_with_issuer(demo: Demo) -> None:
    t = demo.moodle.tables
    b, bi = t.badge, t.badge_issued
    async with demo.moodle.engine.connect() as conn:
        issued = await _all(
            conn,
            select(b.c.courseid, b.c.issuername, b.c.issuerurl, bi.c.dateexpire).join(
                bi, bi.c.badgeid == b.c.id
            ),
        )
    assert any(r.courseid is None for r in issued)
    assert any(r.courseid is not None for r in issued)
    assert any(r.dateexpire is not None and r.dateexpire < NOW for r in issued)
    assert {r.issuername for r in issued} == {"Université Définum"}
    assert all(r.issuerurl.startswith("https://") for r in issued)


async def test_oidc_tokens_belong_to_oidc_users(demo: Demo) -> None:
    t = demo.moodle.tables
    o, u = t.auth_oidc_token, t.user
    async with demo.moodle.engine.connect() as conn:
        rows = await _all(conn, select(o.c.userid, o.c.username, o.c.oidcuniqid, o.c.oidcusername))
        auth = dict(await _all(conn, select(u.c.username, u.c.auth)))
    assert rows
    assert all(auth[r.username] == "oidc" for r in rows)
    assert len({r.oidcuniqid for r in rows}) == len(rows)
    assert all(r.oidcusername.endswith("@tenant.onmicrosoft.com") for r in rows)


async def test_the_four_tokens(demo: Demo) -> None:
    t = demo.moodle.tables
    tok, u, s, sf = t.external_tokens, t.user, t.external_services, t.external_services_functions
    async with demo.moodle.engine.connect() as conn:
        rows = {
            r.token: r
            for r in await _all(
                conn,
                select(tok, u.c.suspended, s.c.shortname, s.c.enabled, s.c.restrictedusers)
                .join(u, u.c.id == tok.c.userid)
                .join(s, s.c.id == tok.c.externalserviceid),
            )
        }
        functions = await _all(
            conn,
            select(sf.c.functionname)
            .join(s, s.c.id == sf.c.externalserviceid)
            .where(s.c.shortname == "definum"),
        )
    tokens = demo.result.tokens
    assert set(tokens) == {"valid", "expired", "iprestricted", "suspended_owner"}
    assert {r.tokentype for r in rows.values()} == {0}
    assert {(r.shortname, r.enabled, r.restrictedusers) for r in rows.values()} == {
        ("definum", 1, 0)
    }
    assert functions == [("definum_get_stats",)]
    valid = rows[tokens["valid"]]
    assert (valid.userid, valid.validuntil or 0, valid.iprestriction or "") == (2, 0, "")
    assert 0 < rows[tokens["expired"]].validuntil < NOW
    assert rows[tokens["iprestricted"]].iprestriction == "10.0.0.0/8"
    assert rows[tokens["suspended_owner"]].suspended == 1


async def test_names_keep_utf8_and_markup(demo: Demo) -> None:
    u = demo.moodle.tables.user
    async with demo.moodle.engine.connect() as conn:
        names = await _all(conn, select(u.c.firstname, u.c.lastname))
    assert ("Chloé", "Müller") in names
    assert ("太郎", "山田") in names
    assert ("Jean", "Smith & <b>Sons</b>") in names


async def test_one_deleted_one_suspended_one_never_logged_in(demo: Demo) -> None:
    u = demo.moodle.tables.user
    async with demo.moodle.engine.connect() as conn:
        rows = await _all(conn, select(u).where(u.c.id > 2))
    assert sum(r.deleted for r in rows) == 1
    assert sum(r.suspended for r in rows) == 1
    assert any(r.lastlogin == 0 and r.currentlogin == 0 and not r.deleted for r in rows)


async def test_log_rows_have_the_shapes_of_real_sessions(demo: Demo) -> None:
    log = demo.moodle.tables.logstore_standard_log
    async with demo.moodle.engine.connect() as conn:
        rows = await _all(conn, select(log).order_by(log.c.timecreated, log.c.id))
    start = NOW - 2 * 2629800
    assert all(start - 86400 < r.timecreated < NOW for r in rows)
    logins = [r for r in rows if r.action == "loggedin"]
    assert logins
    assert {(r.eventname, r.component, r.target, r.contextlevel, r.courseid) for r in logins} == {
        ("\\core\\event\\user_loggedin", "core", "user", 10, 0)
    }
    assert any(r.action == "loggedout" for r in rows)
    assert any(r.action == "viewed" and r.courseid and r.courseid > 1 for r in rows)
    graded = [r for r in rows if r.action == "graded"]
    assert graded
    assert all(r.target == "user" and r.relateduserid != r.userid for r in graded)
    assert any(r.origin == "cli" for r in rows)
    assert any(r.realuserid is not None for r in rows)
    # Pages minutes apart within a session, and now and then an idle gap of more than an hour.
    previous: dict[int, int] = {}
    gaps = []
    for r in rows:
        if r.origin == "web" and r.realuserid is None:
            if r.userid in previous and r.action != "loggedin":
                gaps.append(r.timecreated - previous[r.userid])
            previous[r.userid] = r.timecreated
    assert any(gap > 3600 for gap in gaps)
    assert sorted(gaps)[len(gaps) // 2] < 600


async def test_user_times_agree_with_the_log(demo: Demo) -> None:
    t = demo.moodle.tables
    log, u, ula = t.logstore_standard_log, t.user, t.user_lastaccess
    async with demo.moodle.engine.connect() as conn:
        rows = await _all(
            conn,
            select(log.c.userid, log.c.action, log.c.courseid, log.c.timecreated).where(
                and_(log.c.origin == "web", log.c.realuserid.is_(None))
            ),
        )
        users = {r.id: r for r in await _all(conn, select(u))}
        lastaccess = {(r.userid, r.courseid): r.timeaccess for r in await _all(conn, select(ula))}
    logins: dict[int, list[int]] = defaultdict(list)
    last: dict[int, int] = {}
    course_last: dict[tuple[int, int], int] = {}
    for r in rows:
        if r.action == "loggedin":
            logins[r.userid].append(r.timecreated)
        last[r.userid] = max(last.get(r.userid, 0), r.timecreated)
        if r.courseid and r.courseid > 1:
            key = (r.userid, r.courseid)
            course_last[key] = max(course_last.get(key, 0), r.timecreated)
    assert logins
    for uid, times in logins.items():
        times.sort()
        user = users[uid]
        assert user.currentlogin == times[-1]
        assert user.lastlogin == (times[-2] if len(times) > 1 else 0)
        assert user.lastaccess == last[uid]
    assert lastaccess == course_last
    # Most people were active this month (Europe/Paris), as on a live site.
    this_month = {uid for uid, times in logins.items() if times[-1] >= MONTH_START}
    assert len(this_month) > len(users) // 2


def test_demo_file_lives_in_the_user_data_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_demo_path() == tmp_path / "definum-gql" / "demo.sqlite"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_demo_path() == tmp_path / ".local" / "share" / "definum-gql" / "demo.sqlite"
    assert demo_url(tmp_path / "d.sqlite") == f"sqlite+aiosqlite:///{tmp_path}/d.sqlite"


async def test_sqlite_demo_creates_its_folder(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "demo.sqlite"
    result = await build_demo_site(demo_url(path), **{**SMALL, "users": 10, "courses": 4})
    assert path.is_file()
    assert result.users == 12


def test_too_small_a_site_is_refused() -> None:
    from definum_gql.demo.model import DemoSpec

    with pytest.raises(ValueError):
        DemoSpec(users=3, courses=6, months=1, seed=1, now=NOW)
