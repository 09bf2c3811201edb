"""The per-request context: the request's statistics context, the caller and the DataLoaders."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Collection,
    Hashable,
    Iterable,
    Mapping,
    Sequence,
)
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast
from zoneinfo import ZoneInfo

from strawberry.dataloader import DataLoader

from definum_gql.config import Settings
from definum_gql.graphql.access import Viewer
from definum_gql.moodle.queries import BATCH_LEARNERS
from definum_gql.moodle.site import RequestContext, SiteConfig
from definum_gql.stats.months import Month

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")
BatchFn = Callable[[RequestContext, list[K]], Awaitable[Mapping[K, T]]]


@dataclass
class Context:
    """Everything a resolver may use; built once per HTTP request.

    Resolvers share the request's one connection; the lock makes the loaders that the executor
    runs concurrently take turns on it, but for batches of many learners (a page's), which run
    beside each other on spare connections when the pool has them (:meth:`db`).
    """

    stats: RequestContext
    request_id: str
    #: The token's owner and what they may see (everything when auth is off: the demo).
    viewer: Viewer = field(default_factory=Viewer)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _loaders: dict[Hashable, SharedLoader[Any, Any]] = field(default_factory=dict)
    _months: dict[str | None, Month] = field(default_factory=dict)

    @property
    def settings(self) -> Settings:
        return self.stats.settings

    @property
    def site(self) -> SiteConfig:
        return self.stats.site

    @property
    def now(self) -> int:
        return self.stats.now

    @property
    def tz(self) -> ZoneInfo:
        return self.stats.tz

    @asynccontextmanager
    async def db(self, batch: int = 0) -> AsyncIterator[RequestContext]:
        """The request's statistics context, its connection to itself until the block ends.

        A batch of ``batch`` >= BATCH_LEARNERS keys finding the connection taken runs on a
        spare one instead, when the pool spares it: a page's enrolments and badges are then
        read while its time spent is summed (500 learners, PostgreSQL: ~20 ms sooner).
        """
        if batch >= BATCH_LEARNERS and self._lock.locked():
            async with self.stats.reader.side_by_side(1) as readers:
                if len(readers) > 1:
                    yield dataclasses.replace(self.stats, reader=readers[1])
                    return
        async with self._lock:
            yield self.stats

    @property
    def this_month(self) -> Month:
        return Month.containing(self.now, self.tz)

    def month(self, text: str | None) -> Month:
        """A month argument (``YYYY-MM``), the current month when absent (asked per node of a
        page: parsed once)."""
        found = self._months.get(text)
        if found is None:
            found = self._months[text] = self.this_month if text is None else Month.parse(text)
        return found

    def loader(self, key: Hashable, batch: BatchFn[K, T]) -> SharedLoader[K, T | None]:
        """The request's loader named ``key``: every key asked in one tick, one call of ``batch``.

        Keys the batch function leaves out load as None.
        """
        existing = self._loaders.get(key)
        if existing is not None:
            return cast("SharedLoader[K, T | None]", existing)  # a string: no Union built per call

        async def load(keys: list[K]) -> Sequence[T | None]:
            unique = list(dict.fromkeys(keys))
            async with self.db(len(unique)) as ctx:
                found = await batch(ctx, unique)
            return [found.get(k) for k in keys]

        created: SharedLoader[K, T | None] = SharedLoader(load_fn=load)
        self._loaders[key] = created
        return created


class SharedLoader(DataLoader[K, T]):
    """A DataLoader whose futures many resolvers share: each resolver awaits a shield of its
    key's future. When a non-null field fails, graphql-core cancels the sibling resolvers; a
    resolver cancelled while awaiting the future itself would cancel it for every other
    resolver of that key, and leave a batch awaiting it unanswered (the request never ends).
    The future is cancelled once nobody awaits it any more, as before: Strawberry then skips
    a batch nobody waits for, and nothing is left to fail unseen after the request."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._awaiting: dict[asyncio.Future[Any], int] = {}

    def load(self, key: K) -> asyncio.Future[T]:
        future = self._future(key)
        if future.done():
            return future
        return self._shielded((future,), future)

    def load_all(self, keys: Iterable[K]) -> Awaitable[object]:
        """Every key loaded, for a resolver that wants them in the cache, not their values: one
        shield for all (a page primes 500 keys a field), released as ``load``'s are."""
        pending = {f for f in map(self._future, keys) if not f.done()}
        if not pending:
            return asyncio.sleep(0)
        return self._shielded(pending, _settled(pending))

    async def load_many(self, keys: Iterable[K]) -> list[T]:
        """The values of ``keys`` in order, as DataLoader's ``load_many`` without a shield, a
        gather and their callbacks per key (a page's 500 users: ~5 % of its time). A coroutine:
        the keys are asked when it is first awaited, not when it is called."""
        futures = [self._future(key) for key in keys]
        pending = {f for f in futures if not f.done()}
        if pending:
            await self._shielded(pending, _settled(pending))
        return [f.result() for f in futures]

    def _future(self, key: K) -> asyncio.Future[T]:
        """DataLoader's own future of ``key`` (its type says only Awaitable)."""
        return cast("asyncio.Future[T]", DataLoader.load(self, key))

    def _shielded(
        self, futures: Collection[asyncio.Future[Any]], awaited: Awaitable[Any]
    ) -> asyncio.Future[Any]:
        """A shield of ``awaited`` for one resolver waiting on ``futures``: cancelled, it
        cancels those of them nobody else awaits."""
        awaiting = self._awaiting
        for future in futures:
            awaiting[future] = awaiting.get(future, 0) + 1
        shield = asyncio.shield(awaited)

        def ended(shield: asyncio.Future[Any]) -> None:
            for future in futures:
                left = awaiting.pop(future) - 1
                if left:
                    awaiting[future] = left
                elif shield.cancelled() and not future.done():
                    future.cancel()

        shield.add_done_callback(ended)
        return shield


async def _settled(futures: Iterable[asyncio.Future[Any]]) -> None:
    """Once every future is done, failed or cancelled ones included (gather with
    ``return_exceptions``, without a callback per future: the futures of a batch end together,
    so after the first wait most are done already)."""
    for future in futures:
        if future.done():
            continue
        try:
            # Shielded: this wait cancelled (the loop shutting down) must not cancel a future
            # other resolvers share, and must end rather than go on to the next future.
            await asyncio.shield(future)
        except asyncio.CancelledError:
            if not future.cancelled():
                raise  # this wait itself was cancelled
        except Exception:
            pass  # the resolver that reads it raises it
