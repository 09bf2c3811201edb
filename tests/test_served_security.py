"""Defects that lived in the running server, tested through real server processes over sockets:
forged forwarding headers, secrets in access lines, request bodies without bounds."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from definum_gql.demo import DemoResult, build_demo_site, demo_url
from tests.builders import NOW
from tests.served import chunked_upload, peak_rss, raw_request, serving

FORGED = b"X-Forwarded-For: 10.1.2.3\r\n"
MB = 1024 * 1024


@pytest.fixture(scope="module")
async def site(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, DemoResult]:
    path: Path = tmp_path_factory.mktemp("served") / "demo.sqlite"
    result = await build_demo_site(demo_url(path), users=12, courses=6, months=2, now=NOW)
    return demo_url(path), result


def rest_get(token: str, headers: bytes = b"") -> bytes:
    query = (
        f"wstoken={token}&wsfunction=definum_get_stats&useridfield=id&userid=5"
        "&moodlewsrestformat=json"
    )
    return (
        f"GET /webservice/rest/server.php?{query} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode()
        + headers
        + b"Connection: close\r\n\r\n"
    )


def graphql_post(
    token: str, headers: bytes = b"", query: str = '{ user(by: ID, value: "5") { id } }'
) -> bytes:
    body = json.dumps({"query": query}).encode()
    return (
        b"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        + f"Authorization: Bearer {token}\r\nContent-Length: {len(body)}\r\n".encode()
        + headers
        + b"Connection: close\r\n\r\n"
        + body
    )


UVICORN_DEFAULTS = [
    sys.executable,
    "-m",
    "uvicorn",
    "definum_gql.app:app_from_env",
    "--factory",
    "--port",
    "{port}",
]


@pytest.mark.parametrize(
    ("args", "command", "peer"),
    [
        pytest.param((), None, "127.0.0.1", id="serve"),
        pytest.param(("--workers", "2"), None, "127.0.0.1", id="serve-workers-2"),
        # uvicorn's own defaults believe X-Forwarded-For from 127.0.0.1: the app cannot know the
        # real peer then, and treats it as unknown rather than as the forged address.
        pytest.param((), UVICORN_DEFAULTS, "unknown", id="uvicorn-defaults"),
    ],
)
async def test_a_forged_forwarded_for_does_not_pass_an_ip_restriction(
    site: tuple[str, DemoResult], args: tuple[str, ...], command: list[str] | None, peer: str
) -> None:
    url, result = site
    token = result.tokens["iprestricted"]  # restricted to 10.0.0.0/8
    env = {"DEFINUM_DATABASE_URL": url, "DEFINUM_DEBUG": "true"}
    async with serving(env, args, command) as served:
        rest = await raw_request(served.port, rest_get(token, FORGED))
        graphql = await raw_request(served.port, graphql_post(token, FORGED))
    assert rest.status == 200
    answer = json.loads(rest.body)
    assert answer["errorcode"] == "accessexception"
    assert answer["debuginfo"] == f"Invalid token - IP:{peer} is not supported"
    assert graphql.status == 401
    error = json.loads(graphql.body)["errors"][0]
    assert error["extensions"] == {"code": "IP_NOT_ALLOWED", "reason": "iprestricted"}


async def test_a_trusted_proxy_s_forwarded_for_is_believed(site: tuple[str, DemoResult]) -> None:
    url, result = site
    token = result.tokens["iprestricted"]
    env = {"DEFINUM_DATABASE_URL": url, "DEFINUM_TRUSTED_PROXIES": '["127.0.0.1"]'}
    async with serving(env) as served:
        rest = await raw_request(served.port, rest_get(token, FORGED))
        graphql = await raw_request(served.port, graphql_post(token, FORGED))
        # Without the header the peer itself (127.0.0.1) is outside 10.0.0.0/8.
        bare = await raw_request(served.port, rest_get(token))
    assert json.loads(rest.body)["id"] == 5
    assert json.loads(graphql.body) == {"data": {"user": {"id": 5}}}
    assert json.loads(bare.body)["errorcode"] == "accessexception"


@pytest.mark.parametrize("args", [(), ("--workers", "2")], ids=["serve", "serve-workers-2"])
async def test_access_lines_never_hold_a_token(
    site: tuple[str, DemoResult], args: tuple[str, ...]
) -> None:
    url, result = site
    token = result.tokens["valid"]
    query = f"/webservice/rest/server.php?wsfunction=definum_get_stats&WSTOKEN[]={token}&"
    async with serving({"DEFINUM_DATABASE_URL": url}, args) as served:
        await raw_request(served.port, rest_get(token))
        await raw_request(
            served.port, f"GET {query} HTTP/1.1\r\nConnection: close\r\n\r\n".encode()
        )
        await raw_request(served.port, graphql_post(token))
    log = served.log.decode()
    assert "wstoken=***&wsfunction=definum_get_stats&useridfield=id&userid=5" in log
    assert "WSTOKEN[]=***&" in log
    assert '"target": "/graphql", "status": 200' in log
    assert token not in log


def _chunked_head(
    path: str, headers: bytes = b"", content_type: str = "application/x-www-form-urlencoded"
) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n".encode()
        + headers
        + f"Content-Type: {content_type}\r\n\r\n".encode()
    )


async def test_bodies_are_capped_while_they_stream(site: tuple[str, DemoResult]) -> None:
    url, result = site
    token = result.tokens["valid"]
    env = {
        "DEFINUM_DATABASE_URL": url,
        "DEFINUM_MAX_REST_BODY": str(MB),
        "DEFINUM_MAX_GRAPHQL_BODY": str(MB),
    }
    chunk = b"a" * 65536
    total = 256 * MB
    async with serving(env) as served:
        rest = await chunked_upload(
            served.port,
            _chunked_head("/webservice/rest/server.php?moodlewsrestformat=json"),
            chunk,
            total // len(chunk),
        )
        graphql = await chunked_upload(
            served.port,
            _chunked_head(
                "/graphql", f"Authorization: Bearer {token}\r\n".encode(), "application/json"
            ),
            chunk,
            total // len(chunk),
        )
        anonymous = await chunked_upload(
            served.port,
            _chunked_head("/graphql", b"", "application/json"),
            chunk,
            total // len(chunk),
        )
        declared = await raw_request(
            served.port,
            b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000000\r\n"
            + f"Authorization: Bearer {token}\r\n\r\n".encode(),
        )
        # The server still answers normally afterwards.
        after = await raw_request(served.port, rest_get(token))
        peak = peak_rss(served.process.pid)
    # Each answer came before its body ended (the rest was dropped unread), and no body was held.
    for answer in (rest, graphql, anonymous):
        assert answer.sent < total, answer
    assert peak < 200 * MB
    assert json.loads(rest.body) == {
        "exception": "invalid_parameter_exception",
        "errorcode": "invalidparameter",
        "message": "Invalid parameter value detected",
    }
    assert rest.headers["content-type"] == "application/json"
    assert graphql.status == 413
    assert json.loads(graphql.body)["errors"][0]["extensions"]["code"] == "BODY_TOO_LARGE"
    # Without a token, GraphQL refuses before reading any of the body.
    assert anonymous.status == 401
    assert declared.status == 413
    assert json.loads(after.body)["id"] == 5
