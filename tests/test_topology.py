"""Several replicas of definum-gql behind nginx, reading streaming replicas of the database.

The shared Moodle scenario site (../shared/moodle) is loaded on a throwaway PostgreSQL primary
with two streaming replicas (tests/throwaway.py). ``definum-gql serve`` processes read a replica
and share Redis (a database of their own) as month cache, behind nginx (deploy/'s settings:
next upstream on error, timeout, 502/503; passive health with max_fails/fail_timeout). A
reference process reads the primary directly with every cache off: its answers are what the
replicas must give. The figures of the scenario's learners (e.g. bob: 4 logins, 13,100 s in
November 2026) were worked out by hand in tests/test_scenario.py and are checked here too.

The files of deploy/ are checked at the end: the nginx site parses, and routes over TLS with a
real definum-gql behind it; the systemd unit verifies; the environment file is valid settings.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import ssl
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from definum_gql.demo import build_demo_site, demo_url
from tests.builders import NOW
from tests.databases import unreachable
from tests.scenario import SCENARIO_NOW
from tests.served import RawAnswer, Served, free_port
from tests.throwaway import (
    Nginx,
    PgServer,
    Primary,
    balancer,
    get,
    missing,
    nginx_check,
    poll,
    post_json,
    postgres_primary,
    request,
    rest_target,
    run,
    running_nginx,
    serve_process,
    upstreams,
)

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
DASHBOARD = (ROOT / "queries" / "learner_dashboard.graphql").read_text()
#: A Redis database no other test uses: flushed when the module starts and ends.
REDIS_URL = os.environ.get("DEFINUM_TEST_TOPOLOGY_REDIS", "redis://127.0.0.1:6379/11")
#: DEFINUM_CURRENT_MONTH_CACHE_SECONDS of the replicas.
TTL = 2
#: How long past the TTL a change may take to show (scheduling, WAL shipping).
SLACK = 15.0
CURRENT = "2026-11"  # the scenario's month (now = 2026-11-25, Europe/Paris)
REST = "/webservice/rest/server.php"

# Scenario learners and their November 2026 figures (tests/test_scenario.py, by hand).
BOB, CHLOE, JURGEN, YAMADA = 7, 8, 9, 10
NOVEMBER = {BOB: (4, 13100), CHLOE: (3, 8340), JURGEN: (1, 1620), YAMADA: (2, 5700)}


@dataclass
class Cluster:
    primary: Primary
    #: Read by the balanced pair (and by the processes the tests kill or starve).
    replica: PgServer
    #: A second replica, stopped under its own process while the first one keeps serving.
    spare: PgServer
    token: str
    #: ``definum-gql serve`` on the primary, every cache off: the answers to match.
    reference: Served
    redis: Redis


def replica_env(server: PgServer) -> dict[str, str]:
    return {
        "DEFINUM_DATABASE_URL": server.url(),
        "DEFINUM_REDIS_URL": REDIS_URL,
        "DEFINUM_CURRENT_MONTH_CACHE_SECONDS": str(TTL),
        "DEFINUM_NOW": str(SCENARIO_NOW),
        "DEFINUM_TRUSTED_PROXIES": '["127.0.0.1"]',
    }


def reference_env(primary: Primary) -> dict[str, str]:
    return {
        "DEFINUM_DATABASE_URL": primary.url(),
        "DEFINUM_NOW": str(SCENARIO_NOW),
        "DEFINUM_SITE_CACHE_SECONDS": "0",
        "DEFINUM_TOKEN_CACHE_SECONDS": "0",
        "DEFINUM_MONTH_CACHE_ENTRIES": "0",
        "DEFINUM_CURRENT_MONTH_CACHE_SECONDS": "0",
    }


async def _redis() -> Redis:
    client = Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        await client.aclose()
        unreachable("redis", str(exc))
    await client.flushdb()
    return client


@pytest.fixture(scope="module")
async def cluster() -> AsyncIterator[Cluster]:
    if not (SHARED / "moodle").is_dir():
        pytest.skip("../shared is absent (a fresh clone); CI has it")
    redis = await _redis()
    try:
        async with postgres_primary() as primary:
            await primary.load_scenario(SHARED)
            replica = await primary.replica("replica-a")
            spare = await primary.replica("replica-b")
            # Token 1: wsdefinum's, definum service, no IP restriction, no expiry.
            token = str(
                await primary.fetchval("SELECT token FROM mdl_external_tokens WHERE id = 1")
            )
            async with serve_process(reference_env(primary)) as reference:
                yield Cluster(primary, replica, spare, token, reference, redis)
    finally:
        await redis.flushdb()
        await redis.aclose()


@dataclass
class Balanced:
    """Two processes reading the same replica, behind nginx."""

    nginx: Nginx
    first: Served
    second: Served


@contextlib.asynccontextmanager
async def pair_behind_nginx(
    first_db: PgServer, second_db: PgServer
) -> AsyncIterator[tuple[Nginx, Served, Served]]:
    async with (
        serve_process(replica_env(first_db)) as first,
        serve_process(replica_env(second_db)) as second,
    ):
        port = free_port()
        async with running_nginx(balancer(port, [first.port, second.port]), port) as nginx:
            yield nginx, first, second


@pytest.fixture(scope="module")
async def balanced(cluster: Cluster) -> AsyncIterator[Balanced]:
    async with pair_behind_nginx(cluster.replica, cluster.replica) as (nginx, first, second):
        yield Balanced(nginx, first, second)


def rest(cluster: Cluster, learner: int | str, field: str = "id") -> bytes:
    return get(rest_target(cluster.token, learner, field))


def graphql(cluster: Cluster, document: str, variables: dict[str, Any]) -> bytes:
    return post_json(
        "/graphql",
        {"query": document, "variables": variables},
        {"Authorization": f"Bearer {cluster.token}"},
    )


def rest_lines(served: Served) -> int:
    """How many REST requests the process logged (one access line each, whatever its format)."""
    return served.log.decode(errors="replace").count(REST + "?")


async def month_keys(redis: Redis, learner: int, month: str) -> list[str]:
    """The month-cache keys of ``learner``'s ``month`` in our Redis database (``…:month:[kind,
    learner, month, variant]``, see definum_gql/cache.py)."""
    found = []
    for key in await redis.keys():
        name = key.decode() if isinstance(key, bytes) else key
        _, _, fields = name.partition(":month:")
        if fields and json.loads(fields)[1:3] == [learner, month]:
            found.append(name)
    return found


async def logins_on(server: PgServer, learner: int, since: int) -> int:
    return int(
        await server.fetchval(
            "SELECT count(*) FROM mdl_logstore_standard_log"
            " WHERE userid = $1 AND action = 'loggedin' AND timecreated >= $2",
            learner,
            since,
        )
    )


NOVEMBER_START = 1793487600  # 2026-11-01 00:00 Europe/Paris


async def test_every_process_answers_through_nginx_as_the_primary_does(
    cluster: Cluster, balanced: Balanced
) -> None:
    # By username: no other test asks so, which tells this test's lines in the access logs.
    learners = {BOB: "bob", CHLOE: "chloe", YAMADA: "yamada.taro"}
    expected = {}
    for learner, username in learners.items():
        answer = await request(cluster.reference.port, rest(cluster, username, "username"))
        assert answer.status == 200
        document = json.loads(answer.body)
        logins, spent = NOVEMBER[learner]
        assert (document["id"], document["loginsinmonth"]) == (learner, logins)
        assert document["timespentinmonth"] == spent
        expected[username] = answer.body
    dashboard = await request(
        cluster.reference.port, graphql(cluster, DASHBOARD, {"value": str(BOB)})
    )
    assert dashboard.status == 200
    board = json.loads(dashboard.body)
    # (Fields the token's owner may not read come back as errors, the same on every process.)
    assert board["data"]["user"]["activity"]["logins"] == NOVEMBER[BOB][0]
    assert board["data"]["user"]["definumStats"]["timeSpentInMonth"] == NOVEMBER[BOB][1]

    first, second = balanced.first, balanced.second
    answered_by: dict[int, int] = {first.port: 0, second.port: 0}
    for username in [*learners.values()] * 2:
        answer = await request(balanced.nginx.port, rest(cluster, username, "username"))
        assert answer.status == 200
        assert answer.body == expected[username]
        (backend,) = upstreams(answer)  # answered at the first try
        answered_by[backend] += 1
    for _ in range(2):
        answer = await request(
            balanced.nginx.port, graphql(cluster, DASHBOARD, {"value": str(BOB)})
        )
        assert answer.status == 200
        assert json.loads(answer.body) == board
    # Both processes answered, and each logged exactly the REST requests nginx gave it.
    assert all(answered_by.values()), answered_by

    def by_username(served: Served) -> int:
        return served.log.decode(errors="replace").count("useridfield=username&")

    async def logged_all() -> bool:
        return all(by_username(s) == answered_by[s.port] for s in (first, second))

    await poll(logged_all, "each process to log the REST requests nginx sent it")


ACTIVITY = """query Activity($value: String!) {
  user(by: ID, value: $value) { activity { month logins timeSpent activeDays } }
}"""


async def test_a_change_on_the_primary_shows_once_the_replica_has_it_and_the_ttl_passed(
    cluster: Cluster, balanced: Balanced
) -> None:
    nginx, processes = balanced.nginx, (balanced.first, balanced.second)
    # GraphQL's activity goes through the month cache; the REST document (one statement on
    # PostgreSQL) reads the log on every call. Both must follow the replica.
    queries = [graphql(cluster, ACTIVITY, {"value": str(JURGEN)}), rest(cluster, JURGEN)]

    async def answers(port: int) -> list[bytes]:
        return [(await request(port, query)).body for query in queries]

    before = await answers(cluster.reference.port)
    logins = NOVEMBER[JURGEN][0]
    assert json.loads(before[0])["data"]["user"]["activity"]["logins"] == logins
    assert json.loads(before[1])["loginsinmonth"] == logins
    assert await answers(nginx.port) == before
    # The current month is in Redis now, for at most the TTL.
    (key,) = await month_keys(cluster.redis, JURGEN, CURRENT)
    stored = await cluster.redis.get(key)
    assert stored is not None
    assert stored[:1] == b"o"  # a current month
    assert 0 < await cluster.redis.pttl(key) <= TTL * 1000

    await cluster.replica.pause_replay()
    try:
        # Jurgen logs in again, 10 minutes before the scenario's now.
        await cluster.primary.execute(
            "INSERT INTO mdl_logstore_standard_log (eventname, component, action, target,"
            " objecttable, objectid, crud, edulevel, contextid, contextlevel, contextinstanceid,"
            " userid, courseid, relateduserid, anonymous, other, timecreated, origin, ip,"
            " realuserid) SELECT eventname, component, action, target, objecttable, objectid,"
            " crud, edulevel, contextid, contextlevel, contextinstanceid, userid, courseid,"
            " relateduserid, anonymous, other, $2, origin, ip, realuserid"
            " FROM mdl_logstore_standard_log WHERE id = $1",
            195,  # his November login (web)
            SCENARIO_NOW - 600,
        )
        after = await answers(cluster.reference.port)
        assert json.loads(after[0])["data"]["user"]["activity"]["logins"] == logins + 1
        assert json.loads(after[1])["loginsinmonth"] == logins + 1
        assert await logins_on(cluster.primary, JURGEN, NOVEMBER_START) == logins + 1
        assert await logins_on(cluster.replica, JURGEN, NOVEMBER_START) == logins

        # Let every cached copy of the month expire: the Redis entry outlives the processes'
        # own copies (each is stored in the process first, then in Redis with the same TTL).
        async def expired() -> bool:
            return not await month_keys(cluster.redis, JURGEN, CURRENT)

        await poll(expired, "the current month's cache entry to expire")
        # Read from the replica, which does not have the row yet: not shown (and cached again).
        for served in processes:
            assert await answers(served.port) == before
        assert await answers(nginx.port) == before
    finally:
        await cluster.replica.resume_replay()

    async def replicated() -> bool:
        return await logins_on(cluster.replica, JURGEN, NOVEMBER_START) == logins + 1

    await poll(replicated, "the replica to replay the new login")

    # What the processes cached from the replica before it had the row lives at most TTL s.
    for port in (*(served.port for served in processes), nginx.port):

        async def shown(port: int = port) -> bool:
            return await answers(port) == after

        await poll(shown, f"the new login to show on port {port}", deadline=TTL + SLACK)


OCTOBER = """query October($value: String!) {
  user(by: ID, value: $value) {
    activityHistory(from: "2026-10", to: "2026-10") { month logins timeSpent activeDays }
  }
}"""


async def test_the_second_process_answers_from_what_the_first_one_cached(
    cluster: Cluster, balanced: Balanced
) -> None:
    query = graphql(cluster, OCTOBER, {"value": str(CHLOE)})
    truth = json.loads((await request(cluster.reference.port, query)).body)
    (october,) = truth["data"]["user"]["activityHistory"]
    assert october["month"] == "2026-10"
    assert october["logins"] == 1  # row 182, 2026-10-20

    assert await month_keys(cluster.redis, CHLOE, "2026-10") == []
    first = json.loads((await request(balanced.first.port, query)).body)
    assert first == truth
    # The first process stored the closed month in Redis, as a closed month ("c"), figures
    # [logins, seconds, active days, per course].
    (key,) = await month_keys(cluster.redis, CHLOE, "2026-10")
    stored = await cluster.redis.get(key)
    assert stored is not None
    assert stored[:1] == b"c"
    logins, seconds, days, by_course = json.loads(stored[1:])
    assert (logins, seconds, days) == (
        october["logins"],
        october["timeSpent"],
        october["activeDays"],
    )
    # Figures no log holds: if the second process shows them, it took the first's entry
    # instead of reading the log.
    forged = [logins + 1000, seconds + 100000, days, by_course]
    await cluster.redis.set(key, b"c" + json.dumps(forged).encode(), keepttl=True)
    second = json.loads((await request(balanced.second.port, query)).body)
    assert second["data"]["user"]["activityHistory"] == [
        {**october, "logins": logins + 1000, "timeSpent": seconds + 100000}
    ]
    await cluster.redis.delete(key)


async def test_a_killed_process_loses_no_request_but_the_one_in_flight(cluster: Cluster) -> None:
    expected = await request(cluster.reference.port, rest(cluster, BOB))
    assert json.loads(expected.body)["loginsinmonth"] == NOVEMBER[BOB][0]
    kill_after, after_kill = 10, 30
    answers: list[RawAnswer | BaseException] = []
    # Requests go one after another until after_kill answers follow the kill (a fixed number
    # could all be answered before the kill: ~1 ms each against poll's 50 ms).
    killed: list[int] = []

    async def stream(port: int) -> None:
        while not killed or len(answers) < killed[0] + after_kill:
            try:
                answers.append(await request(port, rest(cluster, BOB)))
            except (OSError, AssertionError, asyncio.IncompleteReadError) as exc:
                answers.append(exc)

    async with pair_behind_nginx(cluster.replica, cluster.replica) as (nginx, victim, survivor):
        sending = asyncio.create_task(stream(nginx.port))
        try:

            async def sent_enough() -> bool:
                return len(answers) >= kill_after

            await poll(sent_enough, f"{kill_after} answers before the kill")
            killed_at = len(answers)  # the request in flight now is answers[killed_at]
            killed.append(killed_at)
            victim.process.kill()
            await victim.process.wait()
            await asyncio.wait_for(sending, 60)
        finally:
            sending.cancel()
    total = killed_at + after_kill

    wrong = [
        index
        for index, answer in enumerate(answers)
        if isinstance(answer, BaseException) or answer.status != 200 or answer.body != expected.body
    ]
    assert len(answers) == total
    assert set(wrong) <= {killed_at}, [answers[index] for index in wrong]
    served_by = [upstreams(a)[-1] for a in answers if isinstance(a, RawAnswer)]
    assert victim.port in served_by[:killed_at]  # it was answering before the kill
    assert set(served_by[killed_at + 1 :]) == {survivor.port}


async def test_a_process_whose_replica_stops_is_not_ready_and_nginx_leaves_it_out(
    cluster: Cluster,
) -> None:
    expected = await request(cluster.reference.port, rest(cluster, CHLOE))
    assert json.loads(expected.body)["loginsinmonth"] == NOVEMBER[CHLOE][0]
    async with pair_behind_nginx(cluster.replica, cluster.spare) as (nginx, kept, starved):
        warm = [await request(nginx.port, rest(cluster, CHLOE)) for _ in range(4)]
        assert [a.body for a in warm] == [expected.body] * 4
        assert {upstreams(a)[0] for a in warm} == {kept.port, starved.port}

        await cluster.spare.stop()
        try:
            down = await request(starved.port, get("/readyz"))
            assert down.status == 503
            assert json.loads(down.body)["reason"].startswith("the database is unavailable")
            assert (await request(kept.port, get("/readyz"))).status == 200

            answers = [await request(nginx.port, rest(cluster, CHLOE)) for _ in range(20)]
            assert [(a.status, a.body) for a in answers] == [(200, expected.body)] * 20
            asked = [upstreams(a) for a in answers]
            # Every answer came from the process that kept its database; the other one was
            # asked at most once (max_fails=1: its 503 made nginx retry, then leave it out).
            assert {backends[-1] for backends in asked} == {kept.port}
            assert sum(backends.count(starved.port) for backends in asked) <= 1
            direct = await request(starved.port, rest(cluster, CHLOE))
            assert direct.status == 503
        finally:
            if not cluster.spare.running:
                await cluster.spare.start()


# --- deploy/: the files an administrator installs ---

DEPLOY = ROOT / "deploy"
SITE_CERT = "/etc/ssl/certs/moodle.example.org.pem"
SITE_KEY = "/etc/ssl/private/moodle.example.org.key"
#: Debian's, or the lines of it Moodle needs.
FASTCGI_PARAMS = (
    Path("/etc/nginx/fastcgi_params").read_text()
    if Path("/etc/nginx/fastcgi_params").is_file()
    else "fastcgi_param QUERY_STRING $query_string;\n"
)


def replaced(text: str, replacements: dict[str, str]) -> str:
    """``text`` with each placeholder replaced; each must be there exactly once, so that this
    test and the file do not drift apart."""
    for old, new in replacements.items():
        assert text.count(old) == 1, f"{old!r} is not in the file exactly once"
        text = text.replace(old, new)
    return text


async def certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for moodle.example.org and 127.0.0.1, and its key."""
    if shutil.which("openssl") is None:
        missing("openssl is not installed (placeholder certificates for nginx)")
    cert, key = directory / "site.pem", directory / "site.key"
    await run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"),
            *("-subj", "/CN=moodle.example.org", "-keyout", str(key), "-out", str(cert)),
            *("-addext", "subjectAltName=DNS:moodle.example.org,IP:127.0.0.1"),
        ]
    )
    return cert, key


