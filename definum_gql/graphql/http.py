"""``/graphql`` over HTTP: GET (queries, cacheable) and POST JSON, the token check, GraphiQL.

The endpoint is ours rather than strawberry's view so that the token is checked before anything
runs (HTTP 401/403 with a GraphQL error), a database outage answers 503, and the GraphiQL page
loads its scripts from this server (``/graphql/static``), never from a CDN.
"""

from __future__ import annotations

import json
import logging
import uuid
from html import escape
from pathlib import Path
from typing import Any

import strawberry
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types.graphql import OperationType

from definum_gql.auth import Authenticator, Refusal, Refused, client_address
from definum_gql.config import AuthMode
from definum_gql.graphql.context import Context
from definum_gql.graphql.errors import AuthFailure, format_error, request_error
from definum_gql.moodle.site import DatabaseReadError, DatabaseUnavailable, Moodle

log = logging.getLogger("definum_gql.graphql")

STATIC = Path(__file__).resolve().parent / "static"
PAGE = (Path(__file__).resolve().parent / "graphiql.html").read_text(encoding="utf-8")
ASSETS = (
    "graphiql.min.css",
    "react.production.min.js",
    "react-dom.production.min.js",
    "graphiql.min.js",
    "definum-graphiql.js",
)
GET_CACHE = "private, max-age=30"


class BadRequest(Exception):
    """The HTTP request does not carry a GraphQL request."""


def _json(body: Any, status: int, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=headers)


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


async def _graphql_params(request: Request) -> tuple[str, dict[str, Any] | None, str | None]:
    if request.method == "GET":
        raw: dict[str, Any] = dict(request.query_params)
        variables = raw.get("variables")
        if variables:
            try:
                raw["variables"] = json.loads(variables)
            except ValueError:
                raise BadRequest("'variables' is not JSON") from None
    else:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type not in ("application/json", "application/graphql-response+json"):
            raise BadRequest("POST a JSON body (Content-Type: application/json)")
        try:
            raw = json.loads(await request.body())
        except ValueError:
            raise BadRequest("the body is not JSON") from None
        if not isinstance(raw, dict):
            raise BadRequest("the body must be a JSON object with a 'query'")
    query = raw.get("query")
    if not isinstance(query, str) or not query.strip():
        raise BadRequest("no GraphQL query found (send 'query')")
    variables = raw.get("variables")
    if variables is not None and not isinstance(variables, dict):
        raise BadRequest("'variables' must be a JSON object")
    operation = raw.get("operationName")
    if operation is not None and not isinstance(operation, str):
        raise BadRequest("'operationName' must be a string")
    return query, variables, operation


# Refusals of the token itself (HTTP 401); the others refuse a valid token.
_TOKEN_REFUSALS = {
    Refusal.INVALID_TOKEN: (
        "INVALID_TOKEN",
        "Invalid token: send 'Authorization: Bearer <token>' with a web service token.",
    ),
    Refusal.TOKEN_EXPIRED: ("TOKEN_EXPIRED", "The token has expired."),
    Refusal.IP_RESTRICTED: ("IP_NOT_ALLOWED", "The token may not be used from this address."),
}


def _auth_failure(outcome: Refused) -> AuthFailure:
    reason = outcome.refusal
    if reason in _TOKEN_REFUSALS:
        code, message = _TOKEN_REFUSALS[reason]
        return AuthFailure(message, code, reason.value, 401)
    if reason is Refusal.MAINTENANCE:
        return AuthFailure(
            "The site is undergoing maintenance and is currently not available",
            "SITE_MAINTENANCE",
            reason.value,
            503,
        )
    message = _FORBIDDEN.get(reason, "Access control exception").format(outcome.detail)
    return AuthFailure(message, "FORBIDDEN", reason.value, 403)


_FORBIDDEN = {
    Refusal.NO_CAPABILITY: "The token's owner may not use web services "
    "(missing capability: webservice/rest:use).",
    Refusal.SERVICE_DENIED: "The token's service does not offer definum_get_stats to this user.",
    Refusal.MISSING_OWNER: "The token's owner (user {}) does not exist.",
    Refusal.OWNER_DELETED: "The token's owner {} is deleted.",
    Refusal.OWNER_UNCONFIRMED: "The token's owner {} is not confirmed.",
    Refusal.OWNER_SUSPENDED: "The token's owner {} is suspended.",
    Refusal.OWNER_NOLOGIN: "The token's owner {} may not log in (nologin).",
}


