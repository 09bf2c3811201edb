"""The REST shim mounted as served: the OpenAPI document and the app factory's routes."""

from __future__ import annotations

import httpx

from definum_gql.moodle.site import Moodle
from tests.builders import Site
from tests.rest_support import PEER, call, params, ready


async def test_openapi_describes_the_endpoint(moodle: Moodle) -> None:
    response = await call(moodle, path="/webservice/rest/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.0")
    operation = document["paths"]["/webservice/rest/server.php"]["get"]
    names = [p["name"] for p in operation["parameters"]]
    assert names[:4] == ["wstoken", "wsfunction", "useridfield", "userid"]
    assert "moodlewsrestformat" in names
    stats = document["components"]["schemas"]["DefinumStats"]["properties"]
    assert next(iter(stats)) == "id"
    assert list(stats)[-1] == "loginsinmonth"
    assert set(operation["responses"]["200"]["content"]) == {"application/json", "application/xml"}
    error = document["components"]["schemas"]["Error"]
    assert error["required"] == ["exception", "errorcode", "message"]


async def test_the_app_mounts_the_shim(site: Site, moodle: Moodle) -> None:
    from definum_gql.app import create_app

    owner = await ready(site)
    app = create_app(moodle.settings, moodle=moodle)
    transport = httpx.ASGITransport(app=app, client=PEER)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        answer = await client.get("/webservice/rest/server.php", params=params(str(owner)))
        openapi = await client.get("/webservice/rest/openapi.json")
    assert answer.json()["id"] == owner
    assert openapi.status_code == 200
