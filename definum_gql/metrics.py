"""Prometheus metrics (prometheus-client), one truth for every worker.

``definum-gql serve`` points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh directory before any worker
starts, so counters and histograms from all workers are summed at scrape time. Imported only when
metrics are on: prometheus-client reads that variable when it is first imported.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

from definum_gql.observe import POOL_HOOK, Exchange

LATENCY = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

REQUESTS = Counter(
    "definum_requests_total",
    "HTTP requests answered, by door, route, status and REST format.",
    ["door", "route", "status", "format"],
)
DURATION = Histogram(
    "definum_request_duration_seconds", "Time to answer a request.", ["door"], buckets=LATENCY
)
OPERATIONS = Counter(
    "definum_graphql_operations_total", "GraphQL operations by name.", ["operation"]
)
STATEMENTS = Histogram(
    "definum_sql_statements_per_request",
    "SQL statements one request sent.",
    ["door"],
    buckets=(0, 1, 2, 3, 5, 8, 13, 21, 50, 100),
)
DB_TIME = Histogram(
    "definum_database_seconds_per_request",
    "Time one request spent waiting for the database.",
    ["door"],
    buckets=LATENCY,
)
ERRORS = Counter(
    "definum_errors_total", "Answers carrying an error code, by door and code.", ["door", "code"]
)
MONTH_CACHE = Counter(
    "definum_month_cache_total", "Month statistics looked up in the cache.", ["result"]
)
TOKEN_CACHE = Counter("definum_token_cache_total", "Token checks by cache result.", ["result"])
REJECTIONS = Counter("definum_token_rejections_total", "Refused tokens by reason.", ["reason"])
POOL = Gauge(
    "definum_db_connections",
    "Database connections of the driver pools, by state.",
    ["state"],
    multiprocess_mode="livesum",
)

POOL_HOOK.append(POOL.labels("in_use").inc)


def route_of(path: str) -> str:
    # A bounded label set: paths outside ours all count as "other".
    for route in ("/graphql", "/webservice/rest/server.php", "/webservice/rest/openapi.json"):
        if path == route:
            return route
    return path if path in ("/", "/healthz", "/readyz", "/metrics") else "other"


#: Operation names are chosen by callers: past this many distinct ones a process counts the rest
#: as "other", so a caller cannot grow the metrics without bound.
MAX_OPERATIONS = 200


class Recorder:
    """Turns each finished :class:`Exchange` into metric updates."""

    def __init__(self) -> None:
        self.operations: set[str] = set()

    def _operation(self, name: str) -> str:
        if name in self.operations:
            return name
        if len(self.operations) < MAX_OPERATIONS:
            self.operations.add(name)
            return name
        return "other"

    def observe(self, exchange: Exchange, duration: float) -> None:
        route = route_of(exchange.target.partition("?")[0])
        REQUESTS.labels(exchange.door, route, str(exchange.status), exchange.fmt or "").inc()
        DURATION.labels(exchange.door).observe(duration)
        if exchange.door == "http":
            return
        STATEMENTS.labels(exchange.door).observe(exchange.statements)
        DB_TIME.labels(exchange.door).observe(exchange.db_seconds)
        if exchange.operation is not None:
            OPERATIONS.labels(self._operation(exchange.operation)).inc()
        if exchange.error is not None:
            ERRORS.labels(exchange.door, exchange.error).inc()
        if exchange.token_cache is not None:
            TOKEN_CACHE.labels(exchange.token_cache).inc()
        if exchange.refusal is not None:
            REJECTIONS.labels(exchange.refusal).inc()
        if exchange.month_hits:
            MONTH_CACHE.labels("hit").inc(exchange.month_hits)
        if exchange.month_misses:
            MONTH_CACHE.labels("miss").inc(exchange.month_misses)


def registry() -> CollectorRegistry:
    """What a scrape reads: every worker's files when multiprocess, else this process."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        collected = CollectorRegistry()
        MultiProcessCollector(collected)  # type: ignore[no-untyped-call]
        return collected
    from prometheus_client import REGISTRY

    return REGISTRY


def exposition() -> tuple[bytes, str]:
    return generate_latest(registry()), CONTENT_TYPE_LATEST
