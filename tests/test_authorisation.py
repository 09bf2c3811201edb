"""Every token state of the contract (section 2) refused on both doors, through the whole app;
and a refusal tells a caller without a valid token nothing about the learner asked for
(issue 11).

REST's words per state are pinned byte for byte in test_rest_errors.py; here each state is
checked on both doors at once, including the states GraphQL's own tests leave out (an empty
bearer, another token type, a missing, deleted, unconfirmed or nologin owner, maintenance, no
capability, a disabled or user-restricted service, the REST protocol off).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

import httpx
import pytest

from definum_gql.app import create_app
from definum_gql.config import Settings
from definum_gql.moodle.site import Moodle
from tests.builders import NOW, Site
from tests.rest_support import TOKEN, params, ready

Setup = Callable[[Site], Awaitable[str | None]]
QUERY = '{ user(by: USERNAME, value: "alice") { id firstname lastname email } }'
#: The learner callers ask about; her data must never show in a refusal.
ALICE = {
    "username": "alice",
    "firstname": "Alicia",
    "lastname": "Quixotic-Marker",
    "email": "alice.q@example.org",
    "idnumber": "ALICE-77",
}


def _token(**token: object) -> Setup:
    async def setup(site: Site) -> str | None:
        await ready(site, **token)
        return TOKEN

    return setup


def _owner(**values: object) -> Setup:
    async def setup(site: Site) -> str | None:
        owner = await ready(site)
        await site.set(site.t.user, owner, **values)
        return TOKEN

    return setup


def _sent(value: str | None) -> Setup:
    async def setup(site: Site) -> str | None:
        await ready(site)
        return value

    return setup


async def _missing_owner(site: Site) -> str | None:
    service = await site.service()
    await site.token(9999, service, token=TOKEN)
    return TOKEN


async def _maintenance(site: Site) -> str | None:
    await ready(site)
    await site.config(maintenance_enabled="1")
    return TOKEN


async def _no_capability(site: Site) -> str | None:
    owner = await site.user(username="wsclient")
    await site.token(owner, await site.service(), token=TOKEN)
    return TOKEN


async def _prohibited(site: Site) -> str | None:
    owner = await ready(site)
    manager = 1
    await site.assign(owner, manager)
    await site.allow(manager, permission=-1000)
    return TOKEN


def _service(**values: object) -> Setup:
    async def setup(site: Site) -> str | None:
        owner = await site.user(username="wsclient")
        await site.allow(7)
        await site.token(owner, await site.service(**values), token=TOKEN)  # type: ignore[arg-type]
        return TOKEN

    return setup


def _switch(**config: str) -> Setup:
    async def setup(site: Site) -> str | None:
        await ready(site)
        await site.config(**config)
        return TOKEN

    return setup


ACCESS = "accessexception"
#: state: (setup, REST errorcode (None: HTTP 403, empty body), GraphQL status, code, reason)
STATES: dict[str, tuple[Setup, str | None, int, str, str | None]] = {
    "no token": (_sent(None), "invalidtoken", 401, "MISSING_TOKEN", None),
    "empty token": (_sent(""), "invalidtoken", 401, "MISSING_TOKEN", None),
    "blank token": (_sent("   "), "invalidtoken", 401, "MISSING_TOKEN", None),
    "unknown token": (_sent("f" * 32), "invalidtoken", 401, "INVALID_TOKEN", "invalidtoken"),
    "token in another case": (
        _sent(TOKEN.upper()),
        "invalidtoken",
        401,
        "INVALID_TOKEN",
        "invalidtoken",
    ),
    "token with a NUL": (
        _sent(TOKEN + "\x00"),
        "invalidtoken",
        401,
        "INVALID_TOKEN",
        "invalidtoken",
    ),
    "a longer token": (_sent(TOKEN + "0"), "invalidtoken", 401, "INVALID_TOKEN", "invalidtoken"),
    "another token type": (
        _token(tokentype=1),
        "invalidtoken",
        401,
        "INVALID_TOKEN",
        "invalidtoken",
    ),
    "expired": (_token(validuntil=NOW - 60), ACCESS, 401, "TOKEN_EXPIRED", "tokenexpired"),
    "ip not allowed": (
        _token(iprestriction="198.51.100.0/24"),
        ACCESS,
        401,
        "IP_NOT_ALLOWED",
        "iprestricted",
    ),
    "owner missing": (_missing_owner, "invaliduser", 403, "FORBIDDEN", "invaliduser"),
    "owner deleted": (
        _owner(deleted=1),
        "wsaccessuserdeleted",
        403,
        "FORBIDDEN",
        "wsaccessuserdeleted",
    ),
    "owner unconfirmed": (
        _owner(confirmed=0),
        "wsaccessuserunconfirmed",
        403,
        "FORBIDDEN",
        "wsaccessuserunconfirmed",
    ),
    "owner suspended": (
        _owner(suspended=1),
        "wsaccessusersuspended",
        403,
        "FORBIDDEN",
        "wsaccessusersuspended",
    ),
    "owner nologin": (
        _owner(auth="nologin"),
        "wsaccessusernologin",
        403,
        "FORBIDDEN",
        "wsaccessusernologin",
    ),
    "site in maintenance": (
        _maintenance,
        "sitemaintenance",
        503,
        "SITE_MAINTENANCE",
        "sitemaintenance",
    ),
    "no webservice/rest:use": (_no_capability, ACCESS, 403, "FORBIDDEN", "nocapability"),
    "webservice/rest:use prohibited": (_prohibited, ACCESS, 403, "FORBIDDEN", "nocapability"),
    "service disabled": (_service(enabled=0), ACCESS, 403, "FORBIDDEN", "servicedenied"),
    "service without the function": (
        _service(shortname="mobile", functions=("core_webservice_get_site_info",)),
        ACCESS,
        403,
        "FORBIDDEN",
        "servicedenied",
    ),
    "restricted service without the owner": (
        _service(restrictedusers=1),
        ACCESS,
        403,
        "FORBIDDEN",
        "servicedenied",
    ),
    "web services off": (
        _switch(enablewebservices="0"),
        None,
        403,
        "WEB_SERVICES_DISABLED",
        "webservicesdisabled",
    ),
    "REST protocol off": (
        _switch(webserviceprotocols="soap"),
        None,
        403,
        "WEB_SERVICES_DISABLED",
        "webservicesdisabled",
    ),
}


def _http(settings: Settings, moodle: Moodle, debug: bool = False) -> httpx.AsyncClient:
    app = create_app(settings.model_copy(update={"debug": debug}), moodle)
    transport = httpx.ASGITransport(app=app, client=("192.0.2.10", 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def _rest(http: httpx.AsyncClient, token: str | None, username: str) -> httpx.Response:
    query = params(username, field="username")
    if token is None:
        del query["wstoken"]
    else:
        query["wstoken"] = token
    return await http.get("/webservice/rest/server.php", params=query)


async def _graphql(http: httpx.AsyncClient, token: str | None, username: str) -> httpx.Response:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    query = QUERY.replace('"alice"', json.dumps(username))
    return await http.post("/graphql", json={"query": query}, headers=headers)


@pytest.mark.parametrize("state", list(STATES))
async def test_every_token_state_is_refused_on_both_doors_saying_nothing_of_the_learner(
    site: Site, settings: Settings, moodle: Moodle, state: str
) -> None:
    """Each door's refusal for the state; and the same answer, byte for byte, whether the
    learner asked for exists or not, with none of her data in it (even with DEFINUM_DEBUG's
    debuginfo)."""
    setup, rest_code, status, code, reason = STATES[state]
    await site.user(**ALICE)
    token = await setup(site)
    async with _http(settings, moodle) as http:
        rest = await _rest(http, token, "alice")
        graphql = await _graphql(http, token, "alice")
    if rest_code is None:
        assert (rest.status_code, rest.content) == (403, b"")
    else:
        assert rest.status_code == 200
        assert rest.json()["errorcode"] == rest_code
    assert graphql.status_code == status, graphql.text
    body = graphql.json()
    assert "data" not in body
    (error,) = body["errors"]
    expected = {"code": code} if reason is None else {"code": code, "reason": reason}
    assert error["extensions"] == expected

    for debug in (False, True):
        async with _http(settings, moodle, debug) as http:
            answers = {}
            for door, ask in (("rest", _rest), ("graphql", _graphql)):
                for who in ("alice", "nobody-here"):
                    response = await ask(http, token, who)
                    answers[door, who] = (response.status_code, response.content)
        for door in ("rest", "graphql"):
            assert answers[door, "alice"] == answers[door, "nobody-here"], (door, debug)
            for value in ALICE.values():
                assert value.encode() not in answers[door, "alice"][1], (door, value)
