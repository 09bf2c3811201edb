"""``/graphql`` over HTTP: Strawberry's ASGI view with our token check, errors and GraphiQL.

Strawberry asks for the context before it reads the body: ``get_context`` checks the token there
(HTTP 401/403) and opens the request's database context, which stays open until the response is
built. Refusals, a database outage (503) and malformed requests (400) are answered with a GraphQL
error in JSON, and the GraphiQL page loads its scripts from this server (``/graphql/static``),
never from a CDN.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from contextlib import AsyncExitStack
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

import strawberry
from cross_web import AsyncHTTPRequestAdapter, HTTPException
from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.http.base import BaseRequestProtocol
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionResult

from definum_gql.auth import (
    Authenticator,
    Refusal,
    Refused,
    client_address,
    web_services_enabled,
)
from definum_gql.config import AuthMode
from definum_gql.graphql.access import Viewer
from definum_gql.graphql.context import Context
from definum_gql.graphql.errors import (
    QUERY_TIMEOUT,
    TIMEOUT_MESSAGE,
    RequestRefused,
    format_error,
    refusal_body,
    shortened,
)
from definum_gql.moodle.site import (
    DatabaseReadError,
    DatabaseUnavailable,
    Moodle,
    QueryTimeout,
    RequestContext,
)
from definum_gql.observe import current

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
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="definum-gql"'}


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


# Refusals of the token itself (HTTP 401); the others refuse a valid token.
_TOKEN_REFUSALS = {
    Refusal.INVALID_TOKEN: (
        "INVALID_TOKEN",
        "Invalid token: send 'Authorization: Bearer <token>' with a web service token.",
    ),
    Refusal.TOKEN_EXPIRED: ("TOKEN_EXPIRED", "The token has expired."),
    Refusal.IP_RESTRICTED: ("IP_NOT_ALLOWED", "The token may not be used from this address."),
}


def _auth_failure(outcome: Refused) -> RequestRefused:
    reason = outcome.refusal
    if reason is Refusal.WEB_SERVICES_DISABLED:
        message = (
            "Web services are turned off on this Moodle site (enablewebservices, or REST not "
            "among webserviceprotocols): GraphQL is closed with them."
        )
        return RequestRefused(403, message, "WEB_SERVICES_DISABLED", reason=reason.value)
    if reason in _TOKEN_REFUSALS:
        code, message = _TOKEN_REFUSALS[reason]
        return RequestRefused(401, message, code, headers=CHALLENGE, reason=reason.value)
    if reason is Refusal.MAINTENANCE:
        return RequestRefused(
            503,
            "The site is undergoing maintenance and is currently not available",
            "SITE_MAINTENANCE",
            reason=reason.value,
        )
    message = _FORBIDDEN.get(reason, "Access control exception").format(outcome.detail)
    return RequestRefused(403, message, "FORBIDDEN", reason=reason.value)


_FORBIDDEN = {
    Refusal.NO_CAPABILITY: "The token's owner may not use web services "
    "(missing capability: webservice/rest:use).",
    Refusal.SERVICE_DENIED: "The token's service does not offer definum_get_stats to this user "
    "(nor is it one of the self services allowed to read their owner).",
    Refusal.MISSING_OWNER: "The token's owner (user {}) does not exist.",
    Refusal.OWNER_DELETED: "The token's owner {} is deleted.",
    Refusal.OWNER_UNCONFIRMED: "The token's owner {} is not confirmed.",
    Refusal.OWNER_SUSPENDED: "The token's owner {} is suspended.",
    Refusal.OWNER_NOLOGIN: "The token's owner {} may not log in (nologin).",
}


def _refusal(error: HTTPException) -> RequestRefused:
    """Strawberry's HTTP errors as ours; it raises them from the schema's exception."""
    if isinstance(error, RequestRefused):
        return error
    cause = error.__cause__
    if isinstance(cause, InvalidOperationTypeError):
        message = "Only queries are served (definum-gql is read-only)."
        return RequestRefused(400, message, "GRAPHQL_VALIDATION_FAILED")
    if isinstance(cause, CannotGetOperationTypeError):
        name = shortened(cause.operation_name)
        message = f"Unknown or ambiguous operation {name}: name one with operationName."
        return RequestRefused(400, message, "GRAPHQL_VALIDATION_FAILED")
    return RequestRefused(error.status_code, error.reason, "BAD_REQUEST")


@dataclass
class _Exchange:
    """What one HTTP request carries from one of Strawberry's hooks to the next."""

    request_id: str
    #: Holds the request's database context (opened by get_context) until the response is built.
    held: AsyncExitStack
    #: Strawberry's sub-response: the status and headers of an executed request's answer.
    response: Response | None = None


_OPERATION = re.compile(r"^\s*(?:query|mutation|subscription)\s+([_A-Za-z][_0-9A-Za-z]{0,63})")


