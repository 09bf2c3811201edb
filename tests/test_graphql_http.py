"""/graphql over HTTP: tokens, GET and POST, limits, readable and masked errors, outages."""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

import pytest
from graphql import GraphQLError

from definum_gql.config import Settings
from definum_gql.graphql.errors import error_code
from definum_gql.moodle.site import Moodle
from tests.builders import NOW, Site
from tests.databases import settings_for
from tests.graphql_support import admin_token, client, make_app, post

ME = '{ user(value: "2") { username } }'


def only_error(body: dict[str, Any]) -> dict[str, Any]:
    assert len(body["errors"]) == 1, body
    error: dict[str, Any] = body["errors"][0]
    return error


# -- tokens -------------------------------------------------------------------------------------


async def test_no_token_is_401_missing_token(site: Site, moodle: Moodle) -> None:
    response = await post(moodle, ME)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="definum-gql"'
    assert response.json() == {
        "errors": [
            {
                "message": "Authentication required: send 'Authorization: Bearer <token>' with "
                "a Moodle web service token.",
                "extensions": {"code": "MISSING_TOKEN"},
            }
        ]
    }


async def test_a_refused_token_is_answered_before_the_body_is_read(
    site: Site, moodle: Moodle
) -> None:
    # Raw ASGI, to see whether the endpoint ever asks for the body.
    reads: list[str] = []

    async def receive() -> dict[str, Any]:
        reads.append("body")
        return {"type": "http.request", "body": b'{"query": "{ __typename }"}', "more_body": False}

    sent: list[MutableMapping[str, Any]] = []

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    for token in (None, "f" * 32):
        headers = [(b"content-type", b"application/json")]
        if token:
            headers.append((b"authorization", f"Bearer {token}".encode()))
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/graphql",
            "raw_path": b"/graphql",
            "root_path": "",
            "query_string": b"",
            "headers": headers,
            "client": ("192.0.2.10", 40000),
            "server": ("testserver", 80),
        }
        await make_app(moodle)(scope, receive, send)
    statuses = [m["status"] for m in sent if m["type"] == "http.response.start"]
    assert statuses == [401, 401]
    assert reads == []


async def test_missing_token_is_refused_without_opening_the_database() -> None:
    settings = Settings(database_url="postgresql+asyncpg://postgres@127.0.0.1:9/nowhere")
    moodle = Moodle.from_settings(settings)
    try:
        response = await post(moodle, ME)
    finally:
        await moodle.dispose()
    assert response.status_code == 401
    assert only_error(response.json())["extensions"]["code"] == "MISSING_TOKEN"


async def test_unknown_token_is_401_invalid_token(site: Site, moodle: Moodle) -> None:
    await admin_token(site)
    response = await post(moodle, ME, token="f" * 32)
    assert response.status_code == 401
    error = only_error(response.json())
    assert error["extensions"] == {"code": "INVALID_TOKEN", "reason": "invalidtoken"}
    assert "data" not in response.json()


async def test_expired_token_is_401_token_expired(site: Site, moodle: Moodle) -> None:
    service = await site.service()
    token = await site.token(2, service, validuntil=NOW - 1)
    response = await post(moodle, ME, token=token)
    assert response.status_code == 401
    assert only_error(response.json())["extensions"]["code"] == "TOKEN_EXPIRED"


async def test_token_from_another_address_is_401(site: Site, moodle: Moodle) -> None:
    service = await site.service()
    token = await site.token(2, service, iprestriction="10.0.0.0/8")
    response = await post(moodle, ME, token=token)  # the test client is 192.0.2.10
    assert response.status_code == 401
    assert only_error(response.json())["extensions"]["code"] == "IP_NOT_ALLOWED"


async def test_token_of_a_service_without_the_function_is_403(site: Site, moodle: Moodle) -> None:
    service = await site.service("other", functions=("core_webservice_get_site_info",))
    token = await site.token(2, service)
    response = await post(moodle, ME, token=token)
    assert response.status_code == 403
    error = only_error(response.json())
    assert error["extensions"] == {"code": "FORBIDDEN", "reason": "servicedenied"}


async def test_suspended_token_owner_is_refused(site: Site, moodle: Moodle) -> None:
    owner = await site.user(username="robot", suspended=1)
    await site.assign(owner, 7)
    await site.allow(7)
    service = await site.service()
    token = await site.token(owner, service)
    response = await post(moodle, ME, token=token)
    assert response.status_code == 403
    error = only_error(response.json())
    assert error["extensions"]["reason"] == "wsaccessusersuspended"
    assert "robot" in error["message"]


async def test_valid_token_answers(site: Site, moodle: Moodle) -> None:
    token = await admin_token(site)
    response = await post(moodle, ME, token=token)
    assert response.status_code == 200
    assert response.json() == {"data": {"user": {"username": "admin"}}}
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["vary"] == "Authorization"


