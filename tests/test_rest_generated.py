"""Generated input on the REST shim (issue 11): every answer is Moodle's (tests/rest_fuzz.py).

* Hypothesis-made raw requests (any method, repeated keys, bracket arrays, NUL bytes, invalid
  UTF-8, huge values, wrong content types, multipart right and wrong) straight into the whole app
  (guards included) on SQLite, PostgreSQL and MariaDB;
* a 10 MB body and a few hand-picked wire-level cases through a real ``definum-gql serve``;
* schemathesis, from the shim's own OpenAPI document, positive and negative cases, against that
  served process.

``DEFINUM_FUZZ_EXAMPLES`` sets the number of cases (reliability/fuzz.py runs many more).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, MutableMapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from definum_gql.app import create_app
from definum_gql.config import Settings
from definum_gql.demo import build_demo_site, demo_url
from definum_gql.moodle.site import Moodle
from tests.builders import NOW, Site
from tests.rest_fuzz import (
    EXAMPLES,
    PATH,
    Call,
    calls,
    check_answer,
    check_openapi_case,
    openapi_cases,
)
from tests.rest_support import TOKEN, ready
from tests.served import Served, chunked_upload
from tests.throwaway import request, serve_process


async def asgi_call(app: Any, call: Call) -> tuple[int, dict[str, str], bytes]:
    """``call`` sent to the ASGI app as a server would hand it over (the body in two parts)."""
    half = len(call.body) // 2
    chunks = [call.body[:half], call.body[half:]]

    async def receive() -> dict[str, Any]:
        if chunks:
            body = chunks.pop(0)
            return {"type": "http.request", "body": body, "more_body": bool(chunks)}
        await asyncio.Event().wait()  # the client stays until the answer
        raise AssertionError("unreachable")

    sent: list[MutableMapping[str, Any]] = []

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": call.method,
        "scheme": "http",
        "path": PATH,
        "raw_path": PATH.encode(),
        "root_path": "",
        "query_string": call.query,
        "headers": list(call.headers),
        "client": ("192.0.2.10", 40000),
        "server": ("testserver", 80),
    }
    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in start["headers"]}
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], headers, body


@pytest.fixture
async def shim(site: Site, settings: Settings, moodle: Moodle) -> Any:
    await ready(site)
    for _ in range(3):
        await site.user(firstname="Zoë", lastname='<b>"Smith" & Sons</b>')
    return create_app(settings.model_copy(update={"max_rest_body": 64 * 1024}), moodle)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=EXAMPLES <= 200,  # the normal suite: the same cases every run
)
@given(call=calls(TOKEN))
async def test_generated_requests_get_moodle_answers(
    shim: Any, call: Call, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="definum_gql"):
        status, headers, body = await asgi_call(shim, call)
    check_answer(status, headers, body, call.method)
    assert not [r for r in caplog.records if r.exc_info], caplog.text


# --- through a served process -------------------------------------------------------------


@pytest.fixture(scope="module")
async def served(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[Served, str]]:
    path: Path = tmp_path_factory.mktemp("generated") / "demo.sqlite"
    result = await build_demo_site(demo_url(path), users=12, courses=6, months=2, now=NOW)
    env = {"DEFINUM_DATABASE_URL": demo_url(path), "DEFINUM_NOW": str(NOW)}
    async with serve_process(env) as server:
        yield server, result.tokens["valid"]
    log = server.log.decode(errors="replace")
    assert "Traceback" not in log, log[-5000:]
    assert "unexpected error" not in log, log[-5000:]


async def test_a_10_mb_body_is_refused_in_the_call_s_format(served: tuple[Served, str]) -> None:
    server, _ = served
    head = (
        f"POST {PATH}?moodlewsrestformat=json HTTP/1.1\r\nHost: x\r\n"
        "Transfer-Encoding: chunked\r\nContent-Type: application/x-www-form-urlencoded\r\n\r\n"
    ).encode()
    answer = await chunked_upload(server.port, head, b"userid=" + b"5" * 65529, 160)
    decoded = check_answer(answer.status, answer.headers, answer.body, "POST")
    assert decoded is not None
    assert decoded["errorcode"] == "invalidparameter"


@pytest.mark.parametrize(
    "target",
    [
        # Bytes no client library would send as they are: raw NUL, invalid UTF-8, raw spaces.
        b"?wstoken=%00&wsfunction=definum_get_stats&useridfield=id&userid=5",
        b"?wstoken=\xff\xfe&useridfield=id&userid=\xc3\x28&moodlewsrestformat=json",
        b"?userid[]=1&userid[]=2&userid=3&moodlewsrestformat=json&moodlewsrestformat=xml",
        b"?" + b"a=1&" * 3000,
        b"?moodlewsrestformat=json&userid=" + b"%41" * 20000,
    ],
    ids=["nul", "invalid-utf8", "arrays-and-repeats", "many-keys", "long"],
)
async def test_wire_level_oddities(served: tuple[Served, str], target: bytes) -> None:
    server, _ = served
    raw = b"GET " + PATH.encode() + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    answer = await request(server.port, raw)
    check_answer(answer.status, answer.headers, answer.body)


async def test_schemathesis_on_the_openapi_document(served: tuple[Served, str]) -> None:
    server, token = served
    seen: list[int] = []

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=EXAMPLES <= 200,
    )
    @given(case=openapi_cases(server.port), real_token=st.booleans())
    def run(case: Any, real_token: bool) -> None:
        seen.append(check_openapi_case(case, token if real_token else None))

    # schemathesis is synchronous: off the event loop, which keeps reading the server's log.
    await asyncio.to_thread(run)
    assert seen
    assert set(seen) <= {200, 405}


async def test_the_served_openapi_document_is_json(served: tuple[Served, str]) -> None:
    server, _ = served
    async with httpx.AsyncClient() as client:
        answer = await client.get(f"http://127.0.0.1:{server.port}/webservice/rest/openapi.json")
    assert json.loads(answer.content)["openapi"].startswith("3.")
