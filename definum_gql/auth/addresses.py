"""Moodle's ``address_in_subnet`` and ``cleanremoteaddr`` (lib/moodlelib.php), quirks included,
and the caller's address behind trusted proxies."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

_PHP_TRIM = " \t\n\r\0\x0b"


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
