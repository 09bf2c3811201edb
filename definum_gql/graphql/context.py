"""The per-request context: one database connection, the site, the caller and the DataLoaders."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncConnection
from strawberry.dataloader import DataLoader

from definum_gql.moodle.site import Moodle, SiteConfig
from definum_gql.stats.months import Month

T = TypeVar("T")
BatchFn = Callable[[AsyncConnection, list[int]], Awaitable[Mapping[int, T]]]


@dataclass
class Context:
    """Everything a resolver may use; built once per HTTP request.

    Resolvers share one connection; the lock makes the loaders that the executor runs concurrently
    take turns on it.
    """

    moodle: Moodle
    site: SiteConfig
    conn: AsyncConnection
    now: int
    tz: ZoneInfo
    request_id: str
    #: The token owner; None when auth is off (demo).
    caller_id: int | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _loaders: dict[Hashable, DataLoader[int, Any]] = field(default_factory=dict)

    @asynccontextmanager
    async def db(self) -> AsyncIterator[AsyncConnection]:
        async with self._lock:
            yield self.conn

    @property
    def this_month(self) -> Month:
        return Month.containing(self.now, self.tz)

    def month(self, text: str | None) -> Month:
        """A month argument (``YYYY-MM``), the current month when absent."""
        return self.this_month if text is None else Month.parse(text)

    def loader(self, key: Hashable, batch: BatchFn[T]) -> DataLoader[int, T | None]:
        """The request's loader named ``key``: every id asked in one tick, one call of ``batch``.

        ``key`` holds the arguments (month, algorithm...) so that differently parametrised fields
        get their own loader; ids the batch function leaves out load as None.
        """
        existing = self._loaders.get(key)
        if existing is not None:
            return cast(DataLoader[int, T | None], existing)

        async def load(ids: list[int]) -> Sequence[T | None]:
            async with self.db() as conn:
                found = await batch(conn, sorted(set(ids)))
            return [found.get(i) for i in ids]

        created: DataLoader[int, T | None] = DataLoader(load_fn=load)
        self._loaders[key] = created
        return created
