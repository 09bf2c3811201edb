"""Token checks shared by both front doors, and Moodle's address matching."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import update

from definum_gql.auth import (
    Authenticator,
    Caller,
    Refusal,
    Refused,
    address_in_subnet,
    clean_address,
    client_address,
)
from definum_gql.moodle.site import Moodle
from definum_gql.rest.errors import refused
from tests.builders import NOW, Site
from tests.databases import MakeMoodle

# (address, restriction, allowed) worked out by hand from Moodle's address_in_subnet rules.
SUBNETS = [
    ("192.168.1.5", "192.168.1.5", True),  # exact
    ("192.168.1.5", "192.168.1.6", False),
    ("192.168.001.005", "192.168.1.5", True),  # leading zeros normalised
    ("192.168.1.5", "192.168.1.0/24", True),
    ("192.168.2.5", "192.168.1.0/24", False),
    ("10.1.2.3", "10.0.0.0/8", True),
    ("10.1.2.3", "172.16.0.0/0", True),  # /0 is every IPv4 address
    ("10.1.2.3", "10.1.2.3/32", True),
    ("10.1.2.4", "10.1.2.3/32", False),
    ("192.168.1.130", "192.168.1.128/25", True),  # 130 = 0b1000_0010, top bit set
    ("192.168.1.127", "192.168.1.128/25", False),
    ("192.168.1.5", "192.168.1.0/33", False),  # nonsense mask
    ("192.168.1.5", "192.168.1.0/abc", False),
    ("192.168.1.5", "192.168.1.0/024", False),  # not an integer as PHP writes one
    ("192.168.1.10", "192.168.1.10-20", True),  # range bounds are inclusive
    ("192.168.1.15", "192.168.1.10-20", True),
    ("192.168.1.20", "192.168.1.10-20", True),
    ("192.168.1.21", "192.168.1.10-20", False),
    ("192.168.1.15", "192.168.1.10-300", False),  # end is not an octet
    ("192.168.1.5", "192.168.", True),  # prefix = 192.168.0.0/16
    ("192.168.1.5", "192.168", True),
    ("192.169.1.5", "192.168.", False),
    ("10.9.9.9", "10", True),  # 10.0.0.0/8
    ("192.168.1.5", "10.0.0.0/8, 192.168.1.5", True),  # second entry, spaces trimmed
    ("192.168.1.5", " , ,", False),
    ("0.0.0.0", "0.0.0.0/0", False),  # Moodle never matches 0.0.0.0
    ("not-an-ip", "0.0.0.0/0", False),
    ("192.168.1.5", "2001:db8::/32", False),  # IPv4 caller, IPv6 rule
    ("2001:db8::1", "0.0.0.0/0", False),  # IPv6 caller, IPv4 rule
    ("2001:db8::1", "2001:db8::1", True),
    ("2001:DB8:0:0:0:0:0:1", "2001:db8::1", True),  # case and zeros normalised
    ("::1", "::1", True),
    ("2001:db8::1", "2001:db8::/32", True),
    ("2001:db9::1", "2001:db8::/32", False),
    ("2001:db8::1", "::/0", True),
    ("2001:db8:abcd::1", "2001:db8:ab00::/40", True),  # 0xabcd & 0xff00 = 0xab00
    ("2001:db8:ac00::1", "2001:db8:ab00::/40", False),
    ("2001:db8::5", "2001:db8::1-a", True),  # last group 5 within 1..0xa
    ("2001:db8::b", "2001:db8::1-a", False),  # 0xb = 11 > 10
    ("2001:db8:1::5", "2001:db8::1-a", False),  # other network
    ("2001:db8::1", "2001:db8", True),  # prefix = 2001:db8::/32
    ("2001:db8::1", "2001:db8:", False),  # Moodle rejoins with '.', never matches
    ("2001:db8::1", "2001:db8::/129", False),
]


@pytest.mark.parametrize(("address", "restriction", "allowed"), SUBNETS)
def test_address_in_subnet_follows_moodle(address: str, restriction: str, allowed: bool) -> None:
    assert address_in_subnet(address, restriction) is allowed


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("010.001.000.255", "10.1.0.255"),
        ("256.1.1.1", None),
        ("1.2.3", None),
        (" 1.2.3.4 ", "1.2.3.4"),
        ("2001:DB8::0001", "2001:db8:0:0:0:0:0:1"),
        ("::", "0:0:0:0:0:0:0:0"),
        ("1:2", None),  # fewer than three groups
        ("1:2:3:4:5:6:7", None),  # seven groups without '::'
        ("::ffff:1.2.3.4", "0:0:0:0:0:ffff:12:34"),  # Moodle's unpadded legacy form
        ("g::1", None),
    ],
)
def test_clean_address_normalises_as_moodle(raw: str, clean: str | None) -> None:
    assert clean_address(raw) == clean


TRUSTED = ["127.0.0.1", "10.0.0.0/8"]


def test_forwarded_for_ignored_from_an_untrusted_peer() -> None:
    headers = {"X-Forwarded-For": "203.0.113.7"}
    assert client_address("198.51.100.9", headers, TRUSTED) == "198.51.100.9"


def test_forwarded_for_believed_from_a_trusted_proxy() -> None:
    headers = {"X-Forwarded-For": "203.0.113.7"}
    assert client_address("127.0.0.1", headers, TRUSTED) == "203.0.113.7"


def test_forwarded_for_skips_trusted_hops_from_the_right() -> None:
    # The client may forge the leftmost entry; the first untrusted hop from the right is real.
    headers = [("x-forwarded-for", "198.51.100.1, 203.0.113.7"), ("x-forwarded-for", "10.0.0.2")]
    assert client_address("127.0.0.1", headers, TRUSTED) == "203.0.113.7"


def test_forwarded_for_absent_or_garbled_keeps_the_peer() -> None:
    assert client_address("127.0.0.1", {}, TRUSTED) == "127.0.0.1"
    garbled = {"X-Forwarded-For": "nonsense"}
    assert client_address("127.0.0.1", garbled, TRUSTED) == "127.0.0.1"


def test_no_trusted_proxies_means_the_peer_and_no_peer_means_zero() -> None:
    assert client_address("127.0.0.1", {"X-Forwarded-For": "203.0.113.7"}, []) == "127.0.0.1"
    assert client_address(None, {}, []) == "0.0.0.0"


# --- against the database ---


async def _client(site: Site, **token: object) -> tuple[int, int, str]:
    owner = await site.user(username="wsclient")
    await site.allow(7)  # the default user role may use REST
    service = await site.service()
    value = await site.token(owner, service, **token)  # type: ignore[arg-type]
    return owner, service, value


async def _outcome(moodle: Moodle, token: str | None, ip: str = "192.0.2.10") -> Caller | Refused:
    async with moodle.request() as ctx:
        return await Authenticator(0).authenticate(ctx, token, ip)


async def _check(moodle: Moodle, token: str | None, ip: str = "192.0.2.10") -> Caller:
    outcome = await _outcome(moodle, token, ip)
    assert isinstance(outcome, Caller), outcome
    return outcome


async def test_a_valid_token_names_its_owner_and_service(site: Site, moodle: Moodle) -> None:
    owner, service, token = await _client(site)
    caller = await _check(moodle, token)
    assert caller.user_id == owner
    assert caller.service_id == service
    assert caller.username == "wsclient"
    assert caller.site_admin is False


async def _reason(moodle: Moodle, token: str | None, ip: str = "192.0.2.10") -> str:
    outcome = await _outcome(moodle, token, ip)
    assert isinstance(outcome, Refused), outcome
    return outcome.refusal.value


async def test_unknown_empty_and_missing_tokens_are_not_found(site: Site, moodle: Moodle) -> None:
    await _client(site, token="abc")
    assert await _reason(moodle, "abd") == "invalidtoken"
    assert await _reason(moodle, "") == "invalidtoken"
    assert await _reason(moodle, None) == "invalidtoken"
    assert await _reason(moodle, "abc\x00") == "invalidtoken"
    assert await _reason(moodle, "ABC") == "invalidtoken"  # exact, whatever the collation


async def test_a_token_of_another_type_is_not_found(site: Site, moodle: Moodle) -> None:
    await _client(site, token="embedded", tokentype=1)
    assert await _reason(moodle, "embedded") == "invalidtoken"


async def test_expiry_is_checked_against_now(site: Site, moodle: Moodle) -> None:
    await _client(site, token="past", validuntil=NOW - 1)
    owner = await site.user()
    service = await site.service("other")
    await site.token(owner, service, token="exact", validuntil=NOW)
    assert await _reason(moodle, "past") == "tokenexpired"
    await _check(moodle, "exact")  # valid until now, inclusive


async def test_ip_restriction_uses_the_caller_address(site: Site, moodle: Moodle) -> None:
    await _client(site, token="ip", iprestriction="192.0.2.0/24")
    await _check(moodle, "ip", "192.0.2.77")
    assert await _reason(moodle, "ip", "198.51.100.1") == "iprestricted"


async def test_owner_states_are_refused_in_moodle_order(site: Site, moodle: Moodle) -> None:
    _owner, service, _ = await _client(site)
    cases: dict[str, dict[str, Any]] = {
        "deleted": {"deleted": 1, "suspended": 1},  # deleted comes before suspended
        "unconfirmed": {"confirmed": 0},
        "suspended": {"suspended": 1, "auth": "nologin"},
        "nologin": {"auth": "nologin"},
    }
    for state, values in cases.items():
        user = await site.user(username=f"u{state}", **values)
        token = await site.token(user, service, token=f"t{state}")
        outcome = await _outcome(moodle, token)
        assert isinstance(outcome, Refused)
        assert outcome.refusal.value == f"wsaccessuser{state}"
        error = refused(outcome)
        assert error.errorcode == f"wsaccessuser{state}"
        assert error.message.endswith(f"username: u{state}")


async def test_maintenance_refuses_all_but_site_admins(site: Site, moodle: Moodle) -> None:
    await _client(site, token="user")
    await site.token(2, 1, token="admin")  # admin (id 2) is in siteadmins
    await site.config(maintenance_enabled="1")
    assert await _reason(moodle, "user") == "sitemaintenance"
    caller = await _check(moodle, "admin")
    assert caller.site_admin is True


async def test_capability_needs_an_allow_and_no_prohibit(site: Site, moodle: Moodle) -> None:
    service = await site.service()
    plain = await site.user()
    await site.token(plain, service, token="plain")
    # No role allows webservice/rest:use yet.
    assert await _reason(moodle, "plain") == "nocapability"
    # Role 4 allows it through a system-context assignment.
    granted = await site.user()
    await site.assign(granted, 4)
    await site.allow(4)
    await site.token(granted, service, token="granted")
    await _check(moodle, "granted")
    # Role 3 prohibits it: a prohibit beats any allow.
    blocked = await site.user()
    await site.assign(blocked, 4)
    await site.assign(blocked, 3)
    await site.allow(3, permission=-1000)
    await site.token(blocked, service, token="blocked")
    assert await _reason(moodle, "blocked") == "nocapability"
    # The default user role (7) reaches everyone else.
    await site.allow(7)
    await _check(moodle, "plain")


async def test_a_role_assigned_in_a_course_does_not_count(site: Site, moodle: Moodle) -> None:
    service = await site.service()
    user = await site.user()
    course = await site.course()
    await site.assign(user, 4, context_id=course + 1)  # a course context, not the system one
    await site.allow(4)
    await site.token(user, service, token="course")
    assert await _reason(moodle, "course") == "nocapability"


async def _service_reason(moodle: Moodle, token: str, function: str = "definum_get_stats") -> str:
    async with moodle.request() as ctx:
        auth = Authenticator(0)
        caller = await auth.authenticate(ctx, token, "192.0.2.10")
        assert isinstance(caller, Caller), caller
        denied = await auth.check_service(ctx, caller, function)
    return "ok" if denied is None else denied.refusal.value


async def test_service_must_be_enabled_and_offer_the_function(site: Site, moodle: Moodle) -> None:
    owner = await site.user()
    await site.allow(7)
    offers = await site.service("offers")
    await site.token(owner, offers, token="offers")
    other = await site.service("other", functions=("core_webservice_get_site_info",))
    await site.token(owner, other, token="other")
    disabled = await site.service("disabled", enabled=0)
    await site.token(owner, disabled, token="disabled")
    assert await _service_reason(moodle, "offers") == "ok"
    assert await _service_reason(moodle, "other") == "servicedenied"
    assert await _service_reason(moodle, "disabled") == "servicedenied"


async def test_the_configured_service_needs_no_function_row(site: Site, moodle: Moodle) -> None:
    owner = await site.user()
    await site.allow(7)
    bare = await site.service("definum", functions=())  # settings.service is "definum"
    await site.token(owner, bare, token="bare")
    assert await _service_reason(moodle, "bare") == "ok"


async def test_restricted_service_needs_the_user_listed(site: Site, moodle: Moodle) -> None:
    await site.allow(7)
    service = await site.service("restricted", restrictedusers=1)
    listed, unlisted, expired, elsewhere = [await site.user() for _ in range(4)]
    users = site.t.external_services_users
    await site.insert(users, externalserviceid=service, userid=listed, validuntil=0)
    await site.insert(users, externalserviceid=service, userid=expired, validuntil=NOW - 1)
    await site.insert(
        users, externalserviceid=service, userid=elsewhere, iprestriction="198.51.100.0/24"
    )
    for user, name in ((listed, "l"), (unlisted, "u"), (expired, "e"), (elsewhere, "w")):
        await site.token(user, service, token=name)
    assert await _service_reason(moodle, "l") == "ok"
    assert await _service_reason(moodle, "u") == "servicedenied"
    assert await _service_reason(moodle, "e") == "servicedenied"
    assert await _service_reason(moodle, "w") == "servicedenied"  # caller is 192.0.2.10


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_checked_tokens_are_read_again_only_after_the_cache_time(
    site: Site, moodle: Moodle
) -> None:
    _owner, _service, token = await _client(site, token="cached")
    clock = _Clock()
    auth = Authenticator(10, clock)
    statements: list[str] = []
    moodle.db.listeners.append(statements.append)
    try:
        for _ in range(3):
            async with moodle.request() as ctx:
                assert isinstance(await auth.authenticate(ctx, token, "192.0.2.10"), Caller)
        assert (auth.misses, auth.hits) == (1, 2)
        # A revocation shows once the cache time has passed (README: the revocation delay).
        tokens = site.t.external_tokens
        async with site.db.writer.begin() as conn:
            await conn.execute(
                update(tokens).where(tokens.c.token == "cached").values(validuntil=NOW - 5)
            )
        async with moodle.request() as ctx:
            assert isinstance(await auth.authenticate(ctx, token, "192.0.2.10"), Caller)
        clock.now += 10
        async with moodle.request() as ctx:
            outcome = await auth.authenticate(ctx, token, "192.0.2.10")
        assert isinstance(outcome, Refused)
        assert outcome.refusal is Refusal.TOKEN_EXPIRED
    finally:
        moodle.db.listeners.remove(statements.append)
    # One statement for the token, its owner, capability and service; none while cached.
    token_reads = [s for s in statements if "external_tokens" in s]
    assert len(token_reads) == 2
    assert all("role_capabilities" in s and "external_services" in s for s in token_reads)


async def test_expiry_and_address_are_checked_against_a_cached_token(
    site: Site, moodle: Moodle
) -> None:
    await _client(site, token="soon", validuntil=NOW + 60, iprestriction="192.0.2.0/24")
    clock = _Clock()
    auth = Authenticator(3600, clock)
    async with moodle.request() as ctx:
        assert isinstance(await auth.authenticate(ctx, "soon", "192.0.2.10"), Caller)
        outcome = await auth.authenticate(ctx, "soon", "198.51.100.1")
    assert isinstance(outcome, Refused)
    assert outcome.refusal is Refusal.IP_RESTRICTED
    moodle.clock = lambda: float(NOW + 61)
    async with moodle.request() as ctx:
        outcome = await auth.authenticate(ctx, "soon", "192.0.2.10")
    assert isinstance(outcome, Refused)
    assert outcome.refusal is Refusal.TOKEN_EXPIRED
    assert auth.misses == 1


# --- the site's switch, the owner's capabilities, functions and self services ---

IDENTITY = "moodle/site:viewuseridentity"
DETAILS = "moodle/user:viewdetails"
HIDDEN = "moodle/course:viewhiddencourses"
REST = "webservice/rest:use"


async def test_web_services_off_refuses_every_token_first(site: Site, moodle: Moodle) -> None:
    await _client(site, token="good")
    await site.config(enablewebservices="0")
    # Before the token is even looked at: missing, unknown and valid tokens alike.
    for token in (None, "unknown", "good"):
        assert await _reason(moodle, token) == "webservicesdisabled"
    await site.config(enablewebservices="1", webserviceprotocols="soap,xmlrpc")
    assert await _reason(moodle, "good") == "webservicesdisabled"
    await site.config(webserviceprotocols="soap, rest")  # entries are trimmed
    await _check(moodle, "good")


async def test_the_owners_capabilities_are_read_with_the_token(site: Site, moodle: Moodle) -> None:
    service = await site.service()
    owner = await site.user()
    await site.assign(owner, 4)
    await site.assign(owner, 3)
    for capability in (REST, IDENTITY, DETAILS):
        await site.allow(4, capability)
    await site.allow(3, DETAILS, permission=-1000)  # a prohibit beats role 4's allow
    await site.allow(3, HIDDEN, permission=-1)  # "prevent" is not an allow
    await site.token(owner, service, token="owner")
    statements: list[str] = []
    moodle.db.listeners.append(statements.append)
    try:
        caller = await _check(moodle, "owner")
    finally:
        moodle.db.listeners.remove(statements.append)
    assert caller.capabilities == {REST, IDENTITY}
    assert (caller.can(IDENTITY), caller.can(DETAILS), caller.can(HIDDEN)) == (True, False, False)
    # The token statement answered for all of them (the site's config rows come first).
    assert len([s for s in statements if "external_tokens" in s]) == 1
    assert len([s for s in statements if "role_capabilities" in s]) == 1


async def test_the_default_user_role_grants_capabilities_to_everyone(
    site: Site, moodle: Moodle
) -> None:
    _owner, _service, token = await _client(site)  # role 7 allows webservice/rest:use
    await site.allow(7, HIDDEN)
    caller = await _check(moodle, token)
    assert caller.capabilities == {REST, HIDDEN}


async def test_site_admins_have_every_capability(site: Site, moodle: Moodle) -> None:
    service = await site.service()
    await site.token(2, service, token="admin")  # no role of the admin allows anything
    caller = await _check(moodle, "admin")
    assert caller.site_admin
    assert caller.capabilities == {REST, IDENTITY, DETAILS, HIDDEN}
    assert caller.record.capabilities == frozenset()


async def _register(site: Site, name: str) -> None:
    """A function in external_functions that no service of the test contains."""
    await site.insert(
        site.t.external_functions,
        name=name,
        classname="core_external",
        methodname=name,
        classpath="",
        component="moodle",
        capabilities="",
    )


async def test_other_functions_must_be_known_and_in_the_service(site: Site, moodle: Moodle) -> None:
    owner = await site.user()
    await site.allow(7)
    both = await site.service(
        "both", functions=("definum_get_stats", "core_webservice_get_site_info")
    )
    await site.token(owner, both, token="both")
    await _register(site, "core_user_get_users")
    assert await _service_reason(moodle, "both", "core_webservice_get_site_info") == "ok"
    assert await _service_reason(moodle, "both", "core_user_get_users") == "servicedenied"
    assert await _service_reason(moodle, "both", "local_nothing_here") == "invalidrecord"
    # Names are exact, whatever the database's collation.
    assert await _service_reason(moodle, "both", "CORE_WEBSERVICE_GET_SITE_INFO") == "invalidrecord"
    assert await _service_reason(moodle, "both", "core_x\x00") == "invalidrecord"
    # Our function is known even on a site that never registered it.
    bare = await site.service("definum", functions=())
    await site.token(owner, bare, token="bare")
    assert await _service_reason(moodle, "bare", "definum_get_stats") == "ok"
    assert await _service_reason(moodle, "bare", "core_webservice_get_site_info") == "servicedenied"


async def test_a_known_function_is_still_refused_by_a_closed_service(
    site: Site, moodle: Moodle
) -> None:
    owner = await site.user()
    await site.allow(7)
    functions = ("core_webservice_get_site_info",)
    disabled = await site.service("off", enabled=0, functions=functions)
    restricted = await site.service("listed", restrictedusers=1, functions=functions)
    await site.token(owner, disabled, token="off")
    await site.token(owner, restricted, token="listed")
    assert await _service_reason(moodle, "off", functions[0]) == "servicedenied"
    assert await _service_reason(moodle, "listed", functions[0]) == "servicedenied"
    users = site.t.external_services_users
    await site.insert(users, externalserviceid=restricted, userid=owner, validuntil=0)
    assert await _service_reason(moodle, "listed", functions[0]) == "ok"


async def test_a_function_lookup_is_cached_as_the_token_is(site: Site, moodle: Moodle) -> None:
    owner = await site.user()
    await site.allow(7)
    service = await site.service(functions=("core_webservice_get_site_info",))
    await site.token(owner, service, token="cached")
    clock = _Clock()
    auth = Authenticator(10, clock)
    statements: list[str] = []
    moodle.db.listeners.append(statements.append)
    try:
        for _ in range(2):
            async with moodle.request() as ctx:
                caller = await auth.authenticate(ctx, "cached", "192.0.2.10")
                assert isinstance(caller, Caller)
                assert (
                    await auth.check_service(ctx, caller, "core_webservice_get_site_info") is None
                )
        clock.now += 10
        async with moodle.request() as ctx:
            caller = await auth.authenticate(ctx, "cached", "192.0.2.10")
            assert isinstance(caller, Caller)
            assert await auth.check_service(ctx, caller, "core_webservice_get_site_info") is None
    finally:
        moodle.db.listeners.remove(statements.append)
    assert len([s for s in statements if "external_functions" in s]) == 2


async def _graphql_access(moodle: Moodle, token: str) -> Caller | Refused:
    async with moodle.request() as ctx:
        auth = Authenticator(0)
        caller = await auth.authenticate(ctx, token, "192.0.2.10")
        assert isinstance(caller, Caller), caller
        return await auth.graphql_access(ctx, caller)


async def test_self_services_read_their_owner_only(
    site: Site, moodle_with: MakeMoodle, moodle: Moodle
) -> None:
    owner = await site.user()
    await site.allow(7)
    mobile = await site.service("moodle_mobile_app", functions=("core_webservice_get_site_info",))
    await site.token(owner, mobile, token="mobile")
    definum = await site.service()
    await site.token(owner, definum, token="definum")
    other = await site.service("other", functions=("core_webservice_get_site_info",))
    await site.token(owner, other, token="other")
    configured = moodle_with(self_services=["moodle_mobile_app"])
    mine = await _graphql_access(configured, "mobile")
    assert isinstance(mine, Caller)
    assert mine.self_only
    assert mine.user_id == owner
    everyone = await _graphql_access(configured, "definum")
    assert isinstance(everyone, Caller)
    assert not everyone.self_only
    refused_other = await _graphql_access(configured, "other")
    assert isinstance(refused_other, Refused)
    assert refused_other.refusal is Refusal.SERVICE_DENIED
    # Not opted in: the mobile token is refused as any other service's.
    plain = await _graphql_access(moodle, "mobile")
    assert isinstance(plain, Refused)
    assert plain.refusal is Refusal.SERVICE_DENIED
    # REST never takes it: definum_get_stats is not in its service.
    assert await _service_reason(configured, "mobile") == "servicedenied"


async def test_a_self_service_must_be_enabled_and_accept_the_owner(
    site: Site, moodle_with: MakeMoodle
) -> None:
    owner = await site.user()
    await site.allow(7)
    off = await site.service("app_off", enabled=0, functions=())
    listed = await site.service("app_listed", restrictedusers=1, functions=())
    await site.token(owner, off, token="off")
    await site.token(owner, listed, token="listed")
    configured = moodle_with(self_services=["app_off", "app_listed"])
    for token in ("off", "listed"):
        outcome = await _graphql_access(configured, token)
        assert isinstance(outcome, Refused)
        assert outcome.refusal is Refusal.SERVICE_DENIED
    users = site.t.external_services_users
    await site.insert(users, externalserviceid=listed, userid=owner, validuntil=0)
    outcome = await _graphql_access(configured, "listed")
    assert isinstance(outcome, Caller)
    assert outcome.self_only