async def test_auth_off_answers_without_a_token(site: Site, database: Any, frozen_now: int) -> None:
    settings = settings_for(database.url, auth="off")
    moodle = Moodle.from_settings(settings, clock=lambda: float(frozen_now))
    try:
        response = await post(moodle, ME)
    finally:
        await moodle.dispose()
    assert response.status_code == 200
    assert response.json()["data"]["user"]["username"] == "admin"


# -- GET and POST -------------------------------------------------------------------------------


async def test_get_runs_a_query_and_may_be_cached_privately(site: Site, moodle: Moodle) -> None:
    token = await admin_token(site)
    async with client(moodle) as http:
        response = await http.get(
            "/graphql",
            params={
                "query": "query Me($id: String!) { user(value: $id) { id } }",
                "variables": '{"id": "2"}',
            },
            headers={"Authorization": f"Bearer {token}"},
        )
    assert response.status_code == 200
    assert response.json() == {"data": {"user": {"id": 2}}}
    assert response.headers["cache-control"] == "private, max-age=30"
    assert response.headers["vary"] == "Authorization"


@pytest.mark.parametrize("accept", ["application/json", "*/*"])
async def test_get_without_query_and_not_a_browser_is_400(
    site: Site, moodle: Moodle, accept: str
) -> None:
    token = await admin_token(site)
    async with client(moodle) as http:
        response = await http.get(
            "/graphql", headers={"Accept": accept, "Authorization": f"Bearer {token}"}
        )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert only_error(response.json())["extensions"]["code"] == "BAD_REQUEST"


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        ("{not json", "application/json"),
        ('["a"]', "application/json"),
        ('"a"', "application/json"),
        ("{}", "application/json"),
        ('{"query": "  "}', "application/json"),
        ('{"query": "{ __typename }", "operationName": 7}', "application/json"),
        ('{"query": "{ __typename }", "variables": [1]}', "application/json"),
        ("{}", "text/plain"),
    ],
)
async def test_malformed_post_is_400(
    site: Site, moodle: Moodle, content: str, content_type: str
) -> None:
    token = await admin_token(site)
    async with client(moodle) as http:
        response = await http.post(
            "/graphql",
            content=content,
            headers={"Content-Type": content_type, "Authorization": f"Bearer {token}"},
        )
    assert response.status_code == 400
    assert only_error(response.json())["extensions"]["code"] == "BAD_REQUEST"


async def test_get_with_variables_that_are_not_json_is_400(site: Site, moodle: Moodle) -> None:
    token = await admin_token(site)
    async with client(moodle) as http:
        response = await http.get(
            "/graphql",
            params={"query": "{ __typename }", "variables": "{not json"},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert response.status_code == 400
    assert only_error(response.json())["extensions"]["code"] == "BAD_REQUEST"


@pytest.mark.parametrize(
    ("method", "document"),
    [
        ("POST", 'mutation { user(value: "2") { id } }'),
        ("GET", 'mutation { user(value: "2") { id } }'),
        ("POST", 'subscription { user(value: "2") { id } }'),
        ("GET", 'subscription { user(value: "2") { id } }'),
    ],
)
async def test_only_queries_are_served(
    site: Site, moodle: Moodle, method: str, document: str
) -> None:
    token = await admin_token(site)
    headers = {"Authorization": f"Bearer {token}"}
    async with client(moodle) as http:
        if method == "GET":
            response = await http.get("/graphql", params={"query": document}, headers=headers)
        else:
            response = await http.post("/graphql", json={"query": document}, headers=headers)
    assert response.status_code == 400
    assert response.json() == {
        "errors": [
            {
                "message": "Only queries are served (definum-gql is read-only).",
                "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"},
            }
        ]
    }


async def test_operation_name_picks_the_operation(site: Site, moodle: Moodle) -> None:
    token = await admin_token(site)
    document = 'query A { user(value: "2") { id } } query B { user(value: "2") { username } }'
    response = await post(moodle, document, token=token, operation="B")
    assert response.json() == {"data": {"user": {"username": "admin"}}}


async def test_unknown_operation_is_refused(site: Site, moodle: Moodle) -> None:
    token = await admin_token(site)
    document = 'query A { user(value: "2") { id } } query B { user(value: "2") { username } }'
    response = await post(moodle, document, token=token, operation="C")
    assert response.status_code == 400
    assert response.json() == {
        "errors": [
            {
                "message": "Unknown or ambiguous operation 'C': name one with operationName.",
                "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"},
            }
        ]
    }


