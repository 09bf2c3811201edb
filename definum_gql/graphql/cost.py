"""What a query costs, worked out from the document and its variables before anything runs.

Every field counts once for each object it is asked of, and a list multiplies what is asked of its
items by the number of items: a page of 500 learners each asking 36 months of history with 5
fields costs 500 * 36 * 5 for those fields, plus 500 for ``activityHistory`` itself. Time and
answer size both follow that count (resolving a field takes about the same time whatever it is;
the statistics behind the fields are batched per request).

List sizes come from the arguments where they set them: ``first`` (within ``max_page_size``; a
larger page is refused by the resolver and costs nothing below it), ``activityHistory``'s months
(within ``max_history_months``). Lists the data size (a learner's enrolments, badges, courses in a
month) count ``DATA_LIST`` items. Introspection is counted exactly: its answer depends on the
schema only, so the walk follows the schema's real types, and stops once past the limit.

The fields counted are those graphql-core will execute: the same field asked twice (through two
fragments, say) counts once, ``@skip`` and ``@include`` apply.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, cast

from graphql import (
    DocumentNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLSchema,
    OperationDefinitionNode,
    SchemaMetaFieldDef,
    TypeMetaFieldDef,
    get_named_type,
    get_nullable_type,
    get_operation_ast,
    is_list_type,
)
from graphql.execution.collect_fields import (
    FragmentDetails,
    GroupedFieldSet,
    collect_fields,
    collect_subfields,
)
from graphql.execution.values import VariableValues, get_argument_values, get_variable_values
from strawberry.extensions import SchemaExtension

from definum_gql.graphql.errors import QUERY_TOO_COMPLEX, with_code
from definum_gql.graphql.query import DEFAULT_PAGE
from definum_gql.stats.errors import StatsError
from definum_gql.stats.months import Month

#: Items counted for a list whose size only the data knows (enrolments, badges, courses of a
#: month): more than most learners have, so that the count stays an upper bound in practice.
DATA_LIST = 10
#: Fields whose ``first`` argument sizes the ``edges`` of the connection they return.
PAGED = {("Query", "users"), ("Query", "courses")}
CONNECTION_ITEMS = "edges"


@dataclass(frozen=True)
class Bounds:
    """The server's caps on list arguments; past them the resolver refuses the field."""

    max_page_size: int
    max_history_months: int


class _PastLimit(Exception):
    """The count passed the limit: no need to count further."""


