"""Web service tokens, checked the way Moodle 4.1 checks them; shared by REST and GraphQL.

The order of the checks is Moodle's (``webservice_server::authenticate_user``): token, expiry, IP,
then maintenance mode, the owner's state, and the ``webservice/rest:use`` capability. The service
check comes later, once the function is known. Every failure is an :class:`AuthError` carrying
Moodle's exception class, error code and message, so the REST shim can print it as Moodle does.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import ColumnElement

from definum_gql.moodle.site import Moodle, SiteConfig

FUNCTION = "definum_get_stats"
REST_CAPABILITY = "webservice/rest:use"
TOKEN_PERMANENT = 0
CONTEXT_SYSTEM = 10
CAP_ALLOW = 1
CAP_PROHIBIT = -1000

_PHP_TRIM = " \t\n\r\0\x0b"
_MAX_TOKEN = 128


class AuthError(Exception):
    """A refused call, in Moodle's words.

    Attributes:
        exception: Moodle's exception class (``moodle_exception``, ``webservice_access_exception``).
        errorcode: Moodle's error code (``invalidtoken``, ``accessexception``, ...).
        message: Moodle's English message for that code.
        debuginfo: the reason, worded as Moodle's debug information (shown only in debug mode).
        http_reason: a stable lowercase code for GraphQL error extensions.
    """

    def __init__(
        self,
        exception: str,
        errorcode: str,
        message: str,
        debuginfo: str | None = None,
        http_reason: str | None = None,
    ) -> None:
        super().__init__(message)
        self.exception = exception
        self.errorcode = errorcode
        self.message = message
        self.debuginfo = debuginfo
        self.http_reason = http_reason or errorcode


def access_denied(debuginfo: str, reason: str = "accessexception") -> AuthError:
    """Moodle's ``webservice_access_exception``: one message, the reason in debuginfo only."""
    return AuthError(
        "webservice_access_exception",
        "accessexception",
        "Access control exception",
        debuginfo,
        reason,
    )


def invalid_token() -> AuthError:
    return AuthError("moodle_exception", "invalidtoken", "Invalid token - token not found")


_OWNER_STATES = {
    "deleted": "deleted username",
    "unconfirmed": "unconfirmed username",
    "suspended": "suspended username",
    "nologin": "nologin authentication username",
}


def _owner_refused(state: str, username: str) -> AuthError:
    return AuthError(
        "moodle_exception",
        f"wsaccessuser{state}",
        f"Refused web service access for {_OWNER_STATES[state]}: {username}",
    )


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


def _usable_token(token: str | None) -> bool:
    # A token that cannot be stored in the column (or sent to a driver) cannot match any row.
    if not token or len(token) > _MAX_TOKEN:
        return False
    return not any(ch == "\0" or "\ud800" <= ch <= "\udfff" for ch in token)


def _php_truthy(value: str | None) -> bool:
    return value not in (None, "", "0")


