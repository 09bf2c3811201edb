"""Clients that stop or trickle never hold a connection for ever (issue 11), and a refused body is
answered in its door's shape: through a real ``definum-gql serve`` over raw sockets.

The server runs with ``DEFINUM_CLIENT_TIMEOUT=1`` and ``DEFINUM_KEEP_ALIVE_TIMEOUT=1``; each test
waits for the server to close the connection with a generous deadline (a hang fails, a slow
machine does not).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from xml.etree import ElementTree

import pytest

from definum_gql.demo import build_demo_site, demo_url
from definum_gql.server import MAX_HEAD
from tests.builders import NOW
from tests.served import Served
from tests.throwaway import request, rest_target, serve_process

#: Longest any close may take here before it counts as a hang (the timeouts are 1 s).
HANG = 30.0
MB = 1024 * 1024


@pytest.fixture(scope="module")
async def served(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[Served, str]]:
    path: Path = tmp_path_factory.mktemp("timeouts") / "demo.sqlite"
    result = await build_demo_site(demo_url(path), users=12, courses=6, months=2, now=NOW)
    env = {
        "DEFINUM_DATABASE_URL": demo_url(path),
        "DEFINUM_CLIENT_TIMEOUT": "1",
        "DEFINUM_KEEP_ALIVE_TIMEOUT": "1",
        "DEFINUM_MAX_REST_BODY": str(MB),
    }
    async with serve_process(env) as server:
        yield server, result.tokens["valid"]
    assert b"Traceback" not in server.log, server.log.decode(errors="replace")


async def _until_closed(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes the connection (fails after HANG)."""
    received = bytearray()
    async with asyncio.timeout(HANG):
        while chunk := await reader.read(65536):
            received += chunk
    return bytes(received)


async def _exchange(port: int, sent: bytes) -> bytes:
    """Send ``sent``, then nothing more; what the server answered before it closed."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(sent)
        await writer.drain()
        return await _until_closed(reader)
    finally:
        writer.close()


def _split(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers, body


async def test_a_connection_that_never_sends_a_byte_is_closed(served: tuple[Served, str]) -> None:
    server, _ = served
    assert await _exchange(server.port, b"") == b""


@pytest.mark.parametrize(
    "partial",
    [
        b"GET /webservice/rest/server.php?wstoken=",
        b"GET /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\n",
        b"POST /webservice/rest/server.php HTTP/1.1\r\nContent-Type: application/x-www-form",
    ],
    ids=["request-line", "headers", "header-value"],
)
async def test_a_half_sent_head_is_answered_408_and_closed(
    served: tuple[Served, str], partial: bytes
) -> None:
    server, _ = served
    status, headers, _ = _split(await _exchange(server.port, partial))
    assert status == 408
    assert headers["connection"] == "close"


async def test_a_trickled_head_is_cut_off(served: tuple[Served, str]) -> None:
    """Slowloris: a new header line every tenth of a second; the head's deadline is whole."""
    server, _ = served
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    answer = asyncio.ensure_future(_until_closed(reader))
    try:
        n = 0
        while not answer.done():
            n += 1
            writer.write(b"X-Trickle-%d: %d\r\n" % (n, n))
            await writer.drain()
            await asyncio.wait([answer], timeout=0.1)
    except (ConnectionResetError, BrokenPipeError):
        pass
    finally:
        writer.close()
    status, _, _ = _split(await answer)
    assert status == 408


async def test_a_head_over_the_limit_is_refused(served: tuple[Served, str]) -> None:
    server, _ = served
    big = b"X-Filler: " + b"a" * (MAX_HEAD + 1) + b"\r\n"
    raw = await _exchange(server.port, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n" + big)
    assert _split(raw)[0] == 431


def _half_post(target: str, extra: bytes = b"", content_type: bytes = b"") -> bytes:
    """A POST announcing 1000 bytes of body and sending 10."""
    kind = content_type or b"application/x-www-form-urlencoded"
    return (
        f"POST {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n".encode()
        + extra
        + b"Content-Type: "
        + kind
        + b"\r\n\r\nuserid=123"
    )


async def test_a_half_sent_rest_body_is_a_moodle_error_in_json_or_xml(
    served: tuple[Served, str],
) -> None:
    server, _ = served
    as_json = await _exchange(
        server.port, _half_post("/webservice/rest/server.php?moodlewsrestformat=json")
    )
    status, headers, body = _split(as_json)
    assert status == 408
    assert headers["connection"] == "close"
    assert headers["content-type"] == "application/json"
    assert json.loads(body) == {
        "exception": "invalid_parameter_exception",
        "errorcode": "invalidparameter",
        "message": "Invalid parameter value detected",
    }
    as_xml = await _exchange(server.port, _half_post("/webservice/rest/server.php"))
    status, headers, body = _split(as_xml)
    assert status == 408
    assert headers["content-type"] == "application/xml; charset=utf-8"
    root = ElementTree.fromstring(body)
    assert root.tag == "EXCEPTION"
    assert root.get("class") == "invalid_parameter_exception"
    assert root.findtext("ERRORCODE") == "invalidparameter"


async def test_a_half_sent_graphql_body_is_408_request_timeout(
    served: tuple[Served, str],
) -> None:
    server, token = served
    auth = f"Authorization: Bearer {token}\r\n".encode()
    raw = await _exchange(server.port, _half_post("/graphql", auth, b"application/json"))
    status, headers, body = _split(raw)
    assert status == 408
    assert headers["connection"] == "close"
    assert json.loads(body)["errors"][0]["extensions"] == {"code": "REQUEST_TIMEOUT"}


async def test_a_body_nobody_reads_is_not_waited_for(served: tuple[Served, str]) -> None:
    """/healthz refuses a POST without reading its body; the rest that never comes is not
    awaited (the connection is closed)."""
    server, _ = served
    status, _, body = _split(await _exchange(server.port, _half_post("/healthz")))
    assert status == 405
    assert body == b"Method Not Allowed"


async def test_an_idle_keep_alive_connection_is_closed(served: tuple[Served, str]) -> None:
    server, token = served
    target = rest_target(token, 5)
    raw = await _exchange(server.port, f"GET {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    status, headers, body = _split(raw)
    assert status == 200
    assert "connection" not in headers  # kept alive, then closed by the server when idle
    assert json.loads(body)["id"] == 5


@pytest.mark.parametrize(
    ("query", "content_type"),
    [("?moodlewsrestformat=json", "application/json"), ("", "application/xml; charset=utf-8")],
    ids=["json", "xml"],
)
async def test_a_declared_body_over_the_limit_is_refused_in_the_call_s_format(
    served: tuple[Served, str], query: str, content_type: str
) -> None:
    server, _ = served
    raw = (
        f"POST /webservice/rest/server.php{query} HTTP/1.1\r\nHost: x\r\n"
        f"Content-Length: {2 * MB}\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    answer = await request(server.port, raw)
    assert answer.status == 200
    assert answer.headers["content-type"] == content_type
    if query:
        assert json.loads(answer.body)["errorcode"] == "invalidparameter"
    else:
        assert ElementTree.fromstring(answer.body).findtext("ERRORCODE") == "invalidparameter"


async def test_the_server_still_answers_after_all_that(served: tuple[Served, str]) -> None:
    server, token = served
    answer = await request(
        server.port,
        f"GET {rest_target(token, 5)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode(),
    )
    assert json.loads(answer.body)["id"] == 5
