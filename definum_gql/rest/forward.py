"""Passing other web service functions to the real Moodle, unchanged."""

from __future__ import annotations

import httpx
from starlette.requests import Request
from starlette.responses import Response

from definum_gql.rest.errors import forward_failed

SERVER_PATH = "/webservice/rest/server.php"


async def forward(
    request: Request,
    body: bytes,
    moodle_url: str,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Response:
    """Send the call as it came (method, query, body, content type) and return Moodle's answer."""
    url = moodle_url.rstrip("/") + SERVER_PATH
    query = request.url.query
    if query:
        url += "?" + query
    headers = {}
    content_type = request.headers.get("content-type")
    if content_type:
        headers["Content-Type"] = content_type
    try:
        async with httpx.AsyncClient(transport=transport, timeout=60.0) as client:
            answer = await client.request(request.method, url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        raise forward_failed(f"{type(exc).__name__}: {exc}") from exc
    out_headers = {}
    if "content-type" in answer.headers:
        out_headers["Content-Type"] = answer.headers["content-type"]
    return Response(answer.content, status_code=answer.status_code, headers=out_headers)
