"""How a call is read (PHP's $_GET/$_POST), cleaned (clean_param), written and forwarded."""

from __future__ import annotations

import json
from decimal import Decimal

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from definum_gql.moodle.site import Moodle
from definum_gql.rest.clean import is_alpha, is_text
from definum_gql.rest.render import php_json
from definum_gql.rest.request import ARRAY, parse_urlencoded
from tests.builders import NOW, Site
from tests.rest_support import (
    JSON_HEADERS,
    TOKEN,
    XML_HEADERS,
    call,
    headers_of,
    json_error,
    params,
    ready,
)


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("bob", True),
        ("O'Brien & co > x", True),
        ("a < b", True),  # '<' followed by whitespace is not a tag for strip_tags
        ("a <\tb", True),
        ("<b>bob</b>", False),
        ("a<b", False),
        ("a <", False),  # a '<' at the end opens a tag
        ("x\x00", False),  # fix_utf8 removes NUL
        ("x\ufffe", False),
        ("bad\udcff", False),  # invalid UTF-8 in the request
        ('<lang lang="en">bob</lang><lang lang="fr">robert</lang>', True),  # multilang survives
        ('<lang lang="en">bob</lang>', True),
        ('<lang lang="en">bob', False),  # no closing tag: every tag stripped
        ("</lang>bob", False),
        ('<lang lang="en">bob</lang><b>x</b>', False),
        ('<span lang="en" class="multilang">x</span>', True),
        ("<span>x</span>", False),
        ("", True),
    ],
)
def test_param_text(value: str, valid: bool) -> None:
    assert is_text(value) is valid


@pytest.mark.parametrize(
    ("value", "valid"),
    [("id", True), ("oidcuniqueid", True), ("", True), ("user_name", False), ("é", False)],
)
def test_param_alpha(value: str, valid: bool) -> None:
    assert is_alpha(value) is valid


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        ("a/b", '"a\\/b"'),
        ("é", '"\\u00e9"'),
        ("🎓", '"\\ud83c\\udf93"'),
        ("\x7f", '"\x7f"'),  # PHP leaves DEL alone; Python's json module would escape it
        ("\n\t\x01", '"\\n\\t\\u0001"'),
        ('"\\', '"\\"\\\\"'),
        ("<&>'", '"<&>\'"'),
        ({"b": 1, "a": [True, None]}, '{"b":1,"a":[true,null]}'),
        (Decimal("5"), "5"),
    ],
)
def test_php_json_encode(value: object, encoded: str) -> None:
    assert php_json(value) == encoded


def test_urlencoded_parsing_follows_php() -> None:
    assert parse_urlencoded(b"a=1&a=2") == {"a": "2"}  # the last one wins
    assert parse_urlencoded(b"userid[0]=7") == {"userid": ARRAY}
    assert parse_urlencoded(b"userid[]=7&x") == {"userid": ARRAY, "x": ""}
    assert parse_urlencoded(b"user.id=1&a+b=%41") == {"user_id": "1", "a_b": "A"}
    assert parse_urlencoded(b"v=%ff") == {"v": "\udcff"}


async def test_get_post_and_multipart_answer_identically(site: Site, moodle: Moodle) -> None:
    await ready(site)
    query = params("wsclient", field="username", fmt="xml")
    got = await call(moodle, query)
    posted = await call(moodle, method="POST", data=query)
    multipart = await call(
        moodle, method="POST", data=query, files={"attachment": ("a.txt", b"ignored")}
    )
    assert got.status_code == posted.status_code == multipart.status_code == 200
    assert got.content.startswith(b'<?xml version="1.0" encoding="UTF-8" ?>\n<RESPONSE>\n')
    assert got.content == posted.content == multipart.content
    assert headers_of(got) == headers_of(posted) == headers_of(multipart) == XML_HEADERS


async def test_body_wins_over_the_query_string(site: Site, moodle: Moodle) -> None:
    owner = await ready(site)
    response = await call(
        moodle,
        params("999"),
        method="POST",
        data={"userid": str(owner), "useridfield": "id"},
    )
    assert response.json()["id"] == owner


async def test_a_json_body_is_not_read(site: Site, moodle: Moodle) -> None:
    owner = await ready(site)
    query = {"wstoken": TOKEN, "wsfunction": "definum_get_stats", "moodlewsrestformat": "json"}
    response = await call(
        moodle,
        query,
        method="POST",
        content=json.dumps({"useridfield": "id", "userid": str(owner)}).encode(),
        headers={"Content-Type": "application/json"},
    )
    assert response.content == json_error(
        "invalid_parameter_exception", "invalidparameter", "Invalid parameter value detected"
    )


@pytest.mark.parametrize(("value", "json_out"), [("json", True), ("JSON", False), ("yaml", False)])
async def test_only_lowercase_json_selects_json(
    site: Site, moodle: Moodle, value: str, json_out: bool
) -> None:
    await ready(site)
    response = await call(moodle, params("wsclient", field="username", fmt=value))
    assert headers_of(response) == (JSON_HEADERS if json_out else XML_HEADERS)
    assert response.content.startswith(b'{"id":' if json_out else b"<?xml")


