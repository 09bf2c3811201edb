"""Read-ahead (stats.activity): a closed month computed for 100 learners or more also computes
the learners that follow them in id order into the month cache."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest

from definum_gql.cache import InFlight, MonthCache
from definum_gql.moodle.queries import statements
from definum_gql.moodle.site import Moodle
from definum_gql.stats import activity
from definum_gql.stats.activity import MonthlyActivity, monthly_activity
from definum_gql.stats.months import Month
from definum_gql.stats.timespent import WINDOW_PARTS
from tests.builders import Site
from tests.databases import MakeMoodle
from tests.graphql_support import StatementCounter

# NOW is 2026-11-25 (Paris): October is closed, November is the current month.
OCTOBER, NOVEMBER = Month(2026, 10), Month(2026, 11)
OCT_DAY = 1792836000  # 2026-10-24T12:00:00+02:00


async def october_learners(site: Site, count: int) -> dict[int, int]:
    """``count`` learners, each with a login and one more row ``gap`` seconds later in October;
    their expected time spent (block_use_stats: the gap, then 900 s for the last row)."""
    expected = {}
    for k in range(count):
        uid = await site.user()
        gap = 60 + 7 * k  # under the 60-minute threshold, different for each learner
        await site.login(uid, OCT_DAY + 10 * k)
        await site.log(uid, OCT_DAY + 10 * k + gap)
        expected[uid] = gap + 900
    return expected


def check(
    found: dict[int, list[MonthlyActivity]], expected: dict[int, int], ids: Sequence[int]
) -> None:
    """Each learner's October: its time, one login, one active day (both rows within an hour)."""
    assert {uid: months[0].time_spent for uid, months in found.items()} == {
        uid: expected[uid] for uid in ids
    }
    assert all(months[0].logins == 1 and months[0].active_days == 1 for months in found.values())


async def october(moodle: Moodle, ids: Sequence[int]) -> dict[int, list[MonthlyActivity]]:
    async with moodle.request() as ctx:
        return await monthly_activity(ctx, ids, [OCTOBER])


def cached(moodle_with: MakeMoodle, **settings: int) -> tuple[Moodle, MonthCache]:
    """A Moodle view with an in-process month cache of 1,000 entries (``settings`` on top)."""
    moodle = moodle_with(**{"month_cache_entries": 1000, **settings})
    assert moodle.cache is not None
    return moodle, moodle.cache


async def ended(flight: InFlight) -> None:
    """Once the read-ahead's task has ended and its done callbacks (Flights' bookkeeping) have
    run: awaiting a task already done does not yield to them."""
    await flight.task
    await asyncio.sleep(0)


def in_read_ahead() -> bool:
    """Whether the running task is a read-ahead (cache.Flights names them so)."""
    task = asyncio.current_task()
    return task is not None and task.get_name().startswith("read-ahead")


async def test_the_learner_index_is_recognised(site: Site, moodle_with: MakeMoodle) -> None:
    async def seen() -> bool:
        moodle = moodle_with()
        try:
            async with moodle.request() as ctx:
                return ctx.statements.log_by_learner
        finally:
            await moodle.dispose()

    assert not await seen()  # Moodle's own indexes: none starts with (userid, timecreated)
    await site.index("definum_test_timuse_ix", "timecreated, userid")
    try:
        assert not await seen()
        if site.db.backend != "mariadb":  # MariaDB has no partial indexes
            await site.index("definum_test_part_ix", "userid, timecreated) WHERE (userid > 2")
            try:
                assert not await seen()  # it serves only some learners
            finally:
                await site.drop_index("definum_test_part_ix")
        if site.db.backend == "postgresql":
            await site.index("definum_test_incl_ix", "userid) INCLUDE (timecreated")
            try:
                assert not await seen()  # timecreated is not a key: no order by time
            finally:
                await site.drop_index("definum_test_incl_ix")
        await site.index("definum_test_usetim_ix", "userid, timecreated, id")
        try:
            assert await seen()
        finally:
            await site.drop_index("definum_test_usetim_ix")
    finally:
        await site.drop_index("definum_test_timuse_ix")


