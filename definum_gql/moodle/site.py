"""The Moodle site as definum-gql sees it: engine, tables, settings, clock and configuration."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from definum_gql.config import Settings
from definum_gql.moodle.engine import create_reader_engine
from definum_gql.moodle.tables import MoodleTables, moodle_tables

Clock = Callable[[], float]


class DatabaseUnavailable(Exception):
    """The Moodle database cannot be reached (REST answers dml_connection_exception, HTTP 503)."""


@dataclass(frozen=True)
class SiteConfig:
    """Rows of ``config`` and the ``config_plugins`` that statistics depend on."""

    values: Mapping[str, str]
    plugins: Mapping[tuple[str, str], str] = field(default_factory=dict)
    has_oidc: bool = False

    def get(self, name: str, default: str = "") -> str:
        value = self.values.get(name)
        return default if value is None else value

    def flag(self, name: str) -> bool:
        return self.get(name, "0").strip() not in ("", "0")

    def plugin(self, plugin: str, name: str) -> str | None:
        return self.plugins.get((plugin, name))

    def int_list(self, name: str) -> frozenset[int]:
        return frozenset(int(p) for p in self.get(name).split(",") if p.strip().isdigit())

    @property
    def site_admins(self) -> frozenset[int]:
        return self.int_list("siteadmins")

    @property
    def guest_id(self) -> int:
        value = self.get("siteguest", "1").strip()
        return int(value) if value.isdigit() else 1

    @property
    def mnet_localhost_id(self) -> int:
        value = self.get("mnet_localhost_id", "1").strip()
        return int(value) if value.isdigit() else 1


PLUGINS_READ = ("block_use_stats",)


@dataclass
class Moodle:
    """One Moodle site: the read-only engine, its tables and our settings.

    Both front doors hold one of these; every statistic receives it.
    """

    settings: Settings
    engine: AsyncEngine
    tables: MoodleTables
    clock: Clock = time.time
    _site: SiteConfig | None = None
    _site_read_at: float = 0.0
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @classmethod
    def from_settings(cls, settings: Settings, clock: Clock = time.time) -> Moodle:
        engine = create_reader_engine(settings.url(), pool_size=settings.pool_size)
        return cls(settings, engine, moodle_tables(settings.table_prefix), clock)

    def now(self) -> int:
        return int(self.clock())

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[AsyncConnection]:
        """A connection, turning driver connection failures into DatabaseUnavailable."""
        try:
            conn_cm = self.engine.connect()
            conn = await conn_cm.__aenter__()
        except (OperationalError, InterfaceError, DBAPIError, OSError) as exc:
            raise DatabaseUnavailable(str(exc).splitlines()[0]) from exc
        try:
            yield conn
        except BaseException as exc:
            await conn_cm.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        else:
            await conn_cm.__aexit__(None, None, None)

    async def site(self, conn: AsyncConnection | None = None) -> SiteConfig:
        """The site configuration, re-read at most every ``site_cache_seconds``."""
        fresh = time.monotonic() - self._site_read_at < self.settings.site_cache_seconds
        if self._site is not None and fresh:
            return self._site
        async with self._lock:
            if conn is None:
                async with self.connect() as own:
                    self._site = await read_site_config(own, self.tables)
            else:
                self._site = await read_site_config(conn, self.tables)
            self._site_read_at = time.monotonic()
        return self._site

    def timezone(self, site: SiteConfig, override: str | None = None) -> ZoneInfo:
        """The site timezone: a per-call override, our setting, forcetimezone, timezone, UTC.

        Moodle's ``99`` means "the server's zone", which we take from ``server_timezone``.
        """
        for name in (
            override,
            self.settings.timezone,
            _zone(site.get("forcetimezone", "99")),
            _zone(site.get("timezone", "99")),
        ):
            if name:
                try:
                    return ZoneInfo(name)
                except (ValueError, KeyError, OSError):
                    continue
        return ZoneInfo(self.settings.server_timezone or "UTC")

    def lang(self, site: SiteConfig, override: str | None = None) -> str:
        """The language of readable strings: a per-call choice, our setting, the site's, English."""
        for candidate in (override, self.settings.lang, site.get("lang", "en")):
            if candidate in ("en", "fr"):
                return candidate
        return "en"

    async def dispose(self) -> None:
        await self.engine.dispose()


def _zone(value: str) -> str | None:
    value = value.strip()
    return None if value in ("", "99") else value


async def read_site_config(conn: AsyncConnection, tables: MoodleTables) -> SiteConfig:
    config = tables.config
    rows = (await conn.execute(select(config.c.name, config.c.value))).all()
    plugins = tables.config_plugins
    prows = (
        await conn.execute(
            select(plugins.c.plugin, plugins.c.name, plugins.c.value).where(
                plugins.c.plugin.in_(PLUGINS_READ)
            )
        )
    ).all()
    has_oidc = await table_exists(conn, tables.auth_oidc_token.name)
    return SiteConfig(
        values={name: value or "" for name, value in rows},
        plugins={(p, n): v or "" for p, n, v in prows},
        has_oidc=has_oidc,
    )


async def table_exists(conn: AsyncConnection, name: str) -> bool:
    """Whether a table exists, asked with a plain SELECT (auth_oidc is an optional plugin)."""
    if conn.dialect.name == "sqlite":
        query = text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = :name")
    elif conn.dialect.name == "postgresql":
        query = text(
            "SELECT 1 FROM information_schema.tables"
            " WHERE table_schema = current_schema() AND table_name = :name"
        )
    else:
        query = text(
            "SELECT 1 FROM information_schema.tables"
            " WHERE table_schema = DATABASE() AND table_name = :name"
        )
    return (await conn.execute(query, {"name": name})).first() is not None
