"""Serving the app under uvicorn, with what every way of serving it must agree on.

- Only ``DEFINUM_TRUSTED_PROXIES`` decides whose ``X-Forwarded-For`` counts (auth/addresses.py),
  so uvicorn's own proxy-header handling is off: left on, it believes any header sent from
  127.0.0.1 and rewrites the client address before the app sees the real peer.
- No access log line holds a secret: the query string's ``wstoken`` (and the like) is redacted.
- No connection is held for ever by a client that stops or trickles. uvicorn bounds only the idle
  time between two requests (``timeout_keep_alive``); nothing bounds a connection that never
  sends a byte, a head that never ends (its size neither: httptools takes any number of header
  bytes), or the rest of a body the app did not read. protocol.BoundedProtocol adds those; the
  body the app reads is bounded by guards.BodyLimit, which answers 408 in the door's shape.
- A served process keeps what it built at start-up out of the garbage collector's reach
  (:func:`settle_gc`).
"""

from __future__ import annotations

import functools
import gc
import logging
import re
from typing import Any

from definum_gql.config import Settings

#: The most bytes a request's head (request line and headers) may hold: 64 KiB (Apache refuses
#: a request line over 8 KiB, nginx a header line over 8 KiB).
MAX_HEAD = 64 * 1024
#: How long SIGTERM waits for requests in flight before closing them: below systemd's
#: TimeoutStopSec (30 s in deploy/definum-gql.service), after which it would SIGKILL.
GRACEFUL_SHUTDOWN_SECONDS = 25

# Query parameters that carry a secret, in any case (Moodle's, OAuth's and the usual suspects).
SECRET_PARAMETERS = frozenset(
    {"wstoken", "token", "privatetoken", "password", "passwd", "secret", "access_token", "key"}
)
_PARAMETER = re.compile(r"(?P<lead>[?&;])(?P<name>[^=&;#]*)=(?P<value>[^&;#]*)")


def redact_target(target: str) -> str:
    """``target`` (a path with its query string) with the value of every secret parameter hidden.

    Names are compared after percent-decoding, so ``%77stoken=…`` is caught too.
    """
    if "?" not in target:
        return target
    from urllib.parse import unquote_plus

    path, _, query = target.partition("?")

    def hide(match: re.Match[str]) -> str:
        name = unquote_plus(match["name"]).strip().lower()
        # PHP reads ``wstoken[]=…`` and ``wstoken[a]=…`` as the same parameter.
        if name.partition("[")[0] in SECRET_PARAMETERS:
            return f"{match['lead']}{match['name']}=***"
        return match[0]

    return path + _PARAMETER.sub(hide, "?" + query)


class RedactSecrets(logging.Filter):
    """Hides secrets in uvicorn's access lines (its arguments hold the path with the query)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(
                redact_target(arg) if isinstance(arg, str) and "?" in arg else arg
                for arg in record.args
            )
        return True


def install_log_redaction() -> None:
    """Attach the filter to uvicorn's access logger (once), whoever serves the app."""
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactSecrets) for f in access.filters):
        access.addFilter(RedactSecrets())


def bounded_protocol(settings: Settings) -> Any:
    """uvicorn's ``http`` option: protocol.BoundedProtocol with the settings' client timeout (a
    picklable partial: ``--workers`` start it anew in each worker)."""
    from definum_gql.protocol import BoundedProtocol

    return functools.partial(
        BoundedProtocol, client_timeout=settings.client_timeout, max_head=MAX_HEAD
    )


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """What ``serve`` gives uvicorn, with one worker or many."""
    return {
        "host": settings.host,
        "port": settings.port,
        "log_level": "info",
        # Only DEFINUM_TRUSTED_PROXIES decides (auth/addresses.py client_address).
        "proxy_headers": False,
        "forwarded_allow_ips": "",
        "server_header": False,
        # definum_gql.observe writes one line per request (request id, SQL count, ...).
        "access_log": False,
        # Deadlines on what clients send (BoundedProtocol, guards.BodyLimit) and on idling.
        "http": bounded_protocol(settings),
        "timeout_keep_alive": settings.keep_alive_timeout,
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_SECONDS,
    }


#: The young generation's collection threshold in served processes (CPython's default: 700).
GC_YOUNG_THRESHOLD = 20_000


def settle_gc() -> None:
    """Once the app is built: freeze what start-up made (modules, the GraphQL schema, compiled
    statements) and collect the young generation less often.

    Requests make few reference cycles, but a full collection walks every object the process
    holds: 60-110 ms for a started worker's ~100,000 objects on the 2-CPU machines of
    BENCHMARKS.md, met once or twice by a 500-learner GraphQL page. Frozen objects are never
    walked again; what requests leave behind is still collected.
    """
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)


def run(settings: Settings, workers: int = 1) -> None:
    """Serve until stopped: the app built here (one worker) or by each worker's factory."""
    import uvicorn

    if settings.metrics != "off":
        _share_metrics(settings)
    options = uvicorn_options(settings)
    if workers > 1:
        uvicorn.run("definum_gql.app:app_from_env", factory=True, workers=workers, **options)
        return
    from definum_gql.app import create_app

    app = create_app(settings)
    settle_gc()
    uvicorn.run(app, **options)


def _share_metrics(settings: Settings) -> None:
    """One metrics directory for this run's workers (prometheus-client multiprocess mode), and
    the separate listener when ``DEFINUM_METRICS`` is a port."""
    import atexit
    import os
    import shutil
    import tempfile

    directory = tempfile.mkdtemp(prefix="definum-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    port = settings.metrics_port()
    if port is not None:
        from prometheus_client import start_http_server

        from definum_gql.metrics import registry

        start_http_server(port, addr="127.0.0.1", registry=registry())
