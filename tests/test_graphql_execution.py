"""graphql/execution.py: scalar fields that only read their object (an attribute, or a method
taking only ``self``), completed in place, answer exactly what graphql-core's own path answers
(values, nulls, errors and their paths, key order)."""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any

import pytest
import strawberry
from graphql.execution.executor import Executor as CoreExecutor
from strawberry.extensions import FieldExtension, SchemaExtension

from definum_gql.graphql.execution import Executor


@strawberry.enum
class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Negate(FieldExtension):
    """A field extension: the field's value negated (a field read in place would skip it)."""

    def resolve(self, next_: Callable[..., Any], source: Any, info: Any, **kwargs: Any) -> Any:
        return -next_(source, info, **kwargs)


@strawberry.type
class Leaf:
    n: int
    name: str
    maybe: int | None
    colour: Colour
    wide: int  # an Int beyond 32 bits is the scalar's error to report
    missing: int  # non-null, but the object holds None

    @strawberry.field
    def doubled(self) -> int:
        return self.n * 2

    @strawberry.field
    def plus(self, k: int) -> int:
        return self.n + k

    @strawberry.field
    def broken(self) -> int:
        if self.n == 2:
            raise ValueError("no second leaf")
        return self.n

    @strawberry.field
    def too_wide(self) -> int:
        return self.wide

    @strawberry.field
    def nothing(self) -> str:
        return None  # type: ignore[return-value]

    @strawberry.field
    def label(self) -> Colour:
        return self.colour

    @strawberry.field
    def asked(self, info: strawberry.Info) -> str:
        return info.field_name

    negated: int = strawberry.field(resolver=lambda self: self.n, extensions=[Negate()])
    negated_n: int = strawberry.field(extensions=[Negate()])  # no resolver: the attribute


@strawberry.type
class Query:
    @strawberry.field
    def leaves(self) -> list[Leaf]:
        return [
            Leaf(n=1, name="a", maybe=None, colour=Colour.RED, wide=1, missing=7, negated_n=3),
            Leaf(n=2, name="b", maybe=5, colour=Colour.BLUE, wide=2**40, missing=None, negated_n=4),  # type: ignore[arg-type]
        ]


DOCUMENTS = [
    "{ leaves { n name maybe colour } }",
    "{ leaves { b: name a: n __typename doubled again: n } }",
    "{ leaves { n wide } }",
    "{ leaves { n missing } }",
    "{ leaves { n plus(k: 3) name } }",
    "query($no: Boolean!) { leaves { n name @skip(if: $no) maybe @include(if: $no) } }",
    "{ leaves { ...F n } } fragment F on Leaf { colour n name }",
    "{ leaves { n broken name } }",
    "{ leaves { tooWide n } }",
    "{ leaves { nothing } }",
    "{ leaves { label asked negated doubled } }",
]


def _run(executor: type[Any] | None, document: str, **extra: Any) -> dict[str, Any]:
    schema = strawberry.Schema(query=Query, execution_context_class=executor, **extra)
    result = schema.execute_sync(document, variable_values={"no": True})
    errors = [
        {"message": e.message, "path": e.path, "locations": e.locations}
        for e in result.errors or []
    ]
    return {"data": result.data, "errors": errors}


@pytest.mark.parametrize("document", DOCUMENTS)
def test_answers_as_graphql_core_does(document: str) -> None:
    ours = _run(Executor, document)
    assert ours == _run(None, document)
    # Key order is the selection's (JSON objects are written in it).
    if ours["data"] and ours["data"]["leaves"]:
        stock = _run(None, document)["data"]["leaves"]
        assert [list(x) for x in ours["data"]["leaves"]] == [list(x) for x in stock]


def test_the_values_read_in_place() -> None:
    answer = _run(Executor, "{ leaves { name n maybe colour } }")
    assert answer == {
        "data": {
            "leaves": [
                {"name": "a", "n": 1, "maybe": None, "colour": "RED"},
                {"name": "b", "n": 2, "maybe": 5, "colour": "BLUE"},
            ]
        },
        "errors": [],
    }
    refused = _run(Executor, "{ leaves { n missing } }")
    # Leaf.missing is non-null and so are the list and its items: the null reaches the root.
    assert refused["data"] is None
    assert refused["errors"][0]["path"] == ["leaves", 1, "missing"]


def _field_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The fields graphql-core's own execute_field runs (parent.field)."""
    seen: list[str] = []
    original: Callable[..., Any] = CoreExecutor.execute_field

    def spy(self: Any, parent: Any, source: Any, details: Any, *rest: Any) -> Any:
        seen.append(f"{parent.name}.{details[0].node.name.value}")
        return original(self, parent, source, details, *rest)

    monkeypatch.setattr(CoreExecutor, "execute_field", spy)
    return seen


def test_only_fields_that_need_graphql_core_go_through_it(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _field_calls(monkeypatch)
    answer = _run(
        Executor, "{ leaves { n name doubled label plus(k: 1) asked negated negatedN colour } }"
    )
    # A method taking only self is read in place; arguments, info and extensions are not.
    assert sorted(set(seen)) == [
        "Leaf.asked",
        "Leaf.negated",
        "Leaf.negatedN",
        "Leaf.plus",
        "Query.leaves",
    ]
    assert [
        (x["doubled"], x["label"], x["negated"], x["negatedN"]) for x in answer["data"]["leaves"]
    ] == [(2, "RED", -1, -3), (4, "BLUE", -2, -4)]


def test_a_method_that_raises_is_reported_by_graphql_core(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _field_calls(monkeypatch)
    answer = _run(Executor, "{ leaves { n broken } }")
    assert answer["errors"] == [
        {"message": "no second leaf", "path": ["leaves", 1, "broken"], "locations": [(1, 14)]}
    ]
    # Read in place for the first leaf; the second's error took graphql-core's path.
    assert seen.count("Leaf.broken") == 1


class Upper(SchemaExtension):
    """A resolve hook: every string field answered in capitals."""

    def resolve(self, _next: Any, root: Any, info: Any, *args: Any, **kwargs: Any) -> Any:
        value = _next(root, info, *args, **kwargs)
        return value.upper() if isinstance(value, str) else value


def test_a_resolve_hook_still_sees_every_field(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _field_calls(monkeypatch)
    answer = _run(Executor, "{ leaves { name n } }", extensions=[Upper])
    assert answer["data"] == {"leaves": [{"name": "A", "n": 1}, {"name": "B", "n": 2}]}
    assert "Leaf.name" in seen


def test_the_served_schema_uses_it() -> None:
    from definum_gql.config import Settings
    from definum_gql.graphql import build_schema

    schema = build_schema(Settings(database_url="sqlite+aiosqlite://"))
    assert schema.execution_context_class is Executor
