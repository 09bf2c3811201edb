"""A cache of per-(learner, month) statistics: closed months for good, the current one briefly.

Two tiers, read through in order:

* an in-process LRU bounded to ``entries`` items, with a per-entry expiry on an injectable
  monotonic clock (closed months never expire there; the current month after ``current_ttl``);
* optionally Redis (``redis_url``), shared by every replica. Closed months are kept there
  ``CLOSED_REDIS_SECONDS`` (so Redis does not fill forever), the current month ``current_ttl``.

Values are opaque JSON-serialisable values (dicts, lists, numbers, strings); both tiers keep them
JSON-encoded, so every hit is a fresh copy that the caller may change, and a hit looks the same
whichever tier answered (tuples come back as lists).

Redis being down or slow never fails a request: its errors are counted in
``stats.redis_errors``, logged once per outage, and answered as misses; after an error Redis is
left alone for ``redis_retry_seconds`` so that a dead server costs one timeout, not one per request.

A current-month value read from Redis is not copied into the LRU (its remaining lifetime in Redis
is unknown), so no replica serves a current month older than ``current_ttl``.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from definum_gql.observe import count_month_cache

log = logging.getLogger(__name__)

CLOSED_REDIS_SECONDS = 35 * 24 * 3600
"""How long Redis keeps a closed month (re-stored whenever a replica recomputes it)."""
REDIS_TIMEOUT_SECONDS = 0.2
"""Connect and read timeout of the Redis client: a slow Redis is a miss, not a slow request."""
# Marks the first byte of a Redis value: whether the entry is a closed month (kept for good once
# copied into a replica's LRU) or the current one (not copied, see the module docstring).
_CLOSED = b"c"
_CURRENT = b"o"
# One encoder: json.dumps with separators builds a JSONEncoder per call (a read-ahead stores
# 10,000 values at once).
_ENCODE = json.JSONEncoder(separators=(",", ":")).encode


@dataclass(frozen=True, slots=True)
class MonthKey:
    """One cached result: a statistic ``kind`` (e.g. "activity") of one learner for one month.

    ``month`` is "YYYY-MM"; ``variant`` tells apart results that depend on more than the learner
    and the month (an algorithm, a fingerprint of the parameters).
    """

    kind: str
    learner: int
    month: str
    variant: str = ""


#: After a computation in flight fails (a statement timeout, the database going away), the
#: same one is not started again for this long: a failing read-ahead is not retried by every page.
FLIGHT_BACKOFF_SECONDS = 300.0


@dataclass(frozen=True)
class InFlight:
    """A computation under way for ``learners``; its task answers a mapping. ``parts``, when
    given, are pieces of it done one after the other: their learners, and a future answering
    their mapping as soon as that piece is done (cancelled if the task ends first)."""

    learners: frozenset[int]
    task: asyncio.Task[Any]
    parts: tuple[tuple[frozenset[int], asyncio.Future[Any]], ...] = ()


class Flights:
    """Computations under way whose results the cache will hold (stats.activity's read-ahead),
    by what they compute: a request wanting their results may wait for them rather than
    computing them again. One at a time per key; none for a while after one of them failed."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.running: dict[Hashable, InFlight] = {}
        self._clock = clock
        self._failed_at: dict[Hashable, float] = {}

    def may_start(self, key: Hashable) -> bool:
        failed = self._failed_at.get(key)
        if failed is not None and self._clock() - failed < FLIGHT_BACKOFF_SECONDS:
            return False
        return key not in self.running

    def failed(self, key: Hashable) -> None:
        """Hold ``key`` back (a computation of it failed outside a flight)."""
        self._failed_at[key] = self._clock()

    def start(
        self,
        key: Hashable,
        learners: frozenset[int],
        work: Coroutine[Any, Any, Any],
        *,
        label: str,
        finally_: Callable[[], None] = lambda: None,
        parts: tuple[tuple[frozenset[int], asyncio.Future[Any]], ...] = (),
    ) -> InFlight:
        """Run ``work`` as a task of its own (in a context of its own: its statements are not
        the starting request's); ``finally_`` runs when it ends, however it ends. ``work``
        answers ``parts``' futures; those it left unanswered are cancelled when it ends."""
        task = asyncio.get_running_loop().create_task(
            work, name=label, context=contextvars.Context()
        )
        flight = InFlight(learners, task, parts)
        self.running[key] = flight

        def done(task: asyncio.Task[Any]) -> None:
            for _, future in parts:
                future.cancel()  # no-op for those answered
            finally_()
            if self.running.get(key) is flight:
                del self.running[key]
            if task.cancelled():
                return
            exc = task.exception()  # retrieved here, whoever else waits
            if exc is not None:
                self.failed(key)
                log.warning("%s failed: %s", label, type(exc).__name__)

        task.add_done_callback(done)
        return flight

    async def close(self) -> None:
        flights = list(self.running.values())
        for flight in flights:
            flight.task.cancel()
        await asyncio.gather(*(flight.task for flight in flights), return_exceptions=True)


@dataclass
class CacheStats:
    """Counters, per key: ``hits`` found (LRU or Redis), ``misses`` not found, ``sets`` stored;
    ``redis_errors`` counts failed Redis calls."""

    hits: int = 0
    misses: int = 0
    sets: int = 0
    redis_errors: int = 0


class MonthCache:
    """The two-tier month cache; one per process, shared by every request (see the module doc).

    ``namespace`` prefixes every Redis key: it must identify the site (database, table prefix)
    and the format of the values (a version string), so that sites or releases sharing one Redis
    never read each other's entries.
    """

    def __init__(
        self,
        *,
        entries: int,
        current_ttl: float,
        redis_url: str | None = None,
        namespace: str = "definum",
        clock: Callable[[], float] = time.monotonic,
        redis_retry_seconds: float = 5.0,
    ) -> None:
        if entries < 0 or current_ttl < 0 or redis_retry_seconds < 0:
            raise ValueError("entries, current_ttl and redis_retry_seconds must be >= 0")
        self.stats = CacheStats()
        self._entries = entries
        self._current_ttl = current_ttl
        self._namespace = namespace
        self._clock = clock
        self._retry_seconds = redis_retry_seconds
        # key -> (expiry on self._clock or None for never, JSON text); most recently used last.
        self._lru: OrderedDict[MonthKey, tuple[float | None, str]] = OrderedDict()
        #: Computations under way whose results this cache will hold; stopped by close().
        self.flights = Flights(clock)
        self._redis: Redis | None = None

        self._redis_where = ""
        self._redis_down = False
        self._redis_retry_at = 0.0
        if redis_url:
            parts = urlsplit(redis_url)
            # Only where it is, for the log: never the password.
            self._redis_where = parts.hostname or parts.path or "?"
            if parts.port is not None:
                self._redis_where += f":{parts.port}"
            self._redis = Redis.from_url(
                redis_url,
                socket_timeout=REDIS_TIMEOUT_SECONDS,
                socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
                # One try, whatever the redis-py version defaults to (Redis() retries 3 times).
                retry=Retry(NoBackoff(), 0),
            )

    def room(self) -> int | None:
        """How many entries the cache can keep now: None when Redis takes them (no bound of
        ours), else the LRU's bound."""
        return None if self._usable_redis() is not None else self._entries

    @property
    def namespace(self) -> str:
        return self._namespace

    def bind_site(self, namespace: str) -> None:
        """Key Redis entries by ``namespace`` from now on (the site's own identifier, once read)."""
        self._namespace = namespace

    def _redis_key(self, key: MonthKey) -> str:
        # JSON keeps the fields apart whatever characters kind or variant hold.
        fields = [key.kind, key.learner, key.month, key.variant]
        return f"{self._namespace}:month:{json.dumps(fields, separators=(',', ':'))}"

    async def get_many(self, keys: Sequence[MonthKey]) -> dict[MonthKey, Any]:
        """The cached values of ``keys`` (only the hits; a key asked twice counts once)."""
        wanted = list(dict.fromkeys(keys))
        found: dict[MonthKey, Any] = {}
        missing: list[MonthKey] = []
        now = self._clock()
        for key in wanted:
            entry = self._lru.get(key)
            if entry is not None:
                expires, text = entry
                if expires is None or now < expires:
                    self._lru.move_to_end(key)
                    found[key] = json.loads(text)
                    continue
                del self._lru[key]
            missing.append(key)
        redis = self._usable_redis() if missing else None
        if redis is not None:
            try:
                values = await redis.mget([self._redis_key(key) for key in missing])
            except (RedisError, OSError) as exc:
                self._redis_failed(exc)
            else:
                self._redis_answered()
                for key, value in zip(missing, values, strict=True):
                    decoded = _decode(value)
                    if decoded is None:
                        continue
                    closed, text, found[key] = decoded
                    if closed:
                        self._remember(key, None, text)
        self.stats.hits += len(found)
        self.stats.misses += len(wanted) - len(found)
        count_month_cache(len(found), len(wanted) - len(found))
        return found

    async def set_many(
        self, items: Mapping[MonthKey, Any], *, closed: Callable[[MonthKey], bool]
    ) -> None:
        """Store ``items``; ``closed(key)`` tells whether the key's month is closed.

        ``closed`` must answer as of when the values were *read* from the database: a value read
        just before a month ended and stored just after is not that month's final value.
        Current-month items are not stored when ``current_ttl`` is 0.
        """
        to_store: list[tuple[MonthKey, bool, str]] = []
        for key, value in items.items():
            is_closed = closed(key)
            if is_closed or self._current_ttl > 0:
                to_store.append((key, is_closed, _ENCODE(value)))
        if not to_store:
            return
        stored: set[MonthKey] = set()
        if self._entries > 0:
            now = self._clock()
            for key, is_closed, text in to_store:
                self._remember(key, None if is_closed else now + self._current_ttl, text)
                stored.add(key)
        redis = self._usable_redis()
        if redis is not None:
            try:
                async with redis.pipeline(transaction=False) as pipe:
                    for key, is_closed, text in to_store:
                        if is_closed:
                            pipe.set(
                                self._redis_key(key),
                                _CLOSED + text.encode(),
                                ex=CLOSED_REDIS_SECONDS,
                            )
                        else:
                            pipe.set(
                                self._redis_key(key),
                                _CURRENT + text.encode(),
                                px=max(1, round(self._current_ttl * 1000)),
                            )
                    await pipe.execute()
            except (RedisError, OSError) as exc:
                self._redis_failed(exc)
            else:
                self._redis_answered()
                stored.update(key for key, _, _ in to_store)
        self.stats.sets += len(stored)

    async def close(self) -> None:
        """Stop the computations in flight and close the Redis connections (the LRU simply goes
        with the object)."""
        await self.flights.close()
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    def _remember(self, key: MonthKey, expires: float | None, text: str) -> None:
        if self._entries == 0:
            return
        self._lru[key] = (expires, text)
        self._lru.move_to_end(key)
        while len(self._lru) > self._entries:
            self._lru.popitem(last=False)

    def _usable_redis(self) -> Redis | None:
        """The Redis client, unless there is none or it failed less than the retry delay ago."""
        if self._redis_down and self._clock() < self._redis_retry_at:
            return None
        return self._redis

    def _redis_failed(self, exc: BaseException) -> None:
        self.stats.redis_errors += 1
        self._redis_retry_at = self._clock() + self._retry_seconds
        if not self._redis_down:
            self._redis_down = True
            log.warning(
                "Redis cache at %s unavailable (%s: %s); serving without it, retrying every %g s",
                self._redis_where,
                type(exc).__name__,
                exc,
                self._retry_seconds,
            )

    def _redis_answered(self) -> None:
        if self._redis_down:
            self._redis_down = False
            log.warning("Redis cache at %s answers again", self._redis_where)


def _decode(value: bytes | str | None) -> tuple[bool, str, Any] | None:
    """(closed, JSON text, value) of a Redis value; None for an absent or unreadable one."""
    if value is None:
        return None
    raw = value.encode() if isinstance(value, str) else value
    flag = raw[:1]
    if flag not in (_CLOSED, _CURRENT):
        return None
    try:
        text = raw[1:].decode()
        return flag == _CLOSED, text, json.loads(text)
    except ValueError:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        return None
