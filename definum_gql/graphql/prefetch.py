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
from typing import Any, TypeAlias, TypeVar

from strawberry.dataloader import DataLoader
from strawberry.types.nodes import SelectedField, Selection

from definum_gql.graphql.context import Context
from definum_gql.graphql.errors import ClientError
from definum_gql.stats.errors import StatsError

R = TypeVar("R")
#: A value a field needs: a loader and its key.
Need: TypeAlias = tuple[DataLoader[Any, Any], Hashable]
#: What one field of a node needs, from the request, the node's id and the field's arguments.
Primer = Callable[[Context, int, Mapping[str, Any]], Iterable[Need]]


def settle(needs: Sequence[Need], build: Callable[..., R]) -> R | Awaitable[R]:
    """``build(*values)`` now if every need is loaded, else an awaitable of it."""
    values = []
    for loader, key in needs:
        future = loader.cache_map.get(key)
        if future is None or not future.done() or future.cancelled() or future.exception():
            return _later(needs, build)
        values.append(future.result())
    return build(*values)


async def _later(needs: Sequence[Need], build: Callable[..., R]) -> R:
    # Loaded together, so that each joins the request's other loads of its kind.
    values = await asyncio.gather(*(loader.load(key) for loader, key in needs))
    return build(*values)


async def prime(
    ctx: Context,
    selected: Sequence[Selection],
    path: Sequence[str],
    ids: Sequence[int],
    primers: Mapping[str, Primer],
) -> None:
    """Load what the fields at ``path`` below the list field need for every id.

    ``selected`` is the list resolver's ``info.selected_fields``; ``path`` leads from the list
    to its nodes (``("edges", "node")``).

    Arguments a field refuses are left to the field to refuse (per node, as without priming);
    failed loads are left for the fields to raise.
    """
    needs: list[Need] = []
    below = [s for field in selected for s in _selections(field)]
    for field in _fields_at(below, path):
        primer = primers.get(field.name)
        if primer is None:
            continue
        try:
            for node in ids:
                needs.extend(primer(ctx, node, field.arguments))
        except (ClientError, StatsError, KeyError, TypeError, ValueError):
            continue
    if needs:
        # Shared-loader shields: cancelled with this resolver, they release the batch.
        await asyncio.gather(*(loader.load(key) for loader, key in needs), return_exceptions=True)


def _fields_at(selections: Iterable[Selection], path: Sequence[str]) -> Iterable[SelectedField]:
    """The fields selected at ``path`` (field names, aliases ignored), through fragments."""
    for selection in selections:
        if _skipped(selection):
            continue
        if not isinstance(selection, SelectedField):
            yield from _fields_at(selection.selections, path)
        elif not path:
            yield selection
        elif selection.name == path[0]:
            yield from _fields_at(selection.selections, path[1:])


def _selections(selection: Selection) -> list[Selection]:
    return selection.selections


def _skipped(selection: Selection) -> bool:
    directives = selection.directives
    return directives.get("skip", {}).get("if") is True or (
        directives.get("include", {}).get("if") is False
    )
