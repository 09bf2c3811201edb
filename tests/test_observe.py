"""Request lines, request ids and metrics, read off real served processes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from definum_gql.demo import DemoResult, build_demo_site, demo_url
from tests.builders import NOW
from tests.served import free_port, raw_request, serving
from tests.test_served_security import graphql_post, rest_get


@pytest.fixture(scope="module")
async def site(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, DemoResult]:
    path: Path = tmp_path_factory.mktemp("observe") / "demo.sqlite"
    result = await build_demo_site(demo_url(path), users=12, courses=6, months=2, now=NOW)
    return demo_url(path), result


def _get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()


def samples(text: str) -> dict[str, float]:
    """Prometheus text exposition as {'name{labels}': value} (labels as written)."""
    found = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            found[name] = float(value)
    return found


async def test_one_json_line_per_request_with_its_id_and_no_secret(
    site: tuple[str, DemoResult],
) -> None:
    url, result = site
    token = result.tokens["valid"]
    form = f"wstoken={token}&wsfunction=definum_get_stats&useridfield=id&userid=5".encode()
    async with serving({"DEFINUM_DATABASE_URL": url}) as served:
        rest = await raw_request(served.port, rest_get(token))
        refused = await raw_request(served.port, rest_get("0" * 32))
        posted = await raw_request(
            served.port,
            b"POST /webservice/rest/server.php HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n"
            + f"Content-Length: {len(form)}\r\n\r\n".encode()
            + form,
        )
        graphql = await raw_request(served.port, graphql_post(token))
    lines = [
        json.loads(line) for line in served.log.decode().splitlines() if '"request_id"' in line
    ]
    by_id = {line["request_id"]: line for line in lines}
    answers = (rest, refused, posted, graphql)
    assert len(lines) == len(answers)
    for answer in answers:
        assert answer.headers["x-request-id"] in by_id
    rest_line = by_id[rest.headers["x-request-id"]]
    assert rest_line["door"] == "rest"
    assert rest_line["status"] == 200
    assert rest_line["fmt"] == "json"
    assert rest_line["sql"] >= 1
    assert rest_line["target"].startswith("/webservice/rest/server.php?wstoken=***&")
    # The demo's "valid" token is its first row; the learner asked for is user 5.
    assert (rest_line["token_id"], rest_line["learner"]) == (1, 5)
    assert "error" not in rest_line
    refused_line = by_id[refused.headers["x-request-id"]]
    assert (refused_line["error"], refused_line["refusal"]) == ("invalidtoken", "invalidtoken")
    assert "token_id" not in refused_line
    assert by_id[posted.headers["x-request-id"]]["method"] == "POST"
    graphql_line = by_id[graphql.headers["x-request-id"]]
    assert (graphql_line["door"], graphql_line["status"]) == ("graphql", 200)
    assert (graphql_line["token_id"], graphql_line["learner"]) == (1, 5)
    assert graphql_line["operation"] == "anonymous"
    # The token went out in a query string, a form body and a header: it is in no line.
    assert token not in served.log.decode()


def _count(found: dict[str, float], name: str, **labels: str) -> float:
    """Sum of the samples of ``name`` whose labels include ``labels``."""
    total = 0.0
    for key, value in found.items():
        metric, _, rest = key.partition("{")
        if metric == name and all(f'{k}="{v}"' in rest for k, v in labels.items()):
            total += value
    return total


async def test_metrics_sum_every_worker(site: tuple[str, DemoResult]) -> None:
    url, result = site
    token = result.tokens["valid"]
    env = {"DEFINUM_DATABASE_URL": url, "DEFINUM_METRICS": "on"}
    async with serving(env, ("--workers", "2")) as served:
        # Each request on a new connection: the kernel spreads them over both workers.
        for _ in range(6):
            await raw_request(served.port, rest_get(token))
        await raw_request(served.port, rest_get("0" * 32))
        for _ in range(3):
            await raw_request(served.port, graphql_post(token))
        await raw_request(served.port, graphql_post(token, query="query Dash { me { id } }"))
        scraped = await raw_request(served.port, _get("/metrics"))
    found = samples(scraped.body.decode())
    route = "/webservice/rest/server.php"
    assert _count(found, "definum_requests_total", door="rest", route=route, status="200") == 7
    assert _count(found, "definum_requests_total", door="graphql", status="200") == 4
    assert _count(found, "definum_graphql_operations_total", operation="anonymous") == 3
    assert _count(found, "definum_graphql_operations_total", operation="Dash") == 1
    assert _count(found, "definum_token_rejections_total", reason="invalidtoken") == 1
    # 11 token checks: the unknown token is never cached (a miss); each worker reads a valid
    # token's rows once per DEFINUM_TOKEN_CACHE_SECONDS (one or two more misses).
    hits = _count(found, "definum_token_cache_total", result="hit")
    misses = _count(found, "definum_token_cache_total", result="miss")
    assert hits + misses == 11
    assert 2 <= misses <= 3
    assert _count(found, "definum_errors_total", door="rest", code="invalidtoken") == 1
    assert _count(found, "definum_request_duration_seconds_count", door="rest") == 7
    assert _count(found, "definum_sql_statements_per_request_count", door="graphql") == 4
    assert _count(found, "definum_sql_statements_per_request_sum", door="rest") >= 7
    # Both workers answered some of them (the counts above are their sum).
    assert (
        len({line for line in served.log.decode().splitlines() if "Started server process" in line})
        == 2
    )


async def test_metrics_on_their_own_port_only(site: tuple[str, DemoResult]) -> None:
    url, result = site
    port = free_port()
    env = {"DEFINUM_DATABASE_URL": url, "DEFINUM_METRICS": str(port)}
    async with serving(env) as served:
        await raw_request(served.port, rest_get(result.tokens["valid"]))
        on_service = await raw_request(served.port, _get("/metrics"))
        own = await raw_request(port, _get("/metrics"))
    assert on_service.status == 404
    assert own.status == 200
    assert _count(samples(own.body.decode()), "definum_requests_total", door="rest") == 1


async def test_without_metrics_there_is_no_metrics_route(site: tuple[str, DemoResult]) -> None:
    url, _ = site
    async with serving({"DEFINUM_DATABASE_URL": url}) as served:
        answer = await raw_request(served.port, _get("/metrics"))
    assert answer.status == 404


async def test_the_line_tells_month_cache_hits_and_misses(site: tuple[str, DemoResult]) -> None:
    url, result = site
    token = result.tokens["valid"]
    query = '{ user(by: ID, value: "5") { activity(month: "2026-10") { logins } } }'
    async with serving({"DEFINUM_DATABASE_URL": url}) as served:
        first = await raw_request(served.port, graphql_post(token, query=query))
        second = await raw_request(served.port, graphql_post(token, query=query))
    lines = {
        line["request_id"]: line
        for line in (
            json.loads(raw) for raw in served.log.decode().splitlines() if raw.startswith("{")
        )
        if "request_id" in line
    }
    # October is closed: computed once (a miss), then found (a hit).
    assert lines[first.headers["x-request-id"]]["month_cache"] == {"hits": 0, "misses": 1}
    assert lines[second.headers["x-request-id"]]["month_cache"] == {"hits": 1, "misses": 0}
