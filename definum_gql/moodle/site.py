"""The Moodle site as definum-gql sees it: database, settings, clock, configuration, requests."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from definum_gql.config import Settings
from definum_gql.moodle.engine import create_reader_engine
from definum_gql.moodle.queries import (
    TRAIL_COLUMNS,
    Statements,
    lookup_indexes,
    statements,
    userid_only_indexes,
)
from definum_gql.moodle.reader import (
    Database,
    DatabaseReadError,
    DatabaseUnavailable,
    QueryTimeout,
    Reader,
    all_ended,
)
from definum_gql.moodle.tables import MoodleTables
from definum_gql.stats.strings import DEFAULT_LANG, LANGS

if TYPE_CHECKING:
    from definum_gql.cache import MonthCache

Clock = Callable[[], float]
A = TypeVar("A")
B = TypeVar("B")
logger = logging.getLogger("definum_gql.db")


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


PLUGINS_READ = "block_use_stats"


@dataclass(frozen=True)
class UseStatsParams:
    """block_use_stats' parameters, in seconds (``threshold`` T, ``lastpingcredit`` C)."""

    threshold: int
    lastpingcredit: int
    enrolmentfilter: bool


def _minutes(value: str | None) -> int | None:
    """Seconds from a number of minutes as Moodle stores it; None when absent or not a number."""
    if value is None:
        return None
    try:
        minutes = float(value.strip())
    except ValueError:
        return None
    if minutes != minutes or minutes < 0 or minutes > 10**9:
        return None
    return int(minutes * 60)


def use_stats_params(site: SiteConfig, settings: Settings) -> UseStatsParams:
    """The site's block_use_stats configuration, each value falling back to our settings."""
    threshold = _minutes(site.plugin("block_use_stats", "threshold"))
    credit = _minutes(site.plugin("block_use_stats", "lastpingcredit"))
    raw_filter = site.plugin("block_use_stats", "enrolmentfilter")
    enrolmentfilter = settings.use_stats_enrolmentfilter
    if raw_filter is not None:
        with contextlib.suppress(ValueError):
            enrolmentfilter = float(raw_filter.strip()) != 0
    return UseStatsParams(
        threshold=settings.use_stats_threshold * 60 if threshold is None else threshold,
        lastpingcredit=settings.use_stats_lastpingcredit * 60 if credit is None else credit,
        enrolmentfilter=enrolmentfilter,
    )


@dataclass(frozen=True)
class RequestContext:
    """Everything one request's statistics use, built once at the door and never changed.

    One ``now`` for the whole request; ``tz`` is the site's (months are the site's), ``display_tz``
    the zone readable dates are written in (a REST caller may choose it).
    """

    reader: Reader
    statements: Statements
    settings: Settings
    site: SiteConfig
    now: int
    tz: ZoneInfo
    display_tz: ZoneInfo
    lang: str
    use_stats: UseStatsParams
    cache: MonthCache | None = None

    @property
    def tables(self) -> MoodleTables:
        return self.statements.tables

    async def beside(
        self,
        aside: Callable[[RequestContext], Awaitable[A]],
        main: Callable[[RequestContext], Awaitable[B]],
    ) -> tuple[A, B]:
        """``aside`` on a connection the pool spares while ``main`` runs on the request's own
        (one after the other when it spares none). The spare goes back as soon as ``aside``
        ends (``main`` may want spares of its own). Both end before this returns; then the
        first failure is raised."""
        spares = self.reader.spares(1)
        if not spares:
            return await aside(self), await main(self)

        async def beside_main() -> A:
            try:
                return await aside(dataclasses.replace(self, reader=spares[0]))
            finally:
                await self.reader.give_back(spares[0])

        first, second = await all_ended(beside_main(), main(self))
        return first, second


