"""The GraphQL front door: Strawberry schema, limits, and the ``/graphql`` routes."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import strawberry
from graphql import GraphQLError
from starlette.routing import BaseRoute
from strawberry.extensions import (
    DisableIntrospection,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)
from strawberry.types import ExecutionContext

from definum_gql.config import Settings
from definum_gql.graphql.http import routes
from definum_gql.graphql.query import Query
from definum_gql.moodle.site import Moodle

__all__ = ["build_schema", "graphql_routes"]


class _Schema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # The HTTP endpoint logs unexpected errors once, with the request id it shows the client.
        return None


def build_schema(settings: Settings) -> strawberry.Schema:
    """The schema with the limits of ``settings`` (depth, aliases, tokens, introspection)."""
    # Factories, so that each request gets fresh extension instances.
    extensions: list[Callable[[], SchemaExtension]] = [
        partial(MaxTokensLimiter, max_token_count=settings.max_tokens),
        partial(QueryDepthLimiter, max_depth=settings.max_depth),
        partial(MaxAliasesLimiter, max_alias_count=settings.max_aliases),
    ]
    if not settings.introspection:
        extensions.append(DisableIntrospection)
    return _Schema(query=Query, extensions=extensions)


def graphql_routes(moodle: Moodle) -> list[BaseRoute]:
    """``/graphql`` (GET, POST, GraphiQL page) and ``/graphql/static/...`` (GraphiQL's assets)."""
    return routes(moodle, build_schema(moodle.settings))
