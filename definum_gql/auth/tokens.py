"""Web service tokens, checked the way Moodle 4.1 checks them; one check for both front doors.

The order is Moodle's: the site's switch for web services (``webservice/rest/server.php``), then
(``webservice_server::authenticate_user``) token, expiry, IP, maintenance mode, the owner's state,
and the ``webservice/rest:use`` capability. The function and service checks come later, once the
function is known. The outcome is a :class:`Caller` or a :class:`Refused` naming a
:class:`Refusal`; each door words it once (REST as Moodle's exceptions, GraphQL as codes).

The token's rows (token, owner, capabilities, service) are read in one statement and trusted for
``token_cache_seconds``; expiry, IP restriction, maintenance and the owner's state are checked
against them on every request. The owner's capabilities also say what GraphQL shows of other users
and of hidden courses.
"""

from __future__ import annotations

import hmac
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any

from definum_gql.auth.addresses import address_in_subnet
from definum_gql.moodle.queries import CAPABILITIES, REST_CAPABILITY
from definum_gql.moodle.site import RequestContext, SiteConfig
from definum_gql.observe import current

FUNCTION = "definum_get_stats"
_MAX_TOKEN = 128
_CACHED_TOKENS = 10_000
_CACHED_FUNCTIONS = 10_000
_MAX_FUNCTION = 200  # external_functions.name


def web_services_enabled(site: SiteConfig) -> bool:
    """Whether the site serves web services over REST (``enablewebservices`` and REST among
    ``webserviceprotocols``). Every door is closed when it does not: GraphQL takes the same
    tokens."""
    protocols = [p.strip() for p in site.get("webserviceprotocols").split(",")]
    return site.get("enablewebservices").strip() == "1" and "rest" in protocols


class Refusal(Enum):
    """Why a call is refused, in Moodle's order of checks (values: Moodle's error codes where
    Moodle has one; GraphQL shows them as ``extensions.reason``)."""

    WEB_SERVICES_DISABLED = "webservicesdisabled"
    INVALID_TOKEN = "invalidtoken"
    TOKEN_EXPIRED = "tokenexpired"
    IP_RESTRICTED = "iprestricted"
    MISSING_OWNER = "invaliduser"
    MAINTENANCE = "sitemaintenance"
    OWNER_DELETED = "wsaccessuserdeleted"
    OWNER_UNCONFIRMED = "wsaccessuserunconfirmed"
    OWNER_SUSPENDED = "wsaccessusersuspended"
    OWNER_NOLOGIN = "wsaccessusernologin"
    NO_CAPABILITY = "nocapability"
    UNKNOWN_FUNCTION = "invalidrecord"
    SERVICE_DENIED = "servicedenied"


@dataclass(frozen=True)
class Refused:
    """A refused call: the reason and what Moodle's message names (address, username, user id)."""

    refusal: Refusal
    detail: str = ""


@dataclass(frozen=True)
class TokenRecord:
    """What the token statement read: the token, its owner, capabilities and service."""

    token_id: int
    token: str
    userid: int
    service_id: int
    iprestriction: str | None
    validuntil: int
    context_id: int
    owner_id: int | None
    username: str
    deleted: bool
    confirmed: bool
    suspended: bool
    auth: str
    service_found: bool
    service_enabled: bool
    restricted_users: bool
    service_shortname: str | None
    offers_function: bool
    #: The capabilities of ``CAPABILITIES`` the owner's roles grant (site admin or not).
    capabilities: frozenset[str]


@dataclass(frozen=True)
class Caller:
    """Who is calling: the token, its owner, what the owner may do, and its service."""

    token_id: int
    user_id: int
    service_id: int
    username: str
    site_admin: bool
    client_ip: str
    context_id: int
    record: TokenRecord
    #: The owner's capabilities in the system context (every one for a site admin).
    capabilities: frozenset[str] = frozenset()
    #: A token of a self service (``self_services``): GraphQL shows it its owner only.
    self_only: bool = False

    def can(self, capability: str) -> bool:
        return self.site_admin or capability in self.capabilities


def _storable(value: str | None, limit: int) -> bool:
    # A value that cannot be stored in the column (or sent to a driver) cannot match any row.
    if not value or len(value) > limit:
        return False
    return not any(ch == "\0" or "\ud800" <= ch <= "\udfff" for ch in value)


def _usable_token(token: str | None) -> bool:
    return _storable(token, _MAX_TOKEN)


