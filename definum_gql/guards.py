"""HTTP guards in front of both doors: request bodies capped in size and in time while they
stream, and the client address kept out of the hands of any server in front that rewrites it from
forwarding headers.

The time a client may take to send a request's head is bounded below the app, in uvicorn's
protocol (server.py): the app only starts once the head is complete.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("definum_gql")

#: The peer when an outer server replaced it from X-Forwarded-For: no address matches it.
UNKNOWN_PEER = "unknown"


class BodyRefused(Exception):
    """The request body cannot be read (too large, too slow): raised from ``receive`` while it
    streams, and answered by :class:`BodyLimit` in the door's shape. The doors re-raise it."""


class BodyTooLarge(BodyRefused):
    """The request body passed its door's limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body larger than {limit} bytes")
        self.limit = limit


class BodyTimeout(BodyRefused):
    """The request body did not arrive within the client timeout (``DEFINUM_CLIENT_TIMEOUT``)."""

    def __init__(self, timeout: float) -> None:
        super().__init__(f"request body not received within {timeout:g} s")
        self.timeout = timeout


@dataclass(frozen=True)
class Answer:
    """A complete HTTP answer: status, headers and body."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


def plain_timeout(scope: Scope, timeout: float) -> Answer:
    """HTTP 408 in plain text, for a door without a shape of its own."""
    body = f"Request body not received within {timeout:g} s.\n".encode()
    return Answer(408, [(b"content-type", b"text/plain; charset=utf-8")], body)


@dataclass(frozen=True)
class BodyRule:
    """Requests whose path starts with ``prefix`` carry at most ``limit`` bytes of body;
    ``refuse`` words the refusal in the door's own shape, ``late`` the answer to a body that does
    not arrive in time (HTTP 408)."""

    prefix: str
    limit: int
    refuse: Callable[[Scope, int], Answer]
    late: Callable[[Scope, float], Answer] = plain_timeout


def graphql_too_large(scope: Scope, limit: int) -> Answer:
    body = {
        "errors": [
            {
                "message": f"The request body is larger than {limit} bytes.",
                "extensions": {"code": "BODY_TOO_LARGE"},
            }
        ]
    }
    return Answer(413, [(b"content-type", b"application/json")], json.dumps(body).encode())


def graphql_too_slow(scope: Scope, timeout: float) -> Answer:
    body = {
        "errors": [
            {
                "message": f"The request body did not arrive within {timeout:g} s.",
                "extensions": {"code": "REQUEST_TIMEOUT"},
            }
        ]
    }
    return Answer(408, [(b"content-type", b"application/json")], json.dumps(body).encode())


def _has_body(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"transfer-encoding" or (name == b"content-length" and value != b"0"):
            return True
    return False


class BodyLimit:
    """Refuses a declared ``Content-Length`` over the limit before the app runs, and stops a
    body without one (chunked) as soon as it passes the limit: nothing big is ever held.

    With a ``timeout``, a body must also arrive whole within that many seconds of the head
    (a client that stops or trickles would otherwise hold a request, and its database
    connection, for ever): the door then answers 408 and the connection is closed.
    """

    def __init__(self, app: ASGIApp, rules: list[BodyRule], timeout: float | None = None) -> None:
        self.app = app
        self.rules = rules
        self.timeout = timeout

    def _rule(self, path: str) -> BodyRule | None:
        return next((r for r in self.rules if path.startswith(r.prefix)), None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        rule = self._rule(scope["path"]) if scope["type"] == "http" else None
        if rule is None:
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and (not value.isdigit() or int(value) > rule.limit):
                await self._send(rule.refuse(scope, rule.limit), send)
                return
        received = 0
        started = False
        timeout = self.timeout
        # No deadline once the body is whole (receive() then waits for the client to leave).
        deadline = None
        if timeout is not None and _has_body(scope):
            deadline = asyncio.get_running_loop().time() + timeout

        async def counted() -> Message:
            nonlocal received, deadline
            if deadline is None:
                message = await receive()
            else:
                try:
                    async with asyncio.timeout_at(deadline):
                        message = await receive()
                except TimeoutError:
                    assert timeout is not None
                    raise BodyTimeout(timeout) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > rule.limit:
                    raise BodyTooLarge(rule.limit)
                if not message.get("more_body", False):
                    deadline = None
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except BodyTooLarge:
            if started:
                raise
            await self._send(rule.refuse(scope, rule.limit), send)
        except BodyTimeout as late:
            if started:
                raise
            log.info("%s %s: %s", scope["method"], scope["path"], late)
            await self._send(rule.late(scope, late.timeout), send, close=True)

    @staticmethod
    async def _send(answer: Answer, send: Send, close: bool = False) -> None:
        # Too large: no "Connection: close": uvicorn then reads and drops the rest of the body
        # (within the client timeout), so the client gets to read this answer (closing at once
        # would reset the connection under a client still sending, and lose the answer).
        # Too slow: closed, the client has stopped sending anyway.
        headers = [*answer.headers, (b"content-length", str(len(answer.body)).encode())]
        if close:
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": answer.body})


def _hops(scope: Scope) -> list[str]:
    values = [v.decode("latin-1") for k, v in scope["headers"] if k == b"x-forwarded-for"]
    return [h.strip() for h in ",".join(values).split(",") if h.strip()]


class ForwardedRewriteGuard:
    """Undoes trust that only ``DEFINUM_TRUSTED_PROXIES`` may give.

    ``definum-gql serve`` runs uvicorn with its proxy headers off. Served another way (uvicorn's or
    gunicorn's defaults), the server may already have replaced the peer by an X-Forwarded-For
    entry, and the real peer is lost; believing it would let any local caller pick its address
    for a token's IP restriction. Such a rewritten peer (port 0, or an entry of the header taken
    verbatim) becomes :data:`UNKNOWN_PEER`, which no restriction and no trusted proxy matches.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.warned = False

    def _rewritten(self, scope: Scope) -> bool:
        client = scope.get("client")
        if not client:
            return False
        hops = _hops(scope)
        if not hops:
            return False
        host, port = client[0], client[1]
        return port == 0 or f"{host}:{port}" in hops or f"[{host}]:{port}" in hops

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self._rewritten(scope):
            if not self.warned:
                self.warned = True
                log.warning(
                    "the server in front of the app rewrote the client address from "
                    "X-Forwarded-For; it is ignored (run `definum-gql serve`, or uvicorn with "
                    "--no-proxy-headers, and list proxies in DEFINUM_TRUSTED_PROXIES)"
                )
            scope = {**scope, "client": (UNKNOWN_PEER, 0)}
        await self.app(scope, receive, send)
