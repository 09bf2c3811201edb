"""The GraphQL front door: Strawberry schema, limits, and the ``/graphql`` routes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import lru_cache, partial
from typing import Any, cast

import strawberry
from graphql import (
    ASTValidationRule,
    GraphQLError,
    GraphQLSyntaxError,
    Lexer,
    NoSchemaIntrospectionCustomRule,
    Source,
    TokenKind,
)
from graphql.validation import ASTValidationContext
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
from strawberry.types.graphql import OperationType

from definum_gql.auth import Authenticator
from definum_gql.config import Settings
from definum_gql.graphql.errors import INTROSPECTION_DISABLED, QUERY_TOO_COMPLEX, with_code
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


class QueriesOnly(SchemaExtension):
    """definum-gql is read-only: a mutation or subscription is refused before validation."""

    def on_operation(self) -> Iterator[None]:
        self.execution_context.allowed_operations = (OperationType.QUERY,)
        yield


class TokenLimiter(MaxTokensLimiter):
    """``MaxTokensLimiter`` whose refusal carries ``QUERY_TOO_COMPLEX``.

    graphql-core enforces the limit while parsing, with a syntax error like any other. This
    counts the tokens first, no further than one past the limit, and raises graphql-core's
    error, coded; graphql-core's check stays on behind it. Listed before ``ParserCache``, whose
    hook parses.
    """

    def on_parse(self) -> Iterator[None]:
        query = self.execution_context.query
        if query:
            past = _token_past(query, self.max_token_count)
            if past is not None:
                refusal = GraphQLSyntaxError(
                    Source(query),
                    past,
                    f"Document contains more than {self.max_token_count} tokens. Parsing aborted.",
                )
                raise with_code(refusal, QUERY_TOO_COMPLEX)
        yield


@lru_cache(maxsize=256)  # as ParserCache: the same few documents, counted once
def _token_past(query: str, limit: int) -> int | None:
    """Where token number ``limit + 1`` starts; None if the document has no more tokens.

    Comments count, as in graphql-core's ``max_tokens``. A document that does not lex that far
    also gets None: the parser reports its syntax error.
    """
    lexer = Lexer(Source(query))
    position = 0
    for _ in range(limit + 1):
        try:
            # One token at a time, none kept (Lexer.advance would read a run of comments whole).
            token = lexer.read_next_token(position)
        except GraphQLSyntaxError:
            return None
        if token.kind is TokenKind.EOF:
            return None
        position = token.end
    return token.start


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


def build_schema(settings: Settings) -> strawberry.Schema:
    """The schema with the limits of ``settings`` (depth, aliases, tokens, introspection)."""
    # The limit rules are built once: the validation cache keys on the rule classes, and
    # strawberry's limiter extensions would make new ones for every request.
    limits = [
        *QueryDepthLimiter(max_depth=settings.max_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=settings.max_aliases).validation_rules,
    ]
    rules = [coded(rule, QUERY_TOO_COMPLEX) for rule in limits]
    if not settings.introspection:
        rules.append(coded(NoSchemaIntrospectionCustomRule, INTROSPECTION_DISABLED))
    # Factories, so that each request gets fresh extension instances.
    extensions: list[Callable[[], SchemaExtension]] = [
        QueriesOnly,
        partial(TokenLimiter, max_token_count=settings.max_tokens),
        # Front ends send the same few documents: parse and validate each once.
        partial(ParserCache, maxsize=256),
        partial(ValidationCache, maxsize=256),
        partial(AddValidationRules, rules),
    ]
    return _Schema(query=Query, extensions=extensions)


def graphql_routes(
    moodle: Moodle, *, authenticator: Authenticator | None = None
) -> list[BaseRoute]:
    """``/graphql`` (GET, POST, GraphiQL page) and ``/graphql/static/...`` (GraphiQL's assets)."""
    auth = authenticator or Authenticator(moodle.settings.token_cache_seconds)
    return routes(moodle, build_schema(moodle.settings), auth)
