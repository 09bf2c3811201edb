"""Helpers for the GraphQL tests: a small app around ``graphql_routes`` and an HTTP client."""

from __future__ import annotations

import re
import weakref
from typing import Any

import httpx
from starlette.applications import Starlette

from definum_gql.graphql import graphql_routes
from definum_gql.moodle.site import Moodle
from tests.builders import Site


def make_app(moodle: Moodle) -> Starlette:
    return Starlette(routes=graphql_routes(moodle))


def client(moodle: Moodle) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=make_app(moodle), client=("192.0.2.10", 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


_TOKENS: weakref.WeakKeyDictionary[Site, str] = weakref.WeakKeyDictionary()


async def admin_token(site: Site) -> str:
    """A token of the site admin (id 2) on the 'definum' service offering definum_get_stats."""
    if site not in _TOKENS:
        service = await site.service()
        _TOKENS[site] = await site.token(2, service)
    return _TOKENS[site]


async def post(
    moodle: Moodle,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    token: str | None = None,
    operation: str | None = None,
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body: dict[str, Any] = {"query": query}
    if variables is not None:
        body["variables"] = variables
    if operation is not None:
        body["operationName"] = operation
    async with client(moodle) as http:
        return await http.post("/graphql", json=body, headers=headers)


async def data(
    moodle: Moodle, query: str, variables: dict[str, Any] | None = None, *, token: str
) -> dict[str, Any]:
    """The ``data`` of a request that must succeed without errors."""
    response = await post(moodle, query, variables, token=token)
    body = response.json()
    assert response.status_code == 200, body
    assert "errors" not in body, body["errors"]
    result: dict[str, Any] = body["data"]
    return result


class StatementCounter:
    """Counts the statements definum-gql sends to the site's database while installed."""

    def __init__(self, moodle: Moodle) -> None:
        self.listeners = moodle.db.listeners
        self.statements: list[str] = []

    def __enter__(self) -> StatementCounter:
        self.listeners.append(self.statements.append)
        return self

    def __exit__(self, *exc: object) -> None:
        self.listeners.remove(self.statements.append)

    def reading(self, table: str) -> list[str]:
        """The statements that read ``table`` (prefix included, e.g. ``mdl_user``)."""
        return [s for s in self.statements if re.search(rf"\b{table}\b", s)]
