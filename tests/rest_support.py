"""Helpers for the REST shim tests: a tiny app around ``rest_routes``, a client, expected bytes."""

from __future__ import annotations

from typing import Any

import httpx
from starlette.applications import Starlette

from definum_gql.moodle.site import Moodle
from definum_gql.rest import rest_routes
from tests.builders import Site

PEER = ("192.0.2.10", 50000)
TOKEN = "0123456789abcdef0123456789abcdef"
URL = "http://testserver/webservice/rest/server.php"

JSON_HEADERS = {
    "content-type": "application/json",
    "cache-control": "private, must-revalidate, pre-check=0, post-check=0, max-age=0",
    "expires": "Thu, 01 Jan 1970 00:00:00 GMT",
    "pragma": "no-cache",
    "accept-ranges": "none",
    "access-control-allow-origin": "*",
}
XML_HEADERS = {
    **JSON_HEADERS,
    "content-type": "application/xml; charset=utf-8",
    "content-disposition": 'inline; filename="response.xml"',
}


async def ready(site: Site, **token: Any) -> int:
    """A web service client: its user, a REST-capable default role, the service and TOKEN."""
    owner = await site.user(username="wsclient", firstname="WS", lastname="Client")
    await site.allow(7)
    service = await site.service()
    await site.token(owner, service, token=token.pop("token", TOKEN), **token)
    return owner


def params(
    userid: str, field: str = "id", fmt: str | None = "json", **extra: str
) -> dict[str, str]:
    result = {
        "wstoken": TOKEN,
        "wsfunction": "definum_get_stats",
        "useridfield": field,
        "userid": userid,
    }
    if fmt is not None:
        result["moodlewsrestformat"] = fmt
    result.update(extra)
    return result


async def call(
    moodle: Moodle,
    query: dict[str, str] | list[tuple[str, str]] | str | None = None,
    *,
    method: str = "GET",
    data: dict[str, str] | None = None,
    files: dict[str, Any] | None = None,
    content: bytes | None = None,
    headers: dict[str, str] | None = None,
    peer: tuple[str, int] = PEER,
    forward_transport: httpx.AsyncBaseTransport | None = None,
    path: str = "/webservice/rest/server.php",
) -> httpx.Response:
    app = Starlette(routes=rest_routes(moodle, forward_transport=forward_transport))
    transport = httpx.ASGITransport(app=app, client=peer)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        return await client.request(
            method,
            path,
            params=httpx.QueryParams(tuple(query)) if isinstance(query, list) else query,
            data=data,
            files=files,
            content=content,
            headers=headers,
        )


def json_error(exception: str, code: str, message: str) -> bytes:
    return f'{{"exception":"{exception}","errorcode":"{code}","message":"{message}"}}'.encode()


def xml_error(exception: str, code: str, message: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8" ?>\n'
        f'<EXCEPTION class="{exception}">\n'
        f"<ERRORCODE>{code}</ERRORCODE>\n"
        f"<MESSAGE>{message}</MESSAGE>\n"
        "</EXCEPTION>\n"
    ).encode()


def headers_of(response: httpx.Response) -> dict[str, str]:
    wanted = set(XML_HEADERS)
    return {k: v for k, v in response.headers.items() if k in wanted}
