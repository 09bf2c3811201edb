"""The bytes Moodle's REST server writes: PHP ``json_encode`` or Moodle's XML, and the headers."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from definum_gql.rest.errors import WsError

JSON = "json"
XML = "xml"

_COMMON_HEADERS = (
    ("Cache-Control", "private, must-revalidate, pre-check=0, post-check=0, max-age=0"),
    ("Expires", "Thu, 01 Jan 1970 00:00:00 GMT"),
    ("Pragma", "no-cache"),
    ("Accept-Ranges", "none"),
    ("Access-Control-Allow-Origin", "*"),
)


def response_headers(fmt: str) -> dict[str, str]:
    """Moodle's ``webservice_rest_server::send_headers`` for the format."""
    if fmt == JSON:
        headers = {"Content-Type": "application/json"}
    else:
        headers = {
            "Content-Type": "application/xml; charset=utf-8",
            "Content-Disposition": 'inline; filename="response.xml"',
        }
    headers.update(_COMMON_HEADERS)
    return headers


# --- PHP json_encode with default flags ---

_JSON_ESCAPE = re.compile(r'[\x00-\x1f"\\/\u0080-\U0010ffff]')
_JSON_SHORT = {
    '"': '\\"',
    "\\": "\\\\",
    "/": "\\/",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}


def _json_char(match: re.Match[str]) -> str:
    ch = match.group()
    short = _JSON_SHORT.get(ch)
    if short is not None:
        return short
    code = ord(ch)
    if code > 0xFFFF:
        code -= 0x10000
        return f"\\u{0xD800 | (code >> 10):04x}\\u{0xDC00 | (code & 0x3FF):04x}"
    return f"\\u{code:04x}"


def _json_string(value: str) -> str:
    return '"' + _JSON_ESCAPE.sub(_json_char, value) + '"'


def php_json(value: Any) -> str:
    """``json_encode($value)``: no spaces, ``\\/``, ``\\uXXXX`` in lower case, keys in order."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, Decimal):
        return str(int(value)) if value == value.to_integral_value() else repr(float(value))
    if isinstance(value, str):
        return _json_string(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        items = ",".join(f"{_json_string(str(k))}:{php_json(v)}" for k, v in value.items())
        return "{" + items + "}"
    if isinstance(value, Sequence):
        return "[" + ",".join(php_json(v) for v in value) + "]"
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


# --- Moodle's xmlize_result ---


def xml_escape(value: str) -> str:
    """PHP ``htmlspecialchars($value, ENT_COMPAT)``: & < > and double quotes, not '."""
    return (
        value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


def _xml_value(value: Any, out: list[str]) -> None:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out.append("<SINGLE>\n")
        for f in dataclasses.fields(value):
            out.append(f'<KEY name="{f.name}">')
            _xml_value(getattr(value, f.name), out)
            out.append("</KEY>\n")
        out.append("</SINGLE>\n")
    elif isinstance(value, Mapping):
        out.append("<SINGLE>\n")
        for key, item in value.items():
            out.append(f'<KEY name="{key}">')
            _xml_value(item, out)
            out.append("</KEY>\n")
        out.append("</SINGLE>\n")
    elif isinstance(value, (list, tuple)):
        out.append("<MULTIPLE>\n")
        for item in value:
            _xml_value(item, out)
        out.append("</MULTIPLE>\n")
    elif value is None:
        out.append('<VALUE null="null"/>\n')
    else:
        text = ("1" if value else "") if isinstance(value, bool) else str(value)
        out.append(f"<VALUE>{xml_escape(text)}</VALUE>\n")


def moodle_xml(value: Any) -> str:
    out = ['<?xml version="1.0" encoding="UTF-8" ?>\n<RESPONSE>\n']
    _xml_value(value, out)
    out.append("</RESPONSE>\n")
    return "".join(out)


def render_stats(stats: Any, fmt: str) -> bytes:
    """The exact body Moodle's REST server writes for one ``definum_get_stats`` answer.

    Args:
        stats: a ``DefinumStats`` (any dataclass; its field order is the wire order).
        fmt: ``"json"`` or ``"xml"``.
    """
    text = php_json(stats) if fmt == JSON else moodle_xml(stats)
    return text.encode("utf-8", "replace")


def render_error(error: WsError, fmt: str, debug: bool) -> bytes:
    """Moodle's ``generate_error``: the exception envelope, debuginfo only when debugging."""
    debuginfo = error.debuginfo if debug and error.debuginfo else None
    if fmt == JSON:
        body: dict[str, str] = {
            "exception": error.exception,
            "errorcode": error.errorcode,
            "message": error.message,
        }
        if debuginfo is not None:
            body["debuginfo"] = debuginfo
        text = php_json(body)
    else:
        text = (
            '<?xml version="1.0" encoding="UTF-8" ?>\n'
            f'<EXCEPTION class="{error.exception}">\n'
            f"<ERRORCODE>{xml_escape(error.errorcode)}</ERRORCODE>\n"
            f"<MESSAGE>{xml_escape(error.message)}</MESSAGE>\n"
        )
        if debuginfo is not None:
            text += f"<DEBUGINFO>{xml_escape(debuginfo)}</DEBUGINFO>\n"
        text += "</EXCEPTION>\n"
    return text.encode("utf-8", "replace")