class GraphQLEndpoint:
    """The ``/graphql`` route."""

    def __init__(
        self, moodle: Moodle, schema: strawberry.Schema, authenticator: Authenticator
    ) -> None:
        self.moodle = moodle
        self.schema = schema
        self.authenticator = authenticator

    async def handle(self, request: Request) -> Response:
        if request.method == "GET" and "query" not in request.query_params and _wants_html(request):
            return graphiql_page(request)
        request_id = uuid.uuid4().hex[:12]
        try:
            query, variables, operation = await _graphql_params(request)
        except BadRequest as exc:
            return _json({"errors": [request_error(str(exc), "BAD_REQUEST")]}, 400)
        if self.moodle.settings.auth is not AuthMode.off and _bearer(request) is None:
            error = request_error(
                "Authentication required: send 'Authorization: Bearer <token>' with a Moodle "
                "web service token.",
                "MISSING_TOKEN",
            )
            return _json(
                {"errors": [error]}, 401, {"WWW-Authenticate": 'Bearer realm="definum-gql"'}
            )
        try:
            return await self._execute(request, request_id, query, variables, operation)
        except AuthFailure as exc:
            log.info("request %s refused: %s", request_id, exc.reason)
            headers = (
                {"WWW-Authenticate": 'Bearer realm="definum-gql"'} if exc.status == 401 else {}
            )
            error = request_error(str(exc), exc.code, reason=exc.reason)
            return _json({"errors": [error]}, exc.status, headers)
        except DatabaseUnavailable as exc:
            log.error("request %s: database unavailable: %s", request_id, exc)
            error = request_error("The Moodle database is unavailable.", "DATABASE_UNAVAILABLE")
            return _json({"errors": [error]}, 503)
        except DatabaseReadError as exc:
            log.error("request %s: database error: %s", request_id, exc)
            error = request_error(f"Unexpected error (request {request_id}).", "INTERNAL_ERROR")
            return _json({"errors": [error]}, 500)

    async def _execute(
        self,
        request: Request,
        request_id: str,
        query: str,
        variables: dict[str, Any] | None,
        operation: str | None,
    ) -> Response:
        moodle = self.moodle
        settings = moodle.settings
        async with moodle.request() as stats:
            caller_id: int | None = None
            if settings.auth is not AuthMode.off:
                peer = request.client.host if request.client else None
                address = client_address(peer, request.headers.items(), settings.trusted_proxies)
                auth = self.authenticator
                caller = await auth.authenticate(stats, _bearer(request), address)
                if isinstance(caller, Refused):
                    raise _auth_failure(caller)
                denied = await auth.check_service(stats, caller)
                if denied is not None:
                    raise _auth_failure(denied)
                caller_id = caller.user_id
            context = Context(stats=stats, request_id=request_id, caller_id=caller_id)
            try:
                result = await self.schema.execute(
                    query,
                    variable_values=variables,
                    context_value=context,
                    operation_name=operation,
                    allowed_operation_types=(OperationType.QUERY,),
                )
            except InvalidOperationTypeError:
                refusal = request_error(
                    "Only queries are served (definum-gql is read-only).",
                    "GRAPHQL_VALIDATION_FAILED",
                )
                return _json({"errors": [refusal]}, 400)
            except CannotGetOperationTypeError:
                refusal = request_error(
                    f"Unknown or ambiguous operation {operation!r}: name one with operationName.",
                    "GRAPHQL_VALIDATION_FAILED",
                )
                return _json({"errors": [refusal]}, 400)
        body: dict[str, Any] = {}
        status = 200
        if result.errors:
            codes: list[str] = []
            errors: list[dict[str, Any]] = []
            for error in result.errors:
                formatted, code = format_error(error, request_id)
                errors.append(formatted)
                codes.append(code)
            body["errors"] = errors
            if "DATABASE_UNAVAILABLE" in codes:
                status = 503
            elif result.data is None and all(
                error.original_error is None for error in result.errors
            ):
                status = 400
        if result.data is not None or status == 200:
            body["data"] = result.data
        headers = {"Cache-Control": GET_CACHE if request.method == "GET" else "no-store"}
        headers["Vary"] = "Authorization"
        return _json(body, status, headers)


def graphiql_page(request: Request) -> Response:
    """The GraphiQL page; it needs no token (the token goes in its headers pane)."""
    endpoint = request.url_for("graphql").path
    assets = {name: request.url_for("graphql-static", path=name).path for name in ASSETS}
    page = PAGE.replace("{{endpoint}}", escape(endpoint, quote=True))
    for name, url in assets.items():
        page = page.replace("{{" + name + "}}", escape(url, quote=True))
    return HTMLResponse(page, headers={"Cache-Control": "no-cache"})


def routes(
    moodle: Moodle, schema: strawberry.Schema, authenticator: Authenticator
) -> list[BaseRoute]:
    endpoint = GraphQLEndpoint(moodle, schema, authenticator)
    return [
        Mount("/graphql/static", app=StaticFiles(directory=STATIC), name="graphql-static"),
        Route("/graphql", endpoint.handle, methods=["GET", "POST"], name="graphql"),
    ]
