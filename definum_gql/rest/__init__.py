"""The Moodle-compatible REST shim: ``/webservice/rest/server.php`` and its OpenAPI document."""

from __future__ import annotations

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Scope

from definum_gql.auth import Authenticator
from definum_gql.config import Settings
from definum_gql.guards import Answer, BodyRule
from definum_gql.moodle.site import Moodle
from definum_gql.rest.errors import WsError, invalid_parameter
from definum_gql.rest.openapi import openapi_document
from definum_gql.rest.render import render_error, render_stats, response_headers
from definum_gql.rest.request import parse_urlencoded, split_call
from definum_gql.rest.server import RestServer

__all__ = ["body_rule", "render_stats", "rest_routes"]


def body_rule(settings: Settings) -> BodyRule:
    """REST bodies over ``DEFINUM_MAX_REST_BODY`` (HTTP 200, as Moodle's own parameter errors)
    or not received within ``DEFINUM_CLIENT_TIMEOUT`` (HTTP 408): Moodle's parameter error, in
    the format the query string asks for (the body that would say otherwise is not read)."""

    def answer(scope: Scope, error: WsError) -> Answer:
        fmt = split_call(parse_urlencoded(scope.get("query_string", b"")), {}).fmt
        headers = [(k.lower().encode(), v.encode()) for k, v in response_headers(fmt).items()]
        return Answer(error.status, headers, render_error(error, fmt, settings.debug))

    def refuse(scope: Scope, limit: int) -> Answer:
        return answer(scope, invalid_parameter("Request body too large"))

    def late(scope: Scope, timeout: float) -> Answer:
        error = invalid_parameter(f"Request body not received within {timeout:g} s")
        error.status = 408
        return answer(scope, error)

    return BodyRule("/webservice/rest/", settings.max_rest_body, refuse, late)


def rest_routes(
    moodle: Moodle,
    *,
    authenticator: Authenticator | None = None,
    forward_transport: httpx.AsyncBaseTransport | None = None,
) -> list[BaseRoute]:
    """The shim's routes; ``forward_transport`` replaces the network when forwarding (tests)."""
    auth = authenticator or Authenticator(moodle.settings.token_cache_seconds)
    server = RestServer(moodle, auth, forward_transport)
    document = openapi_document()

    async def openapi(request: Request) -> Response:
        return JSONResponse(document)

    return [
        Route("/webservice/rest/server.php", server.handle, methods=["GET", "POST"]),
        Route("/webservice/rest/openapi.json", openapi, methods=["GET"]),
    ]
