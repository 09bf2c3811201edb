"""Settings: one object, read once from the environment (``DEFINUM_*``), ``.env`` or a TOML file."""

from __future__ import annotations

import json
import os
import re
import tomllib
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from definum_gql.stats.strings import LANGS

SUPPORTED_DRIVERS = ("postgresql+asyncpg", "mysql+asyncmy", "mysql+aiomysql", "sqlite+aiosqlite")


class AuthMode(StrEnum):
    on = "on"
    off = "off"


#: The configuration file read when ``DEFINUM_CONFIG_FILE`` is not set (absent: no file).
DEFAULT_CONFIG_FILE = "definum.toml"
#: A list setting is a JSON list in the environment (``["a", "b"]``); pydantic-settings' own
#: decoding is off so that a value that is not JSON gets our one-line message, not a traceback.
JsonList = Annotated[list[str], NoDecode]
#: Moodle's external service shortnames (PARAM_ALPHANUMEXT).
_SHORTNAME = re.compile(r"[A-Za-z0-9_-]{1,255}")
_HOSTNAME = re.compile(
    r"(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?"
)


def config_file() -> tuple[Path | None, bool]:
    """The configuration file's path and whether it was named explicitly.

    ``DEFINUM_CONFIG_FILE`` names it (it must then exist; set it empty for no file at all);
    otherwise ``definum.toml`` in the working directory is read when present.
    """
    named = os.environ.get("DEFINUM_CONFIG_FILE")
    if named is None:
        return Path(DEFAULT_CONFIG_FILE), False
    if named.strip() == "":
        return None, True
    return Path(named), True


def read_config_file() -> tuple[Path | None, dict[str, Any]]:
    """The TOML file's settings, checked for syntax and unknown keys (one-line errors)."""
    path, explicit = config_file()
    if path is None:
        return None, {}
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        if not explicit:
            return None, {}
        raise SettingsError(f"DEFINUM_CONFIG_FILE: no such file: {path}") from None
    except OSError as exc:
        raise SettingsError(f"DEFINUM_CONFIG_FILE: cannot read {path}: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise SettingsError(f"DEFINUM_CONFIG_FILE: {path} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"DEFINUM_CONFIG_FILE: {path} is not valid TOML: {exc}") from None
    for key in data:
        if key not in Settings.model_fields:
            hint = key.lower().removeprefix("definum_")
            known = (
                f" (write {hint!r}: keys are lower case, without DEFINUM_)"
                if hint in Settings.model_fields
                else " (keys are the settings' names in lower case without DEFINUM_,"
                " e.g. table_prefix)"
            )
            raise SettingsError(f"DEFINUM_CONFIG_FILE: unknown setting {key!r} in {path}{known}")
    return path, data


