"""Reading a REST call as PHP would: ``$_GET`` and ``$_POST`` merged, the body winning."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import unquote_to_bytes

from starlette.datastructures import UploadFile
from starlette.requests import Request

from definum_gql.rest.render import JSON, XML
from definum_gql.stats.strings import LANGS


class PhpArray:
    """A parameter sent in array form (``userid[0]=7``): never a valid scalar."""

    def __repr__(self) -> str:
        return "PhpArray()"


ARRAY = PhpArray()
Value = str | PhpArray


@dataclass
class RestCall:
    """One call: its authentication, function, settings and the function's own parameters."""

    token: str | None
    function: Value | None
    fmt: str
    lang: str | None
    timezone: str | None
    params: dict[str, Value] = field(default_factory=dict)


def _decode(raw: bytes) -> str:
    # Invalid UTF-8 survives as lone surrogates, so that parameter cleaning can refuse it.
    return raw.decode("utf-8", "surrogateescape")


def _php_name(name: str) -> tuple[str, bool]:
    """The variable PHP files a form field under, and whether it becomes an array."""
    name = name.lstrip(" ")
    bracket = name.find("[")
    is_array = bracket > 0 and name.find("]", bracket) > 0
    base = name[:bracket] if is_array else name
    if not is_array and bracket >= 0:
        base = name[:bracket] + "_" + name[bracket + 1 :]
    return base.replace(" ", "_").replace(".", "_"), is_array


def _add(target: dict[str, Value], name: str, value: str) -> None:
    base, is_array = _php_name(name)
    if base:
        target[base] = ARRAY if is_array else value


def parse_urlencoded(raw: bytes) -> dict[str, Value]:
    """PHP's ``parse_str`` of a query string or urlencoded body."""
    result: dict[str, Value] = {}
    for pair in raw.split(b"&"):
        if not pair:
            continue
        name, _, value = pair.partition(b"=")
        name_text = _decode(unquote_to_bytes(name.replace(b"+", b" ")))
        value_text = _decode(unquote_to_bytes(value.replace(b"+", b" ")))
        _add(result, name_text, value_text)
    return result


async def parse_body(request: Request, body: bytes) -> dict[str, Value]:
    """The form fields of a POST body; other bodies (JSON, XML) are not parameters, as in PHP."""
    if request.method != "POST":
        return {}
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/x-www-form-urlencoded":
        return parse_urlencoded(body)
    if content_type != "multipart/form-data":
        return {}
    result: dict[str, Value] = {}
    try:
        form = await request.form(max_files=100, max_fields=1000)
    except Exception:
        # A malformed multipart body carries no fields, as PHP reads it.
        return {}
    try:
        for name, value in form.multi_items():
            if not isinstance(value, UploadFile):
                _add(result, name, value)
    finally:
        await form.close()
    return result


_SETTING = "moodlewssetting"
_ZONE = re.compile(r"[A-Za-z0-9_+\-/]{1,64}")


def split_call(query: dict[str, Value], body: dict[str, Value]) -> RestCall:
    """Separate Moodle's own parameters from the function's (Moodle's ``parse_request``)."""
    merged = {**query, **body}
    fmt_value = merged.pop("moodlewsrestformat", None)
    fmt = JSON if fmt_value == JSON else XML
    token = merged.pop("wstoken", None)
    function = merged.pop("wsfunction", None)
    lang = merged.get(_SETTING + "lang")
    zone = merged.get(_SETTING + "timezone")
    params = {k: v for k, v in merged.items() if not k.startswith(_SETTING)}
    return RestCall(
        token=token if isinstance(token, str) else None,
        function=function,
        fmt=fmt,
        lang=lang if isinstance(lang, str) and lang in LANGS else None,
        timezone=zone if isinstance(zone, str) and _ZONE.fullmatch(zone) else None,
        params=params,
    )
