"""The real Moodle 4.1 scenario site (../shared/moodle) on PostgreSQL and MariaDB.

Every expected value below was worked out by hand from the dump rows and the contract (sections
3-5, 8), with the clock frozen at 2026-11-25T17:42:03Z = 1795628523 (18:42:03 in Paris).

Calendar facts used throughout (site timezone Europe/Paris; summer time ended 2026-10-25):
  November 2026 starts 2026-11-01 00:00 CET  = 1793487600
  October 2026 starts  2026-10-01 00:00 CEST = 1790805600 (31 days + the extra autumn hour earlier)
block_use_stats from config_plugins: threshold 60 -> T = 3600 s, lastpingcredit 15 -> C = 900 s,
enrolmentfilter 1. "lap" = seconds to the next counted row; a lap > T, or the last row's, becomes
min(C, now - t) = 900 here (every such row is hours before now). Rows with origin 'cli', action
'failed' or a realuserid never count; 'graded'/'user' rows are skipped over.
Courses: now rounded to 100 s = 1795628500; course 1 is the site course.

The two dumps hold the same users, courses, enrolments, completions, badges and web/ws log rows;
they differ in token strings, one token's validuntil, the cli log times, the deleted user's
username and the issuer URL of badges 1, 4 and 5 (the Moodle that built each dump).
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from definum_gql.auth import Authenticator, Caller, Refused
from definum_gql.moodle.site import Moodle
from definum_gql.rest import rest_routes
from definum_gql.rest.errors import WsError, refused
from definum_gql.stats.activity import monthly_activity
from definum_gql.stats.badges import load_badges
from definum_gql.stats.courses import load_enrolments
from definum_gql.stats.document import definum_stats
from definum_gql.stats.errors import MultipleUsersFound, UserNotFound
from definum_gql.stats.identity import resolve_user
from definum_gql.stats.months import Month
from definum_gql.stats.timespent import Algorithm
from definum_gql.stats.users import load_users
from tests.databases import settings_for
from tests.scenario import (
    SCENARIO_BACKENDS,
    SCENARIO_NOW,
    ScenarioDatabase,
    drop_scenario,
    load_scenario,
)

USERS = list(range(1, 19))
NEVER = "Never"

ISSUER = "Université Définum"
ISSUER_CONTACT = "badges@definum.example.org"
PHYS = ("Dépt. de Physique", "https://phys.definum.example.org/badges?x=1&y=2", "")
CHEM = ("Chem Lab <Lyon>", "http://chem.example.org", "lab@example.org")
#: Badges 1, 4, 5's issuerurl: the wwwroot of the Moodle that built each dump.
SITE_URL = {"postgresql": "http://127.0.0.1:8082/", "mariadb": "http://127.0.0.1:8081/"}


def _badge(
    badge_id: int, name: str, issuer: tuple[str, str, str], issued: int, issuedstr: str
) -> dict[str, Any]:
    return {
        "id": badge_id,
        "name": name,
        "issuername": issuer[0],
        "issuerurl": issuer[1],
        "issuercontact": issuer[2],
        "dateissued": issued,
        "dateissuedstr": issuedstr,
    }


def _doc(
    user_id: int,
    lastname: str,
    firstname: str,
    courses: tuple[int, int, int, int],
    badges: list[dict[str, Any]],
    lastlogin: tuple[int, str],
    spent: tuple[int, str],
    logins: int,
) -> dict[str, Any]:
    return {
        "id": user_id,
        "lastname": lastname,
        "firstname": firstname,
        "courses": courses[0],
        "finishablecourses": courses[1],
        "finishedcourses": courses[2],
        "finishedcoursesratio": courses[3],
        "badges": badges,
        "numbadges": len(badges),
        "lastlogin": lastlogin[0],
        "lastloginstr": lastlogin[1],
        "timespentinmonth": spent[0],
        "timespentinmonthstr": spent[1],
        "loginsinmonth": logins,
    }


def expected_documents(backend: str) -> dict[int, dict[str, Any]]:
    """definum_get_stats for November 2026, English, every scenario user."""
    site = (ISSUER, SITE_URL[backend], ISSUER_CONTACT)
    nothing = (0, 0, 0, 0)
    return {
        # guest: no enrolment, no log row; lastname is a single space in the dump.
        1: _doc(1, " ", "Guest user", nothing, [], (0, NEVER), (0, "0s"), 0),
        # admin: no enrolment, so the enrolment filter leaves the range at the month start. Its
        # only non-cli row is 176 'loggedinas' (web, 11-12 15:00), the last row: 900.
        2: _doc(2, "User", "Admin", nothing, [], (0, NEVER), (900, "15m 0s"), 0),
        3: _doc(3, "Definum", "WS", nothing, [], (0, NEVER), (0, "0s"), 0),
        4: _doc(4, "Suspended", "WS", nothing, [], (0, NEVER), (0, "0s"), 0),
        5: _doc(5, "NoCap", "WS", nothing, [], (0, NEVER), (0, "0s"), 0),
        6: _doc(6, "Martin", "Alice", nothing, [], (0, NEVER), (0, "0s"), 0),
        # bob: courses 2, 3, 4 active; finishable 3, 4; only 4 completed -> 1/2 = 50 %.
        # Badge 5 (site badge) issued 1794312000 = 11-10 13:00. lastlogin 1794304800 = 11-10 11:00.
        # Logins >= 11-01: rows 157, 160, 169, 178 (155 is 10-31 23:30) -> 4.
        # Laps (Nov, rows 155/156 are October): 157 180 + 158 420 + 159 900 (gap to 11-03)
        #   + 160 30 + 161 60 + 162 110 + 163 1300 + 164 900 (4000 > T) + 165 500 + 166 300
        #   + 167 logout 0 (168 failed: out) + 169 120 + 170 240 (171 graded skipped) + 172 1440
        #   + 173 2400 + 174 (ws) 900 (175 cli, 177 realuser: out) + 178 300 + 179 900 + 180 1200
        #   + 181 last 900 = 13100 s = 3h 38m 20s.
        7: _doc(
            7,
            "Durand",
            "Bob",
            (3, 2, 1, 50),
            [_badge(5, "Badge révoqué", site, 1794312000, "Tuesday, 10 November 2026, 01:00 PM")],
            (1794304800, "Tuesday, 10 November 2026, 11:00 AM"),
            (13100, "3h 38m 20s"),
            4,
        ),
        # chloe: courses 3, 5, both finishable and completed -> 100 %. Badges newest first:
        # 1 at 1793610000 = 11-02 10:00, 2 (course 3 badge, allowed) at 1792490700 = 10-20 12:05.
        # Logins: 184 (exactly 11-01 00:00: >= counts), 186, 192 -> 3.
        # Laps: 184 240 + 185 900 (gap) + 186 60 + 187 540 + 188 1500 + 189 900 + 190 2400
        #   + 191 900 (gap) + 192 120 + 193 780 + 194 logout 0 = 8340 s = 2h 19m 0s.
        8: _doc(
            8,
            "Dupré-Lefèvre",
            "Chloé",
            (2, 2, 2, 100),
            [
                _badge(
                    1,
                    "Participation ✓ 参加",
                    site,
                    1793610000,
                    "Monday, 02 November 2026, 10:00 AM",
                ),
                _badge(
                    2,
                    "Physique — niveau 1",
                    PHYS,
                    1792490700,
                    "Tuesday, 20 October 2026, 12:05 PM",
                ),
            ],
            (1793606400, "Monday, 02 November 2026, 09:00 AM"),
            (8340, "2h 19m 0s"),
            3,
        ),
        # jurgen: course 2 only (completion off) -> 0 finishable; his course 3 completion does
        # not count (not enrolled there). Laps 195 600 + 196 120 + 197 last 900 = 1620.
        9: _doc(9, "Müller", "Jürgen", (1, 0, 0, 0), [], (0, NEVER), (1620, "27m 0s"), 1),
        # yamada: course 3 active (not completed); 4 suspended (ue.status 1), 5 via the disabled
        # self instance -> 1 course, 1 finishable, 0 finished. Laps: 198 60 + 199 2940
        # + 200 900 (7800 > T) + 201 900 (gap) + 202 0 (203 same second, later id) + 203 900
        # = 5700 = 1h 35m 0s. lastlogin 1793880000 = 11-05 13:00 (the contract's example).
        10: _doc(
            10,
            "山田",
            "太郎",
            (1, 1, 0, 0),
            [],
            (1793880000, "Thursday, 05 November 2026, 01:00 PM"),
            (5700, "1h 35m 0s"),
            2,
        ),
        # emma: course 3 ended (timeend 1792022400), course 4 not started (1796860800); hidden
        # course 6 (completion on) and course 7 (started 1794700800, completion off) active ->
        # 2 courses, 1 finishable, 0 finished (her completion is course 3's).
        # Enrolment filter: latest status-0 timestart before now is 1794700800 (11-15 01:00), so
        # rows 204-206 (11-04) do not count: 207 180 + 208 1800 + 209 900 = 2880 = 48m 0s.
        # Logins are not filtered: 204 and 207 -> 2.
        11: _doc(
            11,
            "O'Brien",
            "Emma",
            (2, 1, 0, 0),
            [],
            (1793815200, "Wednesday, 04 November 2026, 07:00 PM"),
            (2880, "48m 0s"),
            2,
        ),
        # li.wei: courses 4 (completed), 5 -> 1/2 = 50 %. Badges: 1 at 11-08 11:00, 3 (course 4,
        # expired 1791446400: still listed) at 10-01 10:00, 4 (archived, status 4: listed) at
        # 09-15 14:00. Nov rows: 210 120 + 211 1080 + 212 900 = 2100; login 213 is October.
        12: _doc(
            12,
            "李",
            "伟",
            (2, 2, 1, 50),
            [
                _badge(
                    1,
                    "Participation ✓ 参加",
                    site,
                    1794132000,
                    "Sunday, 08 November 2026, 11:00 AM",
                ),
                _badge(
                    3,
                    "Chimie <sécurité> & labo",
                    CHEM,
                    1790841600,
                    "Thursday, 01 October 2026, 10:00 AM",
                ),
                _badge(
                    4,
                    "Ancien badge (archivé)",
                    site,
                    1789473600,
                    "Tuesday, 15 September 2026, 02:00 PM",
                ),
            ],
            (1790934600, "Friday, 02 October 2026, 11:50 AM"),
            (2100, "35m 0s"),
            1,
        ),
        # oidc.user1: courses 2, 3 -> 1 finishable, none finished. 214 240 + 215 1560 + 216 900.
        13: _doc(13, "One", "Olivia", (2, 1, 0, 0), [], (0, NEVER), (2700, "45m 0s"), 1),
        # oscar: course 4, not completed; his only rows are 10-28 -> nothing in November.
        14: _doc(14, "Two", "Oscar", (1, 1, 0, 0), [], (0, NEVER), (0, "0s"), 0),
        # sam (suspended account; the enrolment is active): course 3 completed -> 100 %.
        # Badge 1 at 1793639100 = 11-02 18:05. 219 1800 + 220 900 = 2700.
        15: _doc(
            15,
            "Suspendu",
            "Sam",
            (1, 1, 1, 100),
            [
                _badge(
                    1,
                    "Participation ✓ 参加",
                    site,
                    1793639100,
                    "Monday, 02 November 2026, 06:05 PM",
                )
            ],
            (0, NEVER),
            (2700, "45m 0s"),
            1,
        ),
        # dora (deleted: never found by a lookup, but the batch document reads her rows):
        # enrolments deleted with her; badge 1 at 1793642700 = 11-02 19:05; 221 900 + 222 900.
        16: _doc(
            16,
            "Deleted",
            "Dora",
            nothing,
            [
                _badge(
                    1,
                    "Participation ✓ 参加",
                    site,
                    1793642700,
                    "Monday, 02 November 2026, 07:05 PM",
                )
            ],
            (0, NEVER),
            (1800, "30m 0s"),
            1,
        ),
        # zoe: course 2 (completion off). Login 223 and view 224 are 10-31; her November row is
        # 225 'loggedout' (11-01 10:00), which earns nothing -> 0 s, 0 logins.
        17: _doc(17, "Smith & <b>Sons</b>", "Zoë", (1, 0, 0, 0), [], (0, NEVER), (0, "0s"), 0),
        # bob.clone: course 7 (completion off), no log row.
        18: _doc(18, "Durand-Clone", "Bob", (1, 0, 0, 0), [], (0, NEVER), (0, "0s"), 0),
    }


#: (time spent, logins) in October and November 2026, worked out as above.
#: October (range 1790805600 to 1793487600, rows of 11-01 belong to November):
#:   bob: 151 60 + 152 240 + 153 900 + 154 logout 0 + 155 120 + 156 900 (last in range) = 2220;
#:        logins 151, 155.  chloe: 182 120 + 183 900 = 1020; login 182 (184 is November's).
#:   li.wei: 213 last 900; login 213.  oscar: 217 240 + 218 900 = 1140; login 217.
#:   zoe: 223 1800 + 224 900 = 2700; login 223.  Everyone else: no October row.
ACTIVITY: dict[int, tuple[tuple[int, int], tuple[int, int]]] = {
    1: ((0, 0), (0, 0)),
    2: ((0, 0), (900, 0)),
    3: ((0, 0), (0, 0)),
    4: ((0, 0), (0, 0)),
    5: ((0, 0), (0, 0)),
    6: ((0, 0), (0, 0)),
    7: ((2220, 2), (13100, 4)),
    8: ((1020, 1), (8340, 3)),
    9: ((0, 0), (1620, 1)),
    10: ((0, 0), (5700, 2)),
    11: ((0, 0), (2880, 2)),
    12: ((900, 1), (2100, 1)),
    13: ((0, 0), (2700, 1)),
    14: ((1140, 1), (0, 0)),
    15: ((0, 0), (2700, 1)),
    16: ((0, 0), (1800, 1)),
    17: ((2700, 1), (0, 0)),
    18: ((0, 0), (0, 0)),
}

#: load_enrolments(active_only=False): (course, method, status, completed?) by course id.
#: completed? is None without a course_completions row for that user and course.
ENROLMENTS: dict[int, list[tuple[int, str, str, bool | None]]] = {
    7: [
        (2, "manual", "active", None),
        (3, "manual", "active", False),
        (4, "manual", "active", True),
    ],
    8: [(3, "manual", "active", True), (5, "manual", "active", True)],
    9: [(2, "manual", "active", None)],
    10: [
        (3, "manual", "active", None),
        (4, "manual", "suspended", True),  # ue.status 1
        (5, "self", "disabled", None),  # enrol.status 1
    ],
    11: [
        (3, "manual", "ended", True),  # timeend 1792022400 < now
        (4, "manual", "not_started", None),  # timestart 1796860800 > now
        (6, "manual", "active", None),
        (7, "manual", "active", None),
    ],
    12: [(4, "manual", "active", True), (5, "manual", "active", None)],
    13: [(2, "manual", "active", None), (3, "manual", "active", None)],
    14: [(4, "manual", "active", None)],
    15: [(3, "manual", "active", True)],
    17: [(2, "manual", "active", None)],
    18: [(7, "manual", "active", None)],
}

#: Token strings by id: each dump's Moodle generated its own (same rows otherwise, except that
#: token 2's validuntil is 1795542408 / 1795542021, both a day before now).
TOKENS: dict[str, dict[int, str]] = {
    "postgresql": {
        1: "a7997863f1ce2024f9709523f2e6b096",
        2: "9415a7a9a53e6c12c5490b4a2b59c68b",
        3: "698f2d57d0a479c52b40aeb6ca64d04c",
        4: "31e7af9be3175079d121ec1de415af22",
        5: "2a916b9cdd96e1383bcab5b08ecfe614",
        6: "01849b2686b445f12f0ad03a73fd3f51",
        7: "d3bdf7e7e064c6490bf150c32ab908e9",
        8: "585c1b2e3c75e888f7e506b8f0b74a1d",
        9: "7db5e72737fc0f76ef6062ed28917bc5",
        10: "55fbed007b4ce947c4096903928731e8",
    },
    "mariadb": {
        1: "2a103eef02b6eea92fc4be4dce1779dd",
        2: "6ce0d92ca6b8c3ffe0080be62b4a637b",
        3: "f361759daf5d1c87ca982a8b6b8951b4",
        4: "6df5939990ae7a18bdfe2e10fc9c23ee",
        5: "0d7f046d85edff2c896f1f92c01d3163",
        6: "3944002828c1207de0feb0bf52f2568d",
        7: "eade91f07d47c01be05423235e12f3df",
        8: "4725893752f544ba5b5813f8db635424",
        9: "6b3500ab4b1eb98899ff8012dc93f5b4",
        10: "ebcad92f7a0109f8fabedcc23f275dd2",
    },
}

LOCAL = "127.0.0.1"
RESTRICTED_IP = "10.20.30.40"
ACCESS = ("webservice_access_exception", "accessexception", "Access control exception")
INVALID_TOKEN = ("moodle_exception", "invalidtoken", "Invalid token - token not found")
SUSPENDED = (
    "moodle_exception",
    "wsaccessusersuspended",
    "Refused web service access for suspended username: wssuspended",
)


@dataclasses.dataclass
class Scenario:
    backend: str
    database: ScenarioDatabase
    moodle: Moodle


@dataclasses.dataclass
class _Sites:
    loaded: dict[str, Scenario] = dataclasses.field(default_factory=dict)
    # A backend that could not be loaded is not retried by every test (a skip or a failure).
    refused: dict[str, BaseException] = dataclasses.field(default_factory=dict)


@pytest.fixture(scope="session")
async def _scenario_sites() -> AsyncIterator[_Sites]:
    """Each backend's scenario database, loaded on first use and dropped at the session's end."""
    sites = _Sites()
    yield sites
    for site in sites.loaded.values():
        await site.moodle.dispose()
        await drop_scenario(site.database)


@pytest.fixture(params=SCENARIO_BACKENDS)
async def scenario(
    request: pytest.FixtureRequest, shared_dir: Path, _scenario_sites: _Sites
) -> Scenario:
    backend: str = request.param
    if backend in _scenario_sites.refused:
        raise _scenario_sites.refused[backend]
    if backend not in _scenario_sites.loaded:
        try:
            db = await load_scenario(backend, shared_dir)
        except BaseException as exc:
            _scenario_sites.refused[backend] = exc
            raise
        moodle = Moodle.from_settings(
            settings_for(db.url),
            clock=lambda: float(SCENARIO_NOW),
        )
        _scenario_sites.loaded[backend] = Scenario(backend, db, moodle)
    return _scenario_sites.loaded[backend]


# --- the document ---


async def test_definum_stats_for_every_scenario_user_in_one_batch(scenario: Scenario) -> None:
    async with scenario.moodle.request() as ctx:
        documents = await definum_stats(ctx, [*USERS, 99])
    expected = expected_documents(scenario.backend)
    assert sorted(documents) == USERS  # 99 does not exist: left out
    for user_id in USERS:
        assert dataclasses.asdict(documents[user_id]) == expected[user_id], f"user {user_id}"


async def test_document_fields_come_in_the_contract_order(scenario: Scenario) -> None:
    async with scenario.moodle.request() as ctx:
        documents = await definum_stats(ctx, [8])
    assert list(dataclasses.asdict(documents[8])) == [
        "id",
        "lastname",
        "firstname",
        "courses",
        "finishablecourses",
        "finishedcourses",
        "finishedcoursesratio",
        "badges",
        "numbadges",
        "lastlogin",
        "lastloginstr",
        "timespentinmonth",
        "timespentinmonthstr",
        "loginsinmonth",
    ]
    assert list(dataclasses.asdict(documents[8].badges[0])) == [
        "id",
        "name",
        "issuername",
        "issuerurl",
        "issuercontact",
        "dateissued",
        "dateissuedstr",
    ]


async def test_readable_strings_in_french(scenario: Scenario) -> None:
    # strftimedaydatetime in French, "%A %d %B %Y, %H:%M", same instants as the English table.
    async with scenario.moodle.request(lang="fr") as ctx:
        documents = await definum_stats(ctx, [7, 8, 9])
    got = {
        i: (d.lastloginstr, [b.dateissuedstr for b in d.badges], d.timespentinmonthstr)
        for i, d in documents.items()
    }
    assert got == {
        7: ("mardi 10 novembre 2026, 11:00", ["mardi 10 novembre 2026, 13:00"], "3h 38m 20s"),
        8: (
            "lundi 02 novembre 2026, 09:00",
            ["lundi 02 novembre 2026, 10:00", "mardi 20 octobre 2026, 12:05"],
            "2h 19m 0s",
        ),
        9: ("Jamais", [], "27m 0s"),
    }


# --- identity lookups ---


@pytest.mark.parametrize(
    ("field", "value", "user_id"),
    [
        ("id", "7", 7),
        ("id", " 7 ", 7),  # digits after trimming
        ("username", "bob", 7),
        ("username", "BOB", 7),  # lowercased
        ("username", " bob ", 7),  # trimmed
        ("username", "yamada.taro", 10),
        ("username", "o.two@tenant.example.com", 14),
        ("email", "JURGEN.MUELLER@example.de", 9),  # stored JURGEN.MUELLER@Example.DE
        ("email", " jurgen.mueller@example.de ", 9),
        ("email", "chloe+definum@exemple.fr", 8),
        ("idnumber", "EMP-0002", 7),
        ("idnumber", "JP-0005", 10),
        ("oidcuniqueid", "7f3c1a2b-0000-4a5b-9c8d-000000000008", 13),
        ("oidcuniqueid", "1e2d3c4b-0000-4a5b-9c8d-000000000009", 14),
        ("oidcusername", "O.Two@tenant.onmicrosoft.com", 14),
        ("oidcusername", "o.one@tenant.onmicrosoft.com", 13),
    ],
)
async def test_scenario_lookup_finds_the_user(
    scenario: Scenario, field: str, value: str, user_id: int
) -> None:
    async with scenario.moodle.request() as ctx:
        assert (await resolve_user(ctx, field, value)).id == user_id


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("id", "7abc"),
        ("id", "7.0"),
        ("id", ""),
        ("id", "16"),  # dora, deleted
        ("id", "99"),
        ("username", "chlöé"),  # MariaDB's collation would call this 'chloe'
        ("username", "chloé"),
        ("username", "jürgen"),
        ("username", "bob."),
        ("username", "dora"),
        ("email", "dora@example.com"),
        ("email", "1f545a6d49bd6dc815ddd731d0c2a2ad"),  # dora's email after deletion
        ("email", "bob.durand@example.co"),
        ("email", ""),
        ("idnumber", "emp-0002"),  # exact, so case matters
        ("idnumber", " EMP-0002"),  # exact, so not trimmed
        ("idnumber", ""),  # many users have an empty idnumber: empty never matches
        ("oidcuniqueid", "7F3C1A2B-0000-4A5B-9C8D-000000000008"),
        ("oidcusername", "o.two@tenant.onmicrosoft.com"),  # exact
        ("oidcusername", ""),
    ],
)
async def test_scenario_lookup_near_misses_find_nobody(
    scenario: Scenario, field: str, value: str
) -> None:
    async with scenario.moodle.request() as ctx:
        with pytest.raises(UserNotFound):
            await resolve_user(ctx, field, value)


async def test_shared_email_of_bob_and_his_clone_is_an_error(scenario: Scenario) -> None:
    # Users 7 and 18 both have bob.durand@example.com: never a pick.
    async with scenario.moodle.request() as ctx:
        with pytest.raises(MultipleUsersFound):
            await resolve_user(ctx, "email", "Bob.Durand@example.com")


# --- the data layer on the real schema ---


async def test_load_users_reads_the_real_user_table(scenario: Scenario) -> None:
    async with scenario.moodle.request() as ctx:
        users = await load_users(ctx, [*USERS, 99])
    assert sorted(users) == USERS
    summary = {
        i: (u.username, u.auth, u.deleted, u.suspended, u.lastlogin, u.currentlogin)
        for i, u in users.items()
        if i in (7, 9, 13, 15, 16)
    }
    dora = users[16].username  # deleted: Moodle renamed her "<email>.<time of deletion>"
    assert dora.startswith("dora@example.com.")
    assert summary == {
        7: ("bob", "manual", False, False, 1794304800, 1795190400),
        9: ("jurgen", "manual", False, False, 0, 1793775600),
        13: ("oidc.user1", "oidc", False, False, 0, 1794229200),
        15: ("sam", "manual", False, True, 0, 1793635200),
        16: (dora, "manual", True, False, 0, 1793640600),
    }
    assert users[9].email == "JURGEN.MUELLER@Example.DE"
    assert (users[17].firstname, users[17].lastname) == ("Zoë", "Smith & <b>Sons</b>")
    assert (users[10].firstname, users[10].lastname, users[10].idnumber) == (
        "太郎",
        "山田",
        "JP-0005",
    )


async def test_load_enrolments_reads_every_enrolment_state(scenario: Scenario) -> None:
    async with scenario.moodle.request() as ctx:
        enrolments = await load_enrolments(ctx, USERS, active_only=False)
    assert sorted(enrolments) == USERS
    got = {
        user_id: [
            (e.courseid, e.method, e.status, e.completion.completed if e.completion else None)
            for e in rows
        ]
        for user_id, rows in enrolments.items()
        if rows
    }
    assert got == ENROLMENTS
    assert all(e.active == (e.status == "active") for rows in enrolments.values() for e in rows)


async def test_load_badges_lists_expired_and_archived_badges_newest_first(
    scenario: Scenario,
) -> None:
    async with scenario.moodle.request() as ctx:
        badges = await load_badges(ctx, USERS)
    got = {
        user_id: [(b.badge.id, b.badge.courseid, b.dateissued, b.expired) for b in issued]
        for user_id, issued in badges.items()
        if issued
    }
    assert got == {
        7: [(5, None, 1794312000, False)],
        8: [(1, None, 1793610000, False), (2, 3, 1792490700, False)],
        # badge 3 expired at 1791446400 (dateexpire < now); badge 4 is archived (status 4)
        12: [(1, None, 1794132000, False), (3, 4, 1790841600, True), (4, None, 1789473600, False)],
        15: [(1, None, 1793639100, False)],
        16: [(1, None, 1793642700, False)],
    }
    assert badges[12][2].badge.status == 4


async def test_monthly_activity_for_october_and_november(scenario: Scenario) -> None:
    months = [Month(2026, 10), Month(2026, 11)]
    async with scenario.moodle.request() as ctx:
        activity = await monthly_activity(ctx, USERS, months)
    got = {
        user_id: tuple((m.time_spent, m.logins) for m in rows) for user_id, rows in activity.items()
    }
    assert got == ACTIVITY
    assert [m.month for m in activity[7]] == months
    october, november = activity[7]
    # bob, by course: October 151 60 + 155 120 on the site; 152 240 + 153 900 in course 3;
    # 156 900 in course 2. November: site 157 180 + 160 30 + 161 60 + 169 120 + 178 300;
    # course 2: 158 420 + 179 900; course 3: 159 900 + 162 110 + 163 1300 + 173 2400 + 174 900
    # + 180 1200; course 4: 164 900 + 165 500 + 166 300 + 170 240 + 172 1440 + 181 900.
    assert dict(october.by_course) == {0: 180, 2: 900, 3: 1140}
    assert dict(november.by_course) == {0: 690, 2: 1320, 3: 6810, 4: 4280}
    # Days (Paris) with a counted row: 10-10 and 10-31; 11-01, 11-03, 11-10 and 11-20.
    assert (october.active_days, november.active_days) == (2, 4)


async def test_dedication_sessions_in_november(scenario: Scenario) -> None:
    # block_dedication: a session ends at a gap > 3600 s and lasts from its first to its last
    # row; sessions of 120 s or less are dropped. Same rows as above (logout rows are rows).
    # bob: 157-159 600 | 160-164 1500 (164 -> 165 is 4000 s) | 165-167 800
    #      | 169-174 4200 (171 graded: not a row) | 178-181 2400 = 9500
    # chloe: 184-185 240 | 186-191 5400 | 192-194 900 = 6540
    # yamada: 198-200 3000 | 201 alone 0 | 202-203 same second 0 = 3000
    # emma (from 1794700800): 207-209 1980.  jurgen: 195-197 720.  zoe: one logout row, 0.
    async with scenario.moodle.request() as ctx:
        activity = await monthly_activity(
            ctx,
            [7, 8, 9, 10, 11, 17],
            [Month(2026, 11)],
            algorithm=Algorithm.DEDICATION,
        )
    got = {user_id: rows[0].time_spent for user_id, rows in activity.items()}
    assert got == {7: 9500, 8: 6540, 9: 720, 10: 3000, 11: 1980, 17: 0}


# --- web service tokens (contract sections 2 and 6) ---


def _refusal(outcome: object) -> tuple[str, str, str]:
    """A refusal in Moodle's words, as the REST door prints it."""
    assert isinstance(outcome, Refused), outcome
    error: WsError = refused(outcome)
    return (error.exception, error.errorcode, error.message)


