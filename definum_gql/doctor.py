"""``definum-gql doctor``: is this Moodle site set up well for definum-gql?

Every check only reads (SELECT and SHOW through the read-only reader). A check's outcome is ``ok``,
``warn`` (works, could be better: the fix is printed) or ``fail`` (blocking: exit code 1).
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url

from definum_gql.auth.tokens import FUNCTION
from definum_gql.config import Settings
from definum_gql.moodle.probe import missing_tables, prefixes
from definum_gql.moodle.reader import Reader
from definum_gql.moodle.site import (
    DatabaseReadError,
    DatabaseUnavailable,
    Moodle,
    log_indexed_by_learner,
    table_exists,
)

#: Tables without which nothing can be answered.
CORE_TABLES = (
    "config",
    "user",
    "external_tokens",
    "external_services",
    "logstore_standard_log",
    "user_enrolments",
    "enrol",
    "course",
)
#: How far the database's clock may be from ours before "this month" and expiry checks drift.
SKEW_WARN_SECONDS = 60
INDEX_NAME = "definum_logsstanlog_usetim_ix"


class Status(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"


@dataclass
class Finding:
    check: str
    status: Status
    summary: str
    fix: list[str] = field(default_factory=list)


@dataclass
class Report:
    database: str
    findings: list[Finding] = field(default_factory=list)

    @property
    def blocking(self) -> bool:
        return any(f.status is Status.FAIL for f in self.findings)

    def add(self, check: str, status: Status, summary: str, fix: list[str] | None = None) -> None:
        self.findings.append(Finding(check, status, summary, fix or []))


async def _scalar(reader: Reader, sql: str, **params: Any) -> Any:
    rows = await reader.execute(text(sql).bindparams(**params))
    return rows[0][0] if rows else None


async def examine(moodle: Moodle, now: Callable[[], float] = time.time) -> Report:
    """Run every check on ``moodle``'s database; stops after the first blocking one."""
    settings = moodle.settings
    url = make_url(settings.url()).render_as_string(hide_password=True)
    report = Report(url)
    prefix = settings.table_prefix
    try:
        async with moodle.db.reader() as reader:
            await _scalar(reader, "SELECT 1")
            report.add("connection", Status.OK, f"connected to {url}")
            missing = await missing_tables(reader, prefix, CORE_TABLES)
            if missing:
                others = [p for p in await prefixes(reader) if p != prefix]
                hint = f" (the database has a site with prefix {others[0]!r})" if others else ""
                report.add(
                    "tables",
                    Status.FAIL,
                    f"no Moodle tables with prefix {prefix!r}: missing {', '.join(missing)}{hint}",
                    ["set DEFINUM_TABLE_PREFIX to Moodle's $CFG->prefix (config.php)"],
                )
                return report
            report.add("tables", Status.OK, f"Moodle's tables found with prefix {prefix!r}")
            checks: list[Callable[[Report, Reader, Settings], Awaitable[None]]] = [
                _version,
                _read_only,
                _service,
                _oidc,
                _use_stats,
                _log_size,
                _index,
            ]
            for check in checks:
                await check(report, reader, settings)
            await _clock(report, reader, now)
    except DatabaseUnavailable as exc:
        report.add("connection", Status.FAIL, f"cannot connect to {url}: {exc}")
    except DatabaseReadError as exc:
        report.add("database", Status.FAIL, f"the database refused a check: {exc}")
    return report


async def _version(report: Report, reader: Reader, settings: Settings) -> None:
    prefix = settings.table_prefix
    sql = f"SELECT name, value FROM {prefix}config WHERE name IN ('version', 'release')"
    values = {str(n): str(v) for n, v in await reader.execute(text(sql))}
    version = values.get("version", "")
    if not version:
        report.add("moodle", Status.FAIL, "config has no 'version': not an installed Moodle site")
        return
    release = values.get("release", "unknown release")
    # definum-gql follows Moodle 4.1's tables (contract); older sites lack some of them.
    if version[:8].isdigit() and int(version[:8]) < 20221128:
        report.add(
            "moodle",
            Status.WARN,
            f"Moodle {release} (version {version}): older than 4.1, which the numbers follow",
        )
    else:
        report.add("moodle", Status.OK, f"Moodle {release} (version {version})")