def php_truthy(value: str | None) -> bool:
    return value not in (None, "", "0")


def _record(row: Any) -> TokenRecord:
    (
        token_id,
        token,
        userid,
        service_id,
        iprestriction,
        validuntil,
        context_id,
        owner_id,
        username,
        deleted,
        confirmed,
        suspended,
        auth,
        found_service,
        enabled,
        restricted,
        shortname,
        offers,
        *granted,
    ) = row
    return TokenRecord(
        token_id=int(token_id),
        token=str(token),
        userid=int(userid),
        service_id=int(service_id),
        iprestriction=iprestriction,
        validuntil=int(validuntil or 0),
        context_id=int(context_id),
        owner_id=int(owner_id) if owner_id is not None else None,
        username=str(username or ""),
        deleted=bool(deleted),
        confirmed=bool(confirmed),
        suspended=bool(suspended),
        auth=str(auth or ""),
        service_found=found_service is not None,
        service_enabled=bool(enabled),
        restricted_users=bool(restricted),
        service_shortname=shortname,
        offers_function=bool(offers),
        capabilities=frozenset(c for c, flag in zip(CAPABILITIES, granted, strict=True) if flag),
    )


def _role(value: str) -> int:
    value = value.strip()
    return int(value) if value.isdigit() else -1


def _token_cache(result: str) -> None:
    exchange = current()
    if exchange is not None:
        exchange.token_cache = result


