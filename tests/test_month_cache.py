"""The month cache in the request path: closed months are computed once, the current one again."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from sqlalchemy.engine import make_url

from definum_gql.moodle.site import Moodle
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
