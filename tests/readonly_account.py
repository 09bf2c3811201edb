"""A database account that may only SELECT, and the generated-input suites run through it.

Issue 11: "the whole generated-input suite once with a database account that has only SELECT
grants, to prove nothing needs more". :func:`select_only_site` makes a fresh database holding a
demo site and an account granted SELECT on it and nothing else (PostgreSQL: CONNECT, USAGE on the
schema, SELECT on its tables; MariaDB: SELECT on the database); :func:`run_generated` sends a
served process generated REST requests over raw sockets (tests/rest_fuzz.py), schemathesis cases
from the OpenAPI document and generated GraphQL documents (tests/graphql_fuzz.py), and checks
every answer. tests/test_readonly_account.py runs a few dozen cases; reliability/readonly.py
thousands.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from definum_gql.demo import build_demo_site
from tests.builders import NOW
from tests.databases import (
    admin_execute,
    admin_url_of,
    create_server_database,
    drop_server_database,
    on_database,
)
from tests.graphql_fuzz import check_refusal, check_valid_answer, documents
from tests.rest_fuzz import PATH, Call, calls, check_answer, check_openapi_case, openapi_cases
from tests.served import RawAnswer, raw_request
from tests.throwaway import post_json, serve_process


@dataclass(frozen=True)
class ReadOnlySite:
    backend: str
    #: The SELECT-only account's URL (its password in it: never printed).
    reader_url: str
    account: str
    token: str


@contextlib.asynccontextmanager
async def select_only_site(backend: str, users: int = 40) -> AsyncIterator[ReadOnlySite]:
    """A demo site in a fresh database and an account that may only read it; both dropped at
    the end, whatever happened. Skips (fails under DEFINUM_TEST_REQUIRE_SERVERS=1) when the
    server does not answer."""
    suffix = secrets.token_hex(4)
    database = account = f"definum_ro_{suffix}"
    password = secrets.token_hex(12)
    admin = admin_url_of(backend)
    owner = await create_server_database(backend, database)
    try:
        demo = await build_demo_site(owner, users=users, courses=6, months=3, now=NOW)
        if backend == "postgresql":
            await admin_execute(
                admin,
                f"CREATE ROLE {account} LOGIN PASSWORD '{password}'",
                f"GRANT CONNECT ON DATABASE {database} TO {account}",
            )
            await admin_execute(
                on_database(admin, database),
                f"GRANT USAGE ON SCHEMA public TO {account}",
                f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {account}",
            )
            reader = f"postgresql+asyncpg://{account}:{password}@127.0.0.1:5432/{database}"
        else:
            await admin_execute(
                admin,
                f"CREATE USER '{account}'@'127.0.0.1' IDENTIFIED BY '{password}'",
                f"GRANT SELECT ON {database}.* TO '{account}'@'127.0.0.1'",
            )
            reader = f"mysql+asyncmy://{account}:{password}@127.0.0.1:3306/{database}"
        yield ReadOnlySite(backend, reader, account, demo.tokens["valid"])
    finally:
        await drop_server_database(backend, database)
        if backend == "postgresql":
            await admin_execute(admin, f"DROP ROLE IF EXISTS {account}")
        else:
            await admin_execute(admin, f"DROP USER IF EXISTS '{account}'@'127.0.0.1'")


async def write_attempt(reader_url: str) -> str:
    """What the server says when the account tries to write: the proof it cannot."""
    engine = create_async_engine(reader_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text("UPDATE mdl_config SET value = value WHERE name = 'version'"))
    except Exception as exc:
        return str(getattr(exc, "orig", None) or exc)
    finally:
        await engine.dispose()
    return ""


def _cases(examples: int) -> settings:
    # A short run repeats the same cases (a failure in CI can be replayed); a long one explores.
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=examples <= 200,
    )


def _ask(port: int, raw: bytes) -> RawAnswer:
    return asyncio.run(asyncio.wait_for(raw_request(port, raw), 60))


def _rest(port: int, token: str, examples: int, counts: Counter[str]) -> None:
    @_cases(examples)
    @given(call=calls(token))
    def run(call: Call) -> None:
        head = f"{call.method} {PATH}?".encode() + call.query + b" HTTP/1.1\r\n"
        lines = b"".join(k + b": " + v + b"\r\n" for k, v in call.headers)
        answer = _ask(port, head + lines + b"Connection: close\r\n\r\n" + call.body)
        check_answer(answer.status, answer.headers, answer.body, call.method)
        counts[f"rest {answer.status}"] += 1

    run()


def _schemathesis(port: int, token: str, examples: int, counts: Counter[str]) -> None:
    @_cases(examples)
    @given(case=openapi_cases(port), real=st.booleans())
    def run(case: Any, real: bool) -> None:
        counts[f"schemathesis {check_openapi_case(case, token if real else None)}"] += 1

    run()


def _graphql(port: int, token: str, examples: int, counts: Counter[str]) -> None:
    auth = {"Authorization": f"Bearer {token}"}

    @_cases(examples)
    @given(document=documents(Mode.POSITIVE))
    def valid(document: object) -> None:
        answer = _ask(port, post_json("/graphql", {"query": str(document)}, auth))
        check_valid_answer(answer.status, json.loads(answer.body), document)
        counts[f"graphql valid {answer.status}"] += 1

    @_cases(examples)
    @given(document=documents(Mode.NEGATIVE))
    def invalid(document: object) -> None:
        answer = _ask(port, post_json("/graphql", {"query": str(document)}, auth))
        check_refusal(answer.status, json.loads(answer.body), document)
        counts[f"graphql invalid {answer.status}"] += 1

    valid()
    invalid()


async def run_generated(port: int, token: str, examples: int) -> Counter[str]:
    """Every generated suite against the served process on ``port``; answers counted by kind
    and status. Hypothesis drives each suite from a thread (it runs its own event loops)."""
    counts: Counter[str] = Counter()
    for suite in (_rest, _schemathesis, _graphql):
        await asyncio.to_thread(suite, port, token, examples, counts)
    return counts


async def served_generated(site: ReadOnlySite, examples: int) -> tuple[Counter[str], bytes]:
    """``serve --workers 2`` reading through the SELECT-only account, every generated suite
    sent to it; the answers counted and the server's log."""
    env = {
        "DEFINUM_DATABASE_URL": site.reader_url,
        "DEFINUM_NOW": str(NOW),
        "DEFINUM_LOG_FORMAT": "json",
    }
    async with serve_process(env, ["--workers", "2"]) as served:
        counts = await run_generated(served.port, site.token, examples)
    return counts, bytes(served.log)


def log_problems(log: bytes | bytearray) -> list[str]:
    """Lines of a JSON-lines server log that say something went wrong on our side."""
    return [
        line
        for line in log.decode(errors="replace").splitlines()
        if '"level": "error"' in line or "permission denied" in line.lower() or "Traceback" in line
    ]
