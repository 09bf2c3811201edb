"""``/webservice/rest/server.php``: Moodle's REST server for ``definum_get_stats``.

The checks run in Moodle's order (contract section 2); every failure is answered as Moodle does,
with HTTP 200 and an exception envelope, except a database outage (503) and web services off (403).
"""

from __future__ import annotations

import logging

import httpx
from starlette.requests import Request
from starlette.responses import Response

from definum_gql.auth import (
    FUNCTION,
    Authenticator,
    Refusal,
    Refused,
    client_address,
)
from definum_gql.guards import BodyRefused
from definum_gql.moodle.site import (
    DatabaseReadError,
    DatabaseUnavailable,
    Moodle,
    RequestContext,
)
from definum_gql.observe import current
from definum_gql.rest.clean import is_alpha, is_text
from definum_gql.rest.errors import (
    WsError,
    database_read,
    database_unavailable,
    internal_error,
    invalid_parameter,
    invalid_user,
    multiple_users,
    refused,
    service_not_available,
)
from definum_gql.rest.forward import forward
from definum_gql.rest.render import XML, render_error, render_stats, response_headers
from definum_gql.rest.request import (
    PhpArray,
    RestCall,
    Value,
    parse_body,
    parse_urlencoded,
    split_call,
)
from definum_gql.stats.document import document_for
from definum_gql.stats.errors import MultipleUsersFound, UnsupportedUserField, UserNotFound
from definum_gql.stats.identity import USER_ID_FIELDS

log = logging.getLogger("definum_gql.rest")

# The parameters definum_get_stats declares, in its declared order, with their Moodle types.
PARAMETERS = (("useridfield", "alpha"), ("userid", "text"))


class _Forward(Exception):
    """The function is not ours and a Moodle is configured: pass the call on."""


def validate_parameters(params: dict[str, Value]) -> tuple[str, str]:
    """Moodle's ``validate_parameters`` for (useridfield PARAM_ALPHA, userid PARAM_TEXT)."""
    values: dict[str, str] = {}
    for name, kind in PARAMETERS:
        if name not in params:
            raise invalid_parameter(f"Missing required key in single structure: {name}")
        value = params[name]
        if isinstance(value, PhpArray):
            raise invalid_parameter(
                f"{name} => Invalid parameter value detected: "
                "Scalar type expected, array or object received."
            )
        valid = is_alpha(value) if kind == "alpha" else is_text(value)
        if not valid:
            raise invalid_parameter(
                f"{name} => Invalid parameter value detected: Invalid external api parameter: "
                f'the value is "{value}", the server was expecting "{kind}" type'
            )
        values[name] = value
    extra = [k for k in params if k not in values]
    if extra:
        raise invalid_parameter(
            f"Unexpected keys ({', '.join(extra)}) detected in parameter array."
        )
    field = values["useridfield"]
    if field not in USER_ID_FIELDS:
        raise invalid_parameter("Non supported user field")
    return field, values["userid"]


class RestServer:
    """The endpoint, bound to one Moodle site."""

    def __init__(
        self,
        moodle: Moodle,
        authenticator: Authenticator,
        forward_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.moodle = moodle
        self.authenticator = authenticator
        self.forward_transport = forward_transport

    async def handle(self, request: Request) -> Response:
        """Answer one call; raises only for a body refused while it streams (guards.BodyLimit
        answers)."""
        fmt = XML
        exchange = current()
        try:
            body = await request.body()
            query = parse_urlencoded(request.scope.get("query_string", b""))
            call = split_call(query, await parse_body(request, body))
            fmt = call.fmt
            if exchange is not None:
                exchange.fmt = fmt
            try:
                return await self._serve(request, call)
            except _Forward:
                assert self.moodle.settings.moodle_url is not None
                return await forward(
                    request, body, self.moodle.settings.moodle_url, self.forward_transport
                )
        except BodyRefused:
            raise  # guards.BodyLimit answers it (too large, too slow), in the call's format
        except WsError as error:
            return self._error(error, fmt)
        except DatabaseUnavailable as exc:
            return self._error(database_unavailable(str(exc)), fmt)
        except DatabaseReadError as exc:
            log.error("database error answering a REST call: %s", exc)
            return self._error(database_read(str(exc)), fmt)
        except Exception:
            log.exception("unexpected error answering a REST call")
            return self._error(internal_error(), fmt)

    def _error(self, error: WsError, fmt: str) -> Response:
        exchange = current()
        if exchange is not None:
            exchange.error = error.errorcode
        return Response(
            render_error(error, fmt, self.moodle.settings.debug),
            status_code=error.status,
            headers=response_headers(fmt),
        )

    async def _serve(self, request: Request, call: RestCall) -> Response:
        moodle = self.moodle
        async with moodle.request(lang=call.lang, timezone=call.timezone) as ctx:
            peer = request.client.host if request.client else None
            address = client_address(peer, request.headers, moodle.settings.trusted_proxies)
            caller = await self.authenticator.authenticate(ctx, call.token, address)
            if isinstance(caller, Refused):
                if caller.refusal is Refusal.WEB_SERVICES_DISABLED:
                    return Response(b"", status_code=403)  # as Moodle: no body
                raise refused(caller)
            function = call.function
            if not isinstance(function, str) or function == "":
                raise invalid_parameter("Missing function name")
            denied = await self.authenticator.check_service(ctx, caller, function)
            if denied is not None:
                raise refused(denied)
            if function != FUNCTION:
                # Known, and the token's service contains it: Moodle's to answer.
                if moodle.settings.moodle_url:
                    raise _Forward
                raise service_not_available()
            field, value = validate_parameters(call.params)
            body = await self._answer(ctx, call, field, value)
        return Response(body, headers=response_headers(call.fmt))

    async def _answer(self, ctx: RequestContext, call: RestCall, field: str, value: str) -> bytes:
        try:
            document = await document_for(ctx, field, value)
        except UnsupportedUserField:
            raise invalid_parameter("Non supported user field") from None
        except UserNotFound:
            raise invalid_user(field, value) from None
        except MultipleUsersFound:
            raise multiple_users(field, value) from None
        exchange = current()
        if exchange is not None:
            exchange.learner = document.id
        return render_stats(document, call.fmt)
