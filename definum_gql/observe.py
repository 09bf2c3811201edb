"""What each request did, told once: a structured log line, Prometheus metrics, ``X-Request-Id``.

One :class:`Exchange` per HTTP request lives in a context variable; the reader adds its
statements and database time, the doors add the token row id, the learner and the error code.
The middleware writes the line and the metrics when the answer has gone out.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from definum_gql.server import redact_target

if TYPE_CHECKING:
    from definum_gql import metrics

log = logging.getLogger("definum_gql.access")


@dataclass
class Exchange:
    """One request, as the log line and the metrics tell it."""

    request_id: str
    door: str
    method: str
    target: str
    client: str
    started: float
    status: int = 0
    statements: int = 0
    db_seconds: float = 0.0
    token_id: int | None = None
    #: The learner answered about (user id), when one was looked up.
    learner: int | None = None
    error: str | None = None
    operation: str | None = None
    fmt: str | None = None
    #: The token check's cache result ("hit"/"miss") and refusal reason, when one ran.
    token_cache: str | None = None
    refusal: str | None = None
    month_hits: int = 0
    month_misses: int = 0

    def line(self, duration: float) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "request_id": self.request_id,
            "door": self.door,
            "method": self.method,
            "target": self.target,
            "status": self.status,
            "duration_ms": round(duration * 1000, 2),
            "sql": self.statements,
            "db_ms": round(self.db_seconds * 1000, 2),
            "client": self.client,
        }
        for name in ("token_id", "learner", "error", "operation", "fmt", "refusal"):
            value = getattr(self, name)
            if value is not None:
                fields[name] = value
        if self.month_hits or self.month_misses:
            fields["month_cache"] = {"hits": self.month_hits, "misses": self.month_misses}
        return fields


CURRENT: ContextVar[Exchange | None] = ContextVar("definum_exchange", default=None)


def current() -> Exchange | None:
    """The request being answered, if any (statistics also run from the command line)."""
    return CURRENT.get()


def count_statement(seconds: float) -> None:
    exchange = CURRENT.get()
    if exchange is not None:
        exchange.statements += 1
        exchange.db_seconds += seconds


def count_month_cache(hits: int, misses: int) -> None:
    exchange = CURRENT.get()
    if exchange is not None:
        exchange.month_hits += hits
        exchange.month_misses += misses


#: Set by definum_gql.metrics when metrics are on: told of each pool checkout (+1) and return.
POOL_HOOK: list[Callable[[int], None]] = []


def pool_in_use(delta: int) -> None:
    for hook in POOL_HOOK:
        hook(delta)


def door_of(path: str) -> str:
    if path.startswith("/graphql"):
        return "graphql"
    if path.startswith("/webservice/"):
        return "rest"
    return "http"


class JsonLines(logging.Formatter):
    """One JSON object per line: what log collectors read."""

    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", None)
        base = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        if isinstance(fields, dict):
            base.update(fields)
        else:
            base["message"] = record.getMessage()
        if record.exc_info:
            base["exception"] = self.formatException(record.exc_info)
        return json.dumps(base, ensure_ascii=False)


class ReadableLines(logging.Formatter):
    """The same fields for a person at a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", None)
        if not isinstance(fields, dict):
            return super().format(record)
        rest = " ".join(
            f"{k}={v}"
            for k, v in fields.items()
            if k not in ("method", "target", "status", "duration_ms", "request_id")
        )
        return (
            f"{fields['request_id']} {fields['method']} {fields['target']} {fields['status']}"
            f" {fields['duration_ms']} ms {rest}"
        )


JsonLines.converter = time.gmtime


def install_logging(json_lines: bool | None = None) -> None:
    """Our loggers write to stdout: JSON lines unless stdout is a terminal. Once per process."""
    root = logging.getLogger("definum_gql")
    if any(getattr(h, "definum", False) for h in root.handlers):
        return
    if json_lines is None:
        json_lines = not sys.stdout.isatty()
    handler = logging.StreamHandler(sys.stdout)
    handler.definum = True  # type: ignore[attr-defined]
    handler.setFormatter(JsonLines() if json_lines else ReadableLines("%(levelname)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    root.propagate = False


class Observe:
    """Pure ASGI middleware (contextvars reach the app; Starlette's BaseHTTPMiddleware would not
    share the exchange with the endpoint's task)."""

    def __init__(self, app: ASGIApp, recorder: metrics.Recorder | None = None) -> None:
        self.app = app
        self.recorder = recorder

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query = scope.get("query_string", b"").decode("latin-1")
        path = scope["path"]
        client = scope.get("client")
        exchange = Exchange(
            request_id=uuid.uuid4().hex[:16],
            door=door_of(path),
            method=scope["method"],
            target=redact_target(f"{path}?{query}" if query else path),
            client=client[0] if client else "",
            started=time.perf_counter(),
        )
        token = CURRENT.set(exchange)
        header = (b"x-request-id", exchange.request_id.encode())
        done = False

        def finish() -> None:
            nonlocal done
            if done:
                return
            done = True
            duration = time.perf_counter() - exchange.started
            if exchange.status == 0:
                exchange.status = 500  # the server answers for an app that did not
            if exchange.door != "http" or exchange.status >= 400:
                log.info("request", extra={"fields": exchange.line(duration)})
            if self.recorder is not None and path != "/metrics":
                self.recorder.observe(exchange, duration)

        async def tagged(message: Message) -> None:
            if message["type"] == "http.response.start":
                exchange.status = message["status"]
                message = {**message, "headers": [*message.get("headers", []), header]}
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                # Told before the last byte goes out: whatever the client does next (a scrape of
                # /metrics, reading the log) already sees this request.
                finish()
            await send(message)

        try:
            await self.app(scope, receive, tagged)
        finally:
            CURRENT.reset(token)
            finish()


def metrics_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR")
