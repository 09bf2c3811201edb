"""Hostile requests to /graphql (issue 11): each answered with a GraphQL error, a 4xx or a 200,
never a 500 nor a masked "Unexpected error.", cheaply, and nothing shown without a token.

The costs below are worked out by hand from the cost model of definum_gql/graphql/cost.py: every
field counts once per object it is asked of; ``edges`` counts ``first`` items, ``activityHistory``
its months, other lists 10.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import get_introspection_query, parse

from definum_gql.config import Settings
from definum_gql.graphql import build_schema
from definum_gql.graphql.cost import Bounds, query_cost
from definum_gql.graphql.limits import CACHED_CHARS, CACHED_DOCUMENTS, DocumentCache
from definum_gql.moodle.site import Moodle
from tests.builders import Site
from tests.databases import MakeMoodle
from tests.graphql_support import StatementCounter, admin_token, client

QUERIES = Path(__file__).resolve().parents[1] / "queries"
DEFAULT_COST = Settings().max_cost

HISTORY_36 = 'activityHistory(from: "2023-12", to: "2026-11") { month logins timeSpent timeSpentText activeDays }'  # noqa: E501
DEFINUM_STATS = (
    "definumStats { id lastname firstname courses finishableCourses finishedCourses "
    "finishedCoursesRatio badges { id name issuerName issuerUrl issuerContact dateIssued "
    "dateIssuedStr } numBadges lastLogin lastLoginStr timeSpentInMonth timeSpentInMonthStr "
    "loginsInMonth }"
)


def learner_page(inner: str, first: int = 500) -> str:
    return f"users(first: {first}) {{ edges {{ node {{ id fullname {inner} }} }} }}"


# The attacker's request: 20 aliases of a 500-learner page, 36 months and the legacy document.
# Per learner: node 1, id and fullname 2, activityHistory 1 + 36 months x 5 fields = 181,
# definumStats 1 + 13 fields + badges 1 + 10 badges x 7 fields = 85: 269. Per alias: users 1,
# edges 1, 500 x 269 = 134,500: 134,502; 20 aliases: 2,690,040.
ATTACK = (
    "{ " + " ".join(f"a{n}: {learner_page(HISTORY_36 + DEFINUM_STATS)}" for n in range(20)) + " }"
)
ATTACK_COST = 2_690_040


async def post(
    moodle: Moodle, query: str, variables: dict[str, Any] | None = None, *, token: str
) -> httpx.Response:
    """POST as ASCII JSON, as most clients write it: a lone surrogate travels as ``\\ud800``."""
    content = json.dumps({"query": query, "variables": variables})
    async with client(moodle) as http:
        return await http.post(
            "/graphql",
            content=content,
            headers={"Content-Type": "application/json", **headers(token)},
        )


def only_error(body: dict[str, Any]) -> dict[str, Any]:
    assert len(body["errors"]) == 1, body
    error: dict[str, Any] = body["errors"][0]
    return error


def headers(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


# -- 1. JSON the decoder cannot take ------------------------------------------------------------


NESTED = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize(
    "content",
    [
        NESTED,
        '{"query": "{ me { id } }", "variables": {"a": ' + NESTED + "}}",
        # Python refuses to convert more than 4,300 digits; bytes that are not UTF-8.
        '{"query": "{ me { id } }", "variables": {"a": ' + "9" * 5000 + "}}",
        b'{"query": "{ me { id } }", "x": "\xff\xfe"}',
    ],
    ids=["nested-body", "nested-variables", "5000-digit-number", "not-utf8"],
)
async def test_json_the_decoder_refuses_is_400_bad_request(
    site: Site, moodle: Moodle, content: str | bytes
) -> None:
    token = await admin_token(site)
    async with client(moodle) as http:
        response = await http.post(
            "/graphql",
            content=content,
            headers={"Content-Type": "application/json", **headers(token)},
        )
    assert response.status_code == 400
    assert only_error(response.json())["extensions"] == {"code": "BAD_REQUEST"}


async def test_get_variables_nested_3000_deep_are_400(site: Site, moodle: Moodle) -> None:
    token = await admin_token(site)
    params = {"query": "{ me { id } }", "variables": "[" * 3000 + "]" * 3000}
    async with client(moodle) as http:
        refused = await http.get("/graphql", params=params, headers=headers(token))
        anonymous = await http.get("/graphql", params=params)
    assert refused.status_code == 400
    assert only_error(refused.json()) == {
        "message": "The JSON is nested too deeply.",
        "extensions": {"code": "BAD_REQUEST"},
    }
    # Without a token the token check answers first, and the variables are never read.
    assert anonymous.status_code == 401
    assert "data" not in anonymous.json()


async def test_nested_json_without_authentication_is_400(
    site: Site, moodle_with: MakeMoodle
) -> None:
    moodle = moodle_with(auth="off")
    async with client(moodle) as http:
        response = await http.post(
            "/graphql", content=NESTED, headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 400
    assert only_error(response.json())["extensions"] == {"code": "BAD_REQUEST"}


# -- 2. costly requests within the other limits -------------------------------------------------

USERS_SEARCH = "query($s: String) { users(filter: { search: $s }) { totalCount } }"
COURSES_SEARCH = "query($s: String) { courses(filter: { search: $s }) { totalCount } }"


@pytest.mark.parametrize("document", [USERS_SEARCH, COURSES_SEARCH], ids=["users", "courses"])
async def test_a_search_of_10000_words_is_refused_before_any_sql(
    site: Site, moodle: Moodle, document: str
) -> None:
    token = await admin_token(site)
    with StatementCounter(moodle) as counter:
        response = await post(moodle, document, {"s": " ".join(["w"] * 10_000)}, token=token)
    error = only_error(response.json())
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["message"] == "'search' holds more than 10 words; give at most 10"
    assert not [s for s in counter.statements if "LIKE" in s.upper()]


async def test_a_search_of_ten_words_runs_and_eleven_are_refused(
    site: Site, moodle: Moodle
) -> None:
    await site.user(firstname="Jean Marie", lastname="de la Fontaine")
    token = await admin_token(site)
    ten = "jean marie de la fontaine JEAN Marie DE LA fontaine"
    found = await post(moodle, USERS_SEARCH, {"s": ten}, token=token)
    refused = await post(moodle, USERS_SEARCH, {"s": ten + " jean"}, token=token)
    assert found.json() == {"data": {"users": {"totalCount": 1}}}
    assert only_error(refused.json())["extensions"]["code"] == "BAD_USER_INPUT"


async def test_the_word_limit_is_a_setting(site: Site, moodle_with: MakeMoodle) -> None:
    token = await admin_token(site)
    moodle = moodle_with(max_search_words=2)
    response = await post(moodle, USERS_SEARCH, {"s": "ada b c"}, token=token)
    error = only_error(response.json())
    assert error["message"] == "'search' holds more than 2 words; give at most 2"


@pytest.mark.parametrize("document", [USERS_SEARCH, COURSES_SEARCH], ids=["users", "courses"])
async def test_a_search_word_longer_than_any_column_is_refused(
    site: Site, moodle: Moodle, document: str
) -> None:
    token = await admin_token(site)
    longest = await post(moodle, document, {"s": "x" * 255}, token=token)
    refused = await post(moodle, document, {"s": "a " + "x" * 256}, token=token)
    assert longest.status_code == 200
    assert "errors" not in longest.json()
    error = only_error(refused.json())
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["message"] == (
        "'search' holds a word of 256 characters; at most 255 (the longest text searched)"
    )


async def test_a_costly_query_is_refused_before_execution_with_its_cost(
    site: Site, moodle: Moodle
) -> None:
    token = await admin_token(site)
    with StatementCounter(moodle) as counter:
        response = await post(moodle, ATTACK, token=token)
    assert response.status_code == 400
    body = response.json()
    assert "data" not in body
    assert only_error(body) == {
        "message": "This query costs 2,690,040 (fields × list sizes); at most 50,000 is allowed "
        "(DEFINUM_MAX_COST): ask for smaller pages, fewer months or fewer aliases.",
        "extensions": {"code": "QUERY_TOO_COMPLEX", "cost": ATTACK_COST, "maxCost": 50_000},
    }
    assert counter.reading("mdl_logstore_standard_log") == []
    assert counter.reading("mdl_user_enrolments") == []


async def test_the_cost_limit_is_a_setting(site: Site, moodle_with: MakeMoodle) -> None:
    token = await admin_token(site)
    moodle = moodle_with(max_cost=5)
    # users 1, totalCount 1, edges 1, 4 users x (node 1, id 1) = 11; first: 1 costs 5.
    document = "query($n: Int) { users(first: $n) { totalCount edges { node { id } } } }"
    refused = await post(moodle, document, {"n": 4}, token=token)
    passed = await post(moodle, document, {"n": 1}, token=token)
    assert only_error(refused.json())["extensions"] == {
        "code": "QUERY_TOO_COMPLEX",
        "cost": 11,
        "maxCost": 5,
    }
    assert passed.json()["data"]["users"]["totalCount"] == 1  # the admin; never the guest


def cost(document: str, variables: dict[str, Any] | None = None) -> int:
    schema = build_schema(Settings())._schema
    return query_cost(schema, parse(document), None, variables, Bounds(500, 36), 10**12)


@pytest.mark.parametrize(
    ("document", "variables", "expected"),
    [
        ("{ users(first: 500) { totalCount } }", None, 2),
        # edges: 500 x (node 1 + id 1); users and edges themselves: 1,002.
        ("{ users(first: 500) { edges { node { id } } } }", None, 1_002),
        # No first: the schema's default page of 50.
        ("{ users { edges { node { id } } } }", None, 102),
        # Explicit null: the resolver's default page, 50, too.
        ("query($n: Int) { users(first: $n) { edges { node { id } } } }", {"n": None}, 102),
        # A page the resolver refuses (PAGE_TOO_LARGE, or negative) runs nothing below it.
        ("{ users(first: 501) { totalCount edges { node { id } } } }", None, 1),
        ("{ courses(first: -1) { totalCount } }", None, 1),
        # 36 months x (month 1, logins 1) + activityHistory 1 + user 1 = 74.
        (
            '{ user(value: "2") { '
            + HISTORY_36.replace("timeSpent timeSpentText activeDays ", "")
            + " } }",
            None,
            74,
        ),
        # More months than max_history_months (HISTORY_TOO_LONG), or reversed: nothing below.
        (
            '{ user(value: "2") { activityHistory(from: "2020-01", to: "2026-11") { month } } }',
            None,
            2,
        ),
        (
            '{ user(value: "2") { activityHistory(from: "2026-11", to: "2026-01") { month } } }',
            None,
            2,
        ),
        # A list the data sizes counts 10: user 1, enrolments 1, 10 x (method 1, course 1, id 1).
        ('{ user(value: "2") { enrolments { method course { id } } } }', None, 32),
        # The same field through two fragments is executed, and counted, once.
        (
            "{ ...A ...A ...B } fragment A on Query { me { id } } fragment B on Query { me { id } }",  # noqa: E501
            None,
            2,
        ),
        # @skip and @include apply: me 1, id 1.
        ("query($x: Boolean!) { me { id fullname @include(if: $x) } }", {"x": False}, 2),
        # Introspection counts what it answers: __type 1, name 1, fields 1, PageInfo's two
        # fields x name 1.
        ('{ __type(name: "PageInfo") { name fields { name } } }', None, 5),
        # Variables the operation refuses execute nothing.
        ("query($n: Int!) { users(first: $n) { totalCount } }", {"n": "many"}, 0),
        (ATTACK, None, ATTACK_COST),
    ],
)
def test_the_cost_of_a_query(
    document: str, variables: dict[str, Any] | None, expected: int
) -> None:
    assert cost(document, variables) == expected


@pytest.mark.parametrize(
    ("name", "variables", "expected"),
    [
        # Per edge: cursor 1, node 1, six fields, definumStats 1 + 4 = 13; users, totalCount,
        # pageInfo and its two fields, edges: 6.
        ("learner_list.graphql", {"first": 500}, 6_506),
        # Per edge: node 1 + ten fields; 6 around them (no cursor asked).
        ("course_completion_report.graphql", {"first": 500}, 5_506),
        # The largest: per edge node 1, id, fullname, enrolments 1 + 10 x (course 1 + id 1 +
        # completion 1 + 2 fields), activity 1 + month + byCourse 1 + 10 x 3 = 87; course 1 + 10
        # fields; users, totalCount, pageInfo and its two fields, edges: 6.
        ("course_learners.graphql", {"course": 2, "first": 500}, 43_517),
    ],
)
def test_front_end_documents_with_500_item_pages_pass_the_default_cost(
    name: str, variables: dict[str, Any], expected: int
) -> None:
    assert cost((QUERIES / name).read_text(encoding="utf-8"), variables) == expected
    assert expected <= DEFAULT_COST


def test_every_front_end_document_passes_the_default_cost() -> None:
    for path in sorted(QUERIES.glob("*.graphql")):
        variables = {"value": "2", "first": 500, "course": 2, "from": "2023-12", "to": "2026-11"}
        variables.update({f"m{n}": "2026-01" for n in range(1, 13)})
        assert cost(path.read_text(encoding="utf-8"), variables) <= DEFAULT_COST, path.name


async def test_a_500_learner_page_with_the_legacy_document_passes(
    site: Site, moodle: Moodle
) -> None:
    # Per edge: node 1, definumStats 85 (see ATTACK); users and edges 2: 43,002.
    document = "{ users(first: 500) { edges { node { " + DEFINUM_STATS + " } } } }"
    assert cost(document) == 43_002
    token = await admin_token(site)
    response = await post(moodle, document, token=token)
    assert response.status_code == 200
    assert "errors" not in response.json()


def test_graphiql_introspection_passes_and_an_introspection_flood_does_not() -> None:
    introspection = get_introspection_query(
        descriptions=True,
        specified_by_url=True,
        directive_is_repeatable=True,
        schema_description=True,
        input_value_deprecation=True,
        one_of=True,
    )
    assert cost(introspection) <= DEFAULT_COST
    # 20 of them are more (counting stops once past the limit).
    assert cost(_introspection_flood()) > DEFAULT_COST


# -- the document cache -------------------------------------------------------------------------


async def test_big_documents_are_never_kept_and_small_ones_within_bounds() -> None:
    schema = build_schema(Settings())
    big = ["{ __typename }" + " " * (20_000 + n) for n in range(5)]
    small = [f"{{ a{n}: __typename }}" for n in range(CACHED_DOCUMENTS + 20)]
    for document in big + small:
        result = await schema.execute(document)
        assert result.errors is None
    kept = schema.documents
    assert len(kept) == CACHED_DOCUMENTS
    assert kept.size <= CACHED_CHARS
    assert all(kept.get(document) is None for document in big)
    assert kept.get(small[0]) is None  # the oldest went first
    # A document kept is parsed and validated once.
    last = small[-1]
    entry = kept.get(last)
    assert entry is not None
    assert entry.errors == []
    result = await schema.execute(last)
    assert result.errors is None
    assert kept.get(last) is entry


def test_the_cache_is_bounded_by_characters_too() -> None:
    cache = DocumentCache(entries=100, chars=1000, largest=400)
    document = parse("{ __typename }")
    for n in range(10):
        cache.keep(f"{n:03d}" + " " * 297, document)
    assert len(cache) == 3
    assert cache.size == 900
    cache.keep("x" * 401, document)
    assert cache.get("x" * 401) is None


# -- 3. bad values that reach integers and SQL ------------------------------------------------

USER = "query($by: UserIdField!, $v: String!) { user(by: $by, value: $v) { id } }"


@pytest.mark.parametrize(
    ("by", "value"),
    [
        ("ID", "1" * 5000),  # past Python's 4,300-digit conversion limit
        ("ID", "9" * 20),  # past a BIGINT
        ("ID", "0" * 30 + "9" * 19),  # past a BIGINT after its zeros
        ("USERNAME", "ad\x00min"),
        ("EMAIL", "ad\x00min@example.org"),
        ("IDNUMBER", "a\x00"),
        ("OIDCUNIQUEID", "a\x00"),
        ("OIDCUSERNAME", "a\x00"),
        ("USERNAME", "admin\ud800"),
        ("IDNUMBER", "\udfff"),
    ],
)
async def test_values_no_user_can_hold_find_no_user(
    site: Site, moodle: Moodle, by: str, value: str
) -> None:
    await site.user(username="oidcuser", idnumber="a")
    await site.oidc_token(userid=0, username="oidcuser", oidcuniqid="a", oidcusername="a")
    token = await admin_token(site)
    response = await post(moodle, USER, {"by": by, "v": value}, token=token)
    assert response.status_code == 200
    assert response.json() == {"data": {"user": None}}


async def test_nul_around_a_value_is_trimmed_as_php_trims(site: Site, moodle: Moodle) -> None:
    token = await admin_token(site)
    for by, value in (("USERNAME", "\x00admin\x00"), ("ID", "2\x00")):
        response = await post(moodle, USER, {"by": by, "v": value}, token=token)
        assert response.json() == {"data": {"user": {"id": 2}}}


def cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


@pytest.mark.parametrize("kind", ["user", "course"])
@pytest.mark.parametrize("key", ["9" * 20, "9" * 5000, "9223372036854775808", "-1", "1e3"])
async def test_a_cursor_past_a_bigint_is_invalid(
    site: Site, moodle: Moodle, kind: str, key: str
) -> None:
    token = await admin_token(site)
    field = f"{kind}s"
    response = await post(
        moodle,
        f"query($a: String) {{ {field}(after: $a) {{ totalCount }} }}",
        {"a": cursor(f"{kind}:{key}")},
        token=token,
    )
    error = only_error(response.json())
    assert error["extensions"]["code"] == "INVALID_CURSOR"
    assert len(error["message"]) < 200  # a long cursor is not echoed whole
    assert response.json()["data"] == {field: None}


async def test_the_largest_cursor_is_the_end_of_the_list(site: Site, moodle: Moodle) -> None:
    token = await admin_token(site)
    response = await post(
        moodle,
        "query($a: String) { users(after: $a) { totalCount edges { node { id } } } }",
        {"a": cursor(f"user:{2**63 - 1}")},
        token=token,
    )
    assert response.json() == {"data": {"users": {"totalCount": 1, "edges": []}}}


@pytest.mark.parametrize("document", [USERS_SEARCH, COURSES_SEARCH], ids=["users", "courses"])
@pytest.mark.parametrize("text", ["ad\x00min", "a\ud800"], ids=["nul", "lone-surrogate"])
async def test_a_search_no_text_can_hold_is_refused(
    site: Site, moodle: Moodle, document: str, text: str
) -> None:
    token = await admin_token(site)
    response = await post(moodle, document, {"s": text}, token=token)
    error = only_error(response.json())
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["message"] == "'search' holds a NUL character or a lone surrogate"


async def test_a_lone_surrogate_echoed_in_an_error_is_written(site: Site, moodle: Moodle) -> None:
    token = await admin_token(site)
    response = await post(
        moodle,
        'query($m: String) { user(value: "2") { activity(month: $m) { logins } } }',
        {"m": "\ud800"},
        token=token,
    )
    error = only_error(response.json())
    assert error["extensions"]["code"] == "INVALID_MONTH"


# -- 4. hostile documents -----------------------------------------------------------------------


@dataclass(frozen=True)
class Hostile:
    """One hostile request: POSTed as JSON (``body``), or raw bytes, or a GET's parameters."""

    name: str
    body: Any = None
    raw: bytes | None = None
    params: dict[str, str] | None = None


