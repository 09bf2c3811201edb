"""Liveness and readiness: what a load balancer or an orchestrator asks before sending traffic."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from definum_gql.moodle.probe import missing_tables
from definum_gql.moodle.site import DatabaseReadError, DatabaseUnavailable, Moodle

#: How long the database may take to answer the readiness check.
READY_TIMEOUT_SECONDS = 2.0
#: The tables without which no request can be answered (the prefix is the site's).
REQUIRED_TABLES = ("config", "user", "external_tokens", "logstore_standard_log")


@dataclass(frozen=True)
class Readiness:
    ready: bool
    reason: str


async def readiness(moodle: Moodle, bound: float = READY_TIMEOUT_SECONDS) -> Readiness:
    """Whether the database answers within ``bound`` seconds and holds Moodle's tables.

    Asked anew each time (no cache), so it turns ready by itself when the database comes back.
    """
    prefix = moodle.settings.table_prefix
    try:
        async with asyncio.timeout(bound):
            async with moodle.db.reader() as reader:
                missing = await missing_tables(reader, prefix, REQUIRED_TABLES)
    except TimeoutError:
        return Readiness(False, f"the database did not answer within {bound:g} s")
    except DatabaseUnavailable as exc:
        return Readiness(False, f"the database is unavailable: {exc}")
    except DatabaseReadError as exc:
        return Readiness(False, f"the database refused the check: {exc}")
    if missing:
        return Readiness(
            False, f"Moodle tables missing with prefix {prefix!r}: {', '.join(missing)}"
        )
    return Readiness(True, "ok")