def valid_subnet(entry: str) -> bool:
    """Whether ``entry`` is one of the forms Moodle's ``address_in_subnet`` matches: an exact
    address, ``a.b.c.d/n`` (CIDR), ``a.b.c.d-e`` (a range of the last group) or a prefix
    ``a.b.`` (IPv6: the same four forms)."""
    from definum_gql.auth.addresses import clean_address

    entry = entry.strip()
    if entry == "" or "," in entry:
        return False
    if "/" in entry:
        address, _, mask = entry.partition("/")
        ip = clean_address(address)
        if ip is None or not re.fullmatch(r"0|[1-9][0-9]{0,2}", mask):
            return False
        return int(mask) <= (128 if ":" in ip else 32)
    if "-" in entry:
        start, _, end = entry.partition("-")
        ip = clean_address(start)
        if ip is None:
            return False
        if ":" in ip:
            groups = ip.split(":")
            return bool(re.fullmatch(r"[0-9a-fA-F]{1,4}", end)) and int(groups[-1], 16) <= int(
                end, 16
            )
        last = int(ip.split(".")[-1])
        return bool(re.fullmatch(r"[0-9]{1,3}", end)) and last <= int(end) <= 255
    if clean_address(entry) is not None:
        return True
    if ":" in entry:
        groups = entry.rstrip(":").split(":")
        return 0 < len(groups) < 8 and all(re.fullmatch(r"[0-9a-fA-F]{1,4}", g) for g in groups)
    octets = entry.removesuffix(".").split(".")
    return 0 < len(octets) < 4 and all(
        re.fullmatch(r"[0-9]{1,3}", o) and int(o) <= 255 for o in octets
    )


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
    self_services: JsonList = Field(
        default_factory=list,
        description="Other services' shortnames (e.g. moodle_mobile_app) whose tokens GraphQL"
        " accepts to read their owner only.",
    )
    host: str = Field(default="127.0.0.1", description="Address (or host name) to listen on.")
    port: int = Field(default=8000, ge=1, le=65535)
    auth: AuthMode = Field(default=AuthMode.on, description="'off' only for the demo.")
    debug: bool = Field(default=False, description="Adds Moodle's debuginfo to REST errors.")
    trusted_proxies: JsonList = Field(
        default_factory=list,
        description="Addresses or subnets (Moodle's address_in_subnet forms) whose"
        " X-Forwarded-For is believed.",
    )
    cors_origins: JsonList = Field(
        default_factory=list, description="Browser origins allowed to call /graphql ('*': any)."
    )
    moodle_url: str | None = Field(
        default=None, description="Real Moodle to forward other web service functions to."
    )
    pool_size: int = Field(default=10, ge=1, le=200)
    statement_timeout_ms: int = Field(
        default=10_000,
        ge=0,
        description="Longest a single SQL statement may run, in milliseconds (PostgreSQL"
        " statement_timeout, MariaDB max_statement_time); 0: no limit.",
    )
    max_rest_body: int = Field(
        default=8 * 1024 * 1024, ge=1024, description="Bytes a REST request body may hold."
    )
    max_graphql_body: int = Field(
        default=1024 * 1024, ge=1024, description="Bytes a GraphQL request body may hold."
    )
    site_cache_seconds: float = Field(default=30.0, ge=0)
    client_timeout: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="Seconds a client may take to send a request's head (from connecting, or from"
        " its first byte) and, separately, its body; then HTTP 408 and the connection is closed.",
    )
    keep_alive_timeout: int = Field(
        default=5,
        ge=1,
        le=3600,
        description="Seconds an idle keep-alive connection is kept open between two requests.",
    )
    metrics: str = Field(
        default="off",
        description="Prometheus metrics: 'off', 'on' (/metrics on the service's port) or a port"
        " number (served on 127.0.0.1 at that port, apart from the service).",
    )
    log_format: str = Field(
        default="auto",
        description="Request log lines: 'json', 'text', or 'auto' (JSON unless stdout is a"
        " terminal).",
    )
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
    max_cost: int = Field(
        default=50_000,
        ge=1,
        description="Largest cost of a GraphQL query (fields × list sizes), worked out before it"
        " runs.",
    )
    max_search_words: int = Field(
        default=10, ge=1, description="Words a GraphQL search filter may hold."
    )
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
    read_ahead_learners: int = Field(
        default=10_000,
        ge=0,
        description="When a request computes a closed month for 100 learners or more, the"
        " learners that follow them in id order, up to this many, are computed in the background"
        " into the month cache (0: never).",
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
        _, data = read_config_file()
        toml = InitSettingsSource(settings_cls, init_kwargs=data)
        return (init_settings, env_settings, dotenv_settings, toml)

    @field_validator("self_services", "trusted_proxies", "cors_origins", mode="before")
    @classmethod
    def _json_list(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        if value.strip() == "":
            return []
        example = ' (a JSON list, e.g. ["a", "b"])'
        try:
            decoded = json.loads(value)
        except ValueError:
            raise ValueError(f"not JSON: {value!r}{example}") from None
        if not isinstance(decoded, list):
            raise ValueError(f"not a list: {value!r}{example}")
        return decoded

    @field_validator("service")
    @classmethod
    def _check_service(cls, value: str) -> str:
        if not _SHORTNAME.fullmatch(value):
            raise ValueError(f"{value!r} is not a service shortname (letters, digits, '_' and '-')")
        return value

    @field_validator("metrics")
    @classmethod
    def _check_metrics(cls, value: str) -> str:
        value = value.strip().lower()
        if value in ("off", "on") or (value.isdigit() and 1 <= int(value) <= 65535):
            return value
        raise ValueError(f"{value!r}: use 'off', 'on' or a port number")

    @field_validator("log_format")
    @classmethod
    def _check_log_format(cls, value: str) -> str:
        value = value.strip().lower()
        if value not in ("auto", "json", "text"):
            raise ValueError(f"{value!r}: use 'auto', 'json' or 'text'")
        return value

    def metrics_port(self) -> int | None:
        """The separate port metrics are served on, if one is set."""
        return int(self.metrics) if self.metrics.isdigit() else None

    @field_validator("self_services")
    @classmethod
    def _check_services(cls, value: list[str]) -> list[str]:
        for name in value:
            if not _SHORTNAME.fullmatch(name):
                raise ValueError(
                    f"{name!r} is not a service shortname (letters, digits, '_' and '-')"
                )
        return value

    @field_validator("host")
    @classmethod
    def _check_host(cls, value: str) -> str:
        import ipaddress

        try:
            ipaddress.ip_address(value)
        except ValueError:
            if not _HOSTNAME.fullmatch(value):
                raise ValueError(
                    f"{value!r} is not an address or host name (e.g. 127.0.0.1, 0.0.0.0, ::)"
                ) from None
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _check_proxies(cls, value: list[str]) -> list[str]:
        for entry in value:
            if not valid_subnet(entry):
                raise ValueError(
                    f"{entry!r} is not an address or subnet (1.2.3.4, 10.0.0.0/8,"
                    " 10.0.0.1-20, 10.0. or the IPv6 forms)"
                )
        return value

    @field_validator("cors_origins")
    @classmethod
    def _check_origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            if origin != "*" and not re.fullmatch(r"https?://[^/\s?#]+", origin):
                raise ValueError(
                    f"{origin!r} is not an origin (scheme://host[:port], no path or trailing"
                    " '/'; \"*\" for any)"
                )
        return value

    @field_validator("moodle_url")
    @classmethod
    def _check_moodle_url(cls, value: str | None) -> str | None:
        from urllib.parse import urlsplit

        if value is None or value == "":
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"{value!r} is not an http(s) URL (e.g. https://moodle.example.org)")
        return value

    @field_validator("database_url")
    @classmethod
    def _check_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or value.get_secret_value().strip() == "":
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
            data["database_url"] = mask_database_url(self.url())
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
        f"{name}=***"
        if name.lower() in ("password", "passwd")
        else f"{name}={value}"
        if sep
        else name
        for name, sep, value in (item.partition("=") for item in parts.query.split("&") if item)
    )
    return f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "")


def mask_database_url(url: str) -> str:
    """A SQLAlchemy URL fit to print: its password (after ``user:`` or in the query) hidden."""
    try:
        shown = make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        shown = url
    return mask_url_password(shown)


class SettingsError(Exception):
    """A setting is missing or wrong; the message is one line naming it.

    ``field`` is the Settings field at fault, when it is one (the CLI names its own flag then).
    """

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field
        self.message = message.partition(": ")[2] if field else message


def load_settings(**overrides: Any) -> Settings:
    """Read the settings, turning pydantic's report into one line that names the setting."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else None
        name = "DEFINUM_" + field.upper() if field else "settings"
        message = " ".join(str(first["msg"]).removeprefix("Value error, ").split())
        if field and field not in overrides and field.upper() not in _environment_names():
            path, data = read_config_file()
            if field in data:
                message += f" (in {path})"
        raise SettingsError(f"{name}: {message}", field) from None


def _environment_names() -> set[str]:
    return {
        k.upper().removeprefix("DEFINUM_") for k in os.environ if k.upper().startswith("DEFINUM_")
    }