async def check_token(
    moodle: Moodle, conn: AsyncConnection, site: SiteConfig, token: str | None, client_ip: str
) -> Caller:
    """Moodle's token checks up to the capability (contract section 2, steps 1 to 5).

    Raises:
        AuthError: the first check that fails, in Moodle's order.
    """
    if not _usable_token(token):
        raise invalid_token()
    assert token is not None
    t = moodle.tables.external_tokens
    u = moodle.tables.user
    query = (
        select(
            t.c.id,
            t.c.token,
            t.c.userid,
            t.c.externalserviceid,
            t.c.iprestriction,
            t.c.validuntil,
            t.c.contextid,
            u.c.id.label("owner_id"),
            u.c.username,
            u.c.deleted,
            u.c.confirmed,
            u.c.suspended,
            u.c.auth,
        )
        .select_from(t.outerjoin(u, u.c.id == t.c.userid))
        .where(t.c.token == token, t.c.tokentype == TOKEN_PERMANENT)
        .order_by(t.c.id)
        .limit(20)
    )
    rows = (await conn.execute(query)).all()
    wanted = token.encode()
    # The database may compare case-insensitively (MariaDB collations); the exact, constant-time
    # comparison decides.
    matches = [r for r in rows if hmac.compare_digest(str(r.token).encode(), wanted)]
    if not matches:
        raise invalid_token()
    row = matches[0]
    now = moodle.now()
    if row.validuntil and int(row.validuntil) < now:
        raise access_denied(
            "Invalid token - token expired - check validuntil time for the token", "tokenexpired"
        )
    if _php_truthy(row.iprestriction) and not address_in_subnet(client_ip, row.iprestriction):
        raise access_denied(f"Invalid token - IP:{client_ip} is not supported", "iprestricted")
    if row.owner_id is None:
        raise AuthError(
            "dml_missing_record_exception",
            "invaliduser",
            "Invalid user",
            "SELECT * FROM {user} WHERE id = ?\n[array (\n  0 => " + f"'{row.userid}',\n)]",
        )
    user_id = int(row.owner_id)
    username = str(row.username)
    admin = user_id in site.site_admins
    if site.flag("maintenance_enabled") and not admin:
        raise AuthError(
            "moodle_exception",
            "sitemaintenance",
            "The site is undergoing maintenance and is currently not available",
        )
    if row.deleted:
        raise _owner_refused("deleted", username)
    if not row.confirmed:
        raise _owner_refused("unconfirmed", username)
    if row.suspended:
        raise _owner_refused("suspended", username)
    if row.auth == "nologin":
        raise _owner_refused("nologin", username)
    if not admin and not await _has_rest_capability(moodle, conn, site, user_id):
        raise access_denied(
            "You are not allowed to use the {$a} protocol "
            f"(missing capability: {REST_CAPABILITY})",
            "nocapability",
        )
    return Caller(
        token_id=int(row.id),
        user_id=user_id,
        service_id=int(row.externalserviceid),
        username=username,
        site_admin=admin,
        client_ip=client_ip,
        context_id=int(row.contextid),
    )


async def _has_rest_capability(
    moodle: Moodle, conn: AsyncConnection, site: SiteConfig, user_id: int
) -> bool:
    """Whether the owner's system-context roles allow the capability and none prohibits it."""
    tables = moodle.tables
    ctx, ra, rc = tables.context, tables.role_assignments, tables.role_capabilities
    system = select(ctx.c.id).where(ctx.c.contextlevel == CONTEXT_SYSTEM).limit(1).scalar_subquery()
    # Moodle gives every logged-in user the default user role; the guest gets the guest role.
    implicit = "guestroleid" if user_id == site.guest_id else "defaultuserroleid"
    implicit_role = site.get(implicit).strip()
    assigned = select(ra.c.roleid).where(ra.c.userid == user_id, ra.c.contextid == system)
    role_filter: ColumnElement[bool] = rc.c.roleid.in_(assigned)
    if implicit_role.isdigit():
        role_filter = or_(role_filter, rc.c.roleid == int(implicit_role))
    query = select(rc.c.permission).where(
        and_(rc.c.capability == REST_CAPABILITY, rc.c.contextid == system, role_filter)
    )
    permissions = [int(p) for p in (await conn.execute(query)).scalars()]
    return CAP_ALLOW in permissions and CAP_PROHIBIT not in permissions


def function_not_allowed(function: str) -> AuthError:
    return access_denied(
        f"Access to the function {function}() is not allowed. There could be multiple reasons "
        "for this: 1. The service linked to the user token does not contain the function. "
        "2. The service is user-restricted and the user is not listed. 3. The service is "
        "IP-restricted and the user IP is not listed. 4. The service is time-restricted and the "
        "time has expired. 5. The token is time-restricted and the time has expired. 6. The "
        "service requires a specific capability which the user does not have. 7. The function "
        "is called with username/password (no user token is sent) and none of the services has "
        "the function to allow the user. These settings can be found in Administration > Site "
        "administration > Server > Web services > External services and Manage tokens.",
        "servicedenied",
    )


