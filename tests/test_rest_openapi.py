"""The OpenAPI document describes the document's dataclasses: fields, order, types, words."""

from __future__ import annotations

import dataclasses
import json
from typing import Any, get_origin, get_type_hints

import pytest

from definum_gql.rest.openapi import openapi_document
from definum_gql.rest.render import php_json
from definum_gql.stats.document import DefinumBadge, DefinumStats

SERVER = "/webservice/rest/server.php"
OPENAPI_TYPES = {int: "integer", str: "string"}


def schemas() -> dict[str, Any]:
    return openapi_document()["components"]["schemas"]  # type: ignore[no-any-return]


def names(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


@pytest.mark.parametrize("cls", [DefinumStats, DefinumBadge])
def test_every_field_is_described_in_wire_order_and_nothing_else(cls: type) -> None:
    assert list(schemas()[cls.__name__]["properties"]) == names(cls)


def test_the_badges_of_the_answer_are_the_badge_schema() -> None:
    badges = schemas()["DefinumStats"]["properties"]["badges"]
    assert badges["type"] == "array"
    assert list(badges["items"]["properties"]) == names(DefinumBadge)


@pytest.mark.parametrize("method", ["get", "post"])
def test_the_answer_of_both_methods_is_the_stats_schema(method: str) -> None:
    document = openapi_document()
    content = document["paths"][SERVER][method]["responses"]["200"]["content"]
    stats, error = content["application/json"]["schema"]["oneOf"]
    assert stats == document["components"]["schemas"]["DefinumStats"]
    assert error == document["components"]["schemas"]["Error"]


@pytest.mark.parametrize("cls", [DefinumStats, DefinumBadge])
def test_each_field_has_its_type_and_its_description(cls: type) -> None:
    properties = schemas()[cls.__name__]["properties"]
    hints = get_type_hints(cls)
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        expected = "array" if get_origin(hint) is list else OPENAPI_TYPES[hint]
        assert properties[f.name]["type"] == expected, f.name
        assert properties[f.name].get("description") == f.metadata.get("description"), f.name


def test_the_json_answer_has_the_documented_keys_in_the_documented_order() -> None:
    badge = DefinumBadge(1, "b", "i", "u", "c", 0, "d")
    stats = DefinumStats(7, "l", "f", 1, 1, 1, 100, [badge], 1, 0, "Never", 0, "0s", 0)
    answer = json.loads(php_json(stats))
    described = schemas()["DefinumStats"]["properties"]
    assert list(answer) == list(described)
    assert list(answer["badges"][0]) == list(described["badges"]["items"]["properties"])
