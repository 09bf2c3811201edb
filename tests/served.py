"""A real ``definum-gql serve`` (or another server) in a subprocess, and raw HTTP over a socket."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

STARTED = b"Application startup complete"
LISTENING = b"Uvicorn running on"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Served:
    """A running server: its port and, once stopped, everything it wrote (stdout and stderr)."""

    port: int
    process: asyncio.subprocess.Process
    log: bytearray = field(default_factory=bytearray)


async def _read_until_started(served: Served, starts: int) -> None:
    assert served.process.stdout is not None
    # One worker starts its app, then listens; with several, the parent listens first.
    seen = 0
    listening = False
    while seen < starts or not listening:
        line = await served.process.stdout.readline()
        if not line:
            raise AssertionError(f"server exited before starting:\n{served.log.decode()}")
        served.log += line
        seen += line.count(STARTED)
        listening = listening or LISTENING in line


@asynccontextmanager
async def serving(
    env: dict[str, str], args: Sequence[str] = (), command: Sequence[str] | None = None
) -> AsyncIterator[Served]:
    """``definum-gql serve --port P *args`` (or ``command`` with ``{port}`` filled in) until the
    block ends; then SIGTERM, and everything it wrote is in ``served.log``."""
    port = free_port()
    if command is None:
        argv = [sys.executable, "-m", "definum_gql", "serve", "--port", str(port), *args]
    else:
        argv = [part.format(port=port) for part in command]
    workers = int(args[args.index("--workers") + 1]) if "--workers" in args else 1
    process = await asyncio.create_subprocess_exec(
        *argv,
        env={**os.environ, "DEFINUM_CONFIG_FILE": "", **env},
        # uvicorn's access lines go to stdout, the rest to stderr: one stream keeps their order.
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    served = Served(port, process)
    try:
        await asyncio.wait_for(_read_until_started(served, workers), 60)
        yield served
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        assert process.stdout is not None
        served.log += await asyncio.wait_for(process.stdout.read(), 30)
        await process.wait()


def peak_rss(pid: int) -> int:
    """The process's peak resident memory in bytes (Linux's VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


@dataclass
class RawAnswer:
    status: int
    headers: dict[str, str]
    body: bytes
    #: Body bytes the client got to send before the answer came (chunked uploads).
    sent: int = 0


def _parse(raw: bytes, sent: int = 0) -> RawAnswer:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding") == "chunked":
        decoded = bytearray()
        while body:
            size_line, _, body = body.partition(b"\r\n")
            size = int(size_line, 16)
            if size == 0:
                break
            decoded += body[:size]
            body = body[size + 2 :]
        body = bytes(decoded)
    return RawAnswer(status, headers, body, sent)


async def _read_all(reader: asyncio.StreamReader, head_only: bool = False) -> bytes:
    """One answer: its head, then its body by Content-Length, chunks, or up to the close
    (nothing after the head for a HEAD request, whatever Content-Length says)."""
    head = await reader.readuntil(b"\r\n\r\n")
    if head_only:
        return head
    fields = head.decode("latin-1").lower()
    length = next(
        (
            int(line.split(":", 1)[1])
            for line in fields.split("\r\n")
            if line.startswith("content-length:")
        ),
        None,
    )
    if length is not None:
        return head + await reader.readexactly(length)
    if "transfer-encoding: chunked" in fields:
        body = bytearray()
        while True:
            size_line = await reader.readuntil(b"\r\n")
            body += size_line + await reader.readexactly(int(size_line, 16) + 2)
            if int(size_line, 16) == 0:
                return head + bytes(body)
    return head + await reader.read()


async def raw_request(port: int, request: bytes) -> RawAnswer:
    """Send ``request`` as is (HTTP/1.1 with ``Connection: close``) and read the whole answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    raw = await _read_all(reader, head_only=request.startswith(b"HEAD "))
    writer.close()
    return _parse(raw)


async def chunked_upload(
    port: int, head: bytes, chunk: bytes, chunks: int, *, read_timeout: float = 30
) -> RawAnswer:
    """POST ``chunks`` times ``chunk``, chunked, stopping as soon as the server
    answers or closes; ``sent`` tells how much of the body went out before that."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head)
    sent = 0
    answer = asyncio.ensure_future(_read_all(reader))
    frame = b"%x\r\n" % len(chunk) + chunk + b"\r\n"
    try:
        for _ in range(chunks):
            if answer.done():
                break
            writer.write(frame)
            await writer.drain()
            sent += len(chunk)
            await asyncio.sleep(0)  # lets the answer be read as soon as it comes
        else:
            writer.write(b"0\r\n\r\n")
            await writer.drain()
    except (ConnectionResetError, BrokenPipeError):
        pass  # the server answered and closed while we were still sending
    raw = await asyncio.wait_for(answer, read_timeout)
    writer.close()
    return _parse(raw, sent)
