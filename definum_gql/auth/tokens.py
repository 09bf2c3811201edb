"""Web service tokens, checked the way Moodle 4.1 checks them; one check for both front doors.

The order is Moodle's (``webservice_server::authenticate_user``): token, expiry, IP, then
maintenance mode, the owner's state, and the ``webservice/rest:use`` capability. The service check
comes later, once the function is known. The outcome is a :class:`Caller` or a :class:`Refused`
naming a :class:`Refusal`; each door words it once (REST as Moodle's exceptions, GraphQL as codes).

The token's rows (token, owner, capability, service) are read in one statement and trusted for
``token_cache_seconds``; expiry, IP restriction, maintenance and the owner's state are checked
against them on every request.
"""

from __future__ import annotations

import hmac
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from definum_gql.auth.addresses import address_in_subnet
from definum_gql.moodle.site import RequestContext

FUNCTION = "definum_get_stats"
_MAX_TOKEN = 128
_CACHED_TOKENS = 10_000


class Refusal(Enum):
    """Why a call is refused, in Moodle's order of checks (values: Moodle's error codes where
    Moodle has one; GraphQL shows them as ``extensions.reason``)."""

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
    SERVICE_DENIED = "servicedenied"


@dataclass(frozen=True)
class Refused:
    """A refused call: the reason and what Moodle's message names (address, username, user id)."""

    refusal: Refusal
    detail: str = ""


@dataclass(frozen=True)
class TokenRecord:
    """What the token statement read: the token, its owner, capability and service."""

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
    allowed: bool
    prohibited: bool


@dataclass(frozen=True)
class Caller:
    """Who is calling: the token, its owner and its service."""

    token_id: int
    user_id: int
    service_id: int
    username: str
    site_admin: bool
    client_ip: str
    context_id: int
    record: TokenRecord


def _usable_token(token: str | None) -> bool:
    # A token that cannot be stored in the column (or sent to a driver) cannot match any row.
    if not token or len(token) > _MAX_TOKEN:
        return False
    return not any(ch == "\0" or "\ud800" <= ch <= "\udfff" for ch in token)


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
        allowed,
        prohibited,
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
        allowed=bool(allowed),
        prohibited=bool(prohibited),
    )


def _role(value: str) -> int:
    value = value.strip()
    return int(value) if value.isdigit() else -1


class Authenticator:
    """Token checks with a short per-token cache of the rows read (shared by both doors)."""

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.clock = clock
        self.hits = 0
        self.misses = 0
        self._records: OrderedDict[str, tuple[float, TokenRecord]] = OrderedDict()

    async def _read(self, ctx: RequestContext, token: str) -> TokenRecord | None:
        if self.ttl > 0:
            cached = self._records.get(token)
            if cached is not None and self.clock() - cached[0] < self.ttl:
                self._records.move_to_end(token)
                self.hits += 1
                return cached[1]
        self.misses += 1
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
        """Moodle's token checks up to the capability (contract section 2, steps 1 to 5)."""
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
        if not admin and (not record.allowed or record.prohibited):
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
        )

    async def check_service(
        self, ctx: RequestContext, caller: Caller, function: str = FUNCTION
    ) -> Refused | None:
        """The token's service must be enabled, offer ``function`` and accept the caller.

        A service whose shortname is our ``service`` setting offers ``definum_get_stats`` even
        without an ``external_services_functions`` row: sites that never installed the PHP plugin
        have none.
        """
        record = caller.record
        denied = Refused(Refusal.SERVICE_DENIED, function)
        if not record.service_found or not record.service_enabled or function != FUNCTION:
            return denied
        configured = record.service_shortname == ctx.settings.service
        if not (configured or record.offers_function):
            return denied
        if not record.restricted_users:
            return None
        rows = await ctx.reader.rows(
            ctx.statements.service_users, service=caller.service_id, user=caller.user_id
        )
        for iprestriction, validuntil in rows:
            if validuntil and int(validuntil) < ctx.now:
                continue
            if php_truthy(iprestriction) and not address_in_subnet(caller.client_ip, iprestriction):
                continue
            return None
        return denied
