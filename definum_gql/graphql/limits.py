"""Limits checked on a document before anything runs, and the bounded cache of documents.

Tokens are counted while parsing; depth and aliases by one walk of the document that reads each
fragment once, however often it is spread (strawberry's limiters walk every spread again, which a
few fragments spreading each other a hundred times turn into hours of work). The cache keeps the
parsed and validated form of small documents only, within a bound on their count and total size.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field

from graphql import (
    ASTValidationRule,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSyntaxError,
    InlineFragmentNode,
    Lexer,
    OperationDefinitionNode,
    SelectionSetNode,
    Source,
    TokenKind,
    parse,
)
from graphql.validation import ASTValidationContext
from strawberry.extensions import SchemaExtension

from definum_gql.graphql.errors import QUERY_TOO_COMPLEX, with_code

#: Documents longer than this are parsed and validated every time, never kept.
CACHED_DOCUMENT_CHARS = 8 * 1024
#: At most this many documents, of at most this many characters in all, are kept. A parsed
#: document takes about 130 bytes per character (a 5.5 KB, 2,000-token one: 0.7 MB), so the
#: cache holds at most about 35 MB.
CACHED_DOCUMENTS = 128
CACHED_CHARS = 256 * 1024


def parse_limited(query: str, max_tokens: int) -> DocumentNode:
    """``query`` parsed, refused past ``max_tokens`` tokens (comments count, as in graphql-core)
    with ``QUERY_TOO_COMPLEX``; any other syntax error as graphql-core reports it."""
    try:
        return parse(query, max_tokens=max_tokens)
    except GraphQLSyntaxError:
        # Counted again only on failure, to tell the limit from a syntax error.
        past = token_past(query, max_tokens)
        if past is None:
            raise
        refusal = GraphQLSyntaxError(
            Source(query),
            past,
            f"Document contains more than {max_tokens} tokens. Parsing aborted.",
        )
        raise with_code(refusal, QUERY_TOO_COMPLEX) from None


def token_past(query: str, limit: int) -> int | None:
    """Where token number ``limit + 1`` starts; None if the document has no more tokens.

    A document that does not lex that far also gets None: the parser reports its syntax error.
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


@dataclass
class _Shape:
    """One operation or fragment, its spreads not followed: how deep its fields nest, how many
    aliases it holds, and which fragments it spreads at which depth."""

    depth: int = 0
    aliases: int = 0
    spreads: list[tuple[str, int]] = field(default_factory=list)


def _shape(selections: SelectionSetNode) -> _Shape:
    # Iterative: the parser lets selections nest a few hundred levels deep.
    shape = _Shape()
    stack = [(selections, 0)]
    while stack:
        current, depth = stack.pop()
        for selection in current.selections:
            if isinstance(selection, FieldNode):
                if selection.alias is not None:
                    shape.aliases += 1
                # Introspection is not counted (graphql-core bounds its depth itself), as in
                # strawberry's QueryDepthLimiter: GraphiQL's own query nests 13 levels.
                if selection.selection_set is not None and not selection.name.value.startswith(
                    "__"
                ):
                    shape.depth = max(shape.depth, depth + 1)
                    stack.append((selection.selection_set, depth + 1))
                elif selection.selection_set is not None:
                    shape.aliases += _aliases_below(selection.selection_set, shape, depth)
            elif isinstance(selection, InlineFragmentNode):
                stack.append((selection.selection_set, depth))
            elif isinstance(selection, FragmentSpreadNode):
                shape.spreads.append((selection.name.value, depth))
    return shape


