"""Time spent (contract section 5): one hand-computed test per rule, then a property test.

Times are written relative to a base instant; every expected number is worked out in the comment
beside it. Default parameters: T = 3,600 s, C = 900 s, no enrolment filter. The site timezone is
Europe/Paris and "now" is frozen at 2026-11-25T17:42:03Z (18:42:03 in Paris).
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert

from definum_gql.config import Settings
from definum_gql.moodle.queries import BATCH_LEARNERS, lookup_indexes, statements
from definum_gql.moodle.reader import CHUNK, DatabaseReadError, Reader
from definum_gql.moodle.site import Moodle, RequestContext
from definum_gql.moodle.tables import moodle_tables
from definum_gql.stats import timespent
from definum_gql.stats.months import Month
from definum_gql.stats.timespent import (
    Algorithm,
    TimeSpent,
    Trail,
    UseStatsParams,
    folded_trails,
    time_spent,
    use_stats_params,
    window_trails,
)
from tests import timespent_reference as ref
from tests.builders import NOW, Site
from tests.graphql_support import StatementCounter

PARIS = ZoneInfo("Europe/Paris")
P = UseStatsParams(threshold=3600, lastpingcredit=900, enrolmentfilter=False)
# 2026-11-01T00:00 Paris (CET, +01:00) and 2026-12-01T00:00 Paris.
NOV = (1793487600, 1796079600)
# 2026-10-01T00:00 Paris (CEST, +02:00) .. 2026-11-01T00:00 Paris (CET).
OCT = (1790805600, 1793487600)
# 2026-11-20T00:00 Paris: a quiet past day of the current month.
DAY = 1795129200 + 9 * 3600  # 09:00 Paris


async def spent(
    moodle: Moodle,
    users: Sequence[int],
    ranges: Sequence[tuple[int, int]] = (NOV,),
    params: UseStatsParams = P,
    algorithm: Algorithm = Algorithm.USE_STATS,
) -> dict[int, list[TimeSpent]]:
    """What requests use: the rows read once and folded here."""
    async with moodle.request() as ctx:
        return await time_spent(ctx, users, ranges, params=params, tz=PARIS, algorithm=algorithm)


async def windowed(
    moodle: Moodle,
    users: Sequence[int],
    ranges: Sequence[tuple[int, int]] = (NOV,),
    params: UseStatsParams = P,
) -> dict[int, list[TimeSpent]]:
    """The laps summed in the database (window_trails), in halves on two connections."""
    async with moodle.request() as ctx:
        trails = await window_trails(ctx, users, ranges, params=params, tz=PARIS, parts=2)
    return {u: [t.spent[Algorithm.USE_STATS] for t in ts] for u, ts in trails.items()}


async def both(
    moodle: Moodle,
    user: int,
    params: UseStatsParams = P,
    ranges: Sequence[tuple[int, int]] = (NOV,),
) -> TimeSpent:
    """The answer, checked equal by both ways of computing it."""
    answer = (await spent(moodle, [user], ranges, params))[user][0]
    assert (await windowed(moodle, [user], ranges, params))[user][0] == answer
    return answer


async def test_worked_example_login_course_view_and_a_last_view_earn_1500(
    site: Site, moodle: Moodle
) -> None:
    user = await site.user()
    course = await site.course()
    await site.login(user, DAY)  # lap 180 (site)
    await site.log(user, DAY + 180, courseid=course)  # lap 420
    await site.log(user, DAY + 600, courseid=course)  # then nothing for days: C = 900
    result = await both(moodle, user)
    assert result == TimeSpent(180 + 420 + 900, {0: 180, course: 420 + 900}, 1)


async def test_graded_user_row_is_skipped_and_never_next(site: Site, moodle: Moodle) -> None:
    user = await site.user()
    course = await site.course()
    await site.login(user, DAY)  # next counted row is at +300: lap 300, not 100
    await site.log(user, DAY + 100, courseid=course, action="graded", target="user")
    await site.log(user, DAY + 300, courseid=course)  # last: 900
    # A graded row of another target is an ordinary row.
    await site.log(user, DAY + 50_000, courseid=course, action="graded", target="grade")  # 900
    result = await both(moodle, user)
    assert result == TimeSpent(300 + 900 + 900, {0: 300, course: 1800}, 1)


async def test_lap_over_threshold_is_credited_min_of_credit_and_now_minus_row(
    site: Site, moodle: Moodle
) -> None:
    user = await site.user()
    # T = 600, C = 3,600: a lap over T becomes min(C, now - t).
    params = UseStatsParams(threshold=600, lastpingcredit=3600, enrolmentfilter=False)
    await site.log(user, NOW - 2000)  # gap 1,000 > 600 -> min(3,600, 2,000) = 2,000
    await site.log(user, NOW - 1000)  # last -> min(3,600, 1,000) = 1,000
    result = await both(moodle, user, params)
    assert result.total == 3000
    # With the defaults: gap 3,601 > 3,600 -> min(900, ...) = 900, then the last row 900.
    other = await site.user()
    await site.log(other, DAY)
    await site.log(other, DAY + 3601)
    assert (await both(moodle, other)).total == 1800


async def test_lap_of_exactly_the_threshold_is_kept(site: Site, moodle: Moodle) -> None:
    user = await site.user()
    await site.log(user, DAY)  # gap 3,600 is not > T: 3,600
    await site.log(user, DAY + 3600)  # last: 900
    assert (await both(moodle, user)).total == 4500


async def test_last_row_credit_is_capped_by_now(site: Site, moodle: Moodle) -> None:
    user = await site.user()
    await site.log(user, NOW - 300)  # last counted row: min(900, 300) = 300
    await site.log(user, NOW)  # at now: min(900, 0) = 0
    await site.log(user, NOW + 10)  # after now: never read
    result = await both(moodle, user)
    # NOW - 300 -> NOW: lap 300; NOW: lap 0.
    assert result == TimeSpent(300, {0: 300}, 1)


async def test_cli_rows_are_ignored_and_null_origin_counts(site: Site, moodle: Moodle) -> None:
    user = await site.user()
    await site.login(user, DAY)  # next is +400 (the cli row is not next): 400
    await site.log(user, DAY + 100, origin="cli")
    await site.log(user, DAY + 400, origin="ws")  # next is +500: 100
    await site.log(user, DAY + 500, origin=None)  # last: 900
    assert (await both(moodle, user)).total == 400 + 100 + 900


async def test_log_in_as_rows_are_ignored(site: Site, moodle: Moodle) -> None:
    user = await site.user()
    await site.login(user, DAY)  # 200
    await site.log(user, DAY + 100, realuserid=2)  # an admin acting as the user
    await site.log(user, DAY + 200)  # 900
    await site.log(user, DAY + 90_000, realuserid=2)  # would have started another day
    assert (await both(moodle, user)) == TimeSpent(1100, {0: 1100}, 1)


async def test_failed_rows_are_ignored(site: Site, moodle: Moodle) -> None:
    user = await site.user()
    await site.log(user, DAY - 50, action="failed", target="user_login")
    await site.login(user, DAY)  # 250
    await site.log(user, DAY + 100, action="failed", target="user_login")
    await site.log(user, DAY + 250)  # 900
    assert (await both(moodle, user)).total == 1150


async def test_logout_rows_earn_nothing(site: Site, moodle: Moodle) -> None:
    user = await site.user()
    await site.login(user, DAY)  # 100
    await site.log(user, DAY + 100)  # 300 (up to the logout)
    await site.log(user, DAY + 400, action="loggedout", target="user")  # 0 (would be 600)
    await site.log(user, DAY + 1000)  # 300
    await site.log(user, DAY + 1300, action="logout", target="user")  # 0 (would be 900)
    assert (await both(moodle, user)) == TimeSpent(700, {0: 700}, 1)


async def test_laps_count_toward_each_rows_own_course(site: Site, moodle: Moodle) -> None:
    user = await site.user()
    a = await site.course()
    b = await site.course()
    await site.login(user, DAY)  # site: 60
    await site.log(user, DAY + 60, courseid=a)  # a: 240
    await site.log(user, DAY + 300, courseid=b)  # b: 100
    await site.log(user, DAY + 400, courseid=None)  # site (NULL course): 200
    await site.log(user, DAY + 600, courseid=a)  # a: 900
    result = await both(moodle, user)
    assert result == TimeSpent(1500, {0: 260, a: 1140, b: 100}, 1)


async def test_enrolment_filter_moves_the_start_to_the_latest_enrolment(
    site: Site, moodle: Moodle
) -> None:
    user = await site.user()
    a = await site.course()
    b = await site.course()
    c = await site.course()
    await site.enrol(user, a, timestart=DAY - 86400)
    await site.enrol(user, b, timestart=DAY + 1000)  # the latest active start before the end
    await site.enrol(user, c, timestart=DAY + 2000, status=1)  # suspended: not considered
    await site.enrol(user, c, method="self", timestart=NOV[1])  # starts after the range
    # Starts after now, before the month's end: the current month's range ends at now.
    await site.enrol(user, c, method="guest", timestart=NOW + 60)
    await site.log(user, DAY)  # before DAY + 1000: dropped
    await site.log(user, DAY + 999)  # dropped
    await site.log(user, DAY + 1000)  # 500
    await site.log(user, DAY + 1500)  # 900
    params = UseStatsParams(3600, 900, enrolmentfilter=True)
    assert (await both(moodle, user, params)).total == 1400
    # Off: DAY -> +999 (999), +999 -> +1000 (1), 500, 900.
    assert (await both(moodle, user)).total == 2400


async def test_a_past_month_ends_at_its_end(site: Site, moodle: Moodle) -> None:
    user = await site.user()
    await site.log(user, OCT[1] - 1000)  # the last row of October: min(900, now - t) = 900
    await site.log(user, OCT[1] + 100)  # November: neither counted nor "next"
    await site.log(user, OCT[0] - 1)  # September
    result = await both(moodle, user, ranges=(OCT,))
    assert result == TimeSpent(900, {0: 900}, 1)


async def test_config_plugins_parameters_override_settings(site: Site, moodle: Moodle) -> None:
    mine = Settings(use_stats_threshold=30, use_stats_lastpingcredit=5)
    site_config = await moodle.site()
    assert use_stats_params(site_config, mine) == UseStatsParams(1800, 300, False)
    await site.plugin_config("block_use_stats", threshold="10", lastpingcredit="2")
    await site.plugin_config("block_use_stats", enrolmentfilter="1")
    params = use_stats_params(await moodle.site(), mine)
    assert params == UseStatsParams(600, 120, True)
    # Each value falls back on its own when it is not a number.
    await site.plugin_config("block_use_stats", threshold="abc", enrolmentfilter="")
    params = use_stats_params(await moodle.site(), mine)
    assert params == UseStatsParams(1800, 120, False)
    user = await site.user()
    await site.log(user, DAY)  # gap 1,000 > 600: min(120, ...) = 120
    await site.log(user, DAY + 1000)  # last: 120
    params = use_stats_params(await moodle.site(), Settings(use_stats_lastpingcredit=5))
    assert params.threshold == 3600
    await site.plugin_config("block_use_stats", threshold="10")
    params = use_stats_params(await moodle.site(), Settings())
    assert (await both(moodle, user, params)).total == 240


async def test_dst_months_use_paris_boundaries_and_days(site: Site, moodle: Moodle) -> None:
    user = await site.user()

    def utc(
        year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
    ) -> int:
        return int(datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp())

    # October 2026 in Paris: 2026-09-30T22:00Z (CEST) to 2026-10-31T23:00Z (CET); the clocks go
    # back on Sunday 25 October at 01:00Z.
    october = (utc(2026, 9, 30, 22), utc(2026, 10, 31, 23))
    assert october == OCT == Month(2026, 10).bounds(PARIS)
    await site.log(user, utc(2026, 9, 30, 21, 30))  # 23:30 on 30 September: not October
    await site.log(user, utc(2026, 9, 30, 22, 30))  # 00:30 on 1 October: 900
    await site.log(user, utc(2026, 10, 25, 21, 0))  # 22:00 CET on 25 October: 1,800
    await site.log(user, utc(2026, 10, 25, 21, 30))  # 22:30 CET on 25 October: 3,600 (= T)
    # 23:30 CET on 25 October (00:30 on the 26th at the summer offset).
    await site.log(user, utc(2026, 10, 25, 22, 30))  # 900
    await site.log(user, utc(2026, 10, 31, 22, 30))  # 23:30 on 31 October: 900
    await site.log(user, utc(2026, 10, 31, 23, 30))  # 00:30 on 1 November: not October
    result = await both(moodle, user, ranges=(october,))
    # Days: 1 October, 25 October, 31 October.
    assert result == TimeSpent(900 + 1800 + 3600 + 900 + 900, {0: 8100}, 3)
    # March 2026: 2026-02-28T23:00Z (CET) to 2026-03-31T22:00Z (CEST); forward on 29 March.
    march = (utc(2026, 2, 28, 23), utc(2026, 3, 31, 22))
    assert march == Month(2026, 3).bounds(PARIS)
    other = await site.user()
    await site.log(other, utc(2026, 2, 28, 23, 0))  # 00:00 on 1 March: 900
    await site.log(other, utc(2026, 3, 29, 0, 30))  # 01:30 CET on 29 March: 3,600
    await site.log(other, utc(2026, 3, 29, 1, 30))  # 03:30 CEST on 29 March: 900
    await site.log(other, utc(2026, 3, 31, 21, 59, 59))  # 23:59:59 on 31 March: 900
    await site.log(other, utc(2026, 3, 31, 22, 0))  # 00:00 on 1 April: not March
    result = await both(moodle, other, ranges=(march,))
    assert result == TimeSpent(900 + 3600 + 900 + 900, {0: 6300}, 3)


async def test_several_users_and_ranges_in_one_statement(site: Site, moodle: Moodle) -> None:
    first = await site.user()
    second = await site.user()
    idle = await site.user()
    course = await site.course()
    await site.log(first, OCT[1] - 5000)  # October: 900
    await site.log(first, DAY)  # November: 100
    await site.log(first, DAY + 100, courseid=course)  # November: 900
    await site.log(second, DAY + 5)  # November: 900
    statements: list[str] = []
    moodle.db.listeners.append(statements.append)
    try:
        result = await spent(
            moodle, [first, second, idle, 999_999, first], [OCT, NOV, (NOV[1], NOV[1] + 1)]
        )
    finally:
        moodle.db.listeners.remove(statements.append)
    assert len([s for s in statements if "logstore_standard_log" in s]) == 1
    assert set(result) == {first, second, idle, 999_999}
    assert result[first] == [
        TimeSpent(900, {0: 900}, 1),
        TimeSpent(1000, {0: 100, course: 900}, 1),
        TimeSpent(),  # December starts after now
    ]
    assert result[second] == [TimeSpent(), TimeSpent(900, {0: 900}, 1), TimeSpent()]
    assert result[idle] == result[999_999] == [TimeSpent(), TimeSpent(), TimeSpent()]
    assert await spent(moodle, [], [NOV]) == {}
    assert await spent(moodle, [first], []) == {first: []}


async def test_a_long_id_list_reads_the_span_and_drops_unrequested_users(
    site: Site, moodle: Moodle, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(timespent, "CHUNK", 2)
    # One row a batch: on MariaDB the span is streamed and folded batch by batch.
    monkeypatch.setattr(timespent, "STREAM_BATCH", 1)
    first, between, last = await site.user(), await site.user(), await site.user()
    for user in (first, between, last):
        await site.login(user, DAY)  # lap 100 to the next row
        await site.log(user, DAY + 100)  # the last row: C = 900
    asked = [first, last, 999_999]  # more than CHUNK ids: BETWEEN first AND 999,999
    use_stats = TimeSpent(1000, {0: 1000}, 1)
    for answer in (await spent(moodle, asked), await windowed(moodle, asked)):
        assert answer == {first: [use_stats], last: [use_stats], 999_999: [TimeSpent()]}
    us, ded = Algorithm.USE_STATS, Algorithm.DEDICATION
    async with moodle.request() as ctx:
        one = await folded_trails(ctx, asked, [NOV], params=P)
        both_algorithms = await folded_trails(ctx, asked, [NOV], (us, ded), params=P)
        two_ranges = await folded_trails(ctx, asked, [OCT, NOV], params=P)
    nothing = Trail(0, {us: TimeSpent()})
    assert one == {first: [Trail(1, {us: use_stats})], last: [Trail(1, {us: use_stats})]} | {
        999_999: [nothing]
    }
    # block_dedication: one session of 100 s, not over 120 s, so none; one day of rows.
    assert both_algorithms[first] == [Trail(1, {us: use_stats, ded: TimeSpent(0, {}, 1)})]
    assert two_ranges[last] == [nothing, Trail(1, {us: use_stats})]
    assert between not in one | both_algorithms | two_ranges


# 2026-10-16T00:00 Paris: the midnight that cuts October in two time parts.
MID_OCT = 1792101600


async def test_a_list_read_by_its_bounds_is_summed_in_time_parts_exact_across_the_cut(
    site: Site, moodle: Moodle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """window_trails cuts a list longer than CHUNK in time at a local midnight, one statement a
    part: the part before the cut reads on past it by the threshold, so that a lap there sees
    its next row; days and logins are each counted in the part holding the row."""
    monkeypatch.setattr(timespent, "CHUNK", 2)
    assert timespent._day_slices(PARIS, *OCT, 2) == [(OCT[0], MID_OCT), (MID_OCT, OCT[1])]
    cut = MID_OCT
    course = await site.course()
    a, b, c, d, e, f, g = [await site.user() for _ in range(7)]
    await site.log(a, cut - 100)  # next row after the cut: 150
    await site.log(a, cut + 50)  # last: 900
    await site.log(b, cut - 100)  # next row 3,601 s later: over T, 900
    await site.log(b, cut + 3501)  # last: 900
    await site.log(c, cut - 1)  # next row exactly T later: 3,600
    await site.log(c, cut + 3599)  # last: 900
    await site.login(d, cut - 200)  # 100 to the logout
    await site.log(d, cut - 100, action="loggedout", target="user")  # 0
    await site.log(d, cut + 100)  # last: 900
    await site.login(e, cut - 300)  # 600 to the next login, after the cut
    await site.login(e, cut + 300)  # last: 900
    await site.log(f, cut - 7200, courseid=course)  # 1,000
    await site.log(f, cut - 6200, courseid=course)  # 7,200 > T: 900
    await site.log(f, cut + 1000, courseid=course)  # last: 900
    await site.log(g, cut - 1)  # 1
    await site.log(g, cut)  # at the cut, summed after it alone: T to the next, 3,600
    await site.log(g, cut + 3600)  # the last row the part before the cut reads; last: 900
    # Every trail has a row on each side of the midnight: two days each.
    expected = {
        a: Trail(0, {Algorithm.USE_STATS: TimeSpent(1050, {0: 1050}, 2)}),
        b: Trail(0, {Algorithm.USE_STATS: TimeSpent(1800, {0: 1800}, 2)}),
        c: Trail(0, {Algorithm.USE_STATS: TimeSpent(4500, {0: 4500}, 2)}),
        d: Trail(1, {Algorithm.USE_STATS: TimeSpent(1000, {0: 1000}, 2)}),
        e: Trail(2, {Algorithm.USE_STATS: TimeSpent(1500, {0: 1500}, 2)}),
        f: Trail(0, {Algorithm.USE_STATS: TimeSpent(2800, {course: 2800}, 2)}),
        g: Trail(0, {Algorithm.USE_STATS: TimeSpent(4501, {0: 4501}, 2)}),
    }
    cuts: list[list[tuple[int, int]]] = []
    day_slices = timespent._day_slices

    def recorded(tz: ZoneInfo, low: int, high: int, parts: int) -> list[tuple[int, int]]:
        cuts.append(day_slices(tz, low, high, parts))
        return cuts[-1]

    monkeypatch.setattr(timespent, "_day_slices", recorded)
    learners = list(expected)
    async with moodle.request() as ctx:
        in_parts = await window_trails(ctx, learners, [OCT], params=P, tz=PARIS, parts=2)
        alone = await window_trails(ctx, learners, [OCT], params=P, tz=PARIS, parts=1)
        slices = 1 + min(1, ctx.reader.database.spare_limit)
        # With the learner index each part reads its own learners: cut by learners.
        indexed = await window_trails(by_learner(ctx), learners, [OCT], params=P, tz=PARIS, parts=2)
    assert in_parts == alone == indexed == {u: [t] for u, t in expected.items()}
    # Two parts where the pool spares a connection (SQLite takes one in turn).
    assert [len(c) for c in cuts] == [slices, 1]
    assert (await spent(moodle, list(expected), [OCT])) == {
        u: [t.spent[Algorithm.USE_STATS]] for u, t in expected.items()
    }


async def test_a_batch_streamed_with_the_learner_index_folds_rows_that_come_before_the_starts(
    site: Site, moodle: Moodle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MariaDB with the learner index folds a batch's parts as their rows arrive, one batch at a
    time; batches that come before the enrolment starts wait for them, then are folded with
    the filter."""
    if moodle.db.backend != "mysql":
        pytest.skip("rows stream as they arrive on MariaDB alone")
    monkeypatch.setattr(timespent, "LEARNER_STREAM_BATCH", 1)
    course = await site.course()
    learners = [await site.user() for _ in range(4)]
    for n, user in enumerate(learners):
        await site.enrol(user, course, timestart=DAY + 50)
        await site.log(user, DAY)  # before the enrolment start: dropped
        await site.login(user, DAY + 100)  # 100 + 10n to the next row
        await site.log(user, DAY + 200 + 10 * n, courseid=course)  # last: 900
    ids = sorted(learners + list(range(10**6, 10**6 + BATCH_LEARNERS)))
    params = UseStatsParams(3600, 900, enrolmentfilter=True)
    plan = timespent._plan([NOV], NOW)
    arrived = asyncio.Event()
    batches = Reader.batches

    async def noticed(self: Reader, *args: Any, **kwargs: Any) -> Any:
        async for batch in batches(self, *args, **kwargs):
            arrived.set()
            yield batch

    monkeypatch.setattr(Reader, "batches", noticed)
    async with moodle.request() as ctx:

        async def read_starts(c: RequestContext) -> Sequence[Sequence[Any]]:
            await arrived.wait()  # rows have come (and wait) before the starts
            return await c.reader.rows(c.statements.enrolment_starts, ids, high=plan.high)

        def one_of(starts: Sequence[Sequence[Any]]) -> timespent._OneRange:
            found = timespent._one_range(plan, [Algorithm.USE_STATS], starts, params, PARIS, NOW)
            assert found is not None
            return found

        one = await asyncio.wait_for(
            timespent._fold_learner_streams(by_learner(ctx), ids, plan, read_starts, one_of), 60
        )
        folded = one.into(timespent._no_trails(ids, [NOV], [Algorithm.USE_STATS]))
        streamed = await folded_trails(by_learner(ctx), ids, [NOV], params=params, tz=PARIS)
    for n, user in enumerate(learners):
        spent = TimeSpent(1000 + 10 * n, {0: 100 + 10 * n, course: 900}, 1)
        assert folded[user] == streamed[user] == [Trail(1, {Algorithm.USE_STATS: spent})]
    assert folded == streamed
    # Cut in runs as _learner_rows cuts them: from WINDOW_LEARNERS learners, else one batch.
    for size, runs in [(70, 1), (len(ids), timespent.WINDOW_PARTS)]:
        asked = sorted(learners + list(range(10**6, 10**6 + size - len(learners))))
        with StatementCounter(moodle) as counter:
            async with moodle.request() as ctx:
                found = await folded_trails(by_learner(ctx), asked, [NOV], params=params)
        assert len(counter.reading("mdl_logstore_standard_log")) == runs
        assert {u: found[u] for u in learners} == {u: streamed[u] for u in learners}