class Authenticator:
    """Token checks with a short per-token cache of the rows read (shared by both doors)."""

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.clock = clock
        self.hits = 0
        self.misses = 0
        self._records: OrderedDict[str, tuple[float, TokenRecord]] = OrderedDict()
        self._functions: OrderedDict[tuple[int, str], tuple[float, bool, bool]] = OrderedDict()

    async def _read(self, ctx: RequestContext, token: str) -> TokenRecord | None:
        if self.ttl > 0:
            cached = self._records.get(token)
            if cached is not None and self.clock() - cached[0] < self.ttl:
                self._records.move_to_end(token)
                self.hits += 1
                _token_cache("hit")
                return cached[1]
        self.misses += 1
        _token_cache("miss")
        site = ctx.site
        rows = await ctx.reader.rows(
            ctx.statements.token,
            token=token,
            function=FUNCTION,
            guest=site.guest_id,
            guestrole=_role(site.get("guestroleid")),
            userrole=_role(site.get("defaultuserroleid")),
        )
        wanted = token.encode()
        # The database may compare case-insensitively (MariaDB collations); the exact, constant-
        # time comparison decides.
        record = next(
            (_record(r) for r in rows if hmac.compare_digest(str(r[1]).encode(), wanted)), None
        )
        if record is not None and self.ttl > 0:
            self._records[token] = (self.clock(), record)
            if len(self._records) > _CACHED_TOKENS:
                self._records.popitem(last=False)
        return record

    async def authenticate(
        self, ctx: RequestContext, token: str | None, client_ip: str
    ) -> Caller | Refused:
        """Moodle's token checks up to the capability (contract sections 1 and 2, steps 1 to 5),
        the site's switch for web services first. The outcome goes into the request's log line
        (the token's row id, never the token)."""
        outcome = await self._authenticate(ctx, token, client_ip)
        exchange = current()
        if exchange is not None:
            if isinstance(outcome, Refused):
                exchange.refusal = outcome.refusal.value
            else:
                exchange.token_id = outcome.token_id
        return outcome

    async def _authenticate(
        self, ctx: RequestContext, token: str | None, client_ip: str
    ) -> Caller | Refused:
        if not web_services_enabled(ctx.site):
            return Refused(Refusal.WEB_SERVICES_DISABLED)
        if not _usable_token(token):
            return Refused(Refusal.INVALID_TOKEN)
        assert token is not None
        record = await self._read(ctx, token)
        if record is None:
            return Refused(Refusal.INVALID_TOKEN)
        if record.validuntil and record.validuntil < ctx.now:
            return Refused(Refusal.TOKEN_EXPIRED)
        if php_truthy(record.iprestriction) and not address_in_subnet(
            client_ip, str(record.iprestriction)
        ):
            return Refused(Refusal.IP_RESTRICTED, client_ip)
        if record.owner_id is None:
            return Refused(Refusal.MISSING_OWNER, str(record.userid))
        user_id = record.owner_id
        admin = user_id in ctx.site.site_admins
        if ctx.site.flag("maintenance_enabled") and not admin:
            return Refused(Refusal.MAINTENANCE)
        for failed, refusal in (
            (record.deleted, Refusal.OWNER_DELETED),
            (not record.confirmed, Refusal.OWNER_UNCONFIRMED),
            (record.suspended, Refusal.OWNER_SUSPENDED),
            (record.auth == "nologin", Refusal.OWNER_NOLOGIN),
        ):
            if failed:
                return Refused(refusal, record.username)
        if not admin and REST_CAPABILITY not in record.capabilities:
            return Refused(Refusal.NO_CAPABILITY)
        return Caller(
            token_id=record.token_id,
            user_id=user_id,
            service_id=record.service_id,
            username=record.username,
            site_admin=admin,
            client_ip=client_ip,
            context_id=record.context_id,
            record=record,
            capabilities=frozenset(CAPABILITIES) if admin else record.capabilities,
        )

    async def check_service(
        self, ctx: RequestContext, caller: Caller, function: str = FUNCTION
    ) -> Refused | None:
        denied = await self._check_service(ctx, caller, function)
        exchange = current()
        if denied is not None and exchange is not None:
            exchange.refusal = denied.refusal.value
        return denied

    async def _check_service(
        self, ctx: RequestContext, caller: Caller, function: str = FUNCTION
    ) -> Refused | None:
        """Contract section 2, steps 6 and 7: ``function`` is known and the token's service,
        enabled, contains it and accepts the caller.

        ``definum_get_stats`` is known even where ``external_functions`` lacks it, and a service
        whose shortname is our ``service`` setting offers it even without an
        ``external_services_functions`` row: sites that never installed the PHP plugin have
        neither. Any other function is looked up (one statement, cached as the token is).
        """
        record = caller.record
        if function == FUNCTION:
            configured = record.service_shortname == ctx.settings.service
            contained = configured or record.offers_function
        else:
            known, contained = await self._function(ctx, caller.service_id, function)
            if not known:
                return Refused(Refusal.UNKNOWN_FUNCTION, function)
        if contained and await self._admits(ctx, caller):
            return None
        return Refused(Refusal.SERVICE_DENIED, function)

    async def graphql_access(self, ctx: RequestContext, caller: Caller) -> Caller | Refused:
        """Whom a GraphQL caller may read: a token whose service offers ``definum_get_stats``
        reads every learner (within its owner's capabilities); a token of a self service
        (``self_services``, enabled, the owner accepted) reads its owner only."""
        denied = await self.check_service(ctx, caller)
        if denied is None:
            return caller
        shortname = caller.record.service_shortname
        selfservice = bool(shortname) and shortname in ctx.settings.self_services
        if selfservice and await self._admits(ctx, caller):
            return replace(caller, self_only=True)
        return denied

    async def _admits(self, ctx: RequestContext, caller: Caller) -> bool:
        """The token's service is enabled and, when it lists its users, lists the caller (that
        row's expiry and IP restriction apply)."""
        record = caller.record
        if not record.service_found or not record.service_enabled:
            return False
        if not record.restricted_users:
            return True
        rows = await ctx.reader.rows(
            ctx.statements.service_users, service=caller.service_id, user=caller.user_id
        )
        for iprestriction, validuntil in rows:
            if validuntil and int(validuntil) < ctx.now:
                continue
            if php_truthy(iprestriction) and not address_in_subnet(caller.client_ip, iprestriction):
                continue
            return True
        return False

    async def _function(
        self, ctx: RequestContext, service_id: int, function: str
    ) -> tuple[bool, bool]:
        """(whether ``function`` is in ``external_functions``, whether the service contains it)."""
        if not _storable(function, _MAX_FUNCTION):
            return False, False
        key = (service_id, function)
        if self.ttl > 0:
            cached = self._functions.get(key)
            if cached is not None and self.clock() - cached[0] < self.ttl:
                self._functions.move_to_end(key)
                return cached[1], cached[2]
        rows = await ctx.reader.rows(ctx.statements.function, function=function, service=service_id)
        # Exact names: a MariaDB collation would match another case.
        found = [bool(contains) for name, contains in rows if name == function]
        known, contained = bool(found), any(found)
        if self.ttl > 0:
            self._functions[key] = (self.clock(), known, contained)
            if len(self._functions) > _CACHED_FUNCTIONS:
                self._functions.popitem(last=False)
        return known, contained