def operation_label(name: str | None, query: str | None) -> str:
    """The operation's name for logs and metrics: operationName, else the document's first
    operation's name (bounded: 64 characters), else "anonymous"."""
    if name:
        return name[:64]
    match = _OPERATION.match(query or "")
    return match[1] if match else "anonymous"


def _exchange(request: Request) -> _Exchange:
    exchange: _Exchange = request.state.graphql
    return exchange


class GraphQLView(GraphQL[Context, None]):
    """The ``/graphql`` route."""

    def __init__(
        self, moodle: Moodle, schema: strawberry.Schema, authenticator: Authenticator
    ) -> None:
        super().__init__(schema, subscription_protocols=())
        self.moodle = moodle
        self.authenticator = authenticator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        # Strawberry asks for the context (our token check) before it serves the IDE page.
        if self.should_render_graphql_ide(self.request_adapter_class(request)):
            response = await self.render_graphql_ide(request)
        else:
            response = await self._answer(request)
        await response(scope, receive, send)

    async def _answer(self, request: Request) -> Response:
        # Around run: Strawberry's __call__ answers HTTPException in plain text, and no hook of
        # its spans a request (the database context opened in get_context, closed once built).
        observed = current()
        # One id for the log line, the X-Request-Id header and the error messages.
        request_id = observed.request_id if observed is not None else uuid.uuid4().hex[:16]
        try:
            async with AsyncExitStack() as held:
                request.state.graphql = _Exchange(request_id, held)
                return await self.run(request)
        except HTTPException as error:
            refused = _refusal(error)
            if observed is not None:
                observed.error = refused.code
            reason = refused.extensions.get("reason", refused.code)
            log.info("request %s refused: %s", request_id, reason)
            return JSONResponse(refusal_body(refused), refused.status_code, refused.headers)

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        """The checks (before the body is read): a token is sent, the site serves web services,
        the token passes; then the request's database context."""
        assert isinstance(request, Request)
        exchange = _exchange(request)
        auth = self.moodle.settings.auth is not AuthMode.off
        token = _bearer(request)
        if auth and token is None:
            message = (
                "Authentication required: send 'Authorization: Bearer <token>' with a Moodle "
                "web service token."
            )
            raise RequestRefused(401, message, "MISSING_TOKEN", headers=CHALLENGE)
        try:
            stats = await exchange.held.enter_async_context(self.moodle.request())
            if auth:
                viewer = await self._viewer(request, stats, token)
            elif web_services_enabled(stats.site):
                viewer = Viewer()
            else:
                raise _auth_failure(Refused(Refusal.WEB_SERVICES_DISABLED))
        except DatabaseUnavailable as exc:
            log.error("request %s: database unavailable: %s", exchange.request_id, exc)
            message = "The Moodle database is unavailable."
            raise RequestRefused(503, message, "DATABASE_UNAVAILABLE") from exc
        except QueryTimeout as exc:
            log.warning("request %s: statement timed out: %s", exchange.request_id, exc)
            raise RequestRefused(504, TIMEOUT_MESSAGE, QUERY_TIMEOUT) from exc
        except DatabaseReadError as exc:
            log.error("request %s: database error: %s", exchange.request_id, exc)
            message = f"Unexpected error (request {exchange.request_id})."
            raise RequestRefused(500, message, "INTERNAL_ERROR") from exc
        return Context(stats=stats, request_id=exchange.request_id, viewer=viewer)

    async def _viewer(self, request: Request, stats: RequestContext, token: str | None) -> Viewer:
        """The token's checks (the site's switch first), as for REST; then whom it may read."""
        settings = self.moodle.settings
        peer = request.client.host if request.client else None
        address = client_address(peer, request.headers.items(), settings.trusted_proxies)
        caller = await self.authenticator.authenticate(stats, token, address)
        if isinstance(caller, Refused):
            raise _auth_failure(caller)
        access = await self.authenticator.graphql_access(stats, caller)
        if isinstance(access, Refused):
            raise _auth_failure(access)
        return Viewer.of(access)

    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        assert isinstance(request, Request)
        response = await super().get_sub_response(request)
        response.headers["Cache-Control"] = GET_CACHE if request.method == "GET" else "no-store"
        response.headers["Vary"] = "Authorization"
        _exchange(request).response = response
        return response

    async def parse_http_body(
        self, request: AsyncHTTPRequestAdapter
    ) -> GraphQLRequestData | list[GraphQLRequestData]:
        data = await super().parse_http_body(request)
        if isinstance(data, GraphQLRequestData):
            if not (data.query or "").strip():
                raise HTTPException(400, "No GraphQL query found (send 'query').")
            if not isinstance(data.operation_name, str | None):
                raise HTTPException(400, "'operationName' must be a string.")
            observed = current()
            if observed is not None:
                observed.operation = operation_label(data.operation_name, data.query)
        return data

    def parse_json(self, data: str | bytes) -> Any:
        # The body, and GET's variables and extensions, are objects; Strawberry would fail on
        # any other JSON body with a 500. Strawberry turns only JSONDecodeError into a 400: the
        # decoder recurses into arrays and objects (RecursionError past Python's limit, about
        # 1,000 levels), refuses integers of more than 4,300 digits and bytes that are not
        # UTF-8 with other errors.
        try:
            parsed = super().parse_json(data)
        except RecursionError:
            raise HTTPException(400, "The JSON is nested too deeply.") from None
        except ValueError:
            raise HTTPException(400, "Unable to parse request body as JSON") from None
        if not isinstance(parsed, dict):
            raise HTTPException(400, "Expected a JSON object.")
        return parsed

    def encode_json(self, data: object) -> bytes:
        # As Starlette's JSONResponse writes the refusals: UTF-8 rather than \u escapes; but a
        # lone surrogate (from a client's "\ud800", echoed in an error) has no UTF-8 form.
        text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        try:
            return text.encode("utf-8")
        except UnicodeEncodeError:
            return json.dumps(data, allow_nan=False, separators=(",", ":")).encode("ascii")

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        """Errors formatted with the request id (unexpected ones masked), and the HTTP status."""
        exchange = _exchange(request)
        body: GraphQLHTTPResponse = {}
        status = 200
        if result.errors:
            formatted = [format_error(error, exchange.request_id) for error in result.errors]
            body["errors"] = [error for error, _ in formatted]
            observed = current()
            if observed is not None:
                observed.error = formatted[0][1]
            if any(code == "DATABASE_UNAVAILABLE" for _, code in formatted):
                status = 503
            elif result.data is None and all(e.original_error is None for e in result.errors):
                status = 400  # refused before execution: parsing, validation, limits
        if result.data is not None or status == 200:
            body["data"] = result.data
        assert exchange.response is not None
        exchange.response.status_code = status
        return body

    def should_render_graphql_ide(self, request: BaseRequestProtocol) -> bool:
        # Only for browsers: a script's GET without a query (Accept: */*) is a bad request.
        browser = "text/html" in request.headers.get("accept", "")
        return browser and super().should_render_graphql_ide(request)

    async def render_graphql_ide(self, request: Request) -> Response:
        return graphiql_page(request, await demo_prefill(self.moodle))


