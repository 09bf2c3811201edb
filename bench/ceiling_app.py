"""REST ceiling: one SELECT on mdl_user through SQLAlchemy Core async, as a small JSON document.

What the stack (uvicorn, Starlette, SQLAlchemy async, the driver) does per request at best, served
at the shim's path so the same wrk URL or script hits both. ``CEILING_DATABASE_URL`` (else
``DEFINUM_DATABASE_URL``) names the database; ``CEILING_TABLE_PREFIX`` the prefix (``mdl_``).

    python -m uvicorn bench.ceiling_app:app --workers 2
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from definum_gql.server import settle_gc

URL = os.environ.get("CEILING_DATABASE_URL") or os.environ["DEFINUM_DATABASE_URL"]
PREFIX = os.environ.get("CEILING_TABLE_PREFIX", "mdl_")
engine = create_async_engine(URL, pool_size=10, max_overflow=10)
COLUMNS = "id, firstname, lastname, lastlogin"
BY_USERNAME = text(f"SELECT {COLUMNS} FROM {PREFIX}user WHERE username = :u")
BY_ID = text(f"SELECT {COLUMNS} FROM {PREFIX}user WHERE id = :u")


async def stats(request: Request) -> Response:
    value = request.query_params.get("userid", "")
    by_id = request.query_params.get("useridfield") == "id"
    async with engine.connect() as conn:
        statement, param = (BY_ID, int(value)) if by_id else (BY_USERNAME, value)
        result = await conn.execute(statement, {"u": param})
        row = result.first()
    if row is None:
        return JSONResponse({"exception": "invalid_parameter_exception"})
    return JSONResponse(dict(row._mapping))


async def ready(request: Request) -> Response:
    return PlainTextResponse("ok")


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    yield
    await engine.dispose()


app = Starlette(
    routes=[Route("/", ready), Route("/webservice/rest/server.php", stats)], lifespan=lifespan
)
# The garbage collector tuned as in a served definum-gql process, so that both compare alike.
settle_gc()