@dataclass
class Moodle:
    """One Moodle site: the read-only database, its statements, our settings and the caches.

    Both front doors hold one of these and open a :class:`RequestContext` per request.
    """

    settings: Settings
    db: Database
    statements: Statements
    clock: Clock = time.time
    cache: MonthCache | None = None
    _site: SiteConfig | None = None
    _site_read_at: float = 0.0
    _use_stats_of: SiteConfig | None = None
    _use_stats_params: UseStatsParams | None = None
    _cache_site: SiteConfig | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    #: MariaDB/MySQL: information_schema's hidden-index column ("" when it has none).
    _hidden_column: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings, clock: Clock | None = None) -> Moodle:
        timeout = settings.statement_timeout_ms
        engine = create_reader_engine(
            settings.url(), pool_size=settings.pool_size, statement_timeout_ms=timeout
        )
        if clock is None:
            frozen = settings.now
            clock = time.time if frozen is None else (lambda: float(frozen))
        return cls(
            settings,
            Database(engine, settings.pool_size, timeout),
            statements(settings.table_prefix),
            clock,
            month_cache(settings, engine),
        )

    @property
    def engine(self) -> AsyncEngine:
        return self.db.engine

    @property
    def tables(self) -> MoodleTables:
        return self.statements.tables

    def now(self) -> int:
        return int(self.clock())

    @asynccontextmanager
    async def request(
        self,
        *,
        lang: str | None = None,
        timezone: str | None = None,
        reader: Reader | None = None,
    ) -> AsyncIterator[RequestContext]:
        """A request's context: a reader (one connection), the site and one ``now``."""
        own = reader is None
        active = reader or self.db.reader()
        try:
            yield await self.context(active, lang=lang, timezone=timezone)
        finally:
            if own:
                await active.close()

    async def context(
        self, reader: Reader, *, lang: str | None = None, timezone: str | None = None
    ) -> RequestContext:
        site = await self.site(reader)
        if self.cache is not None and site is not self._cache_site:
            # Moodle's siteidentifier is the same on the primary and every replica, whatever
            # host each process reads: they all share one set of Redis entries.
            self._cache_site = site
            identifier = site.get("siteidentifier", "").strip()
            if identifier:
                self.cache.bind_site(cache_namespace(identifier, self.settings.table_prefix))
        return RequestContext(
            reader=reader,
            statements=self.statements,
            settings=self.settings,
            site=site,
            now=self.now(),
            tz=self.timezone(site),
            display_tz=self.timezone(site, timezone),
            lang=self.lang(site, lang),
            use_stats=self._use_stats(site),
            cache=self.cache,
        )

    def _use_stats(self, site: SiteConfig) -> UseStatsParams:
        # Read once per configuration read, not per request.
        if self._use_stats_of is not site:
            self._use_stats_of, self._use_stats_params = site, use_stats_params(site, self.settings)
        assert self._use_stats_params is not None
        return self._use_stats_params

    async def site(self, reader: Reader | None = None) -> SiteConfig:
        """The site configuration, re-read at most every ``site_cache_seconds``."""
        fresh = time.monotonic() - self._site_read_at < self.settings.site_cache_seconds
        if self._site is not None and fresh and not self.db.index_facts_stale:
            return self._site
        async with self._lock:
            if reader is None:
                async with self.db.reader() as own:
                    await self._read_site(own)
            else:
                await self._read_site(reader)
        assert self._site is not None
        return self._site

    async def _read_site(self, reader: Reader) -> None:
        self.db.index_facts_stale = False
        self._site = await read_site_config(reader, self.statements)
        self._site_read_at = time.monotonic()
        # With the configuration, the log's indexes (one dropped or renamed since is then
        # forgotten within site_cache_seconds, or at the next request when a hint named it):
        # which of them MariaDB must be kept from, and whether a batch reads each learner's
        # rows (stats.activity's read-ahead parts).
        log = self.statements.tables.logstore_standard_log.name
        few: tuple[str, ...] = ()
        many: tuple[str, ...] = ()
        if self.db.backend == "mysql":
            if self._hidden_column is None:
                self._hidden_column = (await hidden_index_column(reader)) or ""
            facts = await _mysql_log(reader, log, self._hidden_column)
            few, many = _ignorable_log_indexes(facts)
            # A log the buffer pool cannot hold: only an index holding every column a trail
            # reads spares a page read per row.
            by_learner = facts is not None and by_learner_index(
                facts.indexes.values(), covering=facts.outgrows_pool
            )
        else:
            by_learner = await log_indexed_by_learner(reader, log)
        self.statements = statements(self.settings.table_prefix, few, many, by_learner)

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
        for candidate in (override, self.settings.lang, site.get("lang", DEFAULT_LANG)):
            if candidate in LANGS:
                return candidate
        return DEFAULT_LANG

    async def dispose(self) -> None:
        if self.cache is not None:
            await self.cache.close()
        await self.db.dispose()