async def test_no_format_means_xml(site: Site, moodle: Moodle) -> None:
    await ready(site)
    response = await call(moodle, params("wsclient", field="username", fmt=None))
    assert headers_of(response) == XML_HEADERS


async def test_settings_are_not_parameters(site: Site, moodle: Moodle) -> None:
    await ready(site)
    query = params(
        "wsclient",
        field="username",
        moodlewssettinglang="fr",
        moodlewssettingfilter="1",
        moodlewssettingfileurl="0",
    )
    response = await call(moodle, query)
    assert response.json()["lastloginstr"] == "Jamais"


async def test_forwarded_for_from_a_trusted_proxy_meets_the_ip_rule(
    site: Site, moodle: Moodle
) -> None:
    await ready(site, iprestriction="203.0.113.7")
    headers = {"X-Forwarded-For": "203.0.113.7"}
    untrusted = await call(moodle, params("3"), headers=headers)
    assert untrusted.json()["errorcode"] == "accessexception"
    moodle.settings.trusted_proxies = ["192.0.2.0/24"]  # the test peer is 192.0.2.10
    trusted = await call(moodle, params("3"), headers=headers)
    assert "exception" not in trusted.json()


async def test_not_found_paths_and_methods_are_not_the_shim(moodle: Moodle) -> None:
    response = await call(moodle, method="PUT")
    assert response.status_code == 405


def _upstream() -> tuple[httpx.AsyncBaseTransport, list[dict[str, str]]]:
    seen: list[dict[str, str]] = []

    async def server(request: Request) -> Response:
        seen.append(
            {
                "method": request.method,
                "path": request.url.path,
                "query": request.url.query,
                "body": (await request.body()).decode(),
                "content-type": request.headers.get("content-type", ""),
            }
        )
        return Response(b'{"sitename":"Real"}', status_code=202, media_type="application/x-moodle")

    app = Starlette(
        routes=[Route("/moodle/webservice/rest/server.php", server, methods=["GET", "POST"])]
    )
    return httpx.ASGITransport(app=app), seen


@pytest.fixture
async def forwarding(moodle: Moodle) -> Moodle:
    moodle.settings.moodle_url = "http://moodle.example/moodle/"
    return moodle


async def _site_info_client(site: Site) -> None:
    """TOKEN's service offers core_webservice_get_site_info too: only then is it forwarded."""
    owner = await site.user(username="wsclient")
    await site.allow(7)
    functions = ("definum_get_stats", "core_webservice_get_site_info")
    await site.token(owner, await site.service(functions=functions), token=TOKEN)


async def test_other_functions_are_forwarded_unchanged(site: Site, forwarding: Moodle) -> None:
    await _site_info_client(site)
    transport, seen = _upstream()
    query = {"wstoken": TOKEN, "wsfunction": "core_webservice_get_site_info"}
    got = await call(forwarding, query, forward_transport=transport)
    assert got.status_code == 202
    assert got.content == b'{"sitename":"Real"}'
    assert got.headers["content-type"] == "application/x-moodle"
    posted = await call(
        forwarding,
        {"moodlewsrestformat": "json"},
        method="POST",
        data=query,
        forward_transport=transport,
    )
    assert posted.status_code == 202
    assert seen[0] == {
        "method": "GET",
        "path": "/moodle/webservice/rest/server.php",
        "query": f"wstoken={TOKEN}&wsfunction=core_webservice_get_site_info",
        "body": "",
        "content-type": "",
    }
    assert seen[1] == {
        "method": "POST",
        "path": "/moodle/webservice/rest/server.php",
        "query": "moodlewsrestformat=json",
        "body": f"wstoken={TOKEN}&wsfunction=core_webservice_get_site_info",
        "content-type": "application/x-www-form-urlencoded",
    }


async def test_a_bad_token_is_not_forwarded(site: Site, forwarding: Moodle) -> None:
    await ready(site)
    transport, seen = _upstream()
    query = {"wstoken": "nope", "wsfunction": "core_webservice_get_site_info"}
    response = await call(forwarding, query, forward_transport=transport)
    assert response.content.startswith(b'<?xml version="1.0" encoding="UTF-8" ?>\n<EXCEPTION')
    assert b"<ERRORCODE>invalidtoken</ERRORCODE>" in response.content
    assert seen == []


async def test_an_unreachable_moodle_is_a_moodle_shaped_error(
    site: Site, forwarding: Moodle
) -> None:
    await _site_info_client(site)

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    query = {
        "wstoken": TOKEN,
        "wsfunction": "core_webservice_get_site_info",
        "moodlewsrestformat": "json",
    }
    response = await call(forwarding, query, forward_transport=httpx.MockTransport(refuse))
    assert response.status_code == 502
    assert response.json()["exception"] == "moodle_exception"


async def test_expired_token_time_is_inclusive(site: Site, moodle: Moodle) -> None:
    await ready(site, validuntil=NOW)
    response = await call(moodle, params("3"))
    assert "exception" not in response.json()


async def test_a_get_body_is_not_read(site: Site, moodle: Moodle) -> None:
    # PHP fills $_POST for POST requests only.
    owner = await ready(site)
    response = await call(
        moodle,
        params(str(owner)),
        method="GET",
        content=b"userid=999",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.json()["id"] == owner