async def test_learners_with_an_enrolment_start_inside_the_span_are_filtered_apart(
    site: Site, moodle: Moodle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A list read by its bounds, the enrolment filter on: the learners with an active
    enrolment starting inside the span are summed with the filter in a statement of their own,
    the others without it (it changes nothing for them); when they are half or more, all are
    summed with it."""
    monkeypatch.setattr(timespent, "CHUNK", 2)
    course = await site.course()
    a, b, c, d, e = [await site.user() for _ in range(5)]
    t0 = OCT[0] + 9 * 86400 + 9 * 3600  # 2026-10-10 09:00 Paris
    await site.enrol(a, course, timestart=OCT[0] - 86400)  # before October: nothing dropped
    await site.enrol(b, course, timestart=t0 + 300)  # inside: its rows before t0 + 300 dropped
    await site.enrol(b, course, method="self", timestart=t0 + 100, status=1)  # suspended
    await site.enrol(d, course, timestart=OCT[1] + 1000)  # after October: not its start
    for user in (a, b, c, d):
        await site.login(user, t0)  # a, c, d: 600 to the next row; b: before its start
        await site.log(user, t0 + 600)  # b: 600 to the next row
        await site.log(user, t0 + 1200)  # last: 900
    await site.enrol(e, course, timestart=t0 + 300)
    await site.log(e, t0 + 200)  # dropped
    await site.log(e, t0 + 400)  # last: 900
    params = UseStatsParams(3600, 900, enrolmentfilter=True)
    us = Algorithm.USE_STATS
    counted = Trail(1, {us: TimeSpent(2100, {0: 2100}, 1)})
    filtered = Trail(1, {us: TimeSpent(1500, {0: 1500}, 1)})  # the login still counts
    expected = {
        a: counted,
        b: filtered,
        c: counted,
        d: counted,
        e: Trail(0, {us: TimeSpent(900, {0: 900}, 1)}),
    }
    log, ue = "mdl_logstore_standard_log", "mdl_user_enrolments"
    for asked, apart in [([a, b, c, d], True), ([a, b, e], False)]:
        with StatementCounter(moodle) as counter:
            async with moodle.request() as ctx:
                found = await window_trails(ctx, asked, [OCT], params=params, tz=PARIS, parts=2)
                slices = 1 + min(1, ctx.reader.database.spare_limit)
        assert found == {u: [expected[u]] for u in asked}
        windows = counter.reading(log)
        joined = [sql for sql in windows if ue in sql]
        # Apart: the time slices without the join, then one statement with it; else every
        # slice with the join.
        assert (len(windows), len(joined)) == ((slices + 1, 1) if apart else (slices, slices))
    assert (await spent(moodle, [a, b, c, d, e], [OCT], params)) == {
        u: [t.spent[us]] for u, t in expected.items()
    }


def test_day_slices_cut_at_local_midnights() -> None:
    assert timespent._day_slices(PARIS, *OCT, 1) == [OCT]
    # Within one day there is no midnight to cut at.
    assert timespent._day_slices(PARIS, DAY, DAY + 3600, 4) == [(DAY, DAY + 3600)]
    # October in eight, across the end of summer time (25 October): Paris midnights alone.
    found = timespent._day_slices(PARIS, *OCT, 8)
    assert len(found) == 8
    assert (found[0][0], found[-1][1]) == OCT
    for (_, end), (start, _) in itertools.pairwise(found):
        assert end == start
        local = datetime.fromtimestamp(start, PARIS)
        assert (local.hour, local.minute, local.second) == (0, 0, 0)
    offsets = {datetime.fromtimestamp(start, PARIS).utcoffset() for start, _ in found[1:]}
    assert len(offsets) == 2


def test_the_packed_sort_key_is_used_only_where_it_fits_63_bits() -> None:
    def packed(ids: Sequence[int], ranges: Sequence[tuple[int, int]] = (NOV,)) -> bool:
        plan = timespent._plan(ranges, NOW)
        return timespent._WindowArgs.of(plan, P, PARIS, NOW, ids).packed

    # (greatest id + 1) x ranges must stay within 2**30 trails of two (counted or not).
    assert packed([1, 2**30 - 1])
    assert not packed([1, 2**30])
    assert packed([2**29 - 1], [OCT, NOV])
    assert not packed([2**29], [OCT, NOV])
    assert not packed([-1, 5])
    # The time since the span's start must fit 32 bits (a range is capped at now + 1).
    assert packed([5], [(NOW + 1 - (2**32 - 1), NOW + 5)])
    assert not packed([5], [(NOW + 1 - 2**32, NOW + 5)])


async def test_learners_past_the_packed_key_are_summed_in_partitions_alike(
    site: Site, moodle: Moodle
) -> None:
    """Ids too large for the one sort key take the partitioned statement, with the same sums."""
    small, huge = await site.user(), 2**30
    for user in (small, huge):
        await site.login(user, DAY - 50, origin="cli")  # a login, not counted
        await site.login(user, DAY)  # 100
        await site.log(user, DAY + 100)  # last: 900
    trail = Trail(2, {Algorithm.USE_STATS: TimeSpent(1000, {0: 1000}, 1)})
    plan = timespent._plan([NOV], NOW)
    assert timespent._WindowArgs.of(plan, P, PARIS, NOW, [small]).packed
    assert not timespent._WindowArgs.of(plan, P, PARIS, NOW, [small, huge]).packed
    async with moodle.request() as ctx:
        for users in ([small], [huge], [small, huge]):
            found = await window_trails(ctx, users, [NOV], params=P, tz=PARIS)
            assert found == {u: [trail] for u in users}


async def test_a_credit_too_long_for_32_bits_is_summed_as_bigints(
    site: Site, moodle: Moodle
) -> None:
    """The window's sums are integers where no lap can reach 2**31 s (a gap is at most the
    threshold and the span, a credit at most the credit and the time since the span's start);
    a row from 1958 earns a longer credit, and they are bigints then (PostgreSQL refuses the
    cast otherwise)."""
    user = await site.user()
    await site.log(user, DAY)  # gap 5,000: within T = 2**31; over T = 3,600: min(C, NOW - DAY)
    await site.log(user, DAY + 5000)  # last: min(C, now - t)
    first, last = NOW - DAY, NOW - DAY - 5000
    plan = timespent._plan([NOV], NOW)
    long_credit = UseStatsParams(3600, 2**31 + 100, False)
    for params, total in [
        (UseStatsParams(2**31, 900, False), 5000 + 900),
        (long_credit, first + last),
    ]:
        assert timespent._WindowArgs.of(plan, params, PARIS, NOW, [user]).narrow
        assert (await both(moodle, user, params)) == TimeSpent(total, {0: total}, 1)
    old = NOW - 2**31 - 500
    await site.log(user, old)  # over T to DAY: min(C, NOW - old = 2**31 + 500) = C
    since_1958 = (old - 500, NOW + 1)
    plan = timespent._plan([since_1958], NOW)
    assert not timespent._WindowArgs.of(plan, long_credit, PARIS, NOW, [user]).narrow
    total = 2**31 + 100 + first + last
    found = await both(moodle, user, long_credit, ranges=(since_1958,))
    assert found == TimeSpent(total, {0: total}, 2)


def by_learner(ctx: RequestContext) -> RequestContext:
    """``ctx`` with the statements of a log that has the learner index (forced: the window
    statement then follows its order; the answers do not depend on the index being there)."""
    found = statements(
        "mdl_",
        ctx.statements.ignored_log_indexes,
        ctx.statements.batch_ignored_log_indexes,
        log_by_learner=True,
    )
    return dataclasses.replace(ctx, statements=found)


def read_by_ids(ctx: RequestContext) -> RequestContext:
    """``ctx`` with the statements MariaDB sends when its log outgrows the buffer pool and no
    index holds a learner's rows (forced: the test log is small): a batch reads the range of
    the table between the first and last ids of its rows, time slice by time slice."""
    log = moodle_tables("mdl_").logstore_standard_log
    indexes = {str(index.name): [c.name for c in index.columns] for index in log.indexes}
    kept = statements("mdl_", ctx.statements.ignored_log_indexes, lookup_indexes(indexes))
    assert kept.batch_reads_ids
    return dataclasses.replace(ctx, statements=kept)


async def test_a_batch_read_by_ids_reads_each_time_slice_with_rows_between_their_ids(
    site: Site, moodle: Moodle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Statements.batch_reads_ids: the range is cut into SPAN_SLICES time slices; each is read
    between the first and last ids of its rows (found from the timecreated index), a slice
    without rows not at all. Ids need not follow time: here a learner's later row was
    written first, and the answers are those worked out by hand."""
    monkeypatch.setattr(timespent, "CHUNK", 2)
    monkeypatch.setattr(timespent, "STREAM_BATCH", 1)
    monkeypatch.setattr(timespent, "SPAN_SLICES", 4)
    first, between, second, idle = [await site.user() for _ in range(4)]
    early = NOV[0] + 2 * 86400 + 9 * 3600  # 2026-11-03 09:00 Paris
    # November up to now (2026-11-25 18:42 Paris) in four slices of ~6.2 days: the rows lie in
    # the first (early) and the last (DAY, 2026-11-20 09:00); the two between hold none.
    await site.log(first, DAY + 100)  # written before the row 100 s earlier
    await site.login(second, early)
    await site.log(second, early + 100)
    await site.login(between, DAY)  # not asked for: dropped
    await site.login(first, DAY)
    # Each asked learner: a lap of 100 s, then the last row's credit C = 900; one login, one day.
    us, ded = Algorithm.USE_STATS, Algorithm.DEDICATION
    active = Trail(1, {us: TimeSpent(1000, {0: 1000}, 1)})
    nothing = Trail(0, {us: TimeSpent()})
    asked = [first, second, idle, 999_999]  # more than CHUNK ids: the month's span is read
    sent: list[str] = []
    moodle.db.listeners.append(sent.append)
    try:
        async with moodle.request() as ctx:
            span = await folded_trails(read_by_ids(ctx), asked, [NOV], params=P)
            bounds = [s for s in sent if "max(" in s.lower()]
            slices = [s for s in sent if "logstore_standard_log.id BETWEEN" in s]
            # Every slice's rows in one batch: learners change (and one is dropped) within it.
            monkeypatch.setattr(timespent, "STREAM_BATCH", 1000)
            whole = await folded_trails(read_by_ids(ctx), asked, [NOV], params=P)
            # An IN list of a batch's size (both algorithms: PostgreSQL reads rows then too),
            # in WINDOW_PARTS slices at once where the pool spares a connection.
            monkeypatch.setattr(timespent, "CHUNK", CHUNK)
            absent = list(range(900_000, 900_000 + BATCH_LEARNERS))
            listed = await folded_trails(
                read_by_ids(ctx), [first, second, *absent], [NOV], (us, ded), params=P
            )
    finally:
        moodle.db.listeners.remove(sent.append)
    assert (
        span == whole == {first: [active], second: [active], idle: [nothing]} | {999_999: [nothing]}
    )
    assert (len(bounds), len(slices)) == (4, 2)
    # block_dedication: one session of 100 s, not over 120 s, so none; one day of rows.
    with_dedication = Trail(1, {us: active.spent[us], ded: TimeSpent(0, {}, 1)})
    assert listed[first] == listed[second] == [with_dedication]
    if moodle.db.backend == "mysql":
        # Sent as text: PREPAREd, MariaDB scanned the whole table for it (queries.log_ids).
        assert not [sql for sql in moodle.db._statement_names if "max(" in sql.lower()]


async def test_beside_hands_its_spare_back_when_done_and_raises_what_failed(
    site: Site, moodle: Moodle
) -> None:
    """RequestContext.beside: ``aside`` on a spare connection, given back as soon as it ends
    (``main`` may want spares of its own); ``main`` still runs to its end; then the failure is
    raised. SQLite spares none: ``aside`` runs first, on the request's connection."""
    user = await site.user()
    async with moodle.request() as ctx:
        db = ctx.reader.database
        in_main: list[int] = []

        async def aside(other: RequestContext) -> int:
            assert (other.reader is ctx.reader) == (db.backend == "sqlite")
            raise ValueError("aside failed")

        async def main(own: RequestContext) -> int:
            assert own.reader is ctx.reader
            found = await own.reader.rows(own.statements.users, [user])
            in_main.append(db.spares_in_use)
            return len(found)

        with pytest.raises(ValueError, match="aside failed"):
            await ctx.beside(aside, main)
        assert db.spares_in_use == 0
        assert in_main == ([] if db.backend == "sqlite" else [0])
        # The request's connection answers its next statement.
        assert [r[0] for r in await ctx.reader.rows(ctx.statements.users, [user])] == [user]


async def test_a_slice_that_fails_is_raised_and_leaves_nothing_running(
    site: Site, moodle: Moodle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """_span_batches: when the second slice's read fails (here its bounds), the failure is
    raised once every slice has stopped: no task left, the spare given back, and the request's
    connection answers its next statement."""
    monkeypatch.setattr(timespent, "CHUNK", 2)
    users = [await site.user() for _ in range(3)]
    for n, user in enumerate(users):
        await site.login(user, DAY + n)
    real = timespent._slice_span
    asked: list[int] = []

    async def second_fails(
        reader: Reader, ctx: RequestContext, low: int, high: int
    ) -> dict[str, int] | None:
        asked.append(low)
        if len(asked) == 2:
            raise DatabaseReadError("the second slice failed")
        return await real(reader, ctx, low, high)

    monkeypatch.setattr(timespent, "_slice_span", second_fails)
    async with moodle.request() as ctx:
        running = asyncio.all_tasks()
        with pytest.raises(DatabaseReadError, match="the second slice failed"):
            await folded_trails(read_by_ids(ctx), users, [NOV], params=P)
        assert asyncio.all_tasks() == running
        assert ctx.reader.database.spares_in_use == 0
        found = await ctx.reader.rows(ctx.statements.users, users)
        assert sorted(r[0] for r in found) == users
    assert len(asked) == 2  # the slices after the failed one were never started


def test_time_slices_cover_the_range_in_order() -> None:
    assert timespent._slices(0, 10, 4) == [(0, 2), (2, 5), (5, 7), (7, 10)]
    assert timespent._slices(5, 7, 4) == [(5, 6), (6, 7)]  # no empty slice
    assert timespent._slices(5, 6, 1) == [(5, 6)]


async def test_dedication_sessions_split_at_an_hour_and_short_ones_dropped(
    site: Site, moodle: Moodle
) -> None:
    user = await site.user()
    a = await site.course()
    b = await site.course()
    await site.login(user, DAY)
    await site.log(user, DAY + 600, courseid=a)
    await site.log(user, DAY + 1200, courseid=b)
    await site.log(user, DAY + 4000, courseid=a)  # gap 2,800: same session; ends at +4,000
    await site.log(user, DAY + 7601, courseid=a)  # gap 3,601: new session
    await site.log(user, DAY + 7661, courseid=a)  # a 60 s session: dropped
    await site.log(user, DAY + 20_000)  # site
    await site.log(user, DAY + 20_120)  # exactly 120 s: dropped
    await site.log(user, DAY + 30_000, action="failed")  # ignored
    result = (await spent(moodle, [user], algorithm=Algorithm.DEDICATION))[user][0]
    # All rows: sessions [0, 4,000] = 4,000; [7,601, 7,661] = 60 (dropped); [20,000, 20,120] = 120
    # (dropped).
    # Course a: rows +600, +4,000 (gap 3,400), +7,601 (gap 3,601 -> new), +7,661:
    # [600, 4,000] = 3,400; [7,601, 7,661] = 60 dropped. Course b: one row, 0.
    # Site: +0, +20,000 (new), +20,120: 0 and 120, both dropped.
    assert result == TimeSpent(4000, {a: 3400}, 1)


# The property test: random trails against the plain reference, on every database.

ACTIONS = st.sampled_from(
    [
        ("viewed", "course"),
        ("viewed", "course"),
        ("viewed", "course"),
        ("viewed", "course"),
        ("loggedin", "user"),
        ("loggedout", "user"),
        ("logout", "user"),
        ("graded", "user"),
        ("graded", "grade"),
        ("failed", "user_login"),
    ]
)
ROW = st.fixed_dictionaries(
    {
        "user": st.sampled_from([0, 0, 1, 2]),
        # Each row follows the user's previous one by a gap near the edges that matter (the
        # thresholds, the dedication limits) or by days, across the month boundaries.
        "gap": st.sampled_from(
            [0, 1, 30, 59, 60, 61, 119, 120, 121, 300, 599, 600, 601, 3599, 3600, 3601, 7200] * 2
            + [86400 * 3, 86400 * 13]
        ),
        "action": ACTIONS,
        "course": st.sampled_from([0, 0, 1, 2, None]),
        "origin": st.sampled_from(["web"] * 6 + ["ws", "cli", None]),
        "realuser": st.sampled_from([None] * 11 + [2]),
    }
)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    rows=st.lists(ROW, min_size=8, max_size=30),
    threshold=st.sampled_from([60, 600, 3600]),
    credit=st.sampled_from([0, 120, 900, 7200]),
    enrolmentfilter=st.booleans(),
    # Up to 62 days after the base: some enrolments start after now (2026-11-25).
    enrol_offsets=st.lists(st.integers(0, 62 * 24).map(lambda hours: hours * 3600), max_size=3),
)
async def test_random_trails_match_the_reference(
    site: Site,
    moodle: Moodle,
    monkeypatch: pytest.MonkeyPatch,
    rows: list[dict[str, Any]],
    threshold: int,
    credit: int,
    enrolmentfilter: bool,
    enrol_offsets: list[int],
) -> None:
    users = [3 + n for n in range(3)]  # ids the site gives the three users below
    absent = list(range(900_000, 900_000 + CHUNK))  # ids of no user
    if await site.count(site.t.user) < 5:
        assert [await site.user() for _ in range(3)] == users
        await site.course()
        await site.course()
    base = OCT[0] - 3 * 86400
    log = site.t.logstore_standard_log
    ue = site.t.user_enrolments
    # September's last minutes, so trails cross into October, and later into November.
    last = dict.fromkeys(users, OCT[0] - 600)
    values = []
    for row in rows:
        action, target = row["action"]
        user = users[row["user"]]
        last[user] += row["gap"]
        values.append(
            {
                "eventname": "\\core\\event\\x",
                "component": "core",
                "action": action,
                "target": target,
                "crud": "r",
                "edulevel": 2,
                "contextid": 1,
                "contextlevel": 50,
                "contextinstanceid": 0,
                "userid": user,
                "courseid": row["course"],
                "anonymous": 0,
                "timecreated": last[user],
                "origin": row["origin"],
                "realuserid": row["realuser"],
            }
        )
    enrolments = [
        {
            "status": 0,
            "enrolid": 1000 + n,
            "userid": users[n % 3],
            "timestart": base + offset,
            "timeend": 0,
            "modifierid": 2,
            "timecreated": 0,
            "timemodified": 0,
        }
        for n, offset in enumerate(enrol_offsets)
    ]
    async with site.db.writer.begin() as conn:
        if values:
            await conn.execute(insert(log), values)
        if enrolments:
            await conn.execute(insert(ue), enrolments)
    try:
        stored = [dict(v, id=n + 1) for n, v in enumerate(values)]
        # ids are given in insertion order; only their order matters to the reference.
        params = UseStatsParams(threshold, credit, enrolmentfilter)
        ranges = [OCT, NOV, (OCT[0] + 86400 * 3 + 7, OCT[0] + 86400 * 9)]
        starts = {
            u: [e["timestart"] for e in enrolments if e["userid"] == u] if enrolmentfilter else []
            for u in users
        }
        async with moodle.request() as ctx:
            # One read for logins and both algorithms, as requests do.
            trails = await folded_trails(
                ctx, users, ranges, (Algorithm.USE_STATS, Algorithm.DEDICATION), params=params
            )
            # The laps summed in the database, the users in two runs on two connections.
            in_database = await window_trails(ctx, users, ranges, params=params, parts=2)
            # The same in the statement that follows the learner index's order.
            indexed = await window_trails(by_learner(ctx), users, ranges, params=params, parts=2)
            # One range and use_stats alone: the loop requests take.
            alone = [
                await folded_trails(ctx, users, [r], (Algorithm.USE_STATS,), params=params)
                for r in ranges
            ]
            # The same with ids of users who do not exist added, so that requests' batch paths
            # are taken: from BATCH_LEARNERS learners PostgreSQL sums in the database and
            # MariaDB's batch statements apply; past CHUNK the month's span is read and streamed
            # (here three rows at a time, so that a trail is folded across batches).
            monkeypatch.setattr(timespent, "STREAM_BATCH", 3)
            padded = {
                size: [
                    await folded_trails(
                        ctx, users + absent[: size - 3], [r], (Algorithm.USE_STATS,), params=params
                    )
                    for r in ranges
                ]
                for size in (BATCH_LEARNERS, CHUNK + 1)
            }
            # The same read by ids in time slices (read_by_ids), the rows' ids out of time
            # order across users; every range and both algorithms through the slices too.
            monkeypatch.setattr(timespent, "SPAN_SLICES", 3)
            by_ids = read_by_ids(ctx)
            for size in (BATCH_LEARNERS, CHUNK + 1):
                padded[-size] = [
                    await folded_trails(
                        by_ids,
                        users + absent[: size - 3],
                        [r],
                        (Algorithm.USE_STATS,),
                        params=params,
                    )
                    for r in ranges
                ]
            # With the learner index, MariaDB folds a batch's parts as their rows arrive (two
            # rows a batch, so that trails are folded across batches).
            monkeypatch.setattr(timespent, "LEARNER_STREAM_BATCH", 2)
            padded[0] = [
                await folded_trails(
                    by_learner(ctx),
                    users + absent[: BATCH_LEARNERS - 3],
                    [r],
                    (Algorithm.USE_STATS,),
                    params=params,
                )
                for r in ranges
            ]
            sliced = await folded_trails(
                by_ids,
                users + absent[: BATCH_LEARNERS - 3],
                ranges,
                (Algorithm.USE_STATS, Algorithm.DEDICATION),
                params=params,
            )
        for u in users:
            for k, (start, end) in enumerate(ranges):
                e = ref.use_stats(
                    stored,
                    u,
                    start,
                    end,
                    now=NOW,
                    threshold=threshold,
                    credit=credit,
                    tz=PARIS,
                    enrolment_starts=starts[u],
                )
                expected = TimeSpent(e.total, e.by_course, e.active_days)
                assert trails[u][k].spent[Algorithm.USE_STATS] == expected
                assert sliced[u][k] == trails[u][k]
                assert in_database[u][k].spent[Algorithm.USE_STATS] == expected
                assert indexed[u][k] == in_database[u][k]
                d = ref.dedication(
                    stored, u, start, end, now=NOW, tz=PARIS, enrolment_starts=starts[u]
                )
                dedication = TimeSpent(d.total, d.by_course, d.active_days)
                assert trails[u][k].spent[Algorithm.DEDICATION] == dedication
                # Logins: every loggedin row of the range, whatever its origin or who did it.
                logins = [
                    r
                    for r in stored
                    if r["userid"] == u
                    and r["action"] == "loggedin"
                    and start <= r["timecreated"] < min(end, NOW + 1)
                ]
                assert trails[u][k].logins == len(logins)
                assert in_database[u][k].logins == len(logins)
                assert alone[k][u] == [Trail(len(logins), {Algorithm.USE_STATS: expected})]
                for size, answers in padded.items():
                    assert answers[k][u] == alone[k][u], size
        empty = [Trail(0, {Algorithm.USE_STATS: TimeSpent()})]
        for answers in padded.values():
            for answer in answers:
                assert all(answer[n] == empty for n in absent[: BATCH_LEARNERS - 3])
    finally:
        async with site.db.writer.begin() as conn:
            await conn.execute(delete(log))
            await conn.execute(delete(ue))


@pytest.mark.parametrize("value", ["60", " 60 ", "60.0"])
def test_minutes_are_read_like_php_numbers(value: str) -> None:
    from definum_gql.moodle.site import SiteConfig

    config = SiteConfig(values={}, plugins={("block_use_stats", "threshold"): value})
    assert use_stats_params(config, Settings()).threshold == 3600


async def test_parts_take_only_spare_connections_and_answer_alike_without(
    site: Site, moodle: Moodle
) -> None:
    """window_trails' parts run beside the request only on connections the pool can spare; with
    none to spare they take turns on the request's own, with the same answers."""
    users = [await site.user() for _ in range(3)]
    for n, user in enumerate(users):
        await site.login(user, DAY + n)  # lap 100 to the next row, on the site
        await site.log(user, DAY + n + 100)  # the last row: C = 900
    expected = Trail(1, {Algorithm.USE_STATS: TimeSpent(1000, {0: 1000}, 1)})
    async with moodle.request() as ctx:
        db = ctx.reader.database
        async with ctx.reader.side_by_side(5) as readers:
            assert readers[0] is ctx.reader
            assert len(readers) == 1 + min(5, db.spare_limit)
            assert db.spares_in_use == len(readers) - 1
        assert db.spares_in_use == 0
        alongside = await window_trails(ctx, users, [NOV], params=P, tz=PARIS, parts=3)
        limit, db.spare_limit = db.spare_limit, 0
        try:
            in_turn = await window_trails(ctx, users, [NOV], params=P, tz=PARIS, parts=3)
        finally:
            db.spare_limit = limit
    assert alongside == in_turn == {u: [expected] for u in users}


async def test_with_the_learner_index_a_batch_is_read_in_parts_with_the_same_answers(
    site: Site, moodle: Moodle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """folded_trails' row read (both algorithms: PostgreSQL too reads rows then) is cut into
    WINDOW_PARTS id runs on spare connections where the log has (userid, timecreated)."""
    monkeypatch.setattr(timespent, "WINDOW_LEARNERS", 4)
    users = [await site.user() for _ in range(5)]
    for n, user in enumerate(users):
        await site.login(user, DAY + n)  # lap 100 + 10n to the next row
        await site.log(user, DAY + n + 100 + 10 * n, courseid=n)  # the last row: C = 900
    us, ded = Algorithm.USE_STATS, Algorithm.DEDICATION

    async def read(new: bool) -> tuple[dict[int, list[Trail]], int]:
        fresh = Moodle.from_settings(moodle.settings, clock=lambda: float(NOW))
        try:
            with StatementCounter(fresh) as counter:
                async with fresh.request() as ctx:
                    assert ctx.statements.log_by_learner is new
                    found = await folded_trails(ctx, users, [NOV], (us, ded), params=P)
            return found, len(counter.reading("mdl_logstore_standard_log"))
        finally:
            await fresh.dispose()

    plain, one = await read(False)
    await site.index("definum_test_usetim_ix", "userid, timecreated, id")
    try:
        parted, parts = await read(True)
    finally:
        await site.drop_index("definum_test_usetim_ix")
    assert parted == plain
    assert plain[users[2]] == [
        Trail(1, {us: TimeSpent(1020, {0: 120, 2: 900}, 1), ded: TimeSpent(0, {}, 1)})
    ]
    # SQLite's pool spares no connection: one statement there.
    assert (one, parts) == (1, 1 if moodle.db.backend == "sqlite" else timespent.WINDOW_PARTS)


def test_rows_learner_after_learner_or_interleaved_fold_alike() -> None:
    """A batch's rows come learner after learner (folded with the learner's state in locals);
    a learner met again later carries on from where it was, as the row by row fold does."""
    a, b = 11, 12
    # (user, t, course, kind), each user's rows in time order; kind: 1 login, 2 counted,
    # 4 logout (queries.LOGIN, COUNTED, LOGOUT), added.
    rows_a = [(a, DAY, 0, 2 + 1), (a, DAY + 100, 5, 2), (a, DAY + 300, 5, 2)]
    rows_b = [(b, DAY + 50, 0, 2 + 1), (b, DAY + 5000, 0, 4 + 2)]
    interleaved = [rows_a[0], rows_b[0], rows_a[1], rows_b[1], rows_a[2]]
    plan = timespent._plan([NOV], NOW)
    calendar = timespent._calendar(PARIS, plan.low, plan.high)
    us = Algorithm.USE_STATS
    # a: laps 100 (site) and 200 (course 5), then the credit 900 on course 5; one login, one
    # day. b: its next row is past the threshold, so the credit, min(900, now - t); then a
    # logout, which earns nothing.
    expected = {
        a: [Trail(1, {us: TimeSpent(1200, {0: 100, 5: 1100}, 1)})],
        b: [Trail(1, {us: TimeSpent(900, {0: 900}, 1)})],
    }
    for rows in (rows_a + rows_b, interleaved):
        one = timespent._OneRange(0, *NOV, {}, P, NOW, calendar)
        one.feed_by_learner(rows)
        assert one.into(timespent._no_trails([a, b], [NOV], [us])) == expected


def test_learners_not_wanted_are_dropped_wherever_they_come_in_a_batch() -> None:
    """feed_by_learner with ``wanted``: a learner not asked for, first or between two asked
    for, leaves no trail and does not carry into its neighbours'."""
    a, skipped, b = 11, 12, 13
    # (user, t, course, kind): kind 1 login, 2 counted (queries.LOGIN, COUNTED).
    rows_a = [(a, DAY, 0, 2 + 1), (a, DAY + 100, 0, 2)]
    rows_s = [(skipped, DAY + 10, 7, 2 + 1), (skipped, DAY + 20, 7, 2)]
    rows_b = [(b, DAY + 200, 0, 2), (b, DAY + 500, 0, 2)]
    plan = timespent._plan([NOV], NOW)
    calendar = timespent._calendar(PARIS, plan.low, plan.high)
    us = Algorithm.USE_STATS
    # a: a lap of 100 s, then the credit 900; one login. b: 300 s, then 900; no login.
    expected = {
        a: [Trail(1, {us: TimeSpent(1000, {0: 1000}, 1)})],
        b: [Trail(0, {us: TimeSpent(1200, {0: 1200}, 1)})],
    }
    for rows in (rows_a + rows_s + rows_b, rows_s + rows_a + rows_b):
        one = timespent._OneRange(0, *NOV, {}, P, NOW, calendar)
        one.feed_by_learner(rows, {a, b})
        assert skipped not in one.trails
        assert skipped not in one.logins
        assert one.into(timespent._no_trails([a, b], [NOV], [us])) == expected


def test_only_a_covering_learner_index_counts_where_the_pool_cannot_hold_the_log() -> None:
    from definum_gql.moodle.site import by_learner_index

    moodle_own = [
        ["userid", "contextlevel", "contextinstanceid", "crud", "edulevel", "timecreated"]
    ]
    short = [*moodle_own, ["userid", "timecreated", "id"]]
    wide = [*moodle_own, ["USERID", "TIMECREATED", "ID", "action", "target", "courseid"]]
    wide[-1] += ["origin", "realuserid"]
    assert not by_learner_index(moodle_own)
    assert not by_learner_index([["timecreated", "userid"]])
    assert by_learner_index(short)
    assert by_learner_index(wide)
    assert not by_learner_index(short, covering=True)
    assert by_learner_index(wide, covering=True)


def test_a_window_statement_of_one_shape_differs_only_in_its_named_parameters() -> None:
    """PostgreSQL compiles the window statement once per shape and sends each call's values by
    name: two calls of one shape (other learners, month, now and block_use_stats settings) must
    compile to the same SQL, every other parameter being the same constant."""
    from sqlalchemy.ext.asyncio import create_async_engine

    from definum_gql.moodle.tables import moodle_tables

    tables = moodle_tables("mdl_")
    dialect = create_async_engine("postgresql+asyncpg://nobody@127.0.0.1/none").dialect
    # Paris changes its offset once in each: summer time begins on 29 March, ends on 25 October.
    march, october = Month(2026, 3).bounds(PARIS), Month(2026, 10).bounds(PARIS)
    calls = [
        ([3, 4, 5], march, NOW, UseStatsParams(3600, 900, True)),
        ([7, 9], october, NOW + 86400, UseStatsParams(600, 3600, True)),
    ]
    compiled, named = [], []
    for ids, span, now, params in calls:
        args = timespent._WindowArgs.of(timespent._plan([span], now), params, PARIS, now, ids)
        assert args.shape == (1, 1, True, False, True, True, False)
        statement = timespent._window_statement(tables, args, as_array=True)
        compiled.append(statement.compile(dialect=dialect))
        named.append(args.values())
    first, second = compiled
    assert first.string == second.string
    assert named[0].keys() == named[1].keys()
    varying = {k for k in named[0] if named[0][k] != named[1][k]}
    assert {"learners", "now", "threshold", "credit", "low", "high", "s0", "e0", "at1"} <= varying
    assert named[0]["off0"] != named[1]["off0"]
    sent = [c.construct_params() for c in compiled]
    assert sent[0].keys() == sent[1].keys()
    constants = sent[0].keys() - named[0].keys()
    assert constants
    assert {k: sent[0][k] for k in constants} == {k: sent[1][k] for k in constants}
    assert {k: sent[0][k] for k in named[0]} == named[0]
    assert {k: sent[1][k] for k in named[1]} == named[1]