async def _caller(scenario: Scenario, token: str | None, client_ip: str) -> Caller | Refused:
    async with scenario.moodle.request() as ctx:
        return await Authenticator(0).authenticate(ctx, token, client_ip)


async def _service(scenario: Scenario, caller: Caller) -> Refused | None:
    async with scenario.moodle.request() as ctx:
        return await Authenticator(0).check_service(ctx, caller)


@pytest.mark.parametrize(
    ("token_id", "client_ip", "user_id"),
    [
        (1, LOCAL, 3),  # wsdefinum, role wsdefinum allows webservice/rest:use at the system
        (3, RESTRICTED_IP, 3),  # restricted to 10.20.30.40, called from there
        (4, LOCAL, 3),  # restricted to 127.0.0.1
        (10, LOCAL, 2),  # the site admin (config.siteadmins = 2)
    ],
)
async def test_scenario_token_is_accepted(
    scenario: Scenario, token_id: int, client_ip: str, user_id: int
) -> None:
    token = TOKENS[scenario.backend][token_id]
    caller = await _caller(scenario, token, client_ip)
    assert isinstance(caller, Caller), caller
    assert await _service(scenario, caller) is None
    assert (caller.user_id, caller.service_id, caller.site_admin) == (user_id, 2, user_id == 2)


