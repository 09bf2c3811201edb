"""DEFINUM_STATEMENT_TIMEOUT_MS: a statement held up by a lock is cancelled by the database, both
doors say so in their own shape, and the connection goes back to the pool healthy."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from sqlalchemy import text

from definum_gql.moodle.site import Moodle
from tests.builders import Site
from tests.databases import MakeMoodle, user_table_locked
from tests.graphql_support import post
from tests.rest_support import TOKEN, call, json_error, params, ready

if TYPE_CHECKING:  # imported at run time, pytest would try to collect the class
    from tests.databases import TestDatabase

TIMEOUT_MS = 400


async def session_id(moodle: Moodle) -> int:
    """The database session the pool hands out next (one connection: always the same one)."""
    query = (
        "SELECT pg_backend_pid()" if moodle.db.backend == "postgresql" else "SELECT CONNECTION_ID()"
    )
    async with moodle.db.reader() as reader:
        return int((await reader.execute(text(query)))[0][0])


@pytest.fixture
def bounded(database: TestDatabase, moodle_with: MakeMoodle) -> Moodle:
    if database.backend == "sqlite":
        pytest.skip("SQLite has no statement timeout (the demo site is local)")
    return moodle_with(statement_timeout_ms=TIMEOUT_MS, pool_size=1)


async def test_a_statement_held_by_a_lock_is_cancelled_on_both_doors(
    site: Site, database: TestDatabase, bounded: Moodle
) -> None:
    learner = await site.user(firstname="Ada", lastname="Lovelace")
    await ready(site)
    before = await call(bounded, params(str(learner)))
    assert b'"firstname":"Ada"' in before.content
    session = await session_id(bounded)
    async with user_table_locked(database):
        rest = await call(bounded, params(str(learner)))
        graphql = await post(bounded, "{ me { id } }", token=TOKEN)
    # Moodle's dmlreadexception shape (debuginfo only with DEFINUM_DEBUG).
    assert rest.status_code == 200
    assert rest.content == json_error(
        "dml_read_exception", "dmlreadexception", "Error reading from database"
    )
    assert graphql.status_code == 504
    error = graphql.json()["errors"][0]
    assert error["extensions"]["code"] == "QUERY_TIMEOUT"
    assert "DEFINUM_STATEMENT_TIMEOUT_MS" in error["message"]
    # The lock gone, the same connection answers again: it was not thrown away.
    after = await call(bounded, params(str(learner)))
    assert after.content == before.content
    assert await session_id(bounded) == session