class _Counter:
    def __init__(
        self,
        schema: GraphQLSchema,
        operation: OperationDefinitionNode,
        fragments: dict[str, FragmentDetails],
        variables: VariableValues,
        bounds: Bounds,
        stop_above: int,
    ) -> None:
        self.schema, self.operation, self.fragments = schema, operation, fragments
        self.variables, self.bounds, self.stop_above = variables, bounds, stop_above
        self.total = 0
        # What introspection resolvers read of their info.
        self.info = cast(GraphQLResolveInfo[Any], SimpleNamespace(schema=schema))

    def add(self, count: int) -> None:
        """Count introspection's answer, one step per value: stopped once past the limit."""
        self.total += count
        if self.total > self.stop_above:
            raise _PastLimit

    def data(
        self, grouped: GroupedFieldSet, parent: GraphQLObjectType, times: int, page: int
    ) -> None:
        """Fields of ``parent``, each asked ``times`` times (``page``: the enclosing
        connection's page size)."""
        for details in grouped.values():
            node = details[0].node
            name = node.name.value
            # Counted to the end: one step per field of the document, whatever the list sizes.
            self.total += times
            if name == "__typename":
                continue
            if name in ("__schema", "__type"):
                meta = SchemaMetaFieldDef if name == "__schema" else TypeMetaFieldDef
                self.introspection(meta, details, [None] * times)
                continue
            definition = parent.fields[name]
            try:
                arguments = get_argument_values(definition, node, self.variables)
            except GraphQLError:
                continue  # refused when executed; nothing below it runs
            size, below = self.size(parent.name, name, arguments, page, definition.type)
            target = get_named_type(definition.type)
            if size and isinstance(target, GraphQLObjectType):
                collected = collect_subfields(
                    self.schema, self.fragments, self.variables, self.operation, target, details
                )
                self.data(collected.grouped_field_set, target, times * size, below)

    def size(
        self,
        parent: str,
        name: str,
        arguments: Mapping[str, Any],
        page: int,
        kind: GraphQLOutputType,
    ) -> tuple[int, int]:
        """(items the field returns, page size its connection passes on)."""
        bounds = self.bounds
        if (parent, name) in PAGED:
            first = arguments.get("first")
            size = DEFAULT_PAGE if first is None else first
            if not 0 <= size <= bounds.max_page_size:
                return 0, 0
            return 1, size
        if name == CONNECTION_ITEMS and parent.endswith("Connection"):
            return page, 0
        if (parent, name) == ("User", "activityHistory"):
            try:
                first, last = Month.parse(arguments["from"]), Month.parse(arguments["to"])
            except StatsError:
                return 0, 0
            months = first.count_until(last)
            return (months if 0 < months <= bounds.max_history_months else 0), 0
        return (DATA_LIST if is_list_type(get_nullable_type(kind)) else 1), 0

    def introspection(self, definition: Any, details: Any, sources: list[Any]) -> None:
        """A field of introspection asked of each of ``sources``: resolved as graphql-core does,
        to count what its answer holds."""
        node = details[0].node
        try:
            arguments = get_argument_values(definition, node, self.variables)
        except GraphQLError:
            return
        target = get_named_type(definition.type)
        if not isinstance(target, GraphQLObjectType):
            return
        many = is_list_type(get_nullable_type(definition.type))
        found: list[Any] = []
        for source in sources:
            value = definition.resolve(source, self.info, **arguments)
            if value is None:
                continue
            if many:
                found.extend(item for item in value if item is not None)
            else:
                found.append(value)
        if not found:
            return
        collected = collect_subfields(
            self.schema, self.fragments, self.variables, self.operation, target, details
        )
        for inner in collected.grouped_field_set.values():
            self.add(len(found))
            name = inner[0].node.name.value
            if name != "__typename":
                self.introspection(target.fields[name], inner, found)


def query_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: dict[str, Any] | None,
    bounds: Bounds,
    stop_above: int,
) -> int:
    """The cost of the operation graphql-core would execute; 0 when it would execute nothing
    (no such operation, variables it refuses). The data's fields are counted to the end; counting
    introspection's answer stops once past ``stop_above``."""
    operation = get_operation_ast(document, operation_name)
    if operation is None or schema.query_type is None:
        return 0
    coerced = get_variable_values(schema, operation.variable_definitions or (), variables or {})
    if not isinstance(coerced, VariableValues):
        return 0
    fragments = {
        definition.name.value: FragmentDetails(definition)
        for definition in document.definitions
        if isinstance(definition, FragmentDefinitionNode)
    }
    counter = _Counter(schema, operation, fragments, coerced, bounds, stop_above)
    root = collect_fields(schema, fragments, coerced, schema.query_type, operation)
    with contextlib.suppress(_PastLimit):
        counter.data(root.grouped_field_set, schema.query_type, 1, 0)
    return counter.total


def too_costly(cost: int, limit: int) -> GraphQLError:
    message = (
        f"This query costs {cost:,} (fields × list sizes); at most {limit:,} is allowed "
        "(DEFINUM_MAX_COST): ask for smaller pages, fewer months or fewer aliases."
    )
    error = GraphQLError(message, extensions={"cost": cost, "maxCost": limit})
    return with_code(error, QUERY_TOO_COMPLEX)


class CostLimit(SchemaExtension):
    """Refuses, before execution, an operation costing more than ``limit``."""

    def __init__(self, *, bounds: Bounds, limit: int) -> None:
        super().__init__()
        self.bounds = bounds
        self.limit = limit

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is not None:
            cost = query_cost(
                context.schema._schema,
                document,
                context.operation_name,
                context.variables,
                self.bounds,
                self.limit,
            )
            if cost > self.limit:
                raise too_costly(cost, self.limit)
        yield