def _fragment_bomb(levels: int, spreads: int, root: str = 'user(value: "2") { ...F0 }') -> str:
    parts = [f"query {{ {root} }}"]
    for n in range(levels):
        inner = " ".join([f"...F{n + 1}"] * spreads) if n < levels - 1 else "id"
        parts.append(f"fragment F{n} on User {{ {inner} }}")
    return "\n".join(parts)


def _introspection_flood() -> str:
    full = get_introspection_query(descriptions=True, input_value_deprecation=True)
    selection = full[full.index("__schema") :]
    selection = selection[: selection.index("fragment FullType")]
    selection = selection.rsplit("}", 1)[0]
    fragments = full[full.index("fragment FullType") :]
    return "{ " + " ".join(f"a{n}: {selection}" for n in range(20)) + " }\n" + fragments


def hostile_requests() -> list[Hostile]:
    """Depth bombs, alias floods, fragment cycles and bombs, huge pages, batches, megabyte
    documents, introspection floods, wrong variable types, unicode."""
    nested_fields = "{ " + "user { " * 12 + "id" + " }" * 12 + " }"
    too_deep = "{ " + "a { " * 600 + "b" + " }" * 600 + " }"
    history = '{ user(value: "2") { activityHistory(from: "1970-01", to: "9998-12") { month } } }'
    return [
        Hostile("depth-bomb", {"query": nested_fields}),
        Hostile("depth-bomb-parser", {"query": too_deep}),
        Hostile("depth-bomb-list-literal", {"query": "{ me(x: " + "[" * 900 + "]" * 900 + ") }"}),
        Hostile(
            "alias-flood",
            {"query": "{ " + " ".join(f"a{n}: me {{ id }}" for n in range(300)) + " }"},
        ),
        Hostile(
            "alias-flood-past-tokens",
            {"query": "{ " + " ".join(f"a{n}: me {{ id }}" for n in range(5000)) + " }"},
        ),
        Hostile(
            "alias-in-fragment-spreads",
            {
                "query": "{ ...A ...A } fragment A on Query { "
                + " ".join(f"a{n}: me {{ id }}" for n in range(15))
                + " }"
            },
        ),
        Hostile(
            "fragment-cycle",
            {"query": "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }"},
        ),
        Hostile(
            "fragment-self-cycle", {"query": "{ ...A } fragment A on Query { me { id } ...A }"}
        ),
        Hostile("fragment-bomb", {"query": _fragment_bomb(8, 100)}),
        Hostile("fragment-bomb-wide", {"query": _fragment_bomb(4, 300)}),
        # A page reads what its nodes ask before they are walked (graphql/prefetch.py).
        Hostile(
            "fragment-bomb-in-a-page",
            {"query": _fragment_bomb(8, 100, "users(first: 5) { edges { node { ...F0 } } }")},
        ),
        Hostile(
            "fragment-chain",
            {
                "query": "{ ...F0 }\n"
                + "\n".join(f"fragment F{n} on Query {{ ...F{n + 1} }}" for n in range(200))
                + "\nfragment F200 on Query { __typename }"
            },
        ),
        Hostile("huge-first", {"query": "{ users(first: 2147483647) { edges { node { id } } } }"}),
        Hostile("huge-first-literal", {"query": "{ users(first: 99999999999) { totalCount } }"}),
        Hostile(
            "huge-first-variable",
            {
                "query": "query($n: Int) { users(first: $n) { totalCount } }",
                "variables": {"n": 2**40},
            },
        ),
        Hostile("history-of-every-month", {"query": history}),
        Hostile("cost-attack", {"query": ATTACK}),
        Hostile("batch", [{"query": "{ me { id } }"}] * 1000),
        Hostile("megabyte-whitespace", {"query": "{ me { id } " + " " * 1_000_000 + "}"}),
        Hostile("megabyte-string", {"query": '{ user(value: "' + "x" * 1_000_000 + '") { id } }'}),
        Hostile("megabyte-comment", {"query": "#" + "x" * 1_000_000 + "\n{ me { id } }"}),
        Hostile("megabyte-braces", {"query": "{" * 1_000_000}),
        Hostile(
            "megabyte-variable",
            {
                "query": "query($s: String) { users(filter: { search: $s }) { totalCount } }",
                "variables": {"s": "ab " * 333_000},
            },
        ),
        Hostile("introspection-flood", {"query": _introspection_flood()}),
        Hostile(
            "introspection-deep",
            {
                "query": "{ __schema { types { "
                + "fields { type { ofType { " * 5
                + "name"
                + " } } }" * 5
                + " } } }"
            },
        ),
        Hostile(
            "wrong-variable-type",
            {
                "query": "query($n: Int) { users(first: $n) { totalCount } }",
                "variables": {"n": "ten"},
            },
        ),
        Hostile(
            "variable-object-for-string",
            {
                "query": "query($v: String!) { user(value: $v) { id } }",
                "variables": {"v": {"a": [1, 2]}},
            },
        ),
        Hostile("missing-variable", {"query": "query($v: String!) { user(value: $v) { id } }"}),
        Hostile(
            "variables-nested-900",
            {
                "query": "query($f: UserFilter) { users(filter: $f) { totalCount } }",
                "variables": {"f": json.loads("[" * 900 + "]" * 900)},
            },
        ),
        Hostile("variables-a-list", {"query": "{ me { id } }", "variables": [1]}),
        Hostile(
            "operation-name-megabyte", {"query": "{ me { id } }", "operationName": "x" * 1_000_000}
        ),
        Hostile("mutation", {"query": "mutation { me { id } }"}),
        Hostile("unicode-names", {"query": "{ ünïcødé { 名前 } }"}),
        Hostile(
            "unicode-values",
            {
                "query": "query($v: String!) { user(by: USERNAME, value: $v) { id } }",
                "variables": {"v": "👩‍🔬 \u202e\u0301 ناصر \ufeff"},
            },
        ),
        Hostile(
            "unicode-search", {"query": '{ users(filter: { search: "Zoë 李 👍" }) { totalCount } }'}
        ),
        Hostile("unicode-escape-surrogate", {"query": '{ user(value: "\\ud800") { id } }'}),
        Hostile("nul-in-document", {"query": "{ me\x00 { id } }"}),
        Hostile("nested-json", raw=NESTED.encode()),
        Hostile("not-json", raw=b"\xff" * 100),
        Hostile(
            "get-nested-variables",
            params={"query": "{ me { id } }", "variables": "[" * 3000 + "]" * 3000},
        ),
    ]