@pytest.mark.parametrize(
    ("token_id", "client_ip", "refusal"),
    [
        (2, LOCAL, ACCESS),  # validuntil a day before now
        (2, RESTRICTED_IP, ACCESS),
        (3, LOCAL, ACCESS),  # only 10.20.30.40 may use it
        (4, RESTRICTED_IP, ACCESS),  # only 127.0.0.1 may use it
        (5, LOCAL, SUSPENDED),  # owner 4 is suspended (and would have the capability)
        (6, LOCAL, ACCESS),  # owner 5: no system role; default role 'user' (7) lacks rest:use
    ],
)
async def test_scenario_token_is_refused(
    scenario: Scenario, token_id: int, client_ip: str, refusal: tuple[str, str, str]
) -> None:
    token = TOKENS[scenario.backend][token_id]
    assert _refusal(await _caller(scenario, token, client_ip)) == refusal


@pytest.mark.parametrize(
    "token",
    [
        None,
        "",
        "00000000000000000000000000000000",
        "A7997863F1CE2024F9709523F2E6B096",  # PostgreSQL token 1 upper-cased
        "2A103EEF02B6EEA92FC4BE4DCE1779DD",  # MariaDB token 1 upper-cased (its collation is ci)
        "a7997863f1ce2024f9709523f2e6b096 ",
    ],
)
async def test_unknown_scenario_token_is_not_found(scenario: Scenario, token: str | None) -> None:
    assert _refusal(await _caller(scenario, token, LOCAL)) == INVALID_TOKEN


