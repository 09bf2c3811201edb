"""A typed spelling of ``@strawberry.field(description=...)`` for resolver methods."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import strawberry

F = TypeVar("F", bound=Callable[..., Any])


def described(description: str, returns: Any = None) -> Callable[[F], F]:
    """A resolver field with a description (every field of the schema has one).

    strawberry's decorator form is untyped for mypy; the resolver keeps its own signature.
    ``returns`` is the field's type where the annotation cannot say it (a resolver that answers
    a value or an awaitable of it: graphql/prefetch.py).
    """
    return cast(Callable[[F], F], strawberry.field(description=description, graphql_type=returns))