#: Changes whenever what the month cache stores changes meaning (stale entries are then ignored).
CACHE_VERSION = "1"


def month_cache(settings: Settings, engine: AsyncEngine) -> MonthCache | None:
    """The month cache these settings ask for, or None when both tiers are off."""
    if settings.month_cache_entries == 0 and not settings.redis_url:
        return None
    from definum_gql.cache import MonthCache

    url = engine.url
    # Until the site's configuration is read (Moodle.context binds its siteidentifier): the
    # database's address, without its password.
    site = f"{url.host or ''}:{url.port or ''}/{url.database or ''}"
    return MonthCache(
        entries=settings.month_cache_entries,
        current_ttl=settings.current_month_cache_seconds,
        redis_url=settings.redis_url,
        namespace=cache_namespace(site, settings.table_prefix),
    )


def cache_namespace(site: str, prefix: str) -> str:
    """Redis keys' prefix: the format's version and the site (shared by every replica of it)."""
    return f"definum:{CACHE_VERSION}:{site}/{prefix}"


def _zone(value: str) -> str | None:
    value = value.strip()
    return None if value in ("", "99") else value


async def read_site_config(reader: Reader, statements: Statements) -> SiteConfig:
    rows = await reader.rows(statements.config)
    prows = await reader.rows(statements.config_plugins, plugin=PLUGINS_READ)
    has_oidc = await table_exists(reader, statements.tables.auth_oidc_token.name)
    return SiteConfig(
        values={name: value or "" for name, value in rows},
        plugins={(p, n): v or "" for p, n, v in prows},
        has_oidc=has_oidc,
    )


@dataclass(frozen=True)
class MysqlTable:
    """What MariaDB/MySQL says of a table: its indexes (name -> columns in order), and whether
    InnoDB's buffer pool cannot hold it (rows found through an index are then pages read one
    by one from outside the pool)."""

    indexes: Mapping[str, list[str]]
    outgrows_pool: bool


#: information_schema.statistics' column saying an index is hidden from the optimiser, and the
#: value that says so: MariaDB 10.6+ ``IGNORED``, MySQL 8 ``IS_VISIBLE``.
HIDDEN_INDEX = {"IGNORED": "YES", "IS_VISIBLE": "NO"}


async def hidden_index_column(reader: Reader) -> str | None:
    """Which of :data:`HIDDEN_INDEX`'s columns this server's information_schema has."""
    rows = await reader.execute(
        text(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_schema = 'information_schema' AND table_name = 'STATISTICS'"
            " AND column_name IN ('IGNORED', 'IS_VISIBLE')"
        )
    )
    return str(rows[0][0]).upper() if rows else None


async def mysql_table(reader: Reader, table: str, hidden: str | None = None) -> MysqlTable:
    """``table``'s facts; with ``hidden`` (:func:`hidden_index_column`), indexes hidden from the
    optimiser are left out: naming one in a hint is an error."""
    flag = f"s.{hidden} = '{HIDDEN_INDEX[hidden]}'" if hidden in HIDDEN_INDEX else "0"
    rows = await reader.execute(
        text(
            "SELECT s.index_name, s.seq_in_index, s.column_name, @@innodb_buffer_pool_size,"
            f" t.data_length, {flag} FROM information_schema.tables t"
            " LEFT JOIN information_schema.statistics s"
            " ON s.table_schema = t.table_schema AND s.table_name = t.table_name"
            " WHERE t.table_schema = DATABASE() AND t.table_name = :t"
        ).bindparams(t=table)
    )
    columns: dict[str, dict[int, str]] = {}
    outgrows = False
    for name, seq, column, pool, size, is_hidden in rows:
        if name is not None and not is_hidden:
            columns.setdefault(str(name), {})[int(seq)] = str(column).lower()
        outgrows = pool is not None and size is not None and int(size) > int(pool)
    indexes = {name: [c[k] for k in sorted(c)] for name, c in columns.items()}
    return MysqlTable(indexes, outgrows)


