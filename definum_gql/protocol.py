"""uvicorn's HTTP protocol with deadlines on what clients send (see server.py).

Imported only when serving (uvicorn's protocol modules are not small).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

_STATUS = {408: b"408 Request Timeout", 431: b"431 Request Header Fields Too Large"}


class BoundedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with deadlines on what the client sends.

    - The head (request line and headers) must be whole within ``client_timeout`` seconds of
      the connection opening (first request) or of its first byte (later ones), and hold at most
      ``max_head`` bytes: else 408 (431) and the connection is closed. A connection that never
      sent a byte is closed without an answer.
    - The body must be whole within ``client_timeout`` (plus a second, so that
      guards.BodyLimit's door-shaped 408 comes first) of the head: past that, a body the app did
      not read (its answer already sent) is no longer waited for and the connection is closed;
      while the app still works, the connection closes after its answer.

    Made with server.bounded_protocol (a picklable partial: ``--workers`` start it anew).
    """

    def __init__(self, *args: Any, client_timeout: float, max_head: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.client_timeout = client_timeout
        self.max_head = max_head
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        #: Reading a head (or waiting for one), and its bytes so far.
        self._in_head = True
        self._head_bytes = 0

    # -- connection ---------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._in_head and not self.transport.is_closing():
            self._head_bytes += len(data)
            if self._head_bytes > self.max_head:
                self._refuse(431, b"Request head too large.\n")

    # -- parser callbacks ---------------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._arm_head()

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        self._cancel(self._head_timer)
        self._head_timer = None
        super().on_headers_complete()
        self._cancel(self._body_timer)
        self._body_timer = self.loop.call_later(self.client_timeout + 1, self._body_late)

    def on_message_complete(self) -> None:
        self._cancel(self._body_timer)
        self._body_timer = None
        super().on_message_complete()

    # -- deadlines ----------------------------------------------------------------------------

    def _arm_head(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.client_timeout, self._head_late)

    def _head_late(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or not self._in_head:
            return
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            # A pipelined head behind a request still being answered: its turn has not come.
            self._arm_head()
            return
        if self._head_bytes == 0 and cycle is None:
            self.transport.close()  # connected, never said a word
            return
        self._refuse(408, b"Request head not received in time.\n")

    def _body_late(self) -> None:
        self._body_timer = None
        cycle = self.cycle
        if self.transport.is_closing() or cycle is None:
            return
        if cycle.response_complete:
            self.transport.close()  # answered; the rest of the body is not worth waiting for
        else:
            cycle.keep_alive = False  # closed once the app has answered

    def _refuse(self, status: int, message: bytes) -> None:
        self._cancel_timers()
        head = b"HTTP/1.1 %s\r\n" % _STATUS[status]
        self.transport.write(
            head + b"content-type: text/plain; charset=utf-8\r\nconnection: close\r\n"
            b"content-length: %d\r\n\r\n%s" % (len(message), message)
        )
        self.transport.close()

    def _cancel_timers(self) -> None:
        self._cancel(self._head_timer)
        self._cancel(self._body_timer)
        self._head_timer = self._body_timer = None

    @staticmethod
    def _cancel(timer: asyncio.TimerHandle | None) -> None:
        if timer is not None:
            timer.cancel()