async def check_service(
    moodle: Moodle, conn: AsyncConnection, site: SiteConfig, caller: Caller, function: str
) -> None:
    """The token's service must be enabled, offer ``function`` and accept the caller.

    A service whose shortname is our ``service`` setting offers the function even without an
    ``external_services_functions`` row: sites that never installed the PHP plugin have none.

    Raises:
        AuthError: ``webservice_access_exception`` when the service refuses the call.
    """
    tables = moodle.tables
    s, sf, su = (
        tables.external_services,
        tables.external_services_functions,
        tables.external_services_users,
    )
    query = (
        select(
            s.c.enabled,
            s.c.restrictedusers,
            s.c.shortname,
            sf.c.id.label("function_row"),
            su.c.id.label("user_row"),
            su.c.iprestriction,
            su.c.validuntil,
        )
        .select_from(
            s.outerjoin(
                sf, and_(sf.c.externalserviceid == s.c.id, sf.c.functionname == function)
            ).outerjoin(su, and_(su.c.externalserviceid == s.c.id, su.c.userid == caller.user_id))
        )
        .where(s.c.id == caller.service_id)
    )
    rows = (await conn.execute(query)).all()
    if not rows or not rows[0].enabled:
        raise function_not_allowed(function)
    configured = rows[0].shortname == moodle.settings.service and function == FUNCTION
    offers = configured or any(r.function_row is not None and r.function_row != 0 for r in rows)
    if not offers:
        raise function_not_allowed(function)
    if not rows[0].restrictedusers:
        return
    now = moodle.now()
    for r in rows:
        if r.user_row is None:
            continue
        if r.validuntil and int(r.validuntil) < now:
            continue
        if _php_truthy(r.iprestriction) and not address_in_subnet(
            caller.client_ip, r.iprestriction
        ):
            continue
        return
    raise function_not_allowed(function)


# --- Moodle's address_in_subnet and cleanremoteaddr (lib/moodlelib.php), quirks included ---

_IPV4 = re.compile(r"([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})")
_IPV6 = re.compile(r"([0-9a-f]{1,4})(:[0-9a-f]{1,4})*", re.IGNORECASE)
_PHP_INT = re.compile(r"0|-?[1-9][0-9]*")


def clean_address(addr: str, compress: bool = False) -> str | None:
    """Moodle's ``cleanremoteaddr``: a normalised address, or None when it is not one."""
    addr = addr.strip(_PHP_TRIM)
    if ":" in addr:
        parts = addr.split(":")
        if "." in parts[-1]:
            ipv4 = clean_address(parts.pop(), True)
            if ipv4 is None:
                return None
            bits = [int(b) for b in ipv4.split(".")]
            # Moodle joins the hex digits without padding; kept so patterns match as in Moodle.
            parts.append(f"{bits[0]:x}{bits[1]:x}")
            parts.append(f"{bits[2]:x}{bits[3]:x}")
            addr = ":".join(parts)
        count = len(parts)
        if count < 3 or count > 8:
            return None
        if count != 8:
            if "::" not in addr:
                return None
            at = parts.index("")
            parts[at : at + 1] = ["0"] * (1 + 8 - count)
            parts = [p if p != "" else "0" for p in parts]
        if not _IPV6.fullmatch(":".join(parts)):
            return None
        result = ":".join(f"{int(p, 16):x}" for p in parts)
        if not compress:
            return result
        if result == "0:0:0:0:0:0:0:0":
            return "::"
        for pattern, count_limit in ((r"(:0)+:0$", 1), (r"^(0:){2,7}", 1), (r"(:0){2,6}:", 1)):
            compressed = re.sub(pattern, "::", result, count=count_limit)
            if compressed != result:
                return compressed
        return result
    match = _IPV4.fullmatch(addr)
    if match is None:
        return None
    octets = [int(g) for g in match.groups()]
    if any(o > 255 for o in octets):
        return None
    return ".".join(str(o) for o in octets)


def _ip2long(addr: str) -> int:
    a, b, c, d = (int(x) for x in addr.split("."))
    return (a << 24) | (b << 16) | (c << 8) | d


def address_in_subnet(addr: str, subnets: str) -> bool:
    """Moodle's ``address_in_subnet``: whether ``addr`` matches one comma-separated entry.

    Entries: ``a.b.c.d`` exact, ``a.b.c.d/n`` CIDR, ``a.b.c.d-e`` a range of the last octet,
    ``a.b`` / ``a.b.`` a prefix; the same four forms for IPv6 (``x:x::x/n``, ``x:...:x-y``,
    ``x:x``).
    """
    if addr == "0.0.0.0":
        return False
    normal = clean_address(addr)
    if normal is None:
        return False
    addr_parts = normal.split(":")
    ipv6 = ":" in normal
    for raw in subnets.split(","):
        subnet = raw.strip(_PHP_TRIM)
        if subnet == "":
            continue
        if "/" in subnet:
            if _in_cidr(normal, addr_parts, ipv6, subnet):
                return True
        elif "-" in subnet:
            if _in_range(normal, addr_parts, ipv6, subnet):
                return True
        elif _in_prefix(normal, ipv6, subnet):
            return True
    return False


