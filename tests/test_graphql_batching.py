"""No N+1: a page of 500 learners with their documents, badges, enrolments and activity costs the
same number of SQL statements as a page of one."""

from __future__ import annotations

import asyncio
import gc
from typing import Any, cast

import pytest
from sqlalchemy import insert, select

from definum_gql.graphql import context as graphql_context
from definum_gql.graphql import loaders, prefetch
from definum_gql.graphql.context import Context, SharedLoader
from definum_gql.moodle.reader import DatabaseReadError, Reader, ReaderClosed
from definum_gql.moodle.site import RequestContext
from definum_gql.stats.badges import load_badges
from definum_gql.stats.courses import load_enrolments
from definum_gql.stats.timespent import WINDOW_LEARNERS, WINDOW_PARTS
from tests.builders import NOW, Site
from tests.databases import MakeMoodle
from tests.graphql_support import StatementCounter, admin_token, data, post

LEARNERS = 520
#: PAGE costs 174 per learner (its enrolments, badges and courses counted 10 each): 87,006 for 500,
#: past the default DEFINUM_MAX_COST, which these statement counts are not about.
MAX_COST = 100_000

PAGE = """
query Page($first: Int!) {
  users(first: $first, filter: { search: "bulk" }) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges {
      node {
        id
        fullname
        definumStats { courses finishedCoursesRatio numBadges badges { id name } timeSpentInMonth }
        badges { badge { name course { fullname } } dateIssued }
        enrolments { status course { fullname enrolledLearners } completion { completed } }
        activity { timeSpent byCourse { course { shortname } timeSpent } }
      }
    }
  }
}
"""


async def build_many(site: Site) -> None:
    """LEARNERS users, each in two of three courses, with a badge, a completion and three logs."""
    courses = [await site.course(fullname=f"Course {n}") for n in range(3)]
    enrol_ids = [await site.enrol_instance(course) for course in courses]
    site_badge = await site.badge(name="Site badge")
    course_badge = await site.badge(name="Course badge", courseid=courses[0], type=2)
    t = site.t
    async with site.db.writer.begin() as conn:
        await conn.execute(
            insert(t.user),
            [
                {
                    "auth": "manual",
                    "confirmed": 1,
                    "mnethostid": 1,
                    "username": f"bulk{n}",
                    "firstname": f"Bulk{n}",
                    "lastname": "Learner",
                    "email": f"bulk{n}@example.org",
                    "password": "",
                    "idnumber": "",
                    "timecreated": NOW - 86400 * 60,
                }
                for n in range(LEARNERS)
            ],
        )
    async with site.db.writer.connect() as conn:
        found = await conn.execute(select(t.user.c.id, t.user.c.username))
        by_name = {name: int(uid) for uid, name in found}
    user_ids = [by_name[f"bulk{n}"] for n in range(LEARNERS)]
    async with site.db.writer.begin() as conn:
        enrolments: list[dict[str, Any]] = []
        completions: list[dict[str, Any]] = []
        issued: list[dict[str, Any]] = []
        logs: list[dict[str, Any]] = []
        for n, uid in enumerate(user_ids):
            for k in (n % 3, (n + 1) % 3):
                enrolments.append(
                    {
                        "status": 0,
                        "enrolid": enrol_ids[k],
                        "userid": uid,
                        "timestart": 0,
                        "timeend": 0,
                        "modifierid": 2,
                        "timecreated": NOW - 86400,
                        "timemodified": NOW - 86400,
                    }
                )
            completions.append(
                {
                    "userid": uid,
                    "course": courses[n % 3],
                    "timeenrolled": 0,
                    "timestarted": 0,
                    "timecompleted": NOW - 3600 if n % 2 else None,
                    "reaggregate": 0,
                }
            )
            badge = site_badge if n % 2 else course_badge
            issued.append(
                {
                    "badgeid": badge,
                    "userid": uid,
                    "dateissued": NOW - 7200,
                    "dateexpire": None,
                    "uniquehash": f"bulk{n}",
                    "visible": 1,
                }
            )
            for step, course in enumerate((0, courses[n % 3], courses[(n + 1) % 3])):
                logs.append(
                    {
                        "eventname": "\\core\\event\\course_viewed",
                        "component": "core",
                        "action": "viewed",
                        "target": "course",
                        "crud": "r",
                        "edulevel": 2,
                        "contextid": 1,
                        "contextlevel": 50,
                        "contextinstanceid": 0,
                        "userid": uid,
                        "courseid": course,
                        "anonymous": 0,
                        "timecreated": NOW - 86400 + 60 * step + n,
                        "origin": "web",
                        "ip": "192.0.2.1",
                        "realuserid": None,
                    }
                )
        await conn.execute(insert(t.user_enrolments), enrolments)
        await conn.execute(insert(t.course_completions), completions)
        await conn.execute(insert(t.badge_issued), issued)
        await conn.execute(insert(t.logstore_standard_log), logs)


