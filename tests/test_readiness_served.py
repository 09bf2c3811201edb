"""Liveness and readiness of a real ``definum-gql serve`` whose database goes away and comes back.

The database is a throwaway PostgreSQL server (tests/throwaway.py) holding a small demo site; it
is stopped under the running service, then started again. Expected documents are computed
in-process on the same database before the outage.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from definum_gql.demo import build_demo_site
from definum_gql.moodle.site import Moodle
from definum_gql.stats.document import definum_stats
from tests.builders import NOW
from tests.databases import settings_for
from tests.served import RawAnswer
from tests.throwaway import (
    get,
    poll,
    post_json,
    postgres_primary,
    request,
    rest_target,
    serve_process,
)

LEARNER = 5
#: The contract's answer when the database cannot be reached (section 7), without debuginfo.
UNREACHABLE = {
    "exception": "dml_connection_exception",
    "errorcode": "dbconnectionfailed",
    "message": "Database connection failed",
}
QUERY = """query Stats($value: String!) {
  user(by: ID, value: $value) { id definumStats { courses loginsInMonth timeSpentInMonth } }
}"""


async def _expected_document(url: str) -> dict[str, Any]:
    moodle = Moodle.from_settings(settings_for(url), clock=lambda: float(NOW))
    try:
        async with moodle.request() as ctx:
            documents = await definum_stats(ctx, [LEARNER])
    finally:
        await moodle.dispose()
    return dataclasses.asdict(documents[LEARNER])


async def test_readyz_follows_the_database_while_healthz_stays_up() -> None:
    async with postgres_primary() as primary:
        await primary.create_database()
        demo = await build_demo_site(primary.url(), users=12, courses=6, months=2, now=NOW)
        token = demo.tokens["valid"]
        expected = await _expected_document(primary.url())
        # The learner has figures to lose: an outage must not pass for an idle month.
        assert expected["id"] == LEARNER
        assert expected["loginsinmonth"] > 0
        assert expected["timespentinmonth"] > 0
        rest = get(rest_target(token, LEARNER))
        graphql = post_json(
            "/graphql",
            {"query": QUERY, "variables": {"value": str(LEARNER)}},
            {"Authorization": f"Bearer {token}"},
        )
        env = {"DEFINUM_DATABASE_URL": primary.url(), "DEFINUM_NOW": str(NOW)}
        async with serve_process(env) as served:
            port = served.port
            assert (await request(port, get("/healthz"))).status == 200
            ready = await request(port, get("/readyz"))
            assert (ready.status, json.loads(ready.body)) == (200, {"status": "ready"})
            before = await request(port, rest)
            assert before.status == 200
            assert json.loads(before.body) == expected
            answer = await request(port, graphql)
            assert json.loads(answer.body) == {
                "data": {
                    "user": {
                        "id": LEARNER,
                        "definumStats": {
                            "courses": expected["courses"],
                            "loginsInMonth": expected["loginsinmonth"],
                            "timeSpentInMonth": expected["timespentinmonth"],
                        },
                    }
                }
            }

            await primary.stop()

            down = await request(port, get("/readyz"))
            assert down.status == 503
            state = json.loads(down.body)
            assert state["status"] == "unavailable"
            assert state["reason"].startswith("the database is unavailable"), state
            assert down.headers["cache-control"] == "no-store"
            # Liveness does not ask the database: restarting the process would not help.
            alive = await request(port, get("/healthz"))
            assert (alive.status, json.loads(alive.body)) == (200, {"status": "ok"})
            outage = await request(port, rest)
            assert outage.status == 503
            assert json.loads(outage.body) == UNREACHABLE
            assert outage.headers["content-type"] == "application/json"
            refused = await request(port, graphql)
            assert refused.status == 503
            errors = json.loads(refused.body)["errors"]
            assert [error["extensions"]["code"] for error in errors] == ["DATABASE_UNAVAILABLE"]

            await primary.start()

            async def readyz() -> RawAnswer | None:
                answer = await request(port, get("/readyz"))
                return answer if answer.status == 200 else None

            back = await poll(readyz, "/readyz to answer 200 once the database is back")
            assert json.loads(back.body) == {"status": "ready"}
            after = await request(port, rest)
            assert after.status == 200
            assert after.body == before.body
            answer = await request(port, graphql)
            assert json.loads(answer.body)["data"]["user"]["id"] == LEARNER
