"""A page's batch fields, loaded before graphql-core walks the page.

graphql-core completes an async field with a coroutine, futures and a gather per node: for a page
of 500 learners asking `definumStats` that cost as much as the statistics themselves
(BENCHMARKS.md). So a list resolver *primes* the request's DataLoaders with every key its nodes'
fields will ask, one batch per loader, and those fields' resolvers are plain functions built on
``settle``: when every value a field needs is loaded they answer at once, otherwise they return an
awaitable, as an async resolver would. Priming only fills the loaders' caches, and a field answers
from exactly the keys it would load itself: a prime that misses costs time, never a different
answer, and an error is raised by the field that meets it, as before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any, NoReturn, TypeAlias, TypeVar

from graphql import GraphQLError, GraphQLObjectType, GraphQLResolveInfo, get_named_type
from graphql.execution.collect_fields import FieldDetails, FragmentDetails, collect_subfields
from graphql.execution.values import VariableValues, get_argument_values

from definum_gql.graphql.context import Context, SharedLoader
from definum_gql.graphql.errors import ClientError
from definum_gql.stats.errors import StatsError

R = TypeVar("R")
#: A value a field needs: a loader and its key.
Need: TypeAlias = tuple[SharedLoader[Any, Any], Hashable]
#: What one field of a node needs, from the request, the node's id and the field's arguments
#: (GraphQL names, values as the resolver receives them).
Primer = Callable[[Context, int, Mapping[str, Any]], Iterable[Need]]


def settle(needs: Callable[[], Sequence[Need]], build: Callable[..., R]) -> R | Awaitable[R]:
    """``build(*values)`` now if every need is loaded, else an awaitable of it.

    ``needs`` reads the field's arguments: what it refuses is raised from an awaitable too, as an
    async resolver raises. (A plain resolver raising while its siblings' loads are under way
    leaves those running after the request has answered; graphql-core cancels an awaitable's.)
    """
    try:
        wanted = needs()
    except Exception as exc:
        return _raise(exc)
    values = []
    for loader, key in wanted:
        future = loader.cache_map.get(key)
        if future is None or not future.done() or future.cancelled() or future.exception():
            return _later(wanted, build)
        values.append(future.result())
    return build(*values)


async def _raise(exc: Exception) -> NoReturn:
    raise exc


async def _later(needs: Sequence[Need], build: Callable[..., R]) -> R:
    # Loaded together, so that each joins the request's other loads of its kind.
    values = await asyncio.gather(*(loader.load(key) for loader, key in needs))
    return build(*values)


async def prime(
    ctx: Context,
    info: GraphQLResolveInfo[Any],
    path: Sequence[str],
    ids: Sequence[int],
    primers: Mapping[str, Primer],
) -> None:
    """Load what the fields at ``path`` below the list field of ``info`` need for every id.

    ``path`` leads from the list to its nodes (``("edges", "node")``). Arguments a field refuses
    are left to the field to refuse (per node, as without priming); failed loads are left for the
    fields to raise.
    """
    needs: dict[Need, None] = {}
    for name, arguments in _fields_at(info, path):
        primer = primers.get(name)
        if primer is None:
            continue
        try:
            for node in ids:
                needs.update(dict.fromkeys(primer(ctx, node, arguments)))
        except (ClientError, StatsError):
            continue
    keys: dict[SharedLoader[Any, Any], list[Hashable]] = {}
    for loader, key in needs:
        keys.setdefault(loader, []).append(key)
    # Shared loaders' shields: cancelled with this resolver, they release the batches.
    await asyncio.gather(*(loader.load_all(wanted) for loader, wanted in keys.items()))


def _fields_at(
    info: GraphQLResolveInfo[Any], path: Sequence[str]
) -> list[tuple[str, dict[str, Any]]]:
    """(name, arguments) of each field asked at ``path`` below the field being resolved, as
    graphql-core will execute them: fragments visited once each, ``@skip``/``@include`` and type
    conditions applied, one entry per response key (aliases asked with other arguments are
    entries of their own), arguments coerced with the request's variables.

    (Strawberry's ``info.selected_fields`` expands every fragment spread again wherever it
    appears: nested spreads make that exponential in the document's size.)
    """
    fragments = {name: FragmentDetails(node) for name, node in info.fragments.items()}
    # Strawberry's executor hands resolvers the coerced values alone.
    given: Any = info.variable_values
    variables = given if isinstance(given, VariableValues) else VariableValues({}, dict(given))
    parent = get_named_type(info.return_type)
    groups = [[FieldDetails(node, None) for node in info.field_nodes]]
    found: list[tuple[str, dict[str, Any]]] = []
    for depth in range(len(path) + 1):
        if not isinstance(parent, GraphQLObjectType):
            return []
        following: list[list[FieldDetails]] = []
        for details in groups:
            collected = collect_subfields(
                info.schema, fragments, variables, info.operation, parent, details
            )
            for group in collected.grouped_field_set.values():
                name = group[0].node.name.value
                if depth < len(path):
                    if name == path[depth]:
                        following.append(list(group))
                    continue
                definition = parent.fields.get(name)
                if definition is None:  # __typename
                    continue
                try:
                    arguments = get_argument_values(definition, group[0].node, variables)
                except GraphQLError:
                    continue  # refused by graphql-core when it executes the field
                found.append((name, arguments))
        if depth < len(path):
            definition = parent.fields.get(path[depth])
            if definition is None:
                return []
            parent = get_named_type(definition.type)
            groups = following
    return found