async def test_invalid_document_is_400_validation_failed(site: Site, moodle: Moodle) -> None:
    token = await admin_token(site)
    for document in ('{ user(value: "2") { nosuchfield } }', "{ user("):
        response = await post(moodle, document, token=token)
        assert response.status_code == 400
        body = response.json()
        assert "data" not in body
        assert only_error(body)["extensions"] == {"code": "GRAPHQL_VALIDATION_FAILED"}
        assert response.headers["cache-control"] == "no-store"


# -- readable errors ----------------------------------------------------------------------------


async def test_bad_month_is_a_readable_error(site: Site, moodle: Moodle) -> None:
    token = await admin_token(site)
    response = await post(
        moodle, '{ user(value: "2") { id activity(month: "2026-13") { logins } } }', token=token
    )
    assert response.status_code == 200
    error = only_error(response.json())
    assert error["extensions"]["code"] == "INVALID_MONTH"
    assert "2026-13" in error["message"]
    assert error["path"] == ["user", "activity"]


async def test_page_larger_than_the_cap_is_refused(site: Site, moodle: Moodle) -> None:
    token = await admin_token(site)
    response = await post(moodle, "{ users(first: 501) { totalCount } }", token=token)
    error = only_error(response.json())
    assert error["extensions"]["code"] == "PAGE_TOO_LARGE"
    assert "500" in error["message"]


async def test_history_longer_than_the_cap_is_refused(site: Site, moodle: Moodle) -> None:
    token = await admin_token(site)
    query = '{ user(value: "2") { activityHistory(from: "2023-01", to: "2026-01") { month } } }'
    response = await post(moodle, query, token=token)
    # 2023-01 .. 2026-01 is 37 months; the default cap is 36.
    error = only_error(response.json())
    assert error["extensions"]["code"] == "HISTORY_TOO_LONG"
    assert "37" in error["message"]


async def test_ambiguous_user_is_an_error(site: Site, moodle: Moodle) -> None:
    await site.user(username="twin1", email="same@example.org")
    await site.user(username="twin2", email="SAME@example.org")
    token = await admin_token(site)
    response = await post(
        moodle, '{ user(by: EMAIL, value: "same@example.org") { id } }', token=token
    )
    error = only_error(response.json())
    assert error["extensions"]["code"] == "MULTIPLE_USERS_FOUND"
    assert response.json()["data"] == {"user": None}


@pytest.mark.parametrize("value", ["999", "7abc", "", "guest-deleted"])
async def test_no_such_user_is_null(site: Site, moodle: Moodle, value: str) -> None:
    await site.user(username="guest-deleted", deleted=1)
    token = await admin_token(site)
    by = "USERNAME" if value == "guest-deleted" else "ID"
    response = await post(
        moodle,
        "query($v: String!) { user(by: " + by + ", value: $v) { id } }",
        {"v": value},
        token=token,
    )
    assert response.json() == {"data": {"user": None}}


async def test_bad_cursor_is_a_readable_error(site: Site, moodle: Moodle) -> None:
    token = await admin_token(site)
    response = await post(moodle, '{ users(after: "nonsense") { totalCount } }', token=token)
    assert only_error(response.json())["extensions"]["code"] == "INVALID_CURSOR"


