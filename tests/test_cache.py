"""The month cache: LRU bound and expiry on a fake clock, Redis shared by replicas, Redis down."""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from definum_gql.cache import CLOSED_REDIS_SECONDS, MonthCache, MonthKey
from definum_gql.config import SettingsError, load_settings
from tests.databases import unreachable

REDIS_URL = os.environ.get("DEFINUM_TEST_REDIS", "redis://127.0.0.1:6379/0")
DEAD_REDIS = "redis://:hunter2@127.0.0.1:1/0"  # nothing listens on port 1

JAN = MonthKey("activity", 7, "2026-01")
FEB = MonthKey("activity", 7, "2026-02")
MAR = MonthKey("activity", 7, "2026-03")  # the current month in these tests


def closed_before_march(key: MonthKey) -> bool:
    return key.month < "2026-03"


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def redis_site() -> AsyncIterator[tuple[str, str, Redis]]:
    """(url, a namespace of its own, a client to look inside); its keys are deleted after."""
    client = Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        await client.aclose()
        unreachable("redis", str(exc).splitlines()[0])
    namespace = f"definum-test-{uuid.uuid4().hex}"
    yield REDIS_URL, namespace, client
    keys = [key async for key in client.scan_iter(match=f"{namespace}:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


async def namespace_keys(client: Redis, namespace: str) -> list[bytes]:
    return sorted([key async for key in client.scan_iter(match=f"{namespace}:*")])


# In-process LRU.


async def test_lru_counts_a_hit_per_key_found_and_a_miss_per_key_not_found() -> None:
    cache = MonthCache(entries=10, current_ttl=60)
    assert await cache.get_many([JAN, FEB]) == {}
    assert (cache.stats.hits, cache.stats.misses, cache.stats.sets) == (0, 2, 0)

    await cache.set_many({JAN: {"logins": 3}, FEB: [1, "two"]}, closed=closed_before_march)
    assert cache.stats.sets == 2
    found = await cache.get_many([JAN, FEB, MAR, JAN])  # JAN asked twice: counted once
    assert found == {JAN: {"logins": 3}, FEB: [1, "two"]}
    assert (cache.stats.hits, cache.stats.misses) == (2, 3)


async def test_a_hit_is_a_fresh_copy_that_the_caller_may_change() -> None:
    cache = MonthCache(entries=10, current_ttl=60)
    value = {"logins": 3, "days": [1, 2]}
    await cache.set_many({JAN: value}, closed=closed_before_march)
    value["logins"] = 99  # the caller's object, changed after set_many
    first = await cache.get_many([JAN])
    first[JAN]["days"].append(3)
    assert await cache.get_many([JAN]) == {JAN: {"logins": 3, "days": [1, 2]}}


async def test_kind_learner_month_and_variant_each_tell_entries_apart() -> None:
    cache = MonthCache(entries=10, current_ttl=60)
    keys = [
        MonthKey("activity", 7, "2026-01", "v1"),
        MonthKey("activity", 7, "2026-01", "v2"),
        MonthKey("logins", 7, "2026-01", "v1"),
        MonthKey("activity", 8, "2026-01", "v1"),
        MonthKey("activity", 7, "2025-12", "v1"),
    ]
    await cache.set_many({key: i for i, key in enumerate(keys)}, closed=lambda key: True)
    assert await cache.get_many(keys) == {key: i for i, key in enumerate(keys)}
    assert await cache.get_many([MonthKey("activity", 7, "2026-01")]) == {}  # variant ""


async def test_the_bound_evicts_the_least_recently_used_entry() -> None:
    cache = MonthCache(entries=2, current_ttl=60)
    await cache.set_many({JAN: "jan", FEB: "feb"}, closed=lambda key: True)
    assert await cache.get_many([JAN]) == {JAN: "jan"}  # JAN is now more recent than FEB
    await cache.set_many({MAR: "mar"}, closed=lambda key: True)
    assert await cache.get_many([JAN, FEB, MAR]) == {JAN: "jan", MAR: "mar"}


async def test_zero_entries_keeps_nothing_in_process() -> None:
    cache = MonthCache(entries=0, current_ttl=60)
    await cache.set_many({JAN: "jan"}, closed=lambda key: True)
    assert await cache.get_many([JAN]) == {}
    assert (cache.stats.sets, cache.stats.misses) == (0, 1)


async def test_the_current_month_expires_after_the_ttl_and_closed_months_never() -> None:
    clock = FakeClock(1000.0)
    cache = MonthCache(entries=10, current_ttl=60, clock=clock)
    await cache.set_many({FEB: "feb", MAR: "mar so far"}, closed=closed_before_march)

    clock.now = 1059.9
    assert await cache.get_many([FEB, MAR]) == {FEB: "feb", MAR: "mar so far"}
    clock.now = 1060.0  # stored at 1000 for 60 s
    assert await cache.get_many([FEB, MAR]) == {FEB: "feb"}
    clock.now = 1000.0 + 10 * 365 * 86400  # ten years on
    assert await cache.get_many([FEB]) == {FEB: "feb"}
    assert (cache.stats.hits, cache.stats.misses) == (4, 1)


async def test_a_current_month_stored_again_gets_a_new_ttl() -> None:
    clock = FakeClock(0.0)
    cache = MonthCache(entries=10, current_ttl=30, clock=clock)
    await cache.set_many({MAR: "v1"}, closed=closed_before_march)
    clock.now = 29.0
    await cache.set_many({MAR: "v2"}, closed=closed_before_march)
    clock.now = 58.0  # 59 s after the first store, 29 s after the second
    assert await cache.get_many([MAR]) == {MAR: "v2"}
    clock.now = 59.0
    assert await cache.get_many([MAR]) == {}


async def test_a_zero_current_ttl_stores_no_current_month() -> None:
    cache = MonthCache(entries=10, current_ttl=0)
    await cache.set_many({FEB: "feb", MAR: "mar"}, closed=closed_before_march)
    assert await cache.get_many([FEB, MAR]) == {FEB: "feb"}
    assert cache.stats.sets == 1


# Redis.


async def test_a_second_replica_hits_what_the_first_wrote_to_redis(
    redis_site: tuple[str, str, Redis],
) -> None:
    url, namespace, client = redis_site
    first = MonthCache(entries=10, current_ttl=60, redis_url=url, namespace=namespace)
    second = MonthCache(entries=10, current_ttl=60, redis_url=url, namespace=namespace)
    try:
        await first.set_many(
            {FEB: {"logins": 2, "days": (1, 2)}, MAR: {"logins": 1}}, closed=closed_before_march
        )
        assert first.stats.sets == 2
        found = await second.get_many([JAN, FEB, MAR])
        # JSON in both tiers: the tuple is a list whichever replica answers.
        assert found == {FEB: {"logins": 2, "days": [1, 2]}, MAR: {"logins": 1}}
        assert await first.get_many([FEB]) == {FEB: {"logins": 2, "days": [1, 2]}}
        assert (second.stats.hits, second.stats.misses, second.stats.redis_errors) == (2, 1, 0)
        assert len(await namespace_keys(client, namespace)) == 2
    finally:
        await first.close()
        await second.close()


async def test_redis_keeps_closed_months_35_days_and_the_current_one_the_ttl(
    redis_site: tuple[str, str, Redis],
) -> None:
    url, namespace, client = redis_site
    cache = MonthCache(entries=10, current_ttl=45, redis_url=url, namespace=namespace)
    try:
        await cache.set_many({FEB: "feb", MAR: "mar"}, closed=closed_before_march)
        keys = await namespace_keys(client, namespace)
        ttls = sorted([await client.pttl(key) for key in keys])
        assert CLOSED_REDIS_SECONDS == 35 * 86400
        assert 44_000 < ttls[0] <= 45_000
        assert 35 * 86400 * 1000 - 60_000 < ttls[1] <= 35 * 86400 * 1000
    finally:
        await cache.close()


async def test_a_zero_current_ttl_writes_no_current_month_to_redis(
    redis_site: tuple[str, str, Redis],
) -> None:
    url, namespace, client = redis_site
    cache = MonthCache(entries=0, current_ttl=0, redis_url=url, namespace=namespace)
    other = MonthCache(entries=0, current_ttl=0, redis_url=url, namespace=namespace)
    try:
        await cache.set_many({FEB: "feb", MAR: "mar"}, closed=closed_before_march)
        assert len(await namespace_keys(client, namespace)) == 1
        assert await other.get_many([FEB, MAR]) == {FEB: "feb"}
        assert cache.stats.sets == 1
    finally:
        await cache.close()
        await other.close()


async def test_sites_with_different_namespaces_never_see_each_others_entries(
    redis_site: tuple[str, str, Redis],
) -> None:
    url, namespace, client = redis_site
    mine = MonthCache(entries=10, current_ttl=60, redis_url=url, namespace=namespace)
    theirs = MonthCache(entries=10, current_ttl=60, redis_url=url, namespace=namespace + "-other")
    try:
        await mine.set_many({FEB: "mine"}, closed=closed_before_march)
        assert await theirs.get_many([FEB]) == {}
        assert all(
            key.startswith(namespace.encode() + b":")
            for key in await namespace_keys(client, namespace)
        )
    finally:
        await mine.close()
        await theirs.close()


async def test_keys_whose_fields_hold_colons_do_not_collide_in_redis(
    redis_site: tuple[str, str, Redis],
) -> None:
    url, namespace, _ = redis_site
    # Joined with ':' both would read "k:1:2:2026-01:".
    one = MonthKey("k:1", 2, "2026-01", "")
    two = MonthKey("k", 1, "2", "2026-01:")
    writer = MonthCache(entries=0, current_ttl=60, redis_url=url, namespace=namespace)
    reader = MonthCache(entries=0, current_ttl=60, redis_url=url, namespace=namespace)
    try:
        await writer.set_many({one: "one", two: "two"}, closed=lambda key: True)
        assert await reader.get_many([one, two]) == {one: "one", two: "two"}
    finally:
        await writer.close()
        await reader.close()


async def test_closed_months_read_from_redis_fill_the_lru_and_current_ones_do_not(
    redis_site: tuple[str, str, Redis],
) -> None:
    url, namespace, client = redis_site
    writer = MonthCache(entries=10, current_ttl=60, redis_url=url, namespace=namespace)
    reader = MonthCache(entries=10, current_ttl=60, redis_url=url, namespace=namespace)
    try:
        await writer.set_many({FEB: "feb", MAR: "mar"}, closed=closed_before_march)
        assert await reader.get_many([FEB, MAR]) == {FEB: "feb", MAR: "mar"}
        await client.delete(*await namespace_keys(client, namespace))
        # FEB now comes from the reader's LRU; MAR's remaining life in Redis was unknown.
        assert await reader.get_many([FEB, MAR]) == {FEB: "feb"}
    finally:
        await writer.close()
        await reader.close()


async def test_an_unreachable_redis_is_a_miss_counted_and_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock(0.0)
    cache = MonthCache(
        entries=10, current_ttl=60, redis_url=DEAD_REDIS, clock=clock, redis_retry_seconds=5
    )
    try:
        with caplog.at_level(logging.WARNING, logger="definum_gql.cache"):
            assert await cache.get_many([JAN, FEB]) == {}
            assert (cache.stats.misses, cache.stats.redis_errors) == (2, 1)
            # Within the retry delay Redis is not tried; the LRU still works.
            await cache.set_many({JAN: "jan"}, closed=closed_before_march)
            assert await cache.get_many([JAN]) == {JAN: "jan"}
            assert (cache.stats.sets, cache.stats.redis_errors) == (1, 1)
            clock.now = 5.0  # the delay has passed: tried again, still down
            assert await cache.get_many([FEB]) == {}
            await cache.set_many({FEB: "feb"}, closed=closed_before_march)
            assert cache.stats.redis_errors == 2
            clock.now = 10.0
            await cache.set_many({MAR: "mar"}, closed=closed_before_march)
            assert cache.stats.redis_errors == 3
            assert cache.stats.sets == 3  # each stored in the LRU
    finally:
        await cache.close()
    warnings = [r for r in caplog.records if r.name == "definum_gql.cache"]
    assert len(warnings) == 1
    assert "127.0.0.1:1" in warnings[0].getMessage()
    assert "hunter2" not in caplog.text


async def test_a_redis_that_never_answers_times_out_as_a_miss() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # accepts, reads, never answers
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    cache = MonthCache(entries=10, current_ttl=60, redis_url=f"redis://127.0.0.1:{port}/0")
    try:
        started = time.monotonic()
        assert await cache.get_many([JAN]) == {}
        assert time.monotonic() - started < 2  # the 0.2 s socket timeout, not a hang
        assert cache.stats.redis_errors == 1
    finally:
        await cache.close()
        server.close()
        await server.wait_closed()


async def test_an_outage_and_its_end_are_logged_once_each(
    redis_site: tuple[str, str, Redis],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, namespace, _ = redis_site
    clock = FakeClock(0.0)
    cache = MonthCache(
        entries=0,
        current_ttl=60,
        redis_url=url,
        namespace=namespace,
        clock=clock,
        redis_retry_seconds=0,
    )
    try:
        await cache.set_many({FEB: "feb"}, closed=closed_before_march)

        async def refused(*args: object, **kwargs: object) -> None:
            raise RedisConnectionError("refused")

        with caplog.at_level(logging.INFO, logger="definum_gql.cache"):
            monkeypatch.setattr(cache._redis, "mget", refused)
            for _ in range(3):
                assert await cache.get_many([FEB]) == {}
            monkeypatch.undo()
            assert await cache.get_many([FEB]) == {FEB: "feb"}
            assert await cache.get_many([FEB]) == {FEB: "feb"}
        assert cache.stats.redis_errors == 3
        messages = [r.getMessage() for r in caplog.records if r.name == "definum_gql.cache"]
        assert len(messages) == 2
        assert "unavailable" in messages[0]
        assert "answers again" in messages[1]
    finally:
        await cache.close()


# Settings.


def test_settings_mask_a_redis_password(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DEFINUM_CONFIG_FILE", "")
    monkeypatch.setenv("DEFINUM_REDIS_URL", "redis://cache:hunter2@redis.example.org:6380/2")
    monkeypatch.setenv("DEFINUM_CURRENT_MONTH_CACHE_SECONDS", "0")
    settings = load_settings()
    assert settings.redis_url == "redis://cache:hunter2@redis.example.org:6380/2"
    assert settings.current_month_cache_seconds == 0
    masked = settings.masked()
    assert masked["redis_url"] == "redis://cache:***@redis.example.org:6380/2"
    assert "hunter2" not in str(masked)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:s3cret@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
        ("rediss://u:p%40ss@h/1", "rediss://u:***@h/1"),
        ("unix:///run/redis.sock?db=1&password=s3cret", "unix:///run/redis.sock?db=1&password=***"),
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
    ],
)
def test_masked_hides_every_form_of_redis_password(url: str, shown: str) -> None:
    assert load_settings(redis_url=url).masked()["redis_url"] == shown


def test_cache_settings_defaults_and_bounds(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DEFINUM_CONFIG_FILE", "")
    monkeypatch.chdir(tmp_path)  # no .env
    for name in (
        "REDIS_URL",
        "CURRENT_MONTH_CACHE_SECONDS",
        "MONTH_CACHE_ENTRIES",
        "TOKEN_CACHE_SECONDS",
    ):
        monkeypatch.delenv("DEFINUM_" + name, raising=False)
    settings = load_settings()
    assert settings.redis_url is None
    assert settings.masked()["redis_url"] is None
    assert (
        settings.current_month_cache_seconds,
        settings.month_cache_entries,
        settings.token_cache_seconds,
    ) == (60, 100_000, 10)
    with pytest.raises(SettingsError, match=r"^DEFINUM_MONTH_CACHE_ENTRIES: "):
        load_settings(month_cache_entries=-1)
    with pytest.raises(SettingsError, match=r"^DEFINUM_REDIS_URL: not a Redis URL"):
        load_settings(redis_url="http://127.0.0.1:6379")