def read_ahead_fails(monkeypatch: pytest.MonkeyPatch, when: Callable[[Any], bool]) -> None:
    """Read-aheads lose the database when computing ``pairs`` for which ``when`` holds."""
    real = activity._compute

    async def compute(ctx: Any, pairs: Any, wanted: Any) -> Any:
        if in_read_ahead() and when(pairs):
            raise ConnectionResetError("the database went away")
        return await real(ctx, pairs, wanted)

    monkeypatch.setattr(activity, "_compute", compute)


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Iterator[asyncio.Event]:
    """Read-aheads wait for the gate to open before computing (requests never do)."""
    opened = asyncio.Event()
    real = activity._compute

    async def compute(ctx: Any, pairs: Any, wanted: Any) -> Any:
        if in_read_ahead():
            await opened.wait()
        return await real(ctx, pairs, wanted)

    monkeypatch.setattr(activity, "_compute", compute)
    yield opened
    opened.set()


async def test_a_page_of_a_closed_month_reads_the_following_learners_ahead(
    site: Site, moodle_with: MakeMoodle
) -> None:
    expected = await october_learners(site, 130)
    learners = sorted(expected)
    moodle, cache = cached(moodle_with, read_ahead_learners=20)
    check(await october(moodle, learners[:100]), expected, learners[:100])
    (flight,) = cache.flights.running.values()
    assert flight.learners == set(learners[100:120])
    await flight.task
    assert cache.flights.running == {}
    with StatementCounter(moodle) as counter:
        check(await october(moodle, learners[100:]), expected, learners[100:])
    # The 20 learners after the page came from the cache; the last 10 were past the read-ahead
    # and read from the log, in one statement.
    assert (cache.stats.hits, cache.stats.misses) == (20, 100 + 10)
    assert len(counter.reading("mdl_logstore_standard_log")) == 1


async def test_a_batch_of_learners_being_read_ahead_waits_for_them(
    site: Site, moodle_with: MakeMoodle
) -> None:
    expected = await october_learners(site, 220)
    learners = sorted(expected)
    moodle, cache = cached(moodle_with)
    async with moodle.request() as ctx:
        first = await monthly_activity(ctx, learners[:100], [OCTOBER])
        # Nothing has awaited since the read-ahead was started: it has not run yet.
        (flight,) = cache.flights.running.values()
        second = await monthly_activity(ctx, learners[100:], [OCTOBER])
    check(first, expected, learners[:100])
    check(second, expected, learners[100:])
    # The second call had its part's answer, maybe after the task ended: the task may be done
    # with its done callbacks (the flight's bookkeeping) still queued.
    await ended(flight)
    assert cache.flights.running == {}
    # The second call's 120 learners were misses in the cache when it asked, and it took them
    # from the read-ahead: 100 + 120 results stored, not 120 more of its own.
    assert (cache.stats.hits, cache.stats.misses) == (0, 220)
    assert cache.stats.sets == 220


async def test_a_few_learners_or_others_do_not_wait_for_a_read_ahead(
    site: Site, moodle_with: MakeMoodle, gate: asyncio.Event
) -> None:
    expected = await october_learners(site, 330)
    learners = sorted(expected)
    moodle, cache = cached(moodle_with, read_ahead_learners=120)
    await october(moodle, learners[:100])
    (flight,) = cache.flights.running.values()
    # The read-ahead (learners 100-219) is held at its gate: these must answer without it.
    few = learners[100:105]
    check(await asyncio.wait_for(october(moodle, few), 30), expected, few)
    beyond = learners[230:330]
    check(await asyncio.wait_for(october(moodle, beyond), 30), expected, beyond)
    # ... and no second read-ahead of October started meanwhile.
    assert list(cache.flights.running.values()) == [flight]
    gate.set()
    await flight.task


