"""The month cache in the request path: closed months are computed once, the current one again."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy.engine import make_url

from definum_gql.moodle.queries import statements
from definum_gql.moodle.site import Moodle
from definum_gql.stats import activity
from definum_gql.stats.activity import monthly_activity
from definum_gql.stats.months import Month
from tests.builders import NOW, Site
from tests.databases import MakeMoodle, settings_for

if TYPE_CHECKING:  # imported at run time, pytest would try to collect the class
    from tests.databases import TestDatabase
from tests.graphql_support import StatementCounter

# NOW is 2026-11-25 (Paris): October is closed, November is the current month.
OCTOBER, NOVEMBER = Month(2026, 10), Month(2026, 11)
OCT_DAY = 1792836000  # 2026-10-24T12:00:00+02:00
NOV_DAY = NOW - 3 * 86400


@pytest.fixture
def cached(moodle_with: MakeMoodle) -> Moodle:
    """Closed months cached in the process; the current month never (TTL 0)."""
    return moodle_with(month_cache_entries=1000, current_month_cache_seconds=0)


async def test_closed_months_are_read_once_and_the_current_month_each_time(
    site: Site, cached: Moodle
) -> None:
    learner = await site.user()
    await site.login(learner, OCT_DAY)
    await site.log(learner, OCT_DAY + 120)  # October: 120 + 900 (last row credit)
    await site.login(learner, NOV_DAY)  # November: the login row alone, 900
    assert cached.cache is not None
    answers = []
    reads = []
    for _ in range(2):
        with StatementCounter(cached) as counter:
            async with cached.request() as ctx:
                answers.append(await monthly_activity(ctx, [learner], [OCTOBER, NOVEMBER]))
        reads.append(counter.reading("mdl_logstore_standard_log"))
    first, second = answers
    assert first == second
    october, november = first[learner]
    assert (october.time_spent, october.logins) == (1020, 1)
    assert (november.time_spent, november.logins) == (900, 1)
    # Both requests read the log once; the second only for November, October came from the
    # cache: 2 misses then 1 hit and 1 miss.
    assert [len(r) for r in reads] == [1, 1]
    assert (cached.cache.stats.hits, cached.cache.stats.misses) == (1, 3)
    # A change in the closed month is not seen (closed months never change), one in the
    # current month is.
    await site.log(learner, OCT_DAY + 240)
    await site.log(learner, NOV_DAY + 60)
    async with cached.request() as ctx:
        third = await monthly_activity(ctx, [learner], [OCTOBER, NOVEMBER])
    assert third[learner][0].time_spent == 1020
    assert third[learner][1].time_spent == 60 + 900


async def test_processes_reading_different_hosts_of_one_site_share_redis_keys(
    site: Site, database: TestDatabase
) -> None:
    # Two addresses of the same database stand for a primary and its replica: what keys the
    # shared cache is the site's own siteidentifier (the same on every replica), once read.
    if database.backend == "sqlite":
        pytest.skip("SQLite has one address")
    await site.config(siteidentifier="q9SSmAGdNsEtZUu4rS0Lz3dC0Alw6yS4moodle.example.org")
    other = make_url(database.url).set(host="localhost").render_as_string(hide_password=False)
    views = [
        Moodle.from_settings(settings_for(url, redis_url="redis://127.0.0.1:6379/0"))
        for url in (database.url, other)
    ]
    try:
        before = [view.cache.namespace for view in views if view.cache is not None]
        for view in views:
            async with view.request():
                pass
        after = [view.cache.namespace for view in views if view.cache is not None]
    finally:
        for view in views:
            await view.dispose()
    assert len(set(before)) == 2  # by address until the site is read
    assert after == ["definum:1:q9SSmAGdNsEtZUu4rS0Lz3dC0Alw6yS4moodle.example.org/mdl_"] * 2


# Read-ahead (stats.activity): a closed month computed for 100 learners or more starts computing
# the learners that follow them in id order into the cache, on a connection of its own.


async def _october_learners(site: Site, count: int) -> dict[int, int]:
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


def _spent(found: dict[int, list[Any]]) -> dict[int, int]:
    return {uid: months[0].time_spent for uid, months in found.items()}


async def test_a_page_of_a_closed_month_reads_the_following_learners_ahead(
    site: Site, moodle_with: MakeMoodle
) -> None:
    expected = await _october_learners(site, 130)
    learners = sorted(expected)
    page, rest = learners[:100], learners[100:]
    moodle = moodle_with(month_cache_entries=1000, read_ahead_learners=20)
    cache = moodle.cache
    assert cache is not None
    async with moodle.request() as ctx:
        first = await monthly_activity(ctx, page, [OCTOBER])
    assert _spent(first) == {uid: expected[uid] for uid in page}
    await asyncio.gather(*(flight.task for flight in cache.in_flight.values()))
    assert cache.in_flight == {}
    with StatementCounter(moodle) as counter:
        async with moodle.request() as ctx:
            second = await monthly_activity(ctx, rest, [OCTOBER])
    assert _spent(second) == {uid: expected[uid] for uid in rest}
    # The 20 learners after the page came from the cache; the last 10 were past the read-ahead
    # and read from the log, in one statement.
    assert (cache.stats.hits, cache.stats.misses) == (20, 100 + 10)
    assert len(counter.reading("mdl_logstore_standard_log")) == 1


async def test_a_request_wanting_learners_being_read_ahead_waits_for_them(
    site: Site, moodle_with: MakeMoodle
) -> None:
    expected = await _october_learners(site, 120)
    learners = sorted(expected)
    page, rest = learners[:100], learners[100:]
    moodle = moodle_with(month_cache_entries=1000)
    cache = moodle.cache
    assert cache is not None
    async with moodle.request() as ctx:
        first = await monthly_activity(ctx, page, [OCTOBER])
        # Nothing has awaited since the page: the read-ahead has not run yet.
        assert len(cache.in_flight) == 1
        second = await monthly_activity(ctx, rest, [OCTOBER])
    assert _spent(first) == {uid: expected[uid] for uid in page}
    assert _spent(second) == {uid: expected[uid] for uid in rest}
    assert cache.in_flight == {}
    # The second call's 20 learners were misses in the cache when it asked, and it took them
    # from the read-ahead: 100 + 20 results stored, not 20 more of its own.
    assert (cache.stats.hits, cache.stats.misses) == (0, 120)
    assert cache.stats.sets == 120


@pytest.mark.parametrize(
    ("learners", "month", "read_ahead"),
    [
        pytest.param(99, OCTOBER, 10_000, id="fewer-than-100-learners"),
        pytest.param(100, NOVEMBER, 10_000, id="the-current-month"),
        pytest.param(100, OCTOBER, 0, id="turned-off"),
    ],
)
async def test_no_read_ahead(
    site: Site, moodle_with: MakeMoodle, learners: int, month: Month, read_ahead: int
) -> None:
    expected = await _october_learners(site, learners + 5)
    moodle = moodle_with(month_cache_entries=1000, read_ahead_learners=read_ahead)
    assert moodle.cache is not None
    async with moodle.request() as ctx:
        await monthly_activity(ctx, sorted(expected)[:learners], [month])
        assert moodle.cache.in_flight == {}


async def test_a_failed_read_ahead_is_logged_and_its_learners_computed_by_who_wants_them(
    site: Site,
    moodle_with: MakeMoodle,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    expected = await _october_learners(site, 110)
    learners = sorted(expected)

    async def broken(*args: object, **kwargs: object) -> list[int]:
        raise ConnectionResetError("the database went away")

    monkeypatch.setattr(activity, "list_users", broken)
    moodle = moodle_with(month_cache_entries=1000)
    assert moodle.cache is not None
    async with moodle.request() as ctx:
        await monthly_activity(ctx, learners[:100], [OCTOBER])
        second = await monthly_activity(ctx, learners[100:], [OCTOBER])
    assert _spent(second) == {uid: expected[uid] for uid in learners[100:]}
    # The read-ahead stored nothing; the second call computed and stored its 10 learners.
    assert moodle.cache.stats.sets == 100 + 10
    assert moodle.cache.in_flight == {}
    assert "read-ahead of 2026-10 failed: ConnectionResetError" in caplog.text


async def test_closing_the_cache_stops_a_read_ahead(site: Site, moodle_with: MakeMoodle) -> None:
    expected = await _october_learners(site, 100)
    moodle = moodle_with(month_cache_entries=1000)
    cache = moodle.cache
    assert cache is not None
    async with moodle.request() as ctx:
        await monthly_activity(ctx, sorted(expected), [OCTOBER])
        (flight,) = cache.in_flight.values()
    await cache.close()
    assert flight.task.cancelled()
    assert cache.in_flight == {}


async def test_where_a_batch_reads_the_whole_month_the_following_learners_share_its_statement(
    site: Site, moodle_with: MakeMoodle
) -> None:
    """MariaDB whose log outgrows its buffer pool reads the month's range of the table for any
    batch (forced here, the test log being small): the following learners are computed in the
    page's own statement, before it answers, and nothing is left running."""
    expected = await _october_learners(site, 130)
    learners = sorted(expected)
    moodle = moodle_with(month_cache_entries=1000, read_ahead_learners=20)
    cache = moodle.cache
    assert cache is not None
    with StatementCounter(moodle) as counter:
        async with moodle.request() as plain:
            ctx = dataclasses.replace(
                plain,
                statements=statements(
                    "mdl_", (), ("mdl_logsstanlog_use_ix", "mdl_logsstanlog_useconconcr_ix")
                ),
            )
            first = await monthly_activity(ctx, learners[:100], [OCTOBER])
            assert cache.in_flight == {}
    assert _spent(first) == {uid: expected[uid] for uid in learners[:100]}
    log_reads = counter.reading("mdl_logstore_standard_log")
    # One read of the log for the page and the 20 learners after it (PostgreSQL sends a batch's
    # window in two halves at once).
    assert len(log_reads) == (2 if moodle.db.backend == "postgresql" else 1)
    assert cache.stats.sets == 120
    async with moodle.request() as ctx:
        second = await monthly_activity(ctx, learners[100:120], [OCTOBER])
    assert _spent(second) == {uid: expected[uid] for uid in learners[100:120]}
    assert cache.stats.hits == 20
