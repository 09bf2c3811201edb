"""Generated REST requests and what every answer to them must look like (issue 11).

Shared by tests/test_rest_generated.py (a few hundred cases, in the normal suite) and
reliability/fuzz.py (the same tests with many more cases: ``DEFINUM_FUZZ_EXAMPLES``).

An answer is acceptable when it is Moodle's: HTTP 200 with a ``definum_get_stats`` document or a
Moodle exception envelope, in JSON or in XML that a strict parser reads, with Moodle's headers;
or one of the deliberate refusals before the shim (405 for a method other than GET, HEAD and
POST; the HTTP server's 400 for bytes that are not HTTP, 408/431 for a head or body that does
not arrive or a head too large). Never a 5xx other than the contract's 503
(the database unreachable), never Moodle's "internal error" (our code failed), never a traceback.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_from_bytes

from defusedxml import ElementTree
from hypothesis import strategies as st

#: Cases per generated test: small in the normal suite, large in reliability/fuzz.py.
EXAMPLES = int(os.environ.get("DEFINUM_FUZZ_EXAMPLES", "200"))

PATH = "/webservice/rest/server.php"
STATS_KEYS = [
    "id",
    "lastname",
    "firstname",
    "courses",
    "finishablecourses",
    "finishedcourses",
    "finishedcoursesratio",
    "badges",
    "numbadges",
    "lastlogin",
    "lastloginstr",
    "timespentinmonth",
    "timespentinmonthstr",
    "loginsinmonth",
]
ERROR_KEYS = {"exception", "errorcode", "message"}
#: Our code failed: never acceptable.
INTERNAL = "generalexceptionmessage"
COMMON_HEADERS = {
    "cache-control": "private, must-revalidate, pre-check=0, post-check=0, max-age=0",
    "expires": "Thu, 01 Jan 1970 00:00:00 GMT",
    "pragma": "no-cache",
    "accept-ranges": "none",
    "access-control-allow-origin": "*",
}

# --- what goes in -------------------------------------------------------------------------

#: Values meant to break something: markup, quotes, SQL, NUL, invalid UTF-8, long and huge.
NASTY: list[bytes] = [
    b"",
    b"0",
    b"-1",
    b"99999999999999999999999999",
    b"5",
    b" 5 ",
    b"5abc",
    b"admin",
    b"ADMIN",
    b"user4",
    b"<b>bob</b>",
    b"a < b",
    b"</lang>",
    b'"><script>alert(1)</script>',
    b"' OR '1'='1",
    b"1; DROP TABLE mdl_user; --",
    b"%",
    b"_",
    b"\\",
    b"\x00",
    b"a\x00b",
    b"\xff\xfe",
    b"\xc3\x28",
    b"\xed\xa0\x80",
    "Chlöé 山田 😀".encode(),
    b"]]>",
    b"&amp;",
    b"<!DOCTYPE x [<!ENTITY a 'b'>]>",
    b'{"a": [1, 2]}',
    b"x" * 300,
    b"y" * 70_000,
]
#: The shim's parameters (Moodle's REST server and definum_get_stats).
PARAMETERS = [
    "wstoken",
    "wsfunction",
    "useridfield",
    "userid",
    "moodlewsrestformat",
    "moodlewssettinglang",
    "moodlewssettingtimezone",
]
NAMES = [
    *PARAMETERS,
    "userid[]",
    "userid[0]",
    "wstoken[a]",
    "useridfield[",
    "user id",
    "user.id",
    "foo",
    "",
]
FIELDS = ["id", "username", "idnumber", "email", "oidcuniqueid", "oidcusername", "ID", "lastname"]


def _encode(name: str, value: bytes, raw: bool) -> bytes:
    """``name=value`` percent-encoded, or with the value's bytes as they are (``raw``)."""
    key = quote_from_bytes(name.encode(), safe="[]")
    if raw:
        return key.encode() + b"=" + value.replace(b"&", b"%26").replace(b"#", b"%23")
    return key.encode() + b"=" + quote_from_bytes(value, safe="").encode()


@st.composite
def pairs(draw: st.DrawFn, token: str) -> bytes:
    """A query string or urlencoded body: mostly a real call with one part spoiled, sometimes
    anything at all; keys may repeat."""
    chosen: list[tuple[str, bytes]] = []
    if draw(st.booleans()):
        chosen = [
            ("wstoken", token.encode()),
            ("wsfunction", b"definum_get_stats"),
            ("useridfield", draw(st.sampled_from(FIELDS)).encode()),
            ("userid", draw(st.sampled_from(NASTY[:12]))),
        ]
        if draw(st.booleans()):
            chosen.append(("moodlewsrestformat", draw(st.sampled_from([b"json", b"xml", b"JSON"]))))
    value = st.one_of(st.sampled_from(NASTY), st.binary(max_size=40))
    extra = draw(st.lists(st.tuples(st.sampled_from(NAMES), value), max_size=5))
    chosen += extra
    chosen = draw(st.permutations(chosen))
    raw = draw(st.booleans())
    return b"&".join(_encode(name, v, raw) for name, v in chosen)


def _multipart(fields: list[tuple[str, bytes]], boundary: bytes) -> bytes:
    parts = [
        b"--" + boundary + b"\r\n"
        b'Content-Disposition: form-data; name="' + name.encode() + b'"\r\n\r\n' + value + b"\r\n"
        for name, value in fields
    ]
    return b"".join(parts) + b"--" + boundary + b"--\r\n"


