"""When two things are wrong, the first check in Moodle's order answers (contract section 2).

Access exceptions all print the same envelope, so these tests run with debug on and tell them
apart by Moodle's debuginfo.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from definum_gql.config import Settings
from definum_gql.moodle.site import Moodle
from tests.builders import NOW, Site
from tests.rest_support import TOKEN, call, params, ready

EXPIRED = "Invalid token - token expired"
IP = "Invalid token - IP:192.0.2.10 is not supported"
CAPABILITY = "missing capability: webservice/rest:use"
SERVICE = "Access to the function definum_get_stats() is not allowed"


@pytest.fixture
async def debug_moodle(settings: Settings) -> AsyncIterator[Moodle]:
    instance = Moodle.from_settings(
        settings.model_copy(update={"debug": True}), clock=lambda: float(NOW)
    )
    yield instance
    await instance.dispose()


async def _answer(moodle: Moodle, **changes: str | None) -> dict[str, str]:
    query = params("3")
    for name, value in changes.items():
        if value is None:
            query.pop(name, None)
        else:
            query[name] = value
    response = await call(moodle, query)
    assert response.status_code == 200
    answer: dict[str, str] = response.json()
    return answer


async def test_web_services_off_comes_before_the_token(site: Site, debug_moodle: Moodle) -> None:
    await site.config(enablewebservices="0")
    response = await call(debug_moodle, params("3", wstoken="unknown"))
    assert response.status_code == 403
    assert response.content == b""


async def test_rest_not_enabled_is_403(site: Site, debug_moodle: Moodle) -> None:
    await ready(site)
    await site.config(webserviceprotocols="soap,xmlrpc")
    response = await call(debug_moodle, params("3", fmt="xml"))
    assert response.status_code == 403
    assert response.content == b""
    await site.config(webserviceprotocols="soap,rest")
    response = await call(debug_moodle, params("3", fmt="xml"))
    assert response.status_code == 200


async def test_expiry_before_ip(site: Site, debug_moodle: Moodle) -> None:
    await ready(site, validuntil=NOW - 1, iprestriction="198.51.100.1")
    answer = await _answer(debug_moodle)
    assert answer["debuginfo"].startswith(EXPIRED)


async def test_ip_before_the_owner(site: Site, debug_moodle: Moodle) -> None:
    owner = await ready(site, iprestriction="198.51.100.1")
    await site.set(site.t.user, owner, suspended=1)
    answer = await _answer(debug_moodle)
    assert answer["debuginfo"] == IP


async def test_maintenance_before_the_owner_state(site: Site, debug_moodle: Moodle) -> None:
    # Moodle 4.1 checks maintenance mode first, then deleted, unconfirmed, suspended, nologin.
    owner = await ready(site)
    await site.set(site.t.user, owner, suspended=1)
    await site.config(maintenance_enabled="1")
    answer = await _answer(debug_moodle)
    assert answer["errorcode"] == "sitemaintenance"


async def test_owner_state_before_capability(site: Site, debug_moodle: Moodle) -> None:
    owner = await site.user(username="wsclient", suspended=1)
    service = await site.service()
    await site.token(owner, service, token=TOKEN)
    answer = await _answer(debug_moodle)
    assert answer["errorcode"] == "wsaccessusersuspended"


async def test_capability_before_the_function(site: Site, debug_moodle: Moodle) -> None:
    owner = await site.user(username="wsclient")
    service = await site.service()
    await site.token(owner, service, token=TOKEN)
    answer = await _answer(debug_moodle, wsfunction="no_such_function")
    assert CAPABILITY in answer["debuginfo"]


async def test_missing_function_before_the_service(site: Site, debug_moodle: Moodle) -> None:
    owner = await site.user(username="wsclient")
    await site.allow(7)
    service = await site.service(enabled=0)
    await site.token(owner, service, token=TOKEN)
    answer = await _answer(debug_moodle, wsfunction=None)
    assert answer["errorcode"] == "invalidparameter"
    assert answer["debuginfo"] == "Missing function name"


async def test_service_before_parameters(site: Site, debug_moodle: Moodle) -> None:
    owner = await site.user(username="wsclient")
    await site.allow(7)
    service = await site.service(restrictedusers=1)
    await site.token(owner, service, token=TOKEN)
    answer = await _answer(debug_moodle, useridfield="user_name", foo="bar")
    assert answer["debuginfo"].startswith(SERVICE)


async def test_parameters_before_the_lookup(site: Site, debug_moodle: Moodle) -> None:
    await ready(site)
    answer = await _answer(debug_moodle, userid="<b>999</b>")
    assert answer["errorcode"] == "invalidparameter"
    assert answer["debuginfo"] == (
        "userid => Invalid parameter value detected: Invalid external api parameter: "
        'the value is "<b>999</b>", the server was expecting "text" type'
    )


async def test_parameter_errors_in_declaration_order(site: Site, debug_moodle: Moodle) -> None:
    await ready(site)
    missing = await _answer(debug_moodle, useridfield=None, userid=None, foo="bar")
    assert missing["debuginfo"] == "Missing required key in single structure: useridfield"
    extra = await _answer(debug_moodle, foo="bar", zed="1")
    assert extra["debuginfo"] == "Unexpected keys (foo, zed) detected in parameter array."
    unsupported = await _answer(debug_moodle, useridfield="lastname")
    assert unsupported["debuginfo"] == "Non supported user field"
