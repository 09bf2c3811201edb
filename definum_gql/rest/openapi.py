"""An OpenAPI 3.0 description of the REST shim."""

from __future__ import annotations

from typing import Any

from definum_gql.stats.identity import USER_ID_FIELDS


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

_BADGE = {
    "type": "object",
    "properties": {
        "id": _INT,
        "name": _TEXT,
        "issuername": _TEXT,
        "issuerurl": _TEXT,
        "issuercontact": _TEXT,
        "dateissued": {**_INT, "description": "Unix time the badge was issued."},
        "dateissuedstr": {**_TEXT, "description": "dateissued, readable, in the call's language."},
    },
}

_STATS = {
    "type": "object",
    "description": "Keys appear in this order.",
    "properties": {
        "id": _INT,
        "lastname": _TEXT,
        "firstname": _TEXT,
        "courses": {**_INT, "description": "Courses with an active enrolment."},
        "finishablecourses": {**_INT, "description": "Those with completion enabled."},
        "finishedcourses": {**_INT, "description": "Those the user completed."},
        "finishedcoursesratio": {**_INT, "description": "Percent, rounded half up."},
        "badges": {"type": "array", "items": _BADGE, "description": "Newest first."},
        "numbadges": _INT,
        "lastlogin": {**_INT, "description": "Unix time of the previous login, 0 if none."},
        "lastloginstr": _TEXT,
        "timespentinmonth": {**_INT, "description": "Seconds since the month start."},
        "timespentinmonthstr": {**_TEXT, "description": "For example 3h 38m 20s."},
        "loginsinmonth": _INT,
    },
}

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
        _param("moodlewssettinglang", "Language of readable strings (en, fr).", _TEXT),
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