def _aliases_below(selections: SelectionSetNode, shape: _Shape, depth: int) -> int:
    """Aliases under an introspection field (they count; its depth does not)."""
    count = 0
    stack = [selections]
    while stack:
        for selection in stack.pop().selections:
            if isinstance(selection, FieldNode):
                count += selection.alias is not None
                if selection.selection_set is not None:
                    stack.append(selection.selection_set)
            elif isinstance(selection, InlineFragmentNode):
                stack.append(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                # Spreads inside introspection add their aliases, not their depth.
                shape.spreads.append((selection.name.value, -1))
    return count


def _fragment_totals(shapes: dict[str, _Shape]) -> dict[str, tuple[int, int]]:
    """(depth, aliases) of every fragment with its spreads followed, each fragment walked once.

    A spread at depth ``d`` adds ``d`` plus the fragment's depth; -1 marks a spread under an
    introspection field, whose depth does not count. A cycle (refused by validation) adds nothing.
    """
    totals: dict[str, tuple[int, int]] = {}
    for name in shapes:
        if name in totals:
            continue
        stack: list[tuple[str, Iterator[tuple[str, int]]]] = [(name, iter(shapes[name].spreads))]
        active = {name}
        while stack:
            current, spreads = stack[-1]
            for target, _ in spreads:
                if target in shapes and target not in totals and target not in active:
                    active.add(target)
                    stack.append((target, iter(shapes[target].spreads)))
                    break
            else:
                stack.pop()
                active.discard(current)
                totals[current] = _combine(shapes[current], totals)
    return totals


def _combine(shape: _Shape, totals: dict[str, tuple[int, int]]) -> tuple[int, int]:
    depth, aliases = shape.depth, shape.aliases
    for target, at in shape.spreads:
        below, more = totals.get(target, (0, 0))
        if at >= 0:
            depth = max(depth, at + below)
        aliases += more
    return depth, aliases


def limit_rule(max_depth: int, max_aliases: int) -> type[ASTValidationRule]:
    """A validation rule refusing, with ``QUERY_TOO_COMPLEX``, an operation whose fields nest
    deeper than ``max_depth`` and a document holding more than ``max_aliases`` aliases (counted
    once per spread of the fragment holding them, over all operations)."""

    class QueryLimits(ASTValidationRule):
        def __init__(self, context: ASTValidationContext) -> None:
            super().__init__(context)
            document = context.document
            fragments = {
                d.name.value: _shape(d.selection_set)
                for d in document.definitions
                if isinstance(d, FragmentDefinitionNode)
            }
            totals = _fragment_totals(fragments)
            aliases = 0
            for definition in document.definitions:
                if not isinstance(definition, OperationDefinitionNode):
                    continue
                depth, more = _combine(_shape(definition.selection_set), totals)
                aliases += more
                if depth > max_depth:
                    name = definition.name.value if definition.name else "anonymous"
                    message = f"'{name}' exceeds maximum operation depth of {max_depth}"
                    refusal = GraphQLError(message, definition)
                    context.report_error(with_code(refusal, QUERY_TOO_COMPLEX))
            if aliases > max_aliases:
                message = f"{aliases} aliases found. Allowed: {max_aliases}"
                context.report_error(with_code(GraphQLError(message), QUERY_TOO_COMPLEX))

    return QueryLimits


@dataclass
class _Entry:
    document: DocumentNode
    #: Validation errors (an empty list: valid); None until validated.
    errors: list[GraphQLError] | None = None


class DocumentCache:
    """Small documents, parsed and validated, the most recently used kept (front ends send the
    same few documents). One per schema: validation depends on its rules."""

    def __init__(
        self,
        entries: int = CACHED_DOCUMENTS,
        chars: int = CACHED_CHARS,
        largest: int = CACHED_DOCUMENT_CHARS,
    ) -> None:
        self.entries, self.chars, self.largest = entries, chars, largest
        self._kept: OrderedDict[str, _Entry] = OrderedDict()
        self._size = 0

    def __len__(self) -> int:
        return len(self._kept)

    @property
    def size(self) -> int:
        """Characters of the documents kept."""
        return self._size

    def get(self, query: str) -> _Entry | None:
        entry = self._kept.get(query)
        if entry is not None:
            self._kept.move_to_end(query)
        return entry

    def keep(self, query: str, document: DocumentNode) -> None:
        if len(query) > self.largest or query in self._kept:
            return
        self._kept[query] = _Entry(document)
        self._size += len(query)
        while len(self._kept) > self.entries or self._size > self.chars:
            dropped, _ = self._kept.popitem(last=False)
            self._size -= len(dropped)


class Documents(SchemaExtension):
    """Parses the document (at most ``max_tokens`` tokens) and validates it, through ``cache``."""

    def __init__(self, *, cache: DocumentCache, max_tokens: int) -> None:
        super().__init__()
        self.cache = cache
        self.max_tokens = max_tokens

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        query = context.query
        if query and context.graphql_document is None:
            entry = self.cache.get(query)
            if entry is None:
                document = parse_limited(query, self.max_tokens)
                self.cache.keep(query, document)
            else:
                document = entry.document
            context.graphql_document = document
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        entry = self.cache.get(context.query) if context.query else None
        if entry is not None and entry.errors is not None:
            context.pre_execution_errors = list(entry.errors)
        yield
        if entry is not None and entry.errors is None and context.pre_execution_errors is not None:
            entry.errors = list(context.pre_execution_errors)
