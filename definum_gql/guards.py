"""HTTP guards in front of both doors: request bodies capped while they stream, and the client
address kept out of the hands of any server in front that rewrites it from forwarding headers.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("definum_gql")

#: The peer when an outer server replaced it from X-Forwarded-For: no address matches it.
UNKNOWN_PEER = "unknown"


class BodyTooLarge(Exception):
    """The request body passed its door's limit; raised from ``receive`` while it streams."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body larger than {limit} bytes")
        self.limit = limit


@dataclass(frozen=True)
class Answer:
    """A complete HTTP answer: status, headers and body."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


@dataclass(frozen=True)
class BodyRule:
    """Requests whose path starts with ``prefix`` carry at most ``limit`` bytes of body;
    ``refuse`` words the refusal in the door's own shape."""

    prefix: str
    limit: int
    refuse: Callable[[Scope, int], Answer]


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


class BodyLimit:
    """Refuses a declared ``Content-Length`` over the limit before the app runs, and stops a
    body without one (chunked) as soon as it passes the limit: nothing big is ever held."""

    def __init__(self, app: ASGIApp, rules: list[BodyRule]) -> None:
        self.app = app
        self.rules = rules

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

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > rule.limit:
                    raise BodyTooLarge(rule.limit)
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

    @staticmethod
    async def _send(answer: Answer, send: Send) -> None:
        # No "Connection: close": uvicorn then reads and drops the rest of the body until its
        # keep-alive timeout, so the client gets to read this answer (closing at once would
        # reset the connection under a client still sending, and lose the answer).
        headers = [*answer.headers, (b"content-length", str(len(answer.body)).encode())]
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