async def test_statements_do_not_grow_with_the_page_size(
    site: Site, moodle_with: MakeMoodle
) -> None:
    moodle = moodle_with(max_cost=MAX_COST)
    await build_many(site)
    token = await admin_token(site)
    counts: dict[int, int] = {}
    # The first request reads the site's configuration (on MariaDB, the log's indexes too).
    await post(moodle, PAGE, {"first": 1}, token=token)
    for first in (1, 50, 500):
        with StatementCounter(moodle) as counter:
            response = await post(moodle, PAGE, {"first": first}, token=token)
        body = response.json()
        assert response.status_code == 200, body
        assert "errors" not in body, body["errors"]
        edges = body["data"]["users"]["edges"]
        assert len(edges) == first
        assert body["data"]["users"]["totalCount"] == LEARNERS
        counts[first] = len(counter.statements)
    # Every page holds learners with enrolments, badges and logs, so every loader runs each time.
    assert counts[1] == counts[50], counts
    # From WINDOW_LEARNERS learners PostgreSQL sums time spent itself, in WINDOW_PARTS
    # statements sent at once (each on its own connection) instead of one read of the rows.
    parts = WINDOW_PARTS if moodle.db.backend == "postgresql" else 1
    assert 50 < WINDOW_LEARNERS <= 500
    assert counts[500] == counts[50] + parts - 1, counts


async def test_a_500_page_answers_every_learner(site: Site, moodle_with: MakeMoodle) -> None:
    """The batch answers are routed back to the right learner (spot checks on the bulk rows)."""
    moodle = moodle_with(max_cost=MAX_COST)
    await build_many(site)
    token = await admin_token(site)
    response = await post(moodle, PAGE, {"first": 500}, token=token)
    edges = response.json()["data"]["users"]["edges"]
    by_name = {e["node"]["fullname"]: e["node"] for e in edges}
    # bulk7: n = 7 is odd: enrolled in courses 1 and 2, completed course 1, issued the site badge.
    seven = by_name["Bulk7 Learner"]
    assert seven["definumStats"]["courses"] == 2
    assert seven["definumStats"]["finishedCoursesRatio"] == 50
    assert [b["badge"]["name"] for b in seven["badges"]] == ["Site badge"]
    assert seven["badges"][0]["badge"]["course"] is None
    # bulk8: n = 8 is even: courses 2 and 0, no completion, the course badge of course 0.
    eight = by_name["Bulk8 Learner"]
    assert eight["definumStats"]["finishedCoursesRatio"] == 0
    assert eight["badges"][0]["badge"]["course"] == {"fullname": "Course 0"}
    # Learner n is in courses n % 3 and (n + 1) % 3. Of n = 0..519, 174 have n % 3 = 0 and 173
    # each 1 and 2: course 1 holds residues 0 and 1 (347), course 2 residues 1 and 2 (346).
    learners = {
        e["course"]["fullname"]: e["course"]["enrolledLearners"] for e in seven["enrolments"]
    }
    assert learners == {"Course 1": 347, "Course 2": 346}


