"""The GraphQL front door: Strawberry schema, limits, and the ``/graphql`` routes."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import strawberry
from graphql import GraphQLError, NoSchemaIntrospectionCustomRule
from starlette.routing import BaseRoute
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.types import ExecutionContext

from definum_gql.auth import Authenticator
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
    # The limit rules are built once: the validation cache keys on the rule classes, and
    # strawberry's limiter extensions would make new ones for every request.
    rules = [
        *QueryDepthLimiter(max_depth=settings.max_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=settings.max_aliases).validation_rules,
    ]
    if not settings.introspection:
        rules.append(NoSchemaIntrospectionCustomRule)
    # Factories, so that each request gets fresh extension instances.
    extensions: list[Callable[[], SchemaExtension]] = [
        # Front ends send the same few documents: parse and validate each once.
        partial(ParserCache, maxsize=256),
        partial(ValidationCache, maxsize=256),
        partial(MaxTokensLimiter, max_token_count=settings.max_tokens),
        partial(AddValidationRules, rules),
    ]
    return _Schema(query=Query, extensions=extensions)


def graphql_routes(
    moodle: Moodle, *, authenticator: Authenticator | None = None
) -> list[BaseRoute]:
    """``/graphql`` (GET, POST, GraphiQL page) and ``/graphql/static/...`` (GraphiQL's assets)."""
    auth = authenticator or Authenticator(moodle.settings.token_cache_seconds)
    return routes(moodle, build_schema(moodle.settings), auth)
