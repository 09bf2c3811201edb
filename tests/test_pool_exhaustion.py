"""Every pooled connection held up by a lock: the requests that cannot get one end in the door's
database answer (REST ``dbconnectionfailed``, GraphQL ``DATABASE_UNAVAILABLE``, both 503), never
in a 500 or Moodle's "internal error" (issue 11).

The wait for a connection is DriverPool.TIMEOUT (30 s); it is shortened here so that the test
runs in seconds. The connections' own requests end in the statement timeout.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import httpx
import pytest

from definum_gql.app import create_app
from definum_gql.moodle.reader import DriverPool
from tests.builders import Site
from tests.databases import MakeMoodle, settings_for, user_table_locked
from tests.rest_support import params, ready

if TYPE_CHECKING:
    from tests.databases import TestDatabase

CALLS = 6


async def test_requests_without_a_connection_get_the_database_answer(
    site: Site, database: TestDatabase, moodle_with: MakeMoodle, monkeypatch: pytest.MonkeyPatch
) -> None:
    if database.backend == "sqlite":
        pytest.skip("SQLite has no connection pool to run out of")
    monkeypatch.setattr(DriverPool, "TIMEOUT", 0.3)
    await ready(site)
    learner = await site.user(firstname="Ada")
    token = await site.token(2, 1)  # the site admin, on the service ready() made
    values = {"statement_timeout_ms": 2000, "pool_size": 1}
    moodle = moodle_with(**values)
    app = create_app(settings_for(database.url, **values), moodle)
    transport = httpx.ASGITransport(app=app, client=("192.0.2.10", 40000))
    query = '{ user(by: ID, value: "' + str(learner) + '") { id } }'
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        assert (await http.get("/webservice/rest/server.php", params=params(str(learner)))).json()[
            "id"
        ] == learner
        async with user_table_locked(database):
            rest = [
                http.get("/webservice/rest/server.php", params=params(str(learner)))
                for _ in range(CALLS)
            ]
            graphql = [
                http.post(
                    "/graphql",
                    json={"query": query},
                    headers={"Authorization": f"Bearer {token}"},
                )
                for _ in range(CALLS)
            ]
            answers = await asyncio.gather(*rest, *graphql)
        after = await http.get("/webservice/rest/server.php", params=params(str(learner)))
    kinds = []
    for answer in answers[:CALLS]:
        body = answer.json()
        kinds.append((answer.status_code, body["errorcode"]))
    for answer in answers[CALLS:]:
        codes = [e["extensions"]["code"] for e in answer.json()["errors"]]
        kinds.append((answer.status_code, codes[0]))
        assert len(codes) == 1
    assert set(kinds) <= {
        (200, "dmlreadexception"),  # held a connection: the statement timeout
        (503, "dbconnectionfailed"),  # waited for one in vain
        (504, "QUERY_TIMEOUT"),
        (200, "QUERY_TIMEOUT"),
        (503, "DATABASE_UNAVAILABLE"),
    }, kinds
    assert (503, "dbconnectionfailed") in kinds
    assert (503, "DATABASE_UNAVAILABLE") in kinds
    # The lock gone, the pool serves again.
    assert after.json()["id"] == learner