async def test_a_failed_field_leaves_the_other_fields_sharing_its_loads_answered(
    site: Site,
    moodle_with: MakeMoodle,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """When a non-null field fails, graphql-core cancels its siblings. A sibling cancelled while
    awaiting a load another field shares (here `a`'s October, which `c` also asks) must not
    cancel that load for the others: the request answers them, it does not hang."""
    october = 1792836000  # 2026-10-24T12:00:00+02:00
    first, second = await site.user(), await site.user()
    for user in (first, second):
        await site.login(user, october)
        await site.log(user, october + 100)  # October: 100, then 900 for the last row
    token = await admin_token(site)
    moodle = moodle_with()

    async def broken(ctx: object, ids: list[int]) -> dict[int, int]:
        raise DatabaseReadError("the statement failed")

    monkeypatch.setattr(loaders, "completions_all_time", broken)
    query = f"""{{
      a: user(by: ID, value: "{first}") {{
        courseSummary {{ courses }} activity(month: "2026-10") {{ timeSpent }}
        again: courseSummary {{ courses }}
      }}
      d: user(by: ID, value: "{second}") {{ courseSummary {{ courses }} }}
      b: user(by: ID, value: "{second}") {{ definumStats(month: "2026-10") {{ timeSpentInMonth }} }}
      c: user(by: ID, value: "{first}") {{ definumStats(month: "2026-10") {{ timeSpentInMonth }} }}
    }}"""
    response = await asyncio.wait_for(post(moodle, query, token=token), 30)
    body = response.json()
    assert body["data"]["a"] is None
    assert body["data"]["d"] is None
    assert sorted(e["path"][0] for e in body["errors"]) == ["a", "d"]
    assert body["data"]["b"] == {"definumStats": {"timeSpentInMonth": 1000}}
    assert body["data"]["c"] == {"definumStats": {"timeSpentInMonth": 1000}}
    # Every resolver's copy of the failed load had its error looked at: nothing is logged as
    # "Future exception was never retrieved" when they are collected.
    gc.collect()
    assert "never retrieved" not in caplog.text


async def test_a_batch_nobody_waits_for_any_more_is_not_run() -> None:
    """Every resolver of a key cancelled (the request ended) before its batch went out: the
    batch is skipped, as Strawberry does for a batch whose futures are all cancelled."""
    asked: list[list[int]] = []

    async def batch(ctx: object, keys: list[int]) -> dict[int, int]:
        asked.append(keys)
        return {k: k for k in keys}

    context = Context(stats=cast(RequestContext, None), request_id="r")
    loader = context.loader("k", batch)
    first, second = (cast(asyncio.Future[int], loader.load(1)) for _ in range(2))
    first.cancel()
    second.cancel()
    for _ in range(3):  # the batch's turn to go out comes and goes
        await asyncio.sleep(0)
    assert asked == []
    # A key asked afresh still loads.
    assert await context.loader("other", batch).load(2) == 2
    assert asked == [[2]]


PRIMED = """
query Primed($month: String!, $algorithm: TimeSpentAlgorithm!) {
  users(first: 10) {
    edges { node { id ...Figures } }
  }
}
fragment Figures on User {
  definumStats(month: $month) { timeSpentInMonth loginsInMonth courses numBadges }
  activity(month: "2026-10") { logins timeSpent activeDays }
  dedication: timeSpent(month: $month, algorithm: $algorithm)
  useStats: timeSpent(month: "2026-10")
  activityHistory(from: "2026-09", to: "2026-10") { month logins timeSpent }
  enrolments(activeOnly: false) { status }
  courseSummary { courses }
  badges { badge { name } }
}
"""
ONE = "query One($id: String!, $month: String!, $algorithm: TimeSpentAlgorithm!) " + (
    "{ user(by: ID, value: $id) { id ...Figures } }" + PRIMED[PRIMED.index("fragment") :]
)


async def test_a_page_answers_its_nodes_batch_fields_from_loads_made_before_walking_them(
    site: Site, moodle_with: MakeMoodle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page primes its nodes' loads (fragments, aliases and variables read), so their fields
    answer without an awaitable each; a single user's fields await theirs. Same answers."""
    october = 1792836000  # 2026-10-24T12:00:00+02:00
    course = await site.course()
    learners = [await site.user() for _ in range(3)]
    for user in learners:
        await site.enrol(user, course)
        await site.login(user, october)
        # 300 s, then a row 5,000 s on: over block_use_stats' hour, credited 900 s instead.
        await site.log(user, october + 300)
        await site.log(user, october + 5300)
    token = await admin_token(site)
    moodle = moodle_with()
    waited: list[object] = []
    later = prefetch._later

    def counted(*args: Any) -> Any:
        waited.append(args)
        return later(*args)

    monkeypatch.setattr(prefetch, "_later", counted)
    variables = {"month": "2026-10", "algorithm": "DEDICATION"}
    page = await data(moodle, PRIMED, variables, token=token)
    assert waited == []
    nodes = {int(e["node"]["id"]): e["node"] for e in page["users"]["edges"]}
    for user in learners:
        node = nodes[user]
        # Login, +300, +5,000 (a gap: credited 900), then the last row credited 900.
        assert node["useStats"] == 300 + 900 + 900 == node["definumStats"]["timeSpentInMonth"]
        assert node["activity"] == {"logins": 1, "timeSpent": 2100, "activeDays": 1}
        # block_dedication: sessions split at gaps over an hour: 300 s, then one row alone.
        assert node["dedication"] == 300
        assert node["activityHistory"][0] == {"month": "2026-09", "logins": 0, "timeSpent": 0}
        assert node["courseSummary"] == {"courses": 1}
        alone = await data(moodle, ONE, {"id": str(user), **variables}, token=token)
        assert alone["user"] == node
    assert len(waited) == 3 * 8  # the single users' eight batch fields each
    # A nullable variable left out: the argument's default, primed as the field reads it.
    waited.clear()
    unset = (
        "query Unset($algorithm: TimeSpentAlgorithm) { users(first: 10) { edges { node { id "
        'timeSpent(month: "2026-10", algorithm: $algorithm) } } } }'
    )
    spent = await data(moodle, unset, {}, token=token)
    assert waited == []
    assert {int(e["node"]["id"]): e["node"]["timeSpent"] for e in spent["users"]["edges"]} == {
        uid: node["useStats"] for uid, node in nodes.items()
    }


async def test_a_skipped_field_is_not_loaded_for_the_page(
    site: Site, moodle_with: MakeMoodle
) -> None:
    await site.login(await site.user(), 1792836000)
    token = await admin_token(site)
    moodle = moodle_with()
    bare = "{ users(first: 5) { edges { node { id } } } }"
    skipped = (
        "{ users(first: 5) { edges { node { id "
        'activity(month: "2026-09") @skip(if: true) { timeSpent } '
        "badges @include(if: false) { dateIssued } } } } }"
    )
    await data(moodle, bare, token=token)  # the site's configuration read
    counts = []
    for query in (bare, skipped):
        with StatementCounter(moodle) as counter:
            await data(moodle, query, token=token)
        counts.append(len(counter.statements))
    assert counts[0] == counts[1]


async def test_a_month_a_page_field_refuses_is_refused_on_every_node(
    site: Site, moodle_with: MakeMoodle
) -> None:
    """Priming leaves arguments to the fields: the first node's field refuses it, as without
    priming (a non-null field: the page is null)."""
    for _ in range(2):
        await site.user()
    token = await admin_token(site)
    moodle = moodle_with()
    query = '{ users(first: 10) { edges { node { id timeSpent(month: "2026-13") } } } }'
    response = await post(moodle, query, token=token)
    body = response.json()
    assert response.status_code == 200
    assert body == {
        "data": {"users": None},
        "errors": [
            {
                "message": "month '2026-13' is out of range",
                "locations": [{"line": 1, "column": 40}],
                "path": ["users", "edges", 0, "node", "timeSpent"],
                "extensions": {"code": "INVALID_MONTH"},
            }
        ],
    }


async def test_a_refused_argument_leaves_no_load_running_after_the_answer(
    site: Site, moodle_with: MakeMoodle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A field that refuses its argument fails as an async resolver does: graphql-core then
    cancels its siblings' loads before answering, instead of leaving them to run (on a reader
    the ended request has closed)."""
    user = await site.user()
    token = await admin_token(site)
    moodle = moodle_with()
    outcomes: list[str] = []
    later = prefetch._later

    async def traced(*args: Any) -> Any:
        outcomes.append("started")
        try:
            return await later(*args)
        finally:
            outcomes.append("ended")

    monkeypatch.setattr(prefetch, "_later", traced)
    # The badges' statement waits until the answer is in hand.
    answered = asyncio.Event()
    badges = load_badges

    async def held(ctx: Any, ids: list[int]) -> Any:
        await answered.wait()
        return await badges(ctx, ids)

    monkeypatch.setattr(loaders, "load_badges", held)
    query = (
        f'{{ user(by: ID, value: "{user}") '
        '{ badges { dateIssued } timeSpent(month: "2026-13") } }'
    )
    body = (await post(moodle, query, token=token)).json()
    at_answer = list(outcomes)
    answered.set()
    assert [e["extensions"]["code"] for e in body["errors"]] == ["INVALID_MONTH"]
    assert at_answer == ["started", "ended"]


async def test_refusals_on_a_page_are_reported_for_every_node_as_before(
    site: Site, moodle_with: MakeMoodle
) -> None:
    """A token without moodle/site:viewuseridentity: each other user's email is refused, and the
    month the first node refuses nulls the page (INVALID_MONTH after the FORBIDDEN ones)."""
    await site.allow(7)
    owner = await site.user(username="reader0")
    others = [await site.user() for _ in range(3)]
    token = await site.token(owner, await site.service())
    moodle = moodle_with()
    query = '{ users(first: 10) { edges { node { id email timeSpent(month: "2026-13") } } } }'
    body = (await post(moodle, query, token=token)).json()
    assert body["data"] == {"users": None}
    listed = sorted([2, owner, *others])  # the admin and the site's users, in id order
    forbidden = [n for n, uid in enumerate(listed) if uid != owner]
    got = [(e["path"][2], e["path"][4], e["extensions"]["code"]) for e in body["errors"]]
    assert got == [(n, "email", "FORBIDDEN") for n in forbidden] + [
        (0, "timeSpent", "INVALID_MONTH")
    ]


async def test_keys_loaded_all_at_once_are_released_as_single_loads_are() -> None:
    """load_all (a page priming its nodes' keys): cancelled, it cancels the keys nobody else
    awaits, so their batch is skipped; a key another resolver awaits still loads."""
    asked: list[list[int]] = []

    async def batch(ctx: object, keys: list[int]) -> dict[int, int]:
        asked.append(keys)
        return {k: k * 10 for k in keys}

    context = Context(stats=cast(RequestContext, None), request_id="r")
    loader = cast(SharedLoader[int, int], context.loader("k", batch))
    primed = cast(asyncio.Future[object], loader.load_all([1, 2]))
    primed.cancel()
    for _ in range(3):
        await asyncio.sleep(0)
    assert asked == []
    other = cast(SharedLoader[int, int], context.loader("other", batch))
    alone = other.load(1)
    primed = cast(asyncio.Future[object], other.load_all([1, 2]))
    primed.cancel()
    assert await alone == 10
    assert asked == [[1, 2]]  # Strawberry sends a batch whole while any of its keys is awaited
    # Loaded in full: every key's value is in the cache for the resolvers that follow.
    third = cast(SharedLoader[int, int], context.loader("third", batch))
    await third.load_all([3, 4])
    cached = [third.cache_map.get(k) for k in (3, 4)]
    assert [f.result() if f is not None else None for f in cached] == [30, 40]


async def test_load_many_answers_in_order_and_raises_a_failed_keys_error() -> None:
    """SharedLoader.load_many (a page's users): each key's value in the order asked, duplicates
    included, from one batch; a key its batch failed raises that failure."""
    asked: list[list[int]] = []

    async def batch(ctx: object, keys: list[int]) -> dict[int, int]:
        asked.append(keys)
        if 13 in keys:
            raise DatabaseReadError("unlucky")
        return {k: k * 10 for k in keys if k != 4}

    context = Context(stats=cast(RequestContext, None), request_id="r")
    loader = cast(SharedLoader[int, int], context.loader("k", batch))
    assert await loader.load_many([3, 1, 4, 3]) == [30, 10, None, 30]
    assert asked == [[3, 1, 4]]
    # Keys already loaded come from the cache; the others go out together.
    assert await loader.load_many([1, 5, 2]) == [10, 50, 20]
    assert asked[1:] == [[5, 2]]
    other = cast(SharedLoader[int, int], context.loader("other", batch))
    with pytest.raises(DatabaseReadError, match="unlucky"):
        await other.load_many([12, 13])


async def test_load_many_cancelled_releases_its_keys_as_single_loads_do() -> None:
    asked: list[list[int]] = []

    async def batch(ctx: object, keys: list[int]) -> dict[int, int]:
        asked.append(keys)
        return {k: k for k in keys}

    context = Context(stats=cast(RequestContext, None), request_id="r")
    loader = cast(SharedLoader[int, int], context.loader("k", batch))
    waiting = asyncio.ensure_future(loader.load_many([1, 2]))
    await asyncio.sleep(0)  # load_many has asked for its keys
    waiting.cancel()
    for _ in range(3):
        await asyncio.sleep(0)
    assert waiting.cancelled()
    assert asked == []
    assert await loader.load(1) == 1  # asked afresh, it loads


async def page_batches(
    site: Site,
    moodle_with: MakeMoodle,
    monkeypatch: pytest.MonkeyPatch,
    spares: int | None,
    beside: bool = False,
) -> tuple[dict[str, Any], dict[str, Reader], int]:
    """A page of LEARNERS documents: the answer, the reader each of its enrolments and badges
    batches ran on (by id), and its statements. ``spares``: the pool's spare budget (None: as
    configured). ``beside``: the enrolments batch waits for the badges batch to start."""
    moodle = moodle_with(max_cost=MAX_COST)
    if not moodle.db.raw:
        pytest.skip("SQLAlchemy's own pools (SQLite) keep no spare connections")
    if spares is not None:
        moodle.db.spare_limit = spares
    token = await admin_token(site)
    readers: dict[str, Reader] = {}
    badges_started = asyncio.Event()

    async def enrolments_batch(ctx: RequestContext, ids: list[int], active: bool) -> Any:
        readers["enrolments"] = ctx.reader
        if beside:  # taking turns on one connection, this would wait for ever
            await asyncio.wait_for(badges_started.wait(), 60)
        return await load_enrolments(ctx, ids, active)

    async def badges_batch(ctx: RequestContext, ids: list[int]) -> Any:
        readers["badges"] = ctx.reader
        badges_started.set()
        return await load_badges(ctx, ids)

    monkeypatch.setattr(loaders, "load_enrolments", enrolments_batch)
    monkeypatch.setattr(loaders, "load_badges", badges_batch)
    query = (
        "{ users(first: 500) { edges { node { id definumStats "
        "{ courses finishedCoursesRatio numBadges badges { id name } timeSpentInMonth } } } } }"
    )
    await post(moodle, query, token=token)  # the site's configuration read
    with StatementCounter(moodle) as counter:
        body = (await post(moodle, query, token=token)).json()
    assert "errors" not in body, body["errors"]
    assert moodle.db.spares_in_use == 0  # every spare given back
    return body["data"], readers, len(counter.statements)


async def test_a_pages_batches_run_beside_each_other_on_spare_connections(
    site: Site, moodle_with: MakeMoodle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batches of a page's learners (BATCH_LEARNERS or more) run at the same time, each on a
    connection the pool spares, instead of taking turns on the request's; with none to spare
    they take turns. Same answers; as many statements as when every batch takes turns."""
    await build_many(site)
    beside, readers, statements = await page_batches(site, moodle_with, monkeypatch, None, True)
    assert readers["enrolments"] is not readers["badges"]
    assert len(beside["users"]["edges"]) == 500
    # No spare: one connection for all (and PostgreSQL's window in one part).
    alone, alone_readers, _ = await page_batches(site, moodle_with, monkeypatch, 0)
    assert alone_readers["enrolments"] is alone_readers["badges"]
    assert alone == beside
    # Batches of fewer learners than that take turns as before.
    monkeypatch.setattr(graphql_context, "BATCH_LEARNERS", LEARNERS + 1)
    turns, turn_readers, turn_statements = await page_batches(site, moodle_with, monkeypatch, None)
    assert turn_readers["enrolments"] is turn_readers["badges"]
    assert turns == beside
    assert turn_statements == statements


async def test_a_batch_failing_beside_the_request_gives_its_connection_back(
    site: Site, moodle_with: MakeMoodle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The badges batch fails on its spare connection: the page answers the error (badges are
    non-null, so the list is null), and the spare goes back to the pool's budget."""
    await build_many(site)
    moodle = moodle_with(max_cost=MAX_COST)
    if not moodle.db.raw:
        pytest.skip("SQLAlchemy's own pools (SQLite) keep no spare connections")
    token = await admin_token(site)
    beside: list[bool] = []

    async def failing(ctx: RequestContext, ids: list[int]) -> Any:
        beside.append(ctx.reader._parent is not None)
        raise DatabaseReadError("the badges' statement failed")

    monkeypatch.setattr(loaders, "load_badges", failing)
    query = (
        "{ users(first: 500) { edges { node "
        "{ id enrolments { status } badges { dateIssued } } } } }"
    )
    await post(moodle, "{ users(first: 1) { edges { node { id } } } }", token=token)
    body = (await post(moodle, query, token=token)).json()
    assert beside == [True]
    assert body["data"] == {"users": None}
    assert {error["path"][-1] for error in body["errors"]} == {"badges"}
    assert moodle.db.spares_in_use == 0
    # And the next page, the batch working again, answers every learner.
    monkeypatch.setattr(loaders, "load_badges", load_badges)
    body = (await post(moodle, query, token=token)).json()
    assert "errors" not in body, body["errors"]
    assert len(body["data"]["users"]["edges"]) == 500
    assert moodle.db.spares_in_use == 0


async def test_a_reader_beside_a_request_takes_no_statement_once_the_request_has_ended(
    moodle_with: MakeMoodle,
) -> None:
    moodle = moodle_with()
    if not moodle.db.raw:
        pytest.skip("SQLAlchemy's own pools (SQLite) keep no spare connections")
    statement = select(moodle.tables.config.c.name).limit(1)
    async with moodle.db.reader() as reader, reader.side_by_side(1) as readers:
        beside = readers[1]
        assert len(await beside.execute(statement)) == 1  # it works while the request does
        await reader.close()  # the request has answered
        with pytest.raises(ReaderClosed):
            await beside.execute(statement)
    assert moodle.db.spares_in_use == 0


async def test_settling_cancelled_ends_without_cancelling_the_futures_it_waits_for() -> None:
    """A wait for a batch's futures (load_all, load_many) cancelled, say by the loop shutting
    down, ends at once and leaves the futures, which other resolvers share, to their batch."""
    loop = asyncio.get_running_loop()
    first, second = loop.create_future(), loop.create_future()
    waiting = asyncio.ensure_future(graphql_context._settled([first, second]))
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert not first.cancelled()
    assert not second.cancelled()
    first.set_result(1)
    second.set_exception(DatabaseReadError("failed"))
    # Settled, failed ones included, it ends without raising.
    await graphql_context._settled([first, second])
    assert isinstance(second.exception(), DatabaseReadError)
