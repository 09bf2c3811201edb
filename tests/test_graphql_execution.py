"""graphql/execution.py: scalar fields that only read their object (an attribute, or a method
taking only ``self``), completed in place, and methods whose arguments are converted once per
selection, answer exactly what graphql-core's own path answers (values, nulls, errors and their
paths, key order)."""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from typing import Any, NewType, cast

import pytest
import strawberry
from graphql.execution.executor import Executor as CoreExecutor
from strawberry.extensions import FieldExtension, SchemaExtension
from strawberry.scalars import JSON
from strawberry.schema.config import StrawberryConfig
from strawberry.types.arguments import convert_arguments
from strawberry.types.field import StrawberryField

from definum_gql.graphql import execution
from definum_gql.graphql.execution import Executor


@strawberry.enum
class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


def _odd(value: Any) -> int:
    if int(value) % 2 == 0:
        raise ValueError(f"{value} is even")
    return int(value)


Odd = NewType("Odd", int)
CONFIG = StrawberryConfig(
    scalar_map={Odd: strawberry.scalar(name="Odd", serialize=int, parse_value=_odd)}
)


@strawberry.input
class Span:
    low: int
    high: int


@strawberry.type
class Pair:
    n: int
    tag: str


class Doubled(StrawberryField):
    """A field class of its own whose get_result doubles the resolver's answer."""

    def get_result(self, source: Any, info: Any, args: list[Any], kwargs: Any) -> Any:
        value = super().get_result(source, info, args, kwargs)
        return 2 * cast(int, value)  # its resolvers are sync


@strawberry.interface
class Shape:
    side: int

    @strawberry.field
    def area(self, times: int = 1) -> int:
        return self.side * self.side * times


@strawberry.type
class Square(Shape):
    pass


@strawberry.type
class Strip(Shape):
    length: int

    @strawberry.field
    def area(self, times: int = 1) -> int:  # the same field, another method
        return self.side * self.length * times


SHAPES = [Square, Strip]


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

    @strawberry.field
    def pair(self, info: strawberry.Info, by: int = 1, colour: Colour = Colour.RED) -> Pair | None:
        """Arguments, info and an object answer; raises for ``by: 0`` on the second leaf."""
        if by == 0 and self.n == 2:
            raise ValueError("no pair by 0")
        return Pair(n=self.n * by, tag=f"{info.field_name}:{colour.value}:{info.path.key}")

    @strawberry.field
    def odd(self, k: Odd) -> int:
        return self.n + k

    @strawberry.field
    def total(self, ks: list[int]) -> int:
        ks.append(self.n)  # a list is the node's own: not shared with the next
        return sum(ks)

    @strawberry.field
    def within(self, span: Span) -> bool:
        return span.low <= self.n <= span.high

    @strawberry.field
    def tagged(self, data: JSON) -> JSON:
        """Changes its argument: a JSON literal is parsed for each node, not shared."""
        data["n"] = self.n  # type: ignore[index]
        return data

    @Doubled()
    def twice(self, k: int) -> int:
        return self.n + k

    @Doubled()
    def twice_n(self) -> int:
        return self.n

    @strawberry.field(graphql_type=int)  # type: ignore[untyped-decorator]
    def later(self, k: int) -> Awaitable[int] | int:
        """An awaitable for the second leaf, as a resolver built on prefetch.settle answers."""
        if self.n != 2:
            return self.n + k

        async def answer() -> int:
            return self.n + k

        return answer()

    negated: int = strawberry.field(resolver=lambda self: self.n, extensions=[Negate()])
    negated_n: int = strawberry.field(extensions=[Negate()])  # no resolver: the attribute


@strawberry.type
class Query:
    @strawberry.field
    def shapes(self) -> list[Shape]:
        return [Square(side=2), Strip(side=2, length=5), Square(side=3)]

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
    "{ leaves { pair { n tag } p2: pair(by: 2, colour: BLUE) { tag n } } }",
    "{ leaves { n pair(by: 0) { n } } }",
    "{ leaves { n odd(k: 2) } }",
    "{ leaves { odd(k: 3) total(ks: [1, 2]) within(span: {low: 2, high: 9}) } }",
    "query($no: Boolean!) { leaves { pair(by: 3) @include(if: $no) { n } n } }",
    "query($by: Int!) { leaves { pair(by: $by) { n } } }",
    "{ shapes { side area(times: 2) ... on Strip { length a: area } } }",
    "{ leaves { tagged(data: {a: 1}) } }",
    "{ leaves { twice(k: 10) twiceN n } }",
]


def _run(executor: type[Any] | None, document: str, **extra: Any) -> dict[str, Any]:
    schema = strawberry.Schema(
        query=Query, execution_context_class=executor, config=CONFIG, types=SHAPES, **extra
    )
    result = schema.execute_sync(document, variable_values={"no": True, "by": 5})
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
    if ours["data"] and ours["data"].get("leaves"):
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
    # A method taking only self is read in place; info and extensions are not; a method
    # taking arguments is called with them converted once (below).
    assert sorted(set(seen)) == [
        "Leaf.asked",
        "Leaf.negated",
        "Leaf.negatedN",
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


def test_arguments_are_converted_once_per_selection(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _field_calls(monkeypatch)
    converted: list[dict[str, Any]] = []
    original = convert_arguments

    def spy(values: dict[str, Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
        converted.append(values)
        return original(values, *args, **kwargs)

    monkeypatch.setattr(execution, "convert_arguments", spy)
    answer = _run(Executor, "{ leaves { plus(k: 1) pair(colour: BLUE) { n tag } } }")
    # Two leaves, two fields with arguments: each field's arguments (graphql-core's coerced
    # values, defaults included) converted once.
    assert converted == [{"k": 1}, {"by": 1, "colour": Colour.BLUE}]
    assert "Leaf.plus" not in seen
    assert "Leaf.pair" not in seen
    assert answer["data"] == {
        "leaves": [
            {"plus": 2, "pair": {"n": 1, "tag": "pair:blue:pair"}},
            {"plus": 3, "pair": {"n": 2, "tag": "pair:blue:pair"}},
        ]
    }
    # A list argument is each node's own: graphql-core and Strawberry convert it per node.
    assert _run(Executor, "{ leaves { total(ks: [1]) } }")["data"] == {
        "leaves": [{"total": 2}, {"total": 3}]
    }
    assert seen.count("Leaf.total") == 2


async def test_an_awaitable_answer_completes_as_graphql_core_completes_it() -> None:
    document = "{ leaves { later(k: 10) n } }"
    answers = []
    for executor in (Executor, None):
        schema = strawberry.Schema(
            query=Query, execution_context_class=executor, config=CONFIG, types=SHAPES
        )
        result = await schema.execute(document)
        answers.append((result.data, result.errors))
    assert answers[0] == answers[1]
    assert answers[0][0] == {"leaves": [{"later": 11, "n": 1}, {"later": 12, "n": 2}]}


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