@dataclass(frozen=True)
class Call:
    """One generated HTTP request to the shim."""

    method: str
    query: bytes
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes

    def __repr__(self) -> str:
        shown = self.body[:200] + (b"..." if len(self.body) > 200 else b"")
        return f"Call({self.method} ?{self.query[:300]!r} {self.headers!r} body={shown!r})"


CONTENT_TYPES = [
    b"application/x-www-form-urlencoded",
    b"application/x-www-form-urlencoded; charset=ISO-8859-1",
    b"multipart/form-data; boundary=XyZ",
    b"multipart/form-data",
    b"application/json",
    b"application/xml",
    b"text/plain",
    b"garbage/\x01",
    b"",
]


@st.composite
def calls(draw: st.DrawFn, token: str) -> Call:
    method = draw(
        st.sampled_from(
            ["GET", "GET", "POST", "POST", "POST", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS"]
        )
    )
    query = draw(pairs(token))
    content_type = draw(st.sampled_from(CONTENT_TYPES))
    kind = draw(st.sampled_from(["form", "multipart", "json", "bytes", "none"]))
    body = b""
    if kind == "form":
        body = draw(pairs(token))
    elif kind == "multipart":
        fields = [("wstoken", token.encode()), ("userid", draw(st.sampled_from(NASTY)))]
        fields += draw(st.lists(st.tuples(st.sampled_from(NAMES), st.sampled_from(NASTY))))
        body = _multipart(fields, draw(st.sampled_from([b"XyZ", b"other"])))
    elif kind == "json":
        body = json.dumps({"wstoken": token, "userid": "5"}).encode()
    elif kind == "bytes":
        body = draw(st.binary(max_size=200))
    headers: list[tuple[bytes, bytes]] = [(b"host", b"testserver")]
    if content_type:
        headers.append((b"content-type", content_type))
    if body or method == "POST":
        headers.append((b"content-length", str(len(body)).encode()))
    return Call(method, query, tuple(headers), body)


# --- what must come out -------------------------------------------------------------------


def check_answer(
    status: int, headers: Mapping[str, str], body: bytes, method: str = "GET"
) -> dict[str, Any] | None:
    """Fails (AssertionError) unless the answer is one the shim may give; returns the JSON
    or XML answer's fields (None for a refusal before the shim, or HEAD)."""
    assert b"Traceback" not in body
    if status in (400, 408, 431) and headers.get("connection") == "close":
        # The HTTP server's refusal of what is not HTTP (raw bytes in the request line), a
        # head or body that does not arrive, a head too large: Apache refuses those too.
        assert headers.get("content-type") == "text/plain; charset=utf-8"
        return None
    if status == 405:
        assert method not in ("GET", "HEAD", "POST")
        assert body == b"Method Not Allowed"
        return None
    if status == 403:
        assert body == b""  # web services off: Moodle's empty 403
        return None
    assert status in (200, 503), (status, body[:300])
    for name, value in COMMON_HEADERS.items():
        assert headers.get(name) == value, (name, headers)
    if method == "HEAD":
        return None  # the body, if any, is the server's to drop
    content_type = headers.get("content-type")
    if content_type == "application/json":
        decoded = json.loads(body)
        assert isinstance(decoded, dict)
        if set(decoded) >= ERROR_KEYS:
            assert set(decoded) <= ERROR_KEYS | {"debuginfo"}
            assert decoded["errorcode"] != INTERNAL, decoded
            assert (status == 503) == (decoded["errorcode"] == "dbconnectionfailed"), decoded
        else:
            assert status == 200
            assert list(decoded) == STATS_KEYS
        return decoded
    assert content_type == "application/xml; charset=utf-8", headers
    assert headers.get("content-disposition") == 'inline; filename="response.xml"'
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8" ?>\n')
    root = ElementTree.fromstring(body, forbid_dtd=True)
    if root.tag == "EXCEPTION":
        code = root.findtext("ERRORCODE")
        assert code is not None
        assert code != INTERNAL
        assert (status == 503) == (code == "dbconnectionfailed")
        return {"exception": root.get("class"), "errorcode": code}
    assert root.tag == "RESPONSE", root.tag
    assert status == 200
    single = root.find("SINGLE")
    assert single is not None
    keys = [key.get("name") for key in single.findall("KEY")]
    assert keys == STATS_KEYS
    return {"keys": keys}


# --- schemathesis, from the served OpenAPI document ------------------------------------------


def openapi_cases(port: int) -> st.SearchStrategy[Any]:
    """schemathesis's cases for the shim of the server on ``port``, from its own OpenAPI
    document: GET and POST, every generation mode (positive and negative)."""
    import schemathesis

    base = f"http://127.0.0.1:{port}"
    schema = schemathesis.openapi.from_url(f"{base}/webservice/rest/openapi.json")
    schema.config.update(base_url=base)
    operations = schema[PATH]
    return st.one_of(
        [
            operations[method].as_strategy(mode)
            for method in ("GET", "POST")
            for mode in schemathesis.GenerationMode
        ]
    )


def check_openapi_case(case: Any, token: str | None) -> int:
    """Call ``case`` (with ``token`` as its wstoken: past the token check, into the parameters);
    its answer must conform to the OpenAPI document and be Moodle's. Returns the status."""
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    if token is not None and isinstance(case.query, dict):
        case.query["wstoken"] = token
    response = case.call(timeout=60)
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]
    case.validate_response(response, checks=checks)
    headers = {
        k.lower(): ", ".join(v) if isinstance(v, list) else v for k, v in response.headers.items()
    }
    check_answer(response.status_code, headers, response.content, case.method.upper())
    status: int = response.status_code
    return status
