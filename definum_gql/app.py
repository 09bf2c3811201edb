"""The HTTP application: GraphQL and the Moodle REST shim over one read-only Moodle site."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from definum_gql import dashboard
from definum_gql.auth import Authenticator
from definum_gql.config import AuthMode, Settings, load_settings
from definum_gql.graphql import graphql_routes
from definum_gql.guards import (
    BodyLimit,
    BodyRule,
    ForwardedRewriteGuard,
    graphql_too_large,
    graphql_too_slow,
)
from definum_gql.health import readiness
from definum_gql.moodle.site import Moodle
from definum_gql.observe import Observe, install_logging
from definum_gql.rest import body_rule, rest_routes
from definum_gql.server import install_log_redaction, settle_gc

log = logging.getLogger("definum_gql")
NO_STORE = {"Cache-Control": "no-store"}


def create_app(settings: Settings, moodle: Moodle | None = None) -> Starlette:
    """Build the app; ``moodle`` is injected by tests (frozen clock), else made from settings."""
    site = moodle or Moodle.from_settings(settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if settings.auth is AuthMode.off:
            log.warning(
                "DEFINUM_AUTH=off: GraphQL answers WITHOUT any token. "
                "Use this for the demo site only, never on a real Moodle database."
            )
        yield
        if moodle is None:
            await site.dispose()

    # One token cache for both doors.
    auth = Authenticator(settings.token_cache_seconds)

    async def home(request: Request) -> Response:
        return await dashboard.page(request, site)

    async def health(request: Request) -> Response:
        # Liveness: the process answers; the database is /readyz's business.
        return JSONResponse({"status": "ok"}, headers=NO_STORE)

    async def ready(request: Request) -> Response:
        state = await readiness(site)
        if state.ready:
            return JSONResponse({"status": "ready"}, headers=NO_STORE)
        return JSONResponse(
            {"status": "unavailable", "reason": state.reason}, status_code=503, headers=NO_STORE
        )

    routes = [
        Route("/", home),
        dashboard.static_mount(),
        Route("/healthz", health),
        Route("/readyz", ready),
        *graphql_routes(site, authenticator=auth),
        *rest_routes(site, authenticator=auth),
    ]
    install_log_redaction()
    install_logging({"json": True, "text": False}.get(settings.log_format))
    recorder = None
    if settings.metrics != "off":
        from definum_gql import metrics

        recorder = metrics.Recorder()
        if settings.metrics == "on":

            async def scrape(request: Request) -> Response:
                body, content_type = metrics.exposition()
                return Response(body, headers={"Content-Type": content_type, **NO_STORE})

            routes.append(Route("/metrics", scrape))
    bodies = [
        body_rule(settings),
        BodyRule("/graphql", settings.max_graphql_body, graphql_too_large, graphql_too_slow),
    ]
    # Outermost: every answer, refusals by the guards included, gets its line and request id.
    middleware = [Middleware(Observe, recorder=recorder)]
    if settings.cors_origins:
        # Dashboards served from another origin call /graphql with a bearer token.
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origins,
                allow_methods=["GET", "POST", "OPTIONS"],
                allow_headers=["Authorization", "Content-Type"],
                max_age=600,
            )
        )
    # After CORS, so that a refused body still carries the CORS headers a browser needs.
    middleware += [
        Middleware(ForwardedRewriteGuard),
        Middleware(BodyLimit, rules=bodies, timeout=settings.client_timeout),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, middleware=middleware)
    app.state.moodle = site
    return app


def app_from_env() -> Starlette:
    """uvicorn factory (``definum_gql.app:app_from_env``) for multi-worker serving."""
    app = create_app(load_settings())
    settle_gc()
    return app