async def _mysql_log(reader: Reader, log: str, hidden: str | None) -> MysqlTable | None:
    """The log's facts on MariaDB/MySQL; None when they cannot be read (they only steer
    optimisations)."""
    try:
        return await mysql_table(reader, log, hidden)
    except DatabaseReadError as exc:
        logger.info("the log's indexes are left to MariaDB: %s", exc)
        return None


def _ignorable_log_indexes(facts: MysqlTable | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The log's indexes MariaDB statements for a few learners, and for many, are to ignore."""
    if facts is None:
        return (), ()
    few = userid_only_indexes(facts.indexes)
    return few, lookup_indexes(facts.indexes) if facts.outgrows_pool else few


def by_learner_index(indexes: Iterable[Sequence[str]], covering: bool = False) -> bool:
    """Whether one of ``indexes`` (each its columns in order) starts with (userid,
    timecreated), and when ``covering``, holds every column of :data:`TRAIL_COLUMNS`: the
    recommended index, through which a batch reads each learner's month."""
    for columns in indexes:
        names = [c.lower() for c in columns]
        if names[:2] == ["userid", "timecreated"] and (not covering or set(names) >= TRAIL_COLUMNS):
            return True
    return False


#: The log's usable indexes, key columns in order (expressions: NULL): valid, not partial.
_PG_INDEX_KEYS = text(
    "SELECT x.indexrelid, NULL, a.attname FROM pg_index x"
    " CROSS JOIN LATERAL unnest(x.indkey) WITH ORDINALITY AS k(attnum, n)"
    " LEFT JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum"
    " WHERE x.indrelid = to_regclass(quote_ident(:t)) AND x.indisvalid AND x.indisready"
    " AND x.indpred IS NULL AND k.n <= x.indnkeyatts"
    " ORDER BY x.indexrelid, k.n"
)
_SQLITE_INDEX_KEYS = text(
    "SELECT m.name, m.sql, i.name FROM sqlite_master m, pragma_index_info(m.name) i"
    " WHERE m.type = 'index' AND m.tbl_name = :t ORDER BY m.name, i.seqno"
)
_PARTIAL = re.compile(r"\)\s*where\b", re.IGNORECASE)


async def log_indexed_by_learner(reader: Reader, log: str) -> bool:
    """Whether the log table ``log`` has a usable index whose keys start with (userid,
    timecreated); False when that cannot be read (it only steers optimisations)."""
    try:
        if reader.database.backend == "mysql":
            return by_learner_index((await mysql_table(reader, log)).indexes.values())
        query = _PG_INDEX_KEYS if reader.database.backend == "postgresql" else _SQLITE_INDEX_KEYS
        rows = await reader.execute(query.bindparams(t=log))
    except DatabaseReadError as exc:
        logger.info("the log's indexes could not be read: %s", exc)
        return False
    columns: dict[object, list[str]] = {}
    for index, sql, column in rows:
        if not (sql and _PARTIAL.search(str(sql))):  # SQLite's partial indexes
            columns.setdefault(index, []).append(str(column))
    return by_learner_index(columns.values())


async def table_exists(reader: Reader, name: str) -> bool:
    """Whether a table exists, asked with a plain SELECT (auth_oidc is an optional plugin)."""
    backend = reader.database.backend
    if backend == "sqlite":
        query = text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = :name")
    elif backend == "postgresql":
        query = text(
            "SELECT 1 FROM information_schema.tables"
            " WHERE table_schema = current_schema() AND table_name = :name"
        )
    else:
        query = text(
            "SELECT 1 FROM information_schema.tables"
            " WHERE table_schema = DATABASE() AND table_name = :name"
        )
    return bool(await reader.execute(query.bindparams(name=name)))


__all__ = [
    "LANGS",
    "DatabaseReadError",
    "DatabaseUnavailable",
    "Moodle",
    "QueryTimeout",
    "RequestContext",
    "SiteConfig",
    "UseStatsParams",
    "use_stats_params",
]