async def test_unexpected_errors_are_masked_and_logged_with_a_request_id(
    site: Site, moodle: Moodle, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from definum_gql.graphql import loaders

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(loaders, "load_badges", broken)
    token = await admin_token(site)
    with caplog.at_level(logging.ERROR, logger="definum_gql.graphql"):
        response = await post(
            moodle, '{ user(value: "2") { username badges { expired } } }', token=token
        )
    body = response.json()
    error = only_error(body)
    assert error["message"] == "Unexpected error."
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert "secret" not in response.text
    request_id = error["extensions"]["requestId"]
    assert any(request_id in record.getMessage() for record in caplog.records)
    # badges is a non-null list: the failure nulls the user, as GraphQL prescribes.
    assert body["data"] == {"user": None}


# -- limits -------------------------------------------------------------------------------------


def limited(database: Any, frozen_now: int, **limits: Any) -> Moodle:
    settings = settings_for(database.url, **limits)
    return Moodle.from_settings(settings, clock=lambda: float(frozen_now))


async def test_too_deep_a_query_is_refused(site: Site, database: Any, frozen_now: int) -> None:
    token = await admin_token(site)
    moodle = limited(database, frozen_now, max_depth=3)
    deep = '{ user(value: "2") { badges { badge { course { id } } } } }'  # depth 4
    try:
        response = await post(moodle, deep, token=token)
        shallow = await post(moodle, '{ user(value: "2") { badges { expired } } }', token=token)
    finally:
        await moodle.dispose()
    assert response.status_code == 400
    assert only_error(response.json())["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert shallow.status_code == 200


async def test_too_many_aliases_are_refused(site: Site, database: Any, frozen_now: int) -> None:
    token = await admin_token(site)
    moodle = limited(database, frozen_now, max_aliases=2)
    query = '{ a: user(value: "2") { id } b: user(value: "2") { id } c: user(value: "2") { id } }'
    try:
        response = await post(moodle, query, token=token)
    finally:
        await moodle.dispose()
    error = only_error(response.json())
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert "3 aliases" in error["message"]


async def test_too_many_tokens_are_refused(site: Site, database: Any, frozen_now: int) -> None:
    token = await admin_token(site)
    moodle = limited(database, frozen_now, max_tokens=10)
    try:
        response = await post(moodle, '{ user(value: "2") { id username email } }', token=token)
        # Comments count, as in graphql-core's limit; a syntax error within the limit is one.
        padded = await post(moodle, "{ user { id }\n" + "#\n" * 20 + "}", token=token)
        broken = await post(moodle, "{ user(", token=token)
    finally:
        await moodle.dispose()
    assert response.status_code == 400
    assert only_error(response.json()) == {
        "message": "Syntax Error: Document contains more than 10 tokens. Parsing aborted.",
        "locations": [{"line": 1, "column": 34}],
        "extensions": {"code": "QUERY_TOO_COMPLEX"},
    }
    assert padded.status_code == 400
    assert only_error(padded.json())["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert only_error(broken.json())["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


def test_limit_errors_are_known_by_their_code_not_their_message() -> None:
    lookalike = GraphQLError("'q' exceeds maximum operation depth of 3")
    assert error_code(lookalike) == ("GRAPHQL_VALIDATION_FAILED", True)
    coded = GraphQLError("too deep", extensions={"code": "QUERY_TOO_COMPLEX"})
    assert error_code(coded) == ("QUERY_TOO_COMPLEX", True)


async def test_introspection_can_be_switched_off(
    site: Site, database: Any, frozen_now: int
) -> None:
    token = await admin_token(site)
    moodle = limited(database, frozen_now, introspection=False)
    try:
        response = await post(moodle, "{ __schema { queryType { name } } }", token=token)
        typename = await post(moodle, '{ user(value: "2") { __typename } }', token=token)
    finally:
        await moodle.dispose()
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "INTROSPECTION_DISABLED"
    assert typename.json() == {"data": {"user": {"__typename": "User"}}}


# -- outages ------------------------------------------------------------------------------------


@pytest.mark.parametrize("auth", ["on", "off"])
async def test_unreachable_database_is_503(auth: str) -> None:
    # Port 9 (discard) is closed on test machines: the connection is refused at once.
    settings = Settings(database_url="postgresql+asyncpg://postgres@127.0.0.1:9/nowhere", auth=auth)
    moodle = Moodle.from_settings(settings)
    try:
        response = await post(moodle, ME, token="abc")
    finally:
        await moodle.dispose()
    assert response.status_code == 503
    error = only_error(response.json())
    assert error["extensions"]["code"] == "DATABASE_UNAVAILABLE"


async def test_database_lost_during_a_request_is_503(
    site: Site, moodle: Moodle, monkeypatch: pytest.MonkeyPatch
) -> None:
    from definum_gql.graphql import loaders
    from definum_gql.moodle.reader import DatabaseUnavailable

    async def lost(*args: Any, **kwargs: Any) -> Any:
        # What the reader raises when the server goes away mid-request (test_moodle_engine).
        raise DatabaseUnavailable("server closed the connection")

    monkeypatch.setattr(loaders, "load_badges", lost)
    token = await admin_token(site)
    response = await post(moodle, '{ user(value: "2") { badges { expired } } }', token=token)
    assert response.status_code == 503
    error = only_error(response.json())
    assert error["extensions"]["code"] == "DATABASE_UNAVAILABLE"
    assert "server closed" not in response.text


@pytest.mark.parametrize(
    ("by", "value"),
    [
        ("ID", "{id}"),
        ("USERNAME", " Zoe "),  # trimmed and lowercased
        ("IDNUMBER", "Z-1"),
        ("EMAIL", "ZOE@example.org"),
        ("OIDCUNIQUEID", "uniq-zoe"),
        ("OIDCUSERNAME", "zoe@idp.example.org"),
    ],
)
async def test_every_identity_field_finds_the_user(
    site: Site, moodle: Moodle, by: str, value: str
) -> None:
    zoe = await site.user(username="zoe", idnumber="Z-1", email="zoe@example.org")
    await site.oidc_token(
        userid=zoe, username="zoe", oidcuniqid="uniq-zoe", oidcusername="zoe@idp.example.org"
    )
    token = await admin_token(site)
    query = "query($v: String!) { user(by: " + by + ", value: $v) { id username } }"
    response = await post(moodle, query, {"v": value.format(id=zoe)}, token=token)
    assert response.json() == {"data": {"user": {"id": zoe, "username": "zoe"}}}