HOSTILE = hostile_requests()


async def send(http: httpx.AsyncClient, case: Hostile, token: str | None) -> httpx.Response:
    if case.params is not None:
        return await http.get("/graphql", params=case.params, headers=headers(token))
    content = case.raw if case.raw is not None else json.dumps(case.body).encode()
    return await http.post(
        "/graphql",
        content=content,
        headers={"Content-Type": "application/json", **headers(token)},
    )


def check_answer(response: httpx.Response) -> list[str]:
    """A GraphQL answer, 200 or 4xx, whose errors each carry a code that is not a masked failure.
    Returns the codes."""
    assert response.status_code == 200 or 400 <= response.status_code < 500, response.text[:300]
    body = response.json()
    assert isinstance(body, dict)
    assert "errors" in body or "data" in body
    codes = [error["extensions"]["code"] for error in body.get("errors", [])]
    assert all(isinstance(code, str) and code for code in codes)
    assert "INTERNAL_SERVER_ERROR" not in codes, body
    assert "DATABASE_UNAVAILABLE" not in codes, body
    return codes


#: What each hostile request is answered with a valid admin token (first error's code).
EXPECTED: dict[str, tuple[int, str | None]] = {
    "depth-bomb": (400, "QUERY_TOO_COMPLEX"),  # 12 levels; unknown fields reported after
    "depth-bomb-parser": (400, "GRAPHQL_VALIDATION_FAILED"),
    "depth-bomb-list-literal": (400, "GRAPHQL_VALIDATION_FAILED"),
    "alias-flood": (400, "QUERY_TOO_COMPLEX"),
    "alias-flood-past-tokens": (400, "QUERY_TOO_COMPLEX"),
    "alias-in-fragment-spreads": (400, "QUERY_TOO_COMPLEX"),
    "fragment-cycle": (400, "GRAPHQL_VALIDATION_FAILED"),
    "fragment-self-cycle": (400, "GRAPHQL_VALIDATION_FAILED"),
    "fragment-bomb": (200, None),
    "fragment-bomb-wide": (200, None),
    "fragment-bomb-in-a-page": (200, None),
    "fragment-chain": (400, "GRAPHQL_VALIDATION_FAILED"),  # graphql-core: "Validation aborted."
    "huge-first": (200, "PAGE_TOO_LARGE"),
    "huge-first-literal": (400, "GRAPHQL_VALIDATION_FAILED"),
    "huge-first-variable": (200, "BAD_USER_INPUT"),  # variables refused: data null
    "history-of-every-month": (200, "HISTORY_TOO_LONG"),
    "cost-attack": (400, "QUERY_TOO_COMPLEX"),
    "batch": (400, "BAD_REQUEST"),
    "megabyte-whitespace": (200, None),
    "megabyte-string": (200, None),
    "megabyte-comment": (200, None),
    "megabyte-braces": (400, "QUERY_TOO_COMPLEX"),
    "megabyte-variable": (200, "BAD_USER_INPUT"),
    "introspection-flood": (400, "QUERY_TOO_COMPLEX"),
    "introspection-deep": (400, "GRAPHQL_VALIDATION_FAILED"),
    "wrong-variable-type": (200, "BAD_USER_INPUT"),
    "variable-object-for-string": (200, "BAD_USER_INPUT"),
    "missing-variable": (200, "BAD_USER_INPUT"),
    "variables-nested-900": (200, "BAD_USER_INPUT"),
    "variables-a-list": (400, "BAD_REQUEST"),
    "operation-name-megabyte": (400, "GRAPHQL_VALIDATION_FAILED"),
    "mutation": (400, "GRAPHQL_VALIDATION_FAILED"),
    "unicode-names": (400, "GRAPHQL_VALIDATION_FAILED"),
    "unicode-values": (200, None),
    "unicode-search": (200, None),
    "unicode-escape-surrogate": (400, "GRAPHQL_VALIDATION_FAILED"),
    "nul-in-document": (400, "GRAPHQL_VALIDATION_FAILED"),
    "nested-json": (400, "BAD_REQUEST"),
    "not-json": (400, "BAD_REQUEST"),
    "get-nested-variables": (400, "BAD_REQUEST"),
}


def test_every_hostile_request_has_its_expected_answer() -> None:
    assert [case.name for case in HOSTILE] == list(EXPECTED)


async def test_hostile_requests_are_answered_with_a_graphql_error_never_a_500(
    site: Site, moodle: Moodle
) -> None:
    token = await admin_token(site)
    answers: dict[str, tuple[int, str | None]] = {}
    async with client(moodle) as http:
        for case in HOSTILE:
            response = await send(http, case, token)
            codes = check_answer(response)
            answers[case.name] = (response.status_code, codes[0] if codes else None)
    assert answers == EXPECTED


async def test_without_a_token_hostile_requests_reveal_nothing(site: Site, moodle: Moodle) -> None:
    await site.user(username="secret", firstname="Secret", lastname="Learner")
    async with client(moodle) as http:
        for case in HOSTILE:
            for token in (None, "f" * 32):
                response = await send(http, case, token)
                assert response.status_code == 401, (case.name, response.text[:200])
                body = response.json()
                assert "data" not in body
                assert "Secret" not in response.text
                assert only_error(body)["extensions"]["code"] in ("MISSING_TOKEN", "INVALID_TOKEN")
