"""The README's GraphQL and curl examples, run against a served demo site as a reader would."""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
from pathlib import Path

import httpx
import pytest

from definum_gql.demo import DemoResult, build_demo_site, demo_url
from tests.builders import settled_clock
from tests.served import serving

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, re.S)


@pytest.fixture(scope="module")
async def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, DemoResult]:
    # The demo as `serve --demo` builds it: default sizes and seed; the clock set back so that
    # the REST call and the GraphQL request, a moment apart, see the same month.
    path = tmp_path_factory.mktemp("readme") / "demo.sqlite"
    return path, await build_demo_site(demo_url(path), now=settled_clock())


def _learner(path: Path, username: str) -> tuple[int, str, str]:
    with sqlite3.connect(path) as db:
        row = db.execute(
            "SELECT id, firstname, lastname FROM mdl_user WHERE username = ? AND deleted = 0",
            (username,),
        ).fetchone()
    assert row is not None, f"{username} is not in the demo"
    return int(row[0]), str(row[1]), str(row[2])


async def test_the_readme_examples_answer_about_a_demo_learner(
    demo: tuple[Path, DemoResult],
) -> None:
    path, result = demo
    token = result.tokens["valid"]
    (document,) = [b for b in _blocks("graphql") if "user(by:" in b]
    (curl,) = [line for b in _blocks("sh") for line in b.splitlines() if line.startswith("curl ")]
    username = re.search(r'user\(by: USERNAME, value: "([^"]+)"\)', document)
    assert username is not None
    user_id, firstname, lastname = _learner(path, username[1])
    async with serving({"DEFINUM_DATABASE_URL": demo_url(path)}) as served:
        url = f"http://127.0.0.1:{served.port}"
        command = curl.replace("http://127.0.0.1:8000", url).replace("TOKEN", token)
        process = await asyncio.create_subprocess_shell(
            command + " --silent --show-error",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await process.communicate()
        async with httpx.AsyncClient(base_url=url) as http:
            answer = await http.post(
                "/graphql",
                json={"query": document},
                headers={"Authorization": f"Bearer {token}"},
            )
    assert process.returncode == 0, err
    rest = json.loads(out)
    assert (rest["id"], rest["firstname"], rest["lastname"]) == (user_id, firstname, lastname)
    body = answer.json()
    assert "errors" not in body, body["errors"]
    user = body["data"]["user"]
    assert user["fullname"] == f"{firstname} {lastname}"
    # The GraphQL document and the REST call agree on the learner's figures.
    assert user["definumStats"]["loginsInMonth"] == rest["loginsinmonth"]
    assert user["definumStats"]["timeSpentInMonthStr"] == rest["timespentinmonthstr"]
    assert len(user["activityHistory"]) == 3
    assert body["data"]["users"]["totalCount"] > 0
