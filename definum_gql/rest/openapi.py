"""An OpenAPI 3.0 description of the REST shim."""

from __future__ import annotations

import dataclasses
from typing import Any, get_args, get_origin, get_type_hints

from definum_gql.stats.document import DefinumBadge, DefinumStats
from definum_gql.stats.identity import USER_ID_FIELDS
from definum_gql.stats.strings import LANGS


def _param(name: str, description: str, schema: dict[str, Any], required: bool = False) -> Any:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": schema,
    }


_INT = {"type": "integer"}
_TEXT = {"type": "string"}

_SCALARS: dict[type, dict[str, Any]] = {
    int: _INT,
    str: _TEXT,
    bool: {"type": "boolean"},
    float: {"type": "number"},
}


def _schema_of(hint: Any) -> dict[str, Any]:
    """The OpenAPI schema of a field's Python type."""
    if hint in _SCALARS:
        return dict(_SCALARS[hint])
    if get_origin(hint) is list:
        (item,) = get_args(hint)
        return {"type": "array", "items": _schema_of(item)}
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _object_of(hint)
    raise TypeError(f"no OpenAPI type for {hint!r}")


def _object_of(cls: type, description: str | None = None) -> dict[str, Any]:
    """A dataclass as an OpenAPI object: its fields in declaration (wire) order, each with the
    ``description`` of its metadata."""
    hints = get_type_hints(cls)
    properties: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        schema = _schema_of(hints[f.name])
        if "description" in f.metadata:
            schema["description"] = f.metadata["description"]
        properties[f.name] = schema
    about = {"description": description} if description else {}
    # Every key is always there: an error envelope then never passes for a document (the
    # answer's "oneOf" needs exactly one of them to match).
    return {"type": "object", **about, "required": list(properties), "properties": properties}


_BADGE = _object_of(DefinumBadge)
_STATS = _object_of(DefinumStats, "Keys appear in this order.")

_ERROR = {
    "type": "object",
    "required": ["exception", "errorcode", "message"],
    "properties": {
        "exception": {**_TEXT, "description": "Moodle's exception class."},
        "errorcode": _TEXT,
        "message": _TEXT,
        "debuginfo": {**_TEXT, "description": "Only when definum-gql runs with debug on."},
    },
}

_XML = {
    "schema": _TEXT,
    "example": '<?xml version="1.0" encoding="UTF-8" ?>\n<RESPONSE>\n<SINGLE>\n'
    '<KEY name="id"><VALUE>10</VALUE>\n</KEY>\n...\n</SINGLE>\n</RESPONSE>\n',
}


def openapi_document() -> dict[str, Any]:
    parameters = [
        _param("wstoken", "A web service token (external_tokens).", _TEXT, True),
        _param("wsfunction", "Must be definum_get_stats.", {"type": "string"}, True),
        _param(
            "useridfield",
            "The field that names the user.",
            {"type": "string", "enum": list(USER_ID_FIELDS)},
            True,
        ),
        _param("userid", "Its value.", _TEXT, True),
        _param(
            "moodlewsrestformat",
            "json for JSON; anything else (or nothing) gives XML.",
            {"type": "string", "enum": ["json", "xml"], "default": "xml"},
        ),
        _param(
            "moodlewssettinglang",
            f"Language of readable strings ({', '.join(LANGS)}).",
            _TEXT,
        ),
        _param("moodlewssettingtimezone", "Timezone of readable strings.", _TEXT),
    ]
    answer = {
        "200": {
            "description": "The statistics, or a Moodle exception (always HTTP 200).",
            "content": {
                "application/json": {"schema": {"oneOf": [_STATS, _ERROR]}},
                "application/xml": _XML,
            },
        },
        "403": {"description": "Web services or the REST protocol are off on the site."},
        "503": {
            "description": "The Moodle database is unreachable (dml_connection_exception).",
            "content": {"application/json": {"schema": _ERROR}, "application/xml": _XML},
        },
    }
    form = {
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "properties": {p["name"]: p["schema"] for p in parameters},
                }
            },
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {p["name"]: p["schema"] for p in parameters},
                }
            },
        }
    }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "definum-gql Moodle REST shim",
            "version": "1.0",
            "description": "Moodle's web service function definum_get_stats (local_definum), "
            "answered byte for byte as Moodle's REST server does. Body fields win over query "
            "parameters; GET and POST behave the same.",
        },
        "paths": {
            "/webservice/rest/server.php": {
                "get": {
                    "operationId": "definumGetStats",
                    "parameters": parameters,
                    "responses": answer,
                },
                "post": {
                    "operationId": "definumGetStatsPost",
                    "parameters": [{**p, "required": False} for p in parameters],
                    "requestBody": form,
                    "responses": answer,
                },
            }
        },
        "components": {
            "schemas": {"DefinumStats": _STATS, "DefinumBadge": _BADGE, "Error": _ERROR}
        },
    }