async def _read_only(report: Report, reader: Reader, settings: Settings) -> None:
    prefix = settings.table_prefix
    backend = reader.database.backend
    table = prefix + "user"
    if backend == "postgresql":
        writable = await _scalar(
            reader,
            "SELECT has_table_privilege(current_user, CAST(:t AS regclass),"
            " 'INSERT,UPDATE,DELETE,TRUNCATE')",
            t=table,
        )
        user = await _scalar(reader, "SELECT current_user")
        fix = [
            f"REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA public FROM {user};",
            "-- or better, a reader account (README: Pointing it at a real Moodle)",
        ]
    elif backend == "mysql":
        grants = [str(r[0]) for r in await reader.execute(text("SHOW GRANTS"))]
        pattern = re.compile(r"GRANT (ALL PRIVILEGES|.*\b(INSERT|UPDATE|DELETE)\b)", re.I)
        writable = any(pattern.match(g) for g in grants)
        user = await _scalar(reader, "SELECT CURRENT_USER()")
        fix = [
            f"REVOKE ALL PRIVILEGES ON *.* FROM {user}; -- then:",
            f"GRANT SELECT ON <moodle database>.* TO {user};",
        ]
    else:
        report.add("account", Status.OK, "SQLite file opened read-only (mode=ro)")
        return
    if writable:
        report.add(
            "account",
            Status.WARN,
            f"the account {user} may write to Moodle's tables; definum-gql never does (read-only"
            " sessions and a statement guard), but an account that can only read is safer",
            fix,
        )
    else:
        report.add("account", Status.OK, f"the account {user} can only read")


async def _service(report: Report, reader: Reader, settings: Settings) -> None:
    """The services whose tokens definum_get_stats accepts (contract step 7): the one named by
    DEFINUM_SERVICE, and those offering the function; and the site's web service switch."""
    prefix = settings.table_prefix
    switch = await reader.execute(
        text(
            f"SELECT name, value FROM {prefix}config"
            " WHERE name IN ('enablewebservices', 'webserviceprotocols')"
        )
    )
    config = {str(n): str(v or "") for n, v in switch}
    protocols = [p.strip() for p in config.get("webserviceprotocols", "").split(",")]
    if config.get("enablewebservices", "0").strip() != "1" or "rest" not in protocols:
        report.add(
            "web services",
            Status.FAIL,
            "web services or the REST protocol are off: both doors refuse every call",
            [
                "Site administration > Advanced features: Enable web services;"
                " Server > Web services > Manage protocols: enable REST"
            ],
        )
    else:
        report.add("web services", Status.OK, "web services and the REST protocol are on")
    services = await reader.execute(
        text(
            f"SELECT s.id, s.name, s.enabled, s.restrictedusers FROM {prefix}external_services s"
            f" WHERE s.shortname = :short OR s.id IN (SELECT f.externalserviceid"
            f" FROM {prefix}external_services_functions f WHERE f.functionname = :function)"
            " ORDER BY s.id"
        ).bindparams(short=settings.service, function=FUNCTION)
    )
    if not services:
        report.add(
            "service",
            Status.FAIL,
            f"no external service offers {FUNCTION} or has the shortname {settings.service!r}:"
            " no token can be accepted",
            [
                "install local_definum, or give a service the shortname DEFINUM_SERVICE"
                " (Site administration > Server > Web services > External services)"
            ],
        )
        return
    usable_total = 0
    for service_id, name, enabled, restricted in services:
        usable = int(
            await _scalar(
                reader,
                f"SELECT COUNT(*) FROM {prefix}external_tokens WHERE externalserviceid = :s"
                " AND tokentype = 0 AND (validuntil IS NULL OR validuntil = 0"
                " OR validuntil >= :now)",
                s=int(service_id),
                now=int(time.time()),
            )
            or 0
        )
        state = "enabled" if int(enabled) else "disabled"
        restriction = ", restricted to listed users" if int(restricted) else ""
        report.add(
            "service",
            Status.OK,
            f"{name!r} (id {service_id}): {state}{restriction}, {usable} unexpired token(s)",
        )
        usable_total += usable if int(enabled) else 0
    if not usable_total:
        report.add(
            "tokens",
            Status.WARN,
            "no enabled service has an unexpired token: every call will be refused",
            ["Site administration > Server > Web services > Manage tokens: create one"],
        )


async def _oidc(report: Report, reader: Reader, settings: Settings) -> None:
    prefix = settings.table_prefix
    if await table_exists(reader, prefix + "auth_oidc_token"):
        report.add(
            "auth_oidc", Status.OK, "auth_oidc present: oidcuniqueid/oidcusername lookups work"
        )
    else:
        report.add(
            "auth_oidc",
            Status.OK,
            "auth_oidc absent: oidcuniqueid/oidcusername lookups answer 'no such user'",
        )