async def test_the_nginx_site_parses(tmp_path: Path) -> None:
    cert, key = await certificate(tmp_path)
    site = replaced(
        (DEPLOY / "nginx-definum.conf").read_text(), {SITE_CERT: str(cert), SITE_KEY: str(key)}
    )
    said = await nginx_check(
        "include {prefix}/definum.conf;",
        {"definum.conf": site, "fastcgi_params": FASTCGI_PARAMS},
    )
    assert "test is successful" in said


async def test_the_nginx_site_routes_definum_calls_to_definum_gql_and_the_rest_to_moodle(
    tmp_path: Path,
) -> None:
    demo = tmp_path / "demo.sqlite"
    result = await build_demo_site(demo_url(demo), users=12, courses=6, months=2, now=NOW)
    token, restricted = result.tokens["valid"], result.tokens["iprestricted"]  # 10.0.0.0/8
    cert, key = await certificate(tmp_path)
    port, plain = free_port(), free_port()
    env = {
        "DEFINUM_DATABASE_URL": demo_url(demo),
        "DEFINUM_NOW": str(NOW),
        "DEFINUM_TRUSTED_PROXIES": '["127.0.0.1"]',
        "DEFINUM_DEBUG": "true",
    }
    async with serve_process(env) as served:
        site = replaced(
            (DEPLOY / "nginx-definum.conf").read_text(),
            {
                "listen 80;\n    listen [::]:80;": f"listen 127.0.0.1:{plain};",
                "listen 443 ssl http2;\n    listen [::]:443 ssl http2;": (
                    f"listen 127.0.0.1:{port} ssl http2;"
                ),
                SITE_CERT: str(cert),
                SITE_KEY: str(key),
                "server 127.0.0.1:8000 ": f"server 127.0.0.1:{served.port} ",
                # No PHP-FPM here: what goes to Moodle is answered 502 by nginx.
                "unix:/run/php/php8.2-fpm.sock": "unix:{prefix}/php-fpm.sock",
                "root /var/www/moodle;\n    index": "root {prefix};\n    index",
            },
        )
        files = {"definum.conf": site, "fastcgi_params": FASTCGI_PARAMS}
        async with (
            running_nginx("include {prefix}/definum.conf;", port, files),
            # The client connects from 127.0.0.3: the proxy (127.0.0.1) is not the client.
            httpx.AsyncClient(
                base_url=f"https://127.0.0.1:{port}",
                transport=httpx.AsyncHTTPTransport(
                    verify=ssl.create_default_context(cafile=str(cert)),
                    local_address="127.0.0.3",
                ),
            ) as client,
        ):
            target = rest_target(token, 5)
            direct = await request(served.port, get(target))
            assert direct.status == 200
            stats = await client.get(target)
            assert (stats.status_code, stats.content) == (200, direct.body)
            graphql = await client.post(
                "/graphql",
                json={"query": '{ user(by: ID, value: "5") { id } }'},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert graphql.json() == {"data": {"user": {"id": 5}}}
            assets = await client.get("/graphql/static/definum-graphiql.js")
            assert assets.status_code == 200
            openapi = await client.get("/webservice/rest/openapi.json")
            assert openapi.json()["openapi"].startswith("3.")
            # definum-gql saw the client's address, as X-Forwarded-For told it, not the
            # proxy's and not the forged one.
            forged = await client.get(
                rest_target(restricted, 5), headers={"X-Forwarded-For": "10.1.2.3"}
            )
            assert forged.json()["debuginfo"] == "Invalid token - IP:127.0.0.3 is not supported"

            # Everything else goes to Moodle's PHP (absent here: 502), not to definum-gql.
            other = rest_target(token, 5).replace(
                "definum_get_stats", "core_webservice_get_site_info"
            )
            in_body = await client.post(
                "/webservice/rest/server.php?moodlewsrestformat=json",
                data={"wstoken": token, "wsfunction": "definum_get_stats", "userid": "5"},
            )
            for answer in (
                await client.get(other),
                in_body,  # the POST-body limitation the site file explains
                await client.get("/login/index.php"),
            ):
                assert answer.status_code == 502, answer.text
            # Health endpoints are for the load balancer, asked on each process directly.
            assert (await client.get("/readyz")).status_code == 404
            redirect = await request(plain, get("/my/"))
            assert redirect.status == 301
            assert redirect.headers["location"] == "https://127.0.0.1/my/"

            async def logged_three() -> bool:
                return rest_lines(served) == 3  # direct, stats and forged: nothing else

            await poll(logged_three, "definum-gql to log the REST calls routed to it")


async def test_the_systemd_unit_verifies(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        missing("systemd-analyze is not installed")
    binary = Path(sys.executable).parent / "definum-gql"
    unit = replaced(
        (DEPLOY / "definum-gql.service").read_text(),
        # verify checks that the command exists: this venv's stands in for /opt/definum-gql.
        {"ExecStart=/opt/definum-gql/bin/definum-gql ": f"ExecStart={binary} "},
    )
    path = tmp_path / "definum-gql.service"
    path.write_text(unit)
    said = await run([analyze, "verify", str(path)])
    assert said == ""
    assert "serve --workers" in unit


async def test_the_environment_file_holds_valid_settings() -> None:
    # As systemd reads it (single-quoted values are taken as they are), so does sh.
    script = f'set -a; . "{DEPLOY / "definum-gql.env"}"; exec "$0" config --json'
    binary = str(Path(sys.executable).parent / "definum-gql")
    process = await asyncio.create_subprocess_exec(
        "sh",
        "-c",
        script,
        binary,
        env={"PATH": os.environ["PATH"], "DEFINUM_CONFIG_FILE": ""},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    settings = json.loads(out)
    assert (
        settings["database_url"] == "postgresql+asyncpg://definum_reader:***@db.example.org/moodle"
    )
    assert settings["trusted_proxies"] == ["127.0.0.1"]
    assert (settings["host"], settings["port"]) == ("127.0.0.1", 8000)
    assert settings["redis_url"] == "redis://127.0.0.1:6379/0"


def test_the_containerfile_copies_files_that_exist() -> None:
    # It is not built here (no container engine); at least what it copies from the tree exists.
    sources = [
        part
        for line in (DEPLOY / "Containerfile").read_text().splitlines()
        if line.startswith("COPY ") and "--from=" not in line
        for part in line.split()[1:-1]
    ]
    assert sources == ["pyproject.toml", "README.md", "definum_gql"]
    assert all((ROOT / source).exists() for source in sources)