@pytest.mark.parametrize(
    "token_id",
    [
        7,  # service 3 'otherservice': enabled, but offers core_webservice_get_site_info only
        8,  # service 4 'disableddefinum': offers definum_get_stats, but disabled
        9,  # service 5 'restricteddefinum': restricted users, and nobody is listed
    ],
)
async def test_scenario_token_of_a_service_without_the_function_is_refused(
    scenario: Scenario, token_id: int
) -> None:
    token = TOKENS[scenario.backend][token_id]
    caller = await _caller(scenario, token, LOCAL)
    assert isinstance(caller, Caller), caller
    assert (caller.user_id, caller.service_id) == (3, token_id - 4)
    assert _refusal(await _service(scenario, caller)) == ACCESS


# --- the REST door, end to end on the scenario ---


async def _rest(scenario: Scenario, token_id: int, field: str, value: str, fmt: str) -> bytes:
    app = Starlette(routes=rest_routes(scenario.moodle))
    transport = httpx.ASGITransport(app=app, client=(LOCAL, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.get(
            "/webservice/rest/server.php",
            params={
                "wstoken": TOKENS[scenario.backend][token_id],
                "wsfunction": "definum_get_stats",
                "useridfield": field,
                "userid": value,
                "moodlewsrestformat": fmt,
            },
        )
    assert response.status_code == 200
    return response.content


async def test_rest_answers_bob_by_padded_uppercase_username_in_json(scenario: Scenario) -> None:
    # PHP json_encode: e-acute as \u00e9, "/" as "\/"; the numbers of the table above.
    port = "8082" if scenario.backend == "postgresql" else "8081"
    body = await _rest(scenario, 1, "username", " BOB ", "json")
    assert body == (
        b'{"id":7,"lastname":"Durand","firstname":"Bob","courses":3,"finishablecourses":2,'
        b'"finishedcourses":1,"finishedcoursesratio":50,"badges":[{"id":5,'
        b'"name":"Badge r\\u00e9voqu\\u00e9","issuername":"Universit\\u00e9 D\\u00e9finum",'
        b'"issuerurl":"http:\\/\\/127.0.0.1:' + port.encode() + b'\\/",'
        b'"issuercontact":"badges@definum.example.org","dateissued":1794312000,'
        b'"dateissuedstr":"Tuesday, 10 November 2026, 01:00 PM"}],"numbadges":1,'
        b'"lastlogin":1794304800,"lastloginstr":"Tuesday, 10 November 2026, 11:00 AM",'
        b'"timespentinmonth":13100,"timespentinmonthstr":"3h 38m 20s","loginsinmonth":4}'
    )


async def test_rest_answers_zoe_with_markup_escaped_in_xml(scenario: Scenario) -> None:
    body = await _rest(scenario, 4, "idnumber", "HTML-0012", "xml")
    keys = [
        ("id", "17"),
        ("lastname", "Smith &amp; &lt;b&gt;Sons&lt;/b&gt;"),
        ("firstname", "Zoë"),
        ("courses", "1"),
        ("finishablecourses", "0"),
        ("finishedcourses", "0"),
        ("finishedcoursesratio", "0"),
    ]
    tail = [
        ("lastlogin", "0"),
        ("lastloginstr", "Never"),
        ("timespentinmonth", "0"),
        ("timespentinmonthstr", "0s"),
        ("loginsinmonth", "0"),
    ]

    def key(name: str, value: str) -> str:
        return f'<KEY name="{name}"><VALUE>{value}</VALUE>\n</KEY>\n'

    expected = (
        '<?xml version="1.0" encoding="UTF-8" ?>\n<RESPONSE>\n<SINGLE>\n'
        + "".join(key(n, v) for n, v in keys)
        + '<KEY name="badges"><MULTIPLE>\n</MULTIPLE>\n</KEY>\n'
        + key("numbadges", "0")
        + "".join(key(n, v) for n, v in tail)
        + "</SINGLE>\n</RESPONSE>\n"
    )
    assert body == expected.encode()


@pytest.mark.parametrize(
    ("token_id", "field", "value", "error"),
    [
        (2, "id", "7", b'"webservice_access_exception","errorcode":"accessexception"'),
        (5, "id", "7", b'"moodle_exception","errorcode":"wsaccessusersuspended"'),
        (7, "id", "7", b'"webservice_access_exception","errorcode":"accessexception"'),
        (1, "id", "16", b'"dml_missing_record_exception","errorcode":"invaliduser"'),
        (1, "email", "bob.durand@example.com", b'"dml_multiple_records_exception"'),
    ],
)
async def test_rest_refusals_on_the_scenario(
    scenario: Scenario, token_id: int, field: str, value: str, error: bytes
) -> None:
    body = await _rest(scenario, token_id, field, value, "json")
    assert body.startswith(b'{"exception":' + error)