#: GraphiQL's starter queries: with a token to paste, and on the demo site (token filled in).
STARTERS = Path(__file__).resolve().parent / "starters"
TOKEN_STARTER = (STARTERS / "token.graphql").read_text(encoding="utf-8")
DEMO_STARTER = (STARTERS / "demo.graphql").read_text(encoding="utf-8")
#: The demo learner the demo starter asks about (the README's examples do too).
DEMO_LEARNER = "user4"


async def demo_prefill(moodle: Moodle) -> tuple[str, str] | None:
    """(token, learner) to start GraphiQL with, on a site built by ``demo-db`` only (it carries
    the ``definum_demo`` config row; a real Moodle never does): the demo's data is public, a real
    site's token never goes into a page. None when anything is missing or the database is down."""
    prefix = moodle.settings.table_prefix
    try:
        async with moodle.db.reader() as reader:
            marker = await reader.execute(
                text(f"SELECT 1 FROM {prefix}config WHERE name = 'definum_demo'")
            )
            if not marker:
                return None
            tokens = await reader.execute(
                text(
                    f"SELECT token FROM {prefix}external_tokens WHERE userid = 2"
                    " AND tokentype = 0 AND (validuntil IS NULL OR validuntil = 0)"
                    " AND (iprestriction IS NULL OR iprestriction = '') ORDER BY id"
                )
            )
            learner = await reader.execute(
                text(
                    f"SELECT id FROM {prefix}user WHERE username = :name AND deleted = 0"
                ).bindparams(name=DEMO_LEARNER)
            )
    except (DatabaseUnavailable, DatabaseReadError):
        return None
    return (str(tokens[0][0]), DEMO_LEARNER) if tokens and learner else None


def graphiql_page(request: Request, prefill: tuple[str, str] | None = None) -> Response:
    """The GraphiQL page; it needs no token (the token goes in its headers pane). On the demo
    site the demo token and a learner with data are filled in."""
    endpoint = request.url_for("graphql").path
    assets = {name: request.url_for("graphql-static", path=name).path for name in ASSETS}
    token, starter = (prefill[0], DEMO_STARTER) if prefill else ("", TOKEN_STARTER)
    page = PAGE.replace("{{endpoint}}", escape(endpoint, quote=True))
    page = page.replace("{{token}}", escape(token, quote=True))
    page = page.replace("{{query}}", escape(starter, quote=True))
    for name, url in assets.items():
        page = page.replace("{{" + name + "}}", escape(url, quote=True))
    return HTMLResponse(page, headers={"Cache-Control": "no-cache"})


def routes(
    moodle: Moodle, schema: strawberry.Schema, authenticator: Authenticator
) -> list[BaseRoute]:
    view = GraphQLView(moodle, schema, authenticator)
    return [
        Mount("/graphql/static", app=StaticFiles(directory=STATIC), name="graphql-static"),
        Route("/graphql", view, methods=["GET", "POST"], name="graphql"),
    ]
