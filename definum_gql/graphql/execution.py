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

A sync method taking built-in scalar or enum arguments, and perhaps ``info`` (``User.activity``),
is executed as graphql-core executes a field, but its arguments are coerced and converted once
per selection rather than once per node (every learner of a page gets the same values) and the
method is called without Strawberry's per-call wrapper chain: a cached page of 500 learners'
``activity(month:)`` ~60 -> ~40 ms (BENCHMARKS.md).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLLeafType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    Undefined,
    is_leaf_type,
    is_specified_scalar_type,
)
from graphql.execution.collect_fields import FieldDetailsList, GroupedFieldSet
from graphql.execution.executor import to_nodes
from graphql.execution.values import get_argument_values
from graphql.pyutils import AwaitableOrValue, Path
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types.arguments import convert_arguments
from strawberry.types.field import StrawberryField

__all__ = ["Executor"]


class _Read(NamedTuple):
    """A field answered by reading: how (called without info) and its leaf type."""

    resolve: Callable[..., Any]
    leaf: GraphQLLeafType
    non_null: bool


#: A selection's fields in order: response name, and how to read it (None: graphql-core).
_Plan = tuple[tuple[str, _Read | None], ...]


class _Call(NamedTuple):
    """A field whose sync resolver is called with arguments converted once per selection."""

    field: GraphQLField
    method: Callable[..., Any]
    #: The resolver's keyword arguments (Python names), the same for every node.
    kwargs: dict[str, Any]
    #: The resolver's ``info`` parameter (None: it takes none), and how Strawberry builds the
    #: object it receives.
    info_name: str | None
    info_class: Callable[..., Any]
    strawberry_field: Any


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
    resolver = _sync_method(field)
    # ``self`` alone, as a plain parameter (not annotated as info).
    if resolver is None or resolver.info_parameter or len(resolver.signature.parameters) != 1:
        return None
    method = resolver.wrapped_func
    return lambda source, _info: method(source)


def _sync_method(field: GraphQLField) -> Any:
    """The StrawberryResolver of ``field`` when it is a sync method (taking ``self``, not the
    parent or root) that Strawberry's own wrapper calls with nothing around it (no field
    extension, a plain StrawberryField: a subclass may override ``get_result``, and a
    ``resolve`` put in place of Strawberry's is not the method); else None."""
    definition = (field.extensions or {}).get("strawberry-definition")
    if type(definition) is not StrawberryField or definition.extensions:
        return None
    resolver = definition.base_resolver
    if resolver is None or resolver.is_async:
        return None
    if not getattr(field.resolve, "__qualname__", "").startswith(
        "GraphQLCoreConverter.from_resolver."
    ):
        return None
    if resolver.self_parameter is None or resolver.parent_parameter or resolver.root_parameter:
        return None
    return resolver


