"""graphql-core's executor with a short way for scalar fields that only read their object.

A page of 500 learners asking ``definumStats`` completes ~9,000 fields, most of them scalars
that Strawberry answers with ``getattr`` (its "basic" fields: no resolver, no arguments, no
extension) or with a method taking only ``self`` (``MonthlyActivity.time_spent``). graphql-core
gives each a resolve-info object, a path, argument handling and nested completion calls, and
Strawberry wraps each method call in its argument conversion and extension chain; that
per-field machinery, not the statistics, was what separated the page from the same 500
documents built directly (BENCHMARKS.md). Here such a field is read and coerced in place,
exactly as graphql-core would complete it; anything else (a resolver asking for info or
arguments, an async one, a field extension, an object or list type, ``__typename``, a null for
a non-null field, a value the scalar refuses, a resolver raising, a resolve middleware) takes
graphql-core's own path, errors included (a method is then called again there: these are
plain reads of the object).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

from graphql import (
    GraphQLField,
    GraphQLLeafType,
    GraphQLNonNull,
    GraphQLObjectType,
    Undefined,
    is_leaf_type,
)
from graphql.execution.collect_fields import GroupedFieldSet
from graphql.pyutils import AwaitableOrValue, Path
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

__all__ = ["Executor"]


class _Read(NamedTuple):
    """A field answered by reading: how (called without info) and its leaf type."""

    resolve: Callable[..., Any]
    leaf: GraphQLLeafType
    non_null: bool


#: A selection's fields in order: response name, and how to read it (None: graphql-core).
_Plan = tuple[tuple[str, _Read | None], ...]


def _read(parent: GraphQLObjectType, name: str, grouped: GroupedFieldSet) -> _Read | None:
    """How to read ``name`` of ``parent`` in place, or None when graphql-core must run it."""
    node = grouped[name][0].node
    field = parent.fields.get(node.name.value)
    if field is None or field.args or node.arguments:
        return None
    resolve = _reader(field)
    if resolve is None:
        return None
    kind, non_null = field.type, False
    if isinstance(kind, GraphQLNonNull):
        kind, non_null = kind.of_type, True
    if not is_leaf_type(kind):
        return None
    return _Read(resolve, kind, non_null)


def _reader(field: GraphQLField) -> Callable[[Any, Any], Any] | None:
    """``(source, info)`` -> the field's value without Strawberry's wrapper: its basic fields'
    own resolver; a sync method taking only ``self`` with no field extension, called directly
    (Strawberry would pass it the source alone); else None."""
    definition = (field.extensions or {}).get("strawberry-definition")
    if definition is not None and definition.extensions:
        return None  # an extension's resolve hook sees every call
    if getattr(field.resolve, "_is_default", False):
        return field.resolve
    resolver = getattr(definition, "base_resolver", None)
    if resolver is None or resolver.is_async:
        return None
    # ``self`` alone, as a plain parameter (not annotated as the parent, root or info).
    if resolver.self_parameter is None or len(resolver.signature.parameters) != 1:
        return None
    if resolver.info_parameter or resolver.parent_parameter or resolver.root_parameter:
        return None
    method = resolver.wrapped_func
    return lambda source, _info: method(source)


class Executor(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's executor; fields that only read an attribute are completed in place."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Per request: graphql-core hands the same grouped field set object to every object
        # of a list (it caches collected subfields), so a page plans its selection once. The
        # set is kept beside its plan so that its id cannot be reused while cached.
        self._plans: dict[int, tuple[GroupedFieldSet, _Plan]] = {}

    def _plan(self, parent: GraphQLObjectType, grouped: GroupedFieldSet) -> _Plan:
        found = self._plans.get(id(grouped))
        if found is not None and found[0] is grouped:
            return found[1]
        plan: _Plan = ()
        # Strawberry hands every request a manager; it wraps resolvers only when an extension
        # has a resolve hook, and a field read here would skip that hook.
        manager = self.middleware_manager
        if manager is None or not manager.middlewares:
            plan = tuple((name, _read(parent, name, grouped)) for name in grouped)
        self._plans[id(grouped)] = (grouped, plan)
        return plan

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: GroupedFieldSet,
        position_context: Any,
    ) -> AwaitableOrValue[dict[str, Any]]:
        plan = self._plan(parent_type, grouped_field_set)
        if not any(read for _, read in plan):
            return super().execute_fields(
                parent_type, source_value, path, grouped_field_set, position_context
            )
        read_values: dict[str, Any] = {}
        rest: GroupedFieldSet = {}
        for name, read in plan:
            value = _complete(read, source_value) if read is not None else Undefined
            if value is Undefined:
                rest[name] = grouped_field_set[name]
            else:
                read_values[name] = value
        if not rest:
            return read_values
        others = super().execute_fields(parent_type, source_value, path, rest, position_context)
        if self.is_awaitable(others):
            return _in_order(plan, read_values, others)
        return _ordered(plan, read_values, others)  # type: ignore[arg-type]


def _complete(read: _Read, source: Any) -> Any:
    """The field's completed value, or Undefined when graphql-core must complete it (an error
    to report, or something that is not a plain attribute value)."""
    try:
        value = read.resolve(source, None)
    except Exception:
        return Undefined
    if value is None or value is Undefined:
        return Undefined if read.non_null else None
    if isinstance(value, Exception) or hasattr(value, "__await__"):
        if inspect.iscoroutine(value):
            value.close()  # graphql-core calls the resolver again and awaits its own
        return Undefined
    try:
        coerced = read.leaf.coerce_output_value(value)
    except Exception:
        return Undefined
    # A scalar answering null is graphql-core's error to report.
    return Undefined if coerced is None else coerced


def _ordered(plan: _Plan, read: dict[str, Any], others: dict[str, Any]) -> dict[str, Any]:
    """Both halves in the selection's order (a field graphql-core left out stays out)."""
    return {
        name: read[name] if name in read else others[name]
        for name, _ in plan
        if name in read or name in others
    }


async def _in_order(
    plan: _Plan, read: dict[str, Any], others: Awaitable[dict[str, Any]]
) -> dict[str, Any]:
    return _ordered(plan, read, await others)
