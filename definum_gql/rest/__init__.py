"""The Moodle-compatible REST shim: ``/webservice/rest/server.php`` and its OpenAPI document."""

from __future__ import annotations

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from definum_gql.auth import Authenticator
from definum_gql.moodle.site import Moodle
from definum_gql.rest.openapi import openapi_document
from definum_gql.rest.render import render_stats
from definum_gql.rest.server import RestServer

__all__ = ["render_stats", "rest_routes"]


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