async def _use_stats(report: Report, reader: Reader, settings: Settings) -> None:
    prefix = settings.table_prefix
    rows = await reader.execute(
        text(
            f"SELECT name, value FROM {prefix}config_plugins WHERE plugin = 'block_use_stats'"
            " AND name IN ('threshold', 'lastpingcredit', 'enrolmentfilter')"
        )
    )
    if rows:
        found = ", ".join(sorted(f"{n}={v}" for n, v in rows))
        report.add("block_use_stats", Status.OK, f"settings found: {found}")
    else:
        report.add(
            "block_use_stats",
            Status.OK,
            "no block_use_stats settings: time spent uses DEFINUM_USE_STATS_* (60 min threshold,"
            " 15 min last-ping credit)",
        )


async def _log_size(report: Report, reader: Reader, settings: Settings) -> None:
    prefix = settings.table_prefix
    table = prefix + "logstore_standard_log"
    backend = reader.database.backend
    if backend == "postgresql":
        rows = await _scalar(
            reader, "SELECT reltuples::bigint FROM pg_class WHERE relname = :t", t=table
        )
    elif backend == "mysql":
        rows = await _scalar(
            reader,
            "SELECT table_rows FROM information_schema.tables"
            " WHERE table_schema = DATABASE() AND table_name = :t",
            t=table,
        )
    else:
        rows = await _scalar(reader, f"SELECT COUNT(*) FROM {table}")
    span = await reader.execute(text(f"SELECT MIN(timecreated), MAX(timecreated) FROM {table}"))
    first, last = span[0] if span else (None, None)
    days = (int(last) - int(first)) // 86400 + 1 if first is not None and last is not None else 0
    report.add("log", Status.OK, f"about {max(int(rows or 0), 0):,} log rows over {days:,} days")


async def _index(report: Report, reader: Reader, settings: Settings) -> None:
    table = settings.table_prefix + "logstore_standard_log"
    backend = reader.database.backend
    has = await log_indexed_by_learner(reader, table)
    if backend == "postgresql":
        create = (
            f"CREATE INDEX CONCURRENTLY {INDEX_NAME} ON {table}"
            " (userid, timecreated, id) INCLUDE (action, target, courseid, origin, realuserid);"
        )
    elif backend == "mysql":
        create = (
            f"CREATE INDEX {INDEX_NAME} ON {table}"
            " (userid, timecreated, id, action, target, courseid, origin, realuserid);"
        )
    else:
        create = f"CREATE INDEX {INDEX_NAME} ON {table} (userid, timecreated, id);"
    if has:
        report.add("index", Status.OK, "the log has an index on (userid, timecreated)")
    else:
        report.add(
            "index",
            Status.WARN,
            "no index on the log's (userid, timecreated): each learner's month is read through"
            " wider indexes and the table (measured on a 4.9 M-row log: 500 learners 1.32 s ->"
            " 0.32 s on PostgreSQL, 19 s -> 0.49 s on MariaDB; BENCHMARKS.md)",
            [create],
        )


async def _clock(report: Report, reader: Reader, now: Callable[[], float]) -> None:
    backend = reader.database.backend
    if backend == "postgresql":
        theirs = await _scalar(reader, "SELECT EXTRACT(EPOCH FROM clock_timestamp())")
    elif backend == "mysql":
        theirs = await _scalar(reader, "SELECT UNIX_TIMESTAMP(NOW(6))")
    else:
        report.add("clock", Status.OK, "SQLite: the database is this machine")
        return
    skew = float(theirs) - now()
    if abs(skew) > SKEW_WARN_SECONDS:
        report.add(
            "clock",
            Status.WARN,
            f"the database's clock is {skew:+.0f} s from this machine's: month boundaries and"
            " token expiry are decided by this machine's clock",
            ["synchronise both with NTP (timedatectl set-ntp true)"],
        )
    else:
        report.add("clock", Status.OK, f"clocks agree ({skew:+.1f} s)")


def render(report: Report) -> str:
    """The report for a terminal: one line per check, its fix indented below."""
    lines = [f"definum-gql doctor: {report.database}", ""]
    for finding in report.findings:
        lines.append(f"  {finding.status.value:<5} {finding.check:<16} {finding.summary}")
        lines.extend(f"        fix: {step}" for step in finding.fix)
    verdict = (
        "blocking problems: definum-gql cannot serve this site as it is"
        if report.blocking
        else "no blocking problem"
    )
    lines += ["", verdict]
    return "\n".join(lines) + "\n"