class Executor(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's executor; fields that only read their object are completed in place, and
    methods taking plain arguments are called with them converted once per selection."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Per request: graphql-core hands the same grouped field set object to every object
        # of a list (it caches collected subfields), so a page plans its selection once. The
        # set is kept beside its plan so that its id cannot be reused while cached.
        self._plans: dict[int, tuple[GroupedFieldSet, _Plan]] = {}
        # The same for each field's details (one list per field of a cached selection), with
        # the parent type it was planned for.
        self._calls: dict[int, tuple[FieldDetailsList, GraphQLObjectType, _Call | None]] = {}
        # Strawberry hands every request a manager; it wraps resolvers only when an extension
        # has a resolve hook, and a field read or called here would skip that hook.
        manager = self.middleware_manager
        self._hooked = manager is not None and bool(manager.middlewares)

    def execute_field(
        self,
        parent_type: GraphQLObjectType,
        source: Any,
        field_details_list: FieldDetailsList,
        path: Path,
        position_context: Any,
    ) -> AwaitableOrValue[Any]:
        found = self._calls.get(id(field_details_list))
        if found is not None and found[0] is field_details_list and found[1] is parent_type:
            call = found[2]
        else:
            call = self._call(parent_type, field_details_list)
            self._calls[id(field_details_list)] = (field_details_list, parent_type, call)
        if call is None:
            return super().execute_field(
                parent_type, source, field_details_list, path, position_context
            )
        # graphql-core's execute_field with the arguments already converted.
        return_type = call.field.type
        info = self.build_resolve_info(call.field, to_nodes(field_details_list), parent_type, path)
        try:
            if call.info_name is None:
                result = call.method(source, **call.kwargs)
            else:
                kwargs = dict(call.kwargs)
                kwargs[call.info_name] = call.info_class(
                    _raw_info=info, _field=call.strawberry_field
                )
                result = call.method(source, **kwargs)
            if self.is_awaitable(result):
                return self.complete_awaitable_value(
                    return_type, field_details_list, info, path, result, position_context
                )
            completed = self.complete_value(
                return_type, field_details_list, info, path, result, position_context
            )
        except Exception as raw_error:
            self.handle_field_error(raw_error, return_type, field_details_list, path)
            return None
        if self.is_awaitable(completed):
            return self._await_completed(completed, return_type, field_details_list, path)
        return completed

    async def _await_completed(
        self,
        completed: Awaitable[Any],
        return_type: Any,
        field_details_list: FieldDetailsList,
        path: Path,
    ) -> Any:
        try:
            return await completed
        except Exception as raw_error:
            self.handle_field_error(raw_error, return_type, field_details_list, path)
            return None

    def _call(self, parent: GraphQLObjectType, details: FieldDetailsList) -> _Call | None:
        """How to call the field of ``details`` with its arguments converted once, or None when
        graphql-core and Strawberry must handle each call (no arguments, an async resolver, an
        extension, a middleware, exception handlers, an input object or list argument,
        arguments graphql-core or Strawberry refuse: those errors stay per node)."""
        first = details[0]
        field = parent.fields.get(first.node.name.value)
        if field is None or not (field.args or first.node.arguments) or self._hooked:
            return None
        resolver = _sync_method(field)
        if resolver is None or not all(_plain(a.type) for a in field.args.values()):
            return None
        definition = field.extensions["strawberry-definition"]
        strawberry_schema: Any = getattr(self.schema, "_strawberry_schema", None)
        converter = getattr(strawberry_schema, "schema_converter", None)
        if converter is None or getattr(converter, "_exception_handler_specs", True):
            return None
        try:
            values = get_argument_values(
                field, first.node, self.variable_values, first.fragment_variable_values
            )
            kwargs = convert_arguments(
                values,
                definition.arguments,
                scalar_registry=converter.scalar_registry,
                config=strawberry_schema.config,
            )
        except Exception:  # refused per node by graphql-core or Strawberry, as without this
            return None
        return _Call(
            field,
            resolver.wrapped_func,
            kwargs,
            resolver.info_parameter.name if resolver.info_parameter else None,
            strawberry_schema.config.info_class,
            definition,
        )

    def _plan(self, parent: GraphQLObjectType, grouped: GroupedFieldSet) -> _Plan:
        found = self._plans.get(id(grouped))
        if found is not None and found[0] is grouped:
            return found[1]
        plan: _Plan = ()
        if not self._hooked:
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


def _plain(kind: Any) -> bool:
    """Whether an argument of GraphQL type ``kind`` converts to a value every node may share:
    a built-in scalar (an immutable str, int, float or bool) or an enum; not a custom scalar
    (``JSON`` parses a literal into a dict graphql-core would parse again for each node), a
    list or an input object."""
    if isinstance(kind, GraphQLNonNull):
        kind = kind.of_type
    if isinstance(kind, GraphQLScalarType):
        return is_specified_scalar_type(kind)
    return isinstance(kind, GraphQLEnumType)


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
