"""Settings: one object, read once from the environment (``DEFINUM_*``), ``.env`` or a TOML file."""

from __future__ import annotations

import os
import re
from enum import StrEnum
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from definum_gql.stats.strings import LANGS

SUPPORTED_DRIVERS = ("postgresql+asyncpg", "mysql+asyncmy", "mysql+aiomysql", "sqlite+aiosqlite")


class AuthMode(StrEnum):
    on = "on"
    off = "off"


def _config_file() -> Path:
    return Path(os.environ.get("DEFINUM_CONFIG_FILE", "definum.toml"))


class Settings(BaseSettings):
    """Everything an administrator can set; see the README's configuration table."""

    model_config = SettingsConfigDict(
        env_prefix="DEFINUM_", env_file=".env", extra="ignore", validate_default=True
    )

    database_url: SecretStr | None = Field(
        default=None, description="SQLAlchemy URL of the Moodle database (async driver)."
    )
    table_prefix: str = Field(default="mdl_", description="Moodle's $CFG->prefix.")
    timezone: str | None = Field(default=None, description="Overrides the site timezone.")
    server_timezone: str = Field(
        default="UTC", description="The zone Moodle's timezone '99' (server time) stands for."
    )
    lang: str | None = Field(
        default=None, description=f"Overrides the site language ({', '.join(LANGS)})."
    )
    service: str = Field(
        default="definum", description="External service shortname whose tokens are accepted."
    )
    self_services: list[str] = Field(
        default_factory=list,
        description="Other services' shortnames (e.g. moodle_mobile_app) whose tokens GraphQL"
        " accepts to read their owner only.",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    auth: AuthMode = Field(default=AuthMode.on, description="'off' only for the demo.")
    debug: bool = Field(default=False, description="Adds Moodle's debuginfo to REST errors.")
    trusted_proxies: list[str] = Field(
        default_factory=list, description="Addresses whose X-Forwarded-For is believed."
    )
    cors_origins: list[str] = Field(
        default_factory=list, description="Browser origins allowed to call /graphql ('*': any)."
    )
    moodle_url: str | None = Field(
        default=None, description="Real Moodle to forward other web service functions to."
    )
    pool_size: int = Field(default=10, ge=1, le=200)
    max_rest_body: int = Field(
        default=8 * 1024 * 1024, ge=1024, description="Bytes a REST request body may hold."
    )
    max_graphql_body: int = Field(
        default=1024 * 1024, ge=1024, description="Bytes a GraphQL request body may hold."
    )
    site_cache_seconds: float = Field(default=30.0, ge=0)
    # block_use_stats parameters when the site has no config_plugins rows for it.
    use_stats_threshold: int = Field(default=60, ge=1, description="Minutes.")
    use_stats_lastpingcredit: int = Field(default=15, ge=0, description="Minutes.")
    use_stats_enrolmentfilter: bool = False
    now: int | None = Field(
        default=None,
        ge=0,
        description="Answer as if it were this Unix time (benchmarks and reproducible demos only).",
    )
    # GraphQL limits.
    max_depth: int = Field(default=10, ge=1)
    max_aliases: int = Field(default=20, ge=1)
    max_tokens: int = Field(default=2000, ge=10)
    max_page_size: int = Field(default=500, ge=1)
    max_history_months: int = Field(default=36, ge=1)
    introspection: bool = True
    # Caches (definum_gql/cache.py, auth).
    redis_url: str | None = Field(
        default=None,
        description="Redis shared by all replicas for cached month statistics"
        " (redis://[:password@]host:6379/0); unset: each process caches on its own.",
    )
    current_month_cache_seconds: float = Field(
        default=60,
        ge=0,
        description="How long the current month's statistics are reused before being recomputed"
        " (0: never cached; closed months are cached for good).",
    )
    month_cache_entries: int = Field(
        default=100_000,
        ge=0,
        description="Bound of each process's LRU of (learner, month) results"
        " (0: no in-process cache).",
    )
    token_cache_seconds: float = Field(
        default=10,
        ge=0,
        description="How long a checked token is trusted before its rows are read again"
        " (0: every request)",
    )

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str | None) -> str | None:
        from urllib.parse import urlsplit

        if value is None or value == "":
            return None
        if urlsplit(value).scheme not in ("redis", "rediss", "unix"):
            raise ValueError("not a Redis URL (expected redis://host:6379/0, rediss:// or unix://)")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = TomlConfigSettingsSource(settings_cls, toml_file=_config_file())
        return (init_settings, env_settings, dotenv_settings, toml)

    @field_validator("database_url")
    @classmethod
    def _check_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        try:
            url = make_url(value.get_secret_value())
        except ArgumentError:
            raise ValueError("not a database URL (expected driver://user@host/database)") from None
        if url.drivername not in SUPPORTED_DRIVERS:
            raise ValueError(
                f"unsupported driver {url.drivername!r}; use one of {', '.join(SUPPORTED_DRIVERS)}"
            )
        return value

    @field_validator("table_prefix")
    @classmethod
    def _check_prefix(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z0-9_]{0,20}", value):
            raise ValueError("letters, digits and '_' only (Moodle's $CFG->prefix)")
        return value

    @field_validator("timezone", "server_timezone")
    @classmethod
    def _check_zone(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown timezone {value!r} (use an IANA name like Europe/Paris)"
            ) from None
        return value

    @field_validator("lang")
    @classmethod
    def _check_lang(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if value not in LANGS:
            raise ValueError(f"unsupported language {value!r}; use one of {', '.join(LANGS)}")
        return value

    def url(self) -> str:
        """The database URL in clear, for the engine."""
        if self.database_url is None:
            raise SettingsError("DEFINUM_DATABASE_URL is not set (or run with --demo)")
        return self.database_url.get_secret_value()

    def masked(self) -> dict[str, Any]:
        """The effective settings with the database password hidden."""
        data = self.model_dump(mode="json")
        if self.database_url is not None:
            data["database_url"] = make_url(self.url()).render_as_string(hide_password=True)
        if self.redis_url is not None:
            data["redis_url"] = mask_url_password(self.redis_url)
        return data


def mask_url_password(url: str) -> str:
    """``url`` with its password (``user:password@`` or ``?password=``) replaced by ``***``."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        userinfo, _, hostport = netloc.rpartition("@")
        netloc = f"{userinfo.partition(':')[0]}:***@{hostport}"
    query = "&".join(
        f"{name}=***" if name.lower() == "password" else f"{name}={value}" if sep else name
        for name, sep, value in (item.partition("=") for item in parts.query.split("&") if item)
    )
    return f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "")


class SettingsError(Exception):
    """A setting is missing or wrong; the message is one line naming it."""


def load_settings(**overrides: Any) -> Settings:
    """Read the settings, turning pydantic's report into one line that names the setting."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "DEFINUM_" + str(first["loc"][0]).upper() if first["loc"] else "settings"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise SettingsError(f"{name}: {message}") from None
