"""The per-request context: the request's statistics context, the caller and the DataLoaders."""

from __future__ import annotations

import asyncio
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
from definum_gql.moodle.site import RequestContext, SiteConfig
from definum_gql.stats.months import Month

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")
BatchFn = Callable[[RequestContext, list[K]], Awaitable[Mapping[K, T]]]


@dataclass
class Context:
    """Everything a resolver may use; built once per HTTP request.

    Resolvers share the request's one connection; the lock makes the loaders that the executor
    runs concurrently take turns on it.
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
    async def db(self) -> AsyncIterator[RequestContext]:
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
            return cast(SharedLoader[K, T | None], existing)

        async def load(keys: list[K]) -> Sequence[T | None]:
            async with self.db() as ctx:
                found = await batch(ctx, list(dict.fromkeys(keys)))
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

    def load(self, key: K) -> Awaitable[T]:
        future = super().load(key)
        if not isinstance(future, asyncio.Future) or future.done():
            return future
        return self._shielded((future,), future)

    def load_all(self, keys: Iterable[K]) -> Awaitable[object]:
        """Every key loaded, for a resolver that wants them in the cache, not their values: one
        shield for all (a page primes 500 keys a field), released as ``load``'s are."""
        loads = map(super().load, keys)
        pending = {f for f in loads if isinstance(f, asyncio.Future) and not f.done()}
        if not pending:
            return asyncio.sleep(0)
        return self._shielded(pending, asyncio.gather(*pending, return_exceptions=True))

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
