"""Functions other than definum_get_stats (contract section 2, steps 6 and 7; section 6).

Only names absent from ``external_functions`` are unknown; a known function the token's service
lacks is an access exception; one it contains is forwarded to Moodle, or answered
``servicenotavailable`` when no Moodle is configured. Nothing refused is ever forwarded.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from definum_gql.config import Settings
from definum_gql.moodle.site import Moodle
from tests.builders import NOW, Site
from tests.rest_support import TOKEN, call, json_error

SITE_INFO = "core_webservice_get_site_info"
ACCESS = ("webservice_access_exception", "accessexception", "Access control exception")
UNKNOWN = (
    "dml_missing_record_exception",
    "invalidrecord",
    "Can't find data record in database table external_functions.",
)


@pytest.fixture
async def debug_moodle(settings: Settings) -> AsyncIterator[Moodle]:
    instance = Moodle.from_settings(
        settings.model_copy(update={"debug": True}), clock=lambda: float(NOW)
    )
    yield instance
    await instance.dispose()


@pytest.fixture
async def forwarding(moodle: Moodle) -> Moodle:
    moodle.settings.moodle_url = "http://moodle.example/"
    return moodle


class Upstream:
    """A stand-in for the real Moodle that records what reaches it."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.transport = httpx.MockTransport(self.answer)

    def answer(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request.url.params["wsfunction"])
        return httpx.Response(200, content=b'{"sitename":"Real"}')


async def _client(site: Site, *functions: str, **service: int) -> int:
    """TOKEN of a REST-capable user, on a service holding ``functions``."""
    owner = await site.user(username="wsclient")
    await site.allow(7)
    service_id = await site.service("client", functions=functions, **service)
    await site.token(owner, service_id, token=TOKEN)
    return service_id


async def _answer(moodle: Moodle, function: str, upstream: Upstream | None = None) -> bytes:
    query = {"wstoken": TOKEN, "wsfunction": function, "moodlewsrestformat": "json"}
    transport = upstream.transport if upstream else None
    response = await call(moodle, query, forward_transport=transport)
    assert response.status_code == 200
    return response.content


async def test_only_functions_of_the_tokens_service_are_forwarded(
    site: Site, forwarding: Moodle
) -> None:
    await _client(site, "definum_get_stats", SITE_INFO)
    await site.service("mobile", functions=("core_user_get_users",))  # known, not the token's
    upstream = Upstream()
    assert await _answer(forwarding, SITE_INFO, upstream) == b'{"sitename":"Real"}'
    assert await _answer(forwarding, "core_user_get_users", upstream) == json_error(*ACCESS)
    assert await _answer(forwarding, "local_nothing_here", upstream) == json_error(*UNKNOWN)
    assert upstream.seen == [SITE_INFO]


async def test_a_closed_service_forwards_nothing(site: Site, forwarding: Moodle) -> None:
    service = await _client(site, SITE_INFO, restrictedusers=1)
    upstream = Upstream()
    assert await _answer(forwarding, SITE_INFO, upstream) == json_error(*ACCESS)
    users = site.t.external_services_users
    owner = await site.user()
    await site.insert(users, externalserviceid=service, userid=owner, validuntil=0)
    assert await _answer(forwarding, SITE_INFO, upstream) == json_error(*ACCESS)  # not TOKEN's
    await site.set(site.t.external_services, service, restrictedusers=0, enabled=0)
    assert await _answer(forwarding, SITE_INFO, upstream) == json_error(*ACCESS)
    assert upstream.seen == []


async def test_an_allowed_function_without_a_moodle_is_not_available(
    site: Site, debug_moodle: Moodle
) -> None:
    await _client(site, SITE_INFO)
    # Moodle's servicenotavailable carries no debuginfo, even with debugging on.
    assert await _answer(debug_moodle, SITE_INFO) == (
        b'{"exception":"moodle_exception","errorcode":"servicenotavailable",'
        b'"message":"Web service is not available (it doesn\'t exist or might be disabled)"}'
    )


async def test_the_function_is_looked_up_before_the_service(
    site: Site, debug_moodle: Moodle
) -> None:
    await _client(site, SITE_INFO, enabled=0)
    unknown = await _answer(debug_moodle, "local_nothing_here")
    assert unknown.startswith(b'{"exception":"dml_missing_record_exception"')
    assert b"SELECT * FROM {external_functions} WHERE name = ?" in unknown
    known = await _answer(debug_moodle, SITE_INFO)
    assert known.startswith(b'{"exception":"webservice_access_exception"')
    assert b'"debuginfo":"Access to the function core_webservice_get_site_info() is not' in known


async def test_definum_get_stats_needs_no_external_functions_row(
    site: Site, moodle: Moodle
) -> None:
    owner = await site.user(username="wsclient")
    await site.allow(7)
    service = await site.service("definum", functions=())  # the configured service, no rows
    await site.token(owner, service, token=TOKEN)
    assert await site.count(site.t.external_functions) == 0
    query = {
        "wstoken": TOKEN,
        "wsfunction": "definum_get_stats",
        "useridfield": "username",
        "userid": "wsclient",
        "moodlewsrestformat": "json",
    }
    response = await call(moodle, query)
    assert response.json()["id"] == owner