@pytest.mark.usefixtures("by_learner")
async def test_a_read_ahead_answers_each_part_as_it_is_done(
    site: Site, moodle_with: MakeMoodle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the learner index, a read-ahead goes READ_AHEAD_PART learners at a time: a page
    waiting for the first part answers while the next parts are still to be read."""
    expected = await october_learners(site, 400)
    learners = sorted(expected)
    monkeypatch.setattr(activity, "READ_AHEAD_PART", 100)
    later = asyncio.Event()
    real = activity._compute

    async def compute(ctx: Any, pairs: Any, wanted: Any) -> Any:
        if in_read_ahead() and pairs[0][0] != learners[100]:
            await later.wait()  # every part after the first is held
        return await real(ctx, pairs, wanted)

    monkeypatch.setattr(activity, "_compute", compute)
    moodle, cache = cached(moodle_with, read_ahead_learners=300)
    await october(moodle, learners[:100])
    (flight,) = cache.flights.running.values()
    assert [sorted(part) for part, _ in flight.parts] == [
        learners[100:200],
        learners[200:300],
        learners[300:400],
    ]
    second = await asyncio.wait_for(october(moodle, learners[100:200]), 30)
    check(second, expected, learners[100:200])
    # Answered by the first part (waited for, or already in the cache), not computed again:
    # 100 + 100 stored; the other parts still held.
    assert not flight.task.done()
    assert cache.stats.sets == 200
    later.set()
    check(await october(moodle, learners[200:400]), expected, learners[200:400])
    await ended(flight)
    assert cache.stats.sets == 400
    assert cache.flights.running == {}


async def test_without_the_learner_index_a_read_ahead_is_one_part(
    site: Site, moodle_with: MakeMoodle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without it, each part would read the month's range of the table again (also past an
    IN list: CHUNK learners)."""
    expected = await october_learners(site, 400)
    learners = sorted(expected)
    monkeypatch.setattr(activity, "READ_AHEAD_PART", 100)
    monkeypatch.setattr(activity, "CHUNK", 100)
    moodle, cache = cached(moodle_with, read_ahead_learners=300)
    await october(moodle, learners[:100])
    (flight,) = cache.flights.running.values()
    assert [sorted(part) for part, _ in flight.parts] == [learners[100:400]]
    await flight.task
    check(await october(moodle, learners[100:400]), expected, learners[100:400])
    assert cache.stats.hits == 300


@pytest.mark.usefixtures("by_learner")
async def test_a_read_ahead_failing_midway_keeps_the_parts_it_answered(
    site: Site,
    moodle_with: MakeMoodle,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    expected = await october_learners(site, 300)
    learners = sorted(expected)
    monkeypatch.setattr(activity, "READ_AHEAD_PART", 100)
    read_ahead_fails(monkeypatch, lambda pairs: pairs[0][0] != learners[100])
    moodle, cache = cached(moodle_with, read_ahead_learners=200)
    async with moodle.request() as ctx:
        await monthly_activity(ctx, learners[:100], [OCTOBER])
        (flight,) = cache.flights.running.values()
        second = await monthly_activity(ctx, learners[100:300], [OCTOBER])
    check(second, expected, learners[100:300])
    await asyncio.gather(flight.task, return_exceptions=True)
    # The page's 100, the read-ahead's first part, and the second call's own 100 (the part
    # that failed): not the 200 the second call asked.
    assert cache.stats.sets == 300
    assert "read-ahead of 2026-10 failed: ConnectionResetError" in caplog.text


@pytest.mark.parametrize(
    ("learners", "month", "settings"),
    [
        pytest.param(99, OCTOBER, {}, id="fewer-than-100-learners"),
        pytest.param(100, NOVEMBER, {}, id="the-current-month"),
        pytest.param(100, OCTOBER, {"read_ahead_learners": 0}, id="turned-off"),
        pytest.param(100, OCTOBER, {"month_cache_entries": 100}, id="no-room-in-the-cache"),
    ],
)
async def test_no_read_ahead(
    site: Site, moodle_with: MakeMoodle, learners: int, month: Month, settings: dict[str, int]
) -> None:
    expected = await october_learners(site, learners + 5)
    moodle, cache = cached(moodle_with, **settings)
    async with moodle.request() as ctx:
        await monthly_activity(ctx, sorted(expected)[:learners], [month])
        assert cache.flights.running == {}


async def test_no_read_ahead_without_a_connection_to_spare(
    site: Site, moodle_with: MakeMoodle
) -> None:
    expected = await october_learners(site, 105)
    moodle, cache = cached(moodle_with)
    db = moodle.db
    if not db.raw:
        pytest.skip("SQLAlchemy's own pools (SQLite) keep no spare budget")
    db.spares_in_use = db.spare_limit  # every spare taken, e.g. by other requests' parts
    try:
        check(await october(moodle, sorted(expected)[:100]), expected, sorted(expected)[:100])
        assert cache.flights.running == {}
    finally:
        db.spares_in_use = 0


async def test_a_failed_read_ahead_is_logged_its_learners_computed_and_not_retried_soon(
    site: Site,
    moodle_with: MakeMoodle,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    expected = await october_learners(site, 320)
    learners = sorted(expected)
    read_ahead_fails(monkeypatch, lambda pairs: True)
    moodle, cache = cached(moodle_with, read_ahead_learners=100)
    async with moodle.request() as ctx:
        await monthly_activity(ctx, learners[:100], [OCTOBER])
        second = await monthly_activity(ctx, learners[100:200], [OCTOBER])
    check(second, expected, learners[100:200])
    # The read-ahead stored nothing; the second call computed and stored its 100 learners.
    assert cache.stats.sets == 200
    assert "read-ahead of 2026-10 failed: ConnectionResetError" in caplog.text
    # The next page starts no read-ahead of October for a while.
    check(await october(moodle, learners[200:300]), expected, learners[200:300])
    assert cache.flights.running == {}


async def test_closing_the_cache_stops_a_read_ahead_and_who_waits_computes(
    site: Site, moodle_with: MakeMoodle, gate: asyncio.Event, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = await october_learners(site, 200)
    learners = sorted(expected)
    moodle, cache = cached(moodle_with)
    await october(moodle, learners[:100])
    (flight,) = cache.flights.running.values()
    joining = asyncio.Event()
    join = activity._join_read_ahead

    def spied(*args: Any) -> Any:
        joining.set()  # then it runs on, without awaiting, to wait for the read-ahead
        return join(*args)

    monkeypatch.setattr(activity, "_join_read_ahead", spied)
    waiting = asyncio.create_task(october(moodle, learners[100:]))
    await joining.wait()
    await cache.close()
    assert flight.task.cancelled()
    assert cache.flights.running == {}
    check(await asyncio.wait_for(waiting, 30), expected, learners[100:])


async def test_where_a_batch_reads_the_whole_month_the_following_learners_share_its_statement(
    site: Site, moodle_with: MakeMoodle
) -> None:
    """MariaDB whose log outgrows its buffer pool reads the month's range of the table for any
    batch (forced here, the test log being small): the following learners are computed in the
    page's own statement, before it answers, and nothing is left running."""
    expected = await october_learners(site, 130)
    learners = sorted(expected)
    moodle, cache = cached(moodle_with, read_ahead_learners=20)
    with StatementCounter(moodle) as counter:
        async with moodle.request() as plain:
            ctx = dataclasses.replace(
                plain,
                statements=statements(
                    "mdl_", (), ("mdl_logsstanlog_use_ix", "mdl_logsstanlog_useconconcr_ix")
                ),
            )
            first = await monthly_activity(ctx, learners[:100], [OCTOBER])
            assert cache.flights.running == {}
    check(first, expected, learners[:100])
    log_reads = counter.reading("mdl_logstore_standard_log")
    # One read of the log for the page and the 20 learners after it (PostgreSQL sends a batch's
    # window in two halves at once). Elsewhere the batch reads by ids: each time slice's first
    # and last ids are found (one slice where no connection is spare: SQLite), then the one
    # slice holding rows (all on one day) is read.
    bounds = [s for s in log_reads if "max(" in s.lower()]
    backend = moodle.db.backend
    assert len(log_reads) - len(bounds) == (2 if backend == "postgresql" else 1)
    assert len(bounds) == {"postgresql": 0, "sqlite": 1}.get(backend, WINDOW_PARTS)
    assert cache.stats.sets == 120
    check(await october(moodle, learners[100:120]), expected, learners[100:120])
    assert cache.stats.hits == 20
