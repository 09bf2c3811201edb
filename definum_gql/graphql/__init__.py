"""The GraphQL front door: Strawberry schema, limits, and the ``/graphql`` routes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import Any, cast

import strawberry
from graphql import ASTValidationRule, GraphQLError, NoSchemaIntrospectionCustomRule
from graphql.validation import ASTValidationContext
from starlette.routing import BaseRoute
from strawberry.extensions import AddValidationRules, SchemaExtension
from strawberry.types import ExecutionContext
from strawberry.types.graphql import OperationType

from definum_gql.auth import Authenticator
from definum_gql.config import Settings
from definum_gql.graphql.cost import Bounds, CostLimit
from definum_gql.graphql.errors import INTROSPECTION_DISABLED, with_code
from definum_gql.graphql.execution import Executor
from definum_gql.graphql.http import routes
from definum_gql.graphql.limits import DocumentCache, Documents, limit_rule
from definum_gql.graphql.query import Query
from definum_gql.moodle.site import Moodle

__all__ = ["build_schema", "graphql_routes"]


class Schema(strawberry.Schema):
    """Strawberry's schema, errors left to the HTTP endpoint, with its cache of documents."""

    documents: DocumentCache

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # The HTTP endpoint logs unexpected errors once, with the request id it shows the client.
        return None


class QueriesOnly(SchemaExtension):
    """definum-gql is read-only: a mutation or subscription is refused before validation."""

    def on_operation(self) -> Iterator[None]:
        self.execution_context.allowed_operations = (OperationType.QUERY,)
        yield


class _CodingContext:
    """The validation context as one rule sees it: the errors it reports carry ``code``."""

    def __init__(self, context: ASTValidationContext, code: str) -> None:
        self._context = context
        self._code = code

    def report_error(self, error: GraphQLError) -> None:
        self._context.report_error(with_code(error, self._code))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


def coded(rule: type[ASTValidationRule], code: str) -> type[ASTValidationRule]:
    """``rule``, each error it reports carrying ``extensions.code``."""

    class Coded(rule):  # type: ignore[misc, valid-type]
        def __init__(self, context: ASTValidationContext) -> None:
            super().__init__(cast(ASTValidationContext, _CodingContext(context, code)))

    Coded.__name__ = Coded.__qualname__ = rule.__name__
    return cast(type[ASTValidationRule], Coded)


def build_schema(settings: Settings) -> Schema:
    """The schema with the limits of ``settings`` (tokens, depth, aliases, cost, introspection)."""
    # The rules are built once, for the schema's document cache to hold their verdict.
    rules = [limit_rule(settings.max_depth, settings.max_aliases)]
    if not settings.introspection:
        rules.append(coded(NoSchemaIntrospectionCustomRule, INTROSPECTION_DISABLED))
    # Front ends send the same few documents: parse and validate each once.
    cache = DocumentCache()
    bounds = Bounds(settings.max_page_size, settings.max_history_months)
    # Factories, so that each request gets fresh extension instances.
    extensions: list[Callable[[], SchemaExtension]] = [
        QueriesOnly,
        partial(Documents, cache=cache, max_tokens=settings.max_tokens),
        partial(AddValidationRules, rules),
        partial(CostLimit, bounds=bounds, limit=settings.max_cost),
    ]
    schema = Schema(query=Query, extensions=extensions, execution_context_class=Executor)
    schema.documents = cache
    return schema


def graphql_routes(
    moodle: Moodle, *, authenticator: Authenticator | None = None
) -> list[BaseRoute]:
    """``/graphql`` (GET, POST, GraphiQL page) and ``/graphql/static/...`` (GraphiQL's assets)."""
    auth = authenticator or Authenticator(moodle.settings.token_cache_seconds)
    return routes(moodle, build_schema(moodle.settings), auth)