def _in_cidr(addr: str, addr_parts: list[str], ipv6: bool, subnet: str) -> bool:
    pieces = subnet.split("/")
    mask_text = pieces[1].strip(_PHP_TRIM)
    if not _PHP_INT.fullmatch(mask_text):
        return False
    mask = int(mask_text)
    ip = clean_address(pieces[0])
    if ip is None:
        return False
    if ":" in ip:
        if not ipv6 or mask > 128 or mask < 0:
            return False
        if mask == 0:
            return True
        if mask == 128:
            return ip == addr
        ip_parts = ip.split(":")
        whole, modulo = divmod(mask, 16)
        if ip_parts[:whole] != addr_parts[:whole]:
            return False
        if modulo == 0:
            return True
        bits = (0xFFFF << (16 - modulo)) & 0xFFFF
        return (int(addr_parts[whole], 16) & bits) == (int(ip_parts[whole], 16) & bits)
    if ipv6 or mask > 32 or mask < 0:
        return False
    if mask == 0:
        return True
    if mask == 32:
        return ip == addr
    bits = (0xFFFFFFFF << (32 - mask)) & 0xFFFFFFFF
    return (_ip2long(addr) & bits) == (_ip2long(ip) & bits)


def _in_range(addr: str, addr_parts: list[str], ipv6: bool, subnet: str) -> bool:
    pieces = subnet.split("-")
    if len(pieces) != 2:
        return False
    if ":" in subnet:
        if not ipv6:
            return False
        start_ip = clean_address(pieces[0].strip(_PHP_TRIM))
        if start_ip is None:
            return False
        ip_parts = start_ip.split(":")
        start = int(ip_parts.pop(), 16)
        ip_parts.append(pieces[1].strip(_PHP_TRIM))
        end_ip = clean_address(":".join(ip_parts))
        if end_ip is None:
            return False
        ip_parts[7] = ""
        if not addr.startswith(":".join(ip_parts)):
            return False
        end = int(end_ip.split(":")[7], 16)
        return start <= int(addr_parts[7], 16) <= end
    if ipv6:
        return False
    start_ip = clean_address(pieces[0].strip(_PHP_TRIM))
    if start_ip is None:
        return False
    octets = start_ip.split(".")
    octets[3] = pieces[1].strip(_PHP_TRIM)
    end_ip = clean_address(".".join(octets))
    if end_ip is None:
        return False
    return _ip2long(start_ip) <= _ip2long(addr) <= _ip2long(end_ip)


def _in_prefix(addr: str, ipv6: bool, subnet: str) -> bool:
    if ":" in subnet:
        if not ipv6:
            return False
        parts = subnet.split(":")
        if parts[-1] == "":
            parts.pop()
            # Moodle rejoins with '.', so a trailing-colon IPv6 prefix never matches there.
            subnet = ".".join(parts)
        exact = clean_address(subnet)
        if exact is not None:
            return exact == addr
        if len(parts) > 8:
            return False
        zeros = ":".join(["0"] * (8 - len(parts)))
        return address_in_subnet(addr, f"{subnet}:{zeros}/{len(parts) * 16}")
    if ipv6:
        return False
    parts = subnet.split(".")
    if parts[-1] == "":
        parts.pop()
        subnet = ".".join(parts)
    if len(parts) == 4:
        return clean_address(subnet) == addr
    if len(parts) > 4:
        return False
    zeros = ".".join(["0"] * (4 - len(parts)))
    return address_in_subnet(addr, f"{subnet}.{zeros}/{len(parts) * 8}")


def client_address(
    peer: str | None,
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
    trusted_proxies: list[str],
) -> str:
    """The caller's address: the socket peer, or what a trusted proxy says in X-Forwarded-For.

    The header is read from the right (each proxy appends), skipping trusted proxies; the first
    address not trusted is the client. Entries of ``trusted_proxies`` are in address_in_subnet form.
    """
    address = (peer or "").strip() or "0.0.0.0"
    trusted = ",".join(trusted_proxies)
    if not trusted or not address_in_subnet(address, trusted):
        return address
    items = headers.items() if isinstance(headers, Mapping) else headers
    values = [v for k, v in items if k.lower() == "x-forwarded-for"]
    hops = [h.strip() for h in ",".join(values).split(",") if h.strip()]
    if not hops:
        return address
    for hop in reversed(hops):
        if clean_address(hop) is None:
            # A garbled hop: nothing left of it can be believed.
            return address
        if not address_in_subnet(hop, trusted):
            return hop
    return hops[0]
