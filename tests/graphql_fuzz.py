"""Generated GraphQL documents and what every answer to them must look like (issue 11).

Shared by tests/test_graphql_generated.py (in-process, the normal suite), the read-only account's
suite (tests/readonly_account.py, through a served process) and reliability/fuzz.py (the same
tests with many more cases: ``DEFINUM_FUZZ_EXAMPLES``).
"""

from __future__ import annotations

from typing import Any

from graphql import StringValueNode
from graphql import build_schema as parse_sdl
from hypothesis import strategies as st
from hypothesis_graphql import Mode, queries

from tests.test_graphql_schema import SCHEMA_FILE

#: The codes a client may get for a document it wrote (README, "Using the APIs").
CLIENT_CODES = {
    "BAD_USER_INPUT",
    "INVALID_MONTH",
    "INVALID_DATE",
    "HISTORY_TOO_LONG",
    "INVALID_CURSOR",
    "PAGE_TOO_LARGE",
    "MULTIPLE_USERS_FOUND",
    "UNSUPPORTED_USER_FIELD",
    "USER_NOT_FOUND",
    "QUERY_TOO_COMPLEX",
    "FORBIDDEN",
}
#: What an invalid document may be refused with, before anything runs.
REFUSAL_CODES = {"GRAPHQL_VALIDATION_FAILED", "GRAPHQL_PARSE_FAILED", "BAD_REQUEST"} | CLIENT_CODES
SCHEMA = parse_sdl(SCHEMA_FILE.read_text())
#: DateTime values: an instant, a date with an offset, and text that is no date at all.
DATETIMES = st.sampled_from(["2026-11-01T00:00:00Z", "2026-10-15T08:30:00+02:00", "yesterday"])


def documents(mode: Mode) -> st.SearchStrategy[Any]:
    """Documents over the whole schema: valid ones (``Mode.POSITIVE``) or invalid ones."""
    values = DATETIMES.map(lambda text: StringValueNode(value=text))
    return queries(SCHEMA, mode=mode, custom_scalars={"DateTime": values})


def codes(errors: list[dict[str, Any]]) -> set[str]:
    """The errors' codes; no error may be the masked "Unexpected error." (our code failed)."""
    found = set()
    for error in errors:
        assert error["message"] != "Unexpected error.", error
        found.add(error.get("extensions", {}).get("code"))
    return found


def check_valid_answer(status: int, body: dict[str, Any], document: object) -> None:
    """A valid document: 200 with data; errors, if any, are the client's."""
    assert status == 200, (document, body)
    assert "data" in body, (document, body)
    assert codes(body.get("errors", [])) <= CLIENT_CODES, (document, body)


def check_refusal(status: int, body: dict[str, Any], document: object) -> None:
    """An invalid document: 200 or 400 with coded errors, and no data when 400."""
    assert status in (200, 400), (document, body)
    assert body["errors"], (document, body)
    assert codes(body["errors"]) <= REFUSAL_CODES, (document, body)
    if status == 400:
        assert body.get("data") is None, (document, body)
