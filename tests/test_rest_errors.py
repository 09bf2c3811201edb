"""Every error row of the contract's section 6, in both formats, byte for byte, HTTP 200."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from definum_gql.config import Settings
from definum_gql.moodle.site import Moodle
from tests.builders import NOW, Site
from tests.rest_support import (
    JSON_HEADERS,
    TOKEN,
    XML_HEADERS,
    call,
    headers_of,
    json_error,
    params,
    ready,
    xml_error,
)

Setup = Callable[[Site, dict[str, str]], Awaitable[None]]

INVALID_TOKEN = ("moodle_exception", "invalidtoken", "Invalid token - token not found")
ACCESS = ("webservice_access_exception", "accessexception", "Access control exception")
PARAMETER = ("invalid_parameter_exception", "invalidparameter", "Invalid parameter value detected")
NO_USER = ("dml_missing_record_exception", "invaliduser", "Invalid user")
UNKNOWN_FUNCTION = (
    "dml_missing_record_exception",
    "invalidrecord",
    "Can't find data record in database table external_functions.",
)
NOT_AVAILABLE = (
    "moodle_exception",
    "servicenotavailable",
    "Web service is not available (it doesn't exist or might be disabled)",
)
MULTIPLE = (
    "dml_multiple_records_exception",
    "multiplerecordsfound",
    "Multiple records found, only one record expected.",
)
MAINTENANCE = (
    "moodle_exception",
    "sitemaintenance",
    "The site is undergoing maintenance and is currently not available",
)


def _refused(state: str, words: str) -> tuple[str, str, str]:
    return (
        "moodle_exception",
        f"wsaccessuser{state}",
        f"Refused web service access for {words}: wsclient",
    )


async def _token(site: Site, p: dict[str, str], **token: object) -> None:
    await ready(site, **token)


async def _owner(site: Site, p: dict[str, str], **values: object) -> None:
    owner = await ready(site)
    await site.set(site.t.user, owner, **values)


def _set(name: str, value: str | None) -> Setup:
    async def setup(site: Site, p: dict[str, str]) -> None:
        await ready(site)
        if value is None:
            p.pop(name, None)
        else:
            p[name] = value

    return setup


async def _no_token(site: Site, p: dict[str, str]) -> None:
    await ready(site)
    del p["wstoken"]


async def _expired(site: Site, p: dict[str, str]) -> None:
    await ready(site, validuntil=NOW - 60)


async def _ip(site: Site, p: dict[str, str]) -> None:
    await ready(site, iprestriction="198.51.100.0/24")  # the test client is 192.0.2.10


async def _no_capability(site: Site, p: dict[str, str]) -> None:
    owner = await site.user(username="wsclient")
    service = await site.service()
    await site.token(owner, service, token=TOKEN)


async def _not_in_service(site: Site, p: dict[str, str]) -> None:
    owner = await site.user(username="wsclient")
    await site.allow(7)
    service = await site.service("mobile", functions=("core_webservice_get_site_info",))
    await site.token(owner, service, token=TOKEN)


async def _function_of_another_service(site: Site, p: dict[str, str]) -> None:
    # Known to Moodle (another service has it), not in the token's 'definum' service.
    await ready(site)
    await site.service("mobile", functions=("core_webservice_get_site_info",))
    p["wsfunction"] = "core_webservice_get_site_info"


async def _function_of_the_service(site: Site, p: dict[str, str]) -> None:
    # In the token's service too, and no DEFINUM_MOODLE_URL to forward it to.
    owner = await site.user(username="wsclient")
    await site.allow(7)
    functions = ("definum_get_stats", "core_webservice_get_site_info")
    await site.token(owner, await site.service(functions=functions), token=TOKEN)
    p["wsfunction"] = "core_webservice_get_site_info"


async def _service_disabled(site: Site, p: dict[str, str]) -> None:
    owner = await site.user(username="wsclient")
    await site.allow(7)
    service = await site.service(enabled=0)
    await site.token(owner, service, token=TOKEN)


async def _restricted(site: Site, p: dict[str, str]) -> None:
    owner = await site.user(username="wsclient")
    await site.allow(7)
    service = await site.service(restrictedusers=1)
    await site.token(owner, service, token=TOKEN)


async def _maintenance(site: Site, p: dict[str, str]) -> None:
    await ready(site)
    await site.config(maintenance_enabled="1")


async def _deleted_target(site: Site, p: dict[str, str]) -> None:
    await ready(site)
    await site.set(site.t.user, 3, deleted=1)


async def _twice(site: Site, p: dict[str, str]) -> None:
    await ready(site)
    await site.user(idnumber="E-1")
    await site.user(idnumber="E-1")
    p.update(useridfield="idnumber", userid="E-1")


async def _array(site: Site, p: dict[str, str]) -> None:
    await ready(site)
    del p["userid"]
    p["userid[0]"] = "3"


CASES: dict[str, tuple[Setup, tuple[str, str, str]]] = {
    "no token": (_no_token, INVALID_TOKEN),
    "empty token": (_set("wstoken", ""), INVALID_TOKEN),
    "unknown token": (_set("wstoken", "f" * 32), INVALID_TOKEN),
    "expired token": (_expired, ACCESS),
    "ip not allowed": (_ip, ACCESS),
    "no webservice/rest:use": (_no_capability, ACCESS),
    "function not in the service": (_not_in_service, ACCESS),
    "service disabled": (_service_disabled, ACCESS),
    "restricted service without the user": (_restricted, ACCESS),
    "owner suspended": (
        lambda s, p: _owner(s, p, suspended=1),
        _refused("suspended", "suspended username"),
    ),
    "owner deleted": (
        lambda s, p: _owner(s, p, deleted=1),
        _refused("deleted", "deleted username"),
    ),
    "owner unconfirmed": (
        lambda s, p: _owner(s, p, confirmed=0),
        _refused("unconfirmed", "unconfirmed username"),
    ),
    "owner nologin": (
        lambda s, p: _owner(s, p, auth="nologin"),
        _refused("nologin", "nologin authentication username"),
    ),
    "site in maintenance": (_maintenance, MAINTENANCE),
    "unknown wsfunction": (_set("wsfunction", "core_webservice_get_site_info"), UNKNOWN_FUNCTION),
    "known function not in the token's service": (_function_of_another_service, ACCESS),
    "known function of the service, nothing to forward to": (
        _function_of_the_service,
        NOT_AVAILABLE,
    ),
    "missing wsfunction": (_set("wsfunction", None), PARAMETER),
    "empty wsfunction": (_set("wsfunction", ""), PARAMETER),
    "missing useridfield": (_set("useridfield", None), PARAMETER),
    "missing userid": (_set("userid", None), PARAMETER),
    "extra parameter": (_set("foo", "bar"), PARAMETER),
    "array parameter": (_array, PARAMETER),
    "useridfield not letters": (_set("useridfield", "user_name"), PARAMETER),
    "useridfield in capitals": (_set("useridfield", "ID"), PARAMETER),
    "useridfield not supported": (_set("useridfield", "lastname"), PARAMETER),
    "useridfield empty": (_set("useridfield", ""), PARAMETER),
    "markup in userid": (_set("userid", "<b>bob</b>"), PARAMETER),
    "no such user": (_set("userid", "999"), NO_USER),
    "bad id": (_set("userid", "3abc"), NO_USER),
    "decimal id": (_set("userid", "3.0"), NO_USER),
    "deleted user": (_deleted_target, NO_USER),
    "no oidc match": (_set("useridfield", "oidcuniqueid"), NO_USER),
    "several users match": (_twice, MULTIPLE),
}


@pytest.mark.parametrize("fmt", ["json", "xml"])
@pytest.mark.parametrize("case", list(CASES))
async def test_error_envelope(site: Site, moodle: Moodle, case: str, fmt: str) -> None:
    setup, (exception, code, message) = CASES[case]
    target = await site.user(username="target")  # id 3
    assert target == 3
    query = params("3", fmt=fmt)
    await setup(site, query)
    response = await call(moodle, query)
    assert response.status_code == 200
    if fmt == "json":
        assert response.content == json_error(exception, code, message)
        assert headers_of(response) == JSON_HEADERS
    else:
        assert response.content == xml_error(exception, code, message)
        assert headers_of(response) == XML_HEADERS


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+asyncpg://postgres@127.0.0.1:1/nowhere",
        "mysql+asyncmy://root@127.0.0.1:1/nowhere",
        "sqlite+aiosqlite:////nonexistent-definum-dir/nowhere.sqlite",
    ],
)
@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_database_unreachable_is_503(url: str, fmt: str) -> None:
    moodle = Moodle.from_settings(Settings(database_url=url), clock=lambda: float(NOW))
    try:
        response = await call(moodle, params("3", fmt=fmt))
    finally:
        await moodle.dispose()
    assert response.status_code == 503
    expected = ("dml_connection_exception", "dbconnectionfailed", "Database connection failed")
    render = json_error if fmt == "json" else xml_error
    assert response.content == render(*expected)
    assert headers_of(response) == (JSON_HEADERS if fmt == "json" else XML_HEADERS)


async def test_debuginfo_only_in_debug_mode(site: Site, settings: Settings) -> None:
    await ready(site, validuntil=NOW - 60)
    debug = Moodle.from_settings(
        settings.model_copy(update={"debug": True}), clock=lambda: float(NOW)
    )
    try:
        json_answer = await call(debug, params("3"))
        xml_answer = await call(debug, params("3", fmt="xml"))
    finally:
        await debug.dispose()
    reason = "Invalid token - token expired - check validuntil time for the token"
    assert json_answer.content == (
        b'{"exception":"webservice_access_exception","errorcode":"accessexception",'
        b'"message":"Access control exception","debuginfo":"' + reason.encode() + b'"}'
    )
    assert xml_answer.content == (
        b'<?xml version="1.0" encoding="UTF-8" ?>\n'
        b'<EXCEPTION class="webservice_access_exception">\n'
        b"<ERRORCODE>accessexception</ERRORCODE>\n"
        b"<MESSAGE>Access control exception</MESSAGE>\n"
        b"<DEBUGINFO>" + reason.encode() + b"</DEBUGINFO>\n"
        b"</EXCEPTION>\n"
    )


async def test_owner_name_is_escaped_in_the_xml_message(site: Site, moodle: Moodle) -> None:
    owner = await ready(site)
    await site.set(site.t.user, owner, username='a&b"<c>', suspended=1)
    response = await call(moodle, params("3", fmt="xml"))
    assert b"<MESSAGE>Refused web service access for suspended username: " in response.content
    assert b"a&amp;b&quot;&lt;c&gt;</MESSAGE>" in response.content


async def test_an_unexpected_failure_is_a_moodle_error_not_a_500(
    site: Site, moodle: Moodle, monkeypatch: pytest.MonkeyPatch
) -> None:
    await ready(site)

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret detail")

    monkeypatch.setattr("definum_gql.rest.server.document_for", broken)
    response = await call(moodle, params("3"))
    assert response.status_code == 200
    assert response.content == json_error(
        "moodle_exception", "generalexceptionmessage", "Error: internal error"
    )


async def test_a_connection_lost_mid_query_is_503(
    site: Site, moodle: Moodle, monkeypatch: pytest.MonkeyPatch
) -> None:
    from definum_gql.moodle.reader import DatabaseUnavailable

    await ready(site)

    async def lost(*args: object, **kwargs: object) -> None:
        # What the reader raises when the server goes away mid-request (test_moodle_engine).
        raise DatabaseUnavailable("server closed")

    monkeypatch.setattr("definum_gql.rest.server.document_for", lost)
    response = await call(moodle, params("3", fmt="xml"))
    assert response.status_code == 503
    assert response.content == xml_error(
        "dml_connection_exception", "dbconnectionfailed", "Database connection failed"
    )


@pytest.mark.parametrize(
    "userid",
    [
        "1" * 5000,  # past Python's 4,300-digit int conversion
        "9" * 20,  # past a BIGINT
        "0" * 30 + "9" * 19,  # past a BIGINT after its zeros
        "9223372036854775808",  # one past the largest BIGINT
    ],
)
@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_ids_no_row_can_hold_are_no_such_user(
    site: Site, moodle: Moodle, userid: str, fmt: str
) -> None:
    """Digits no id column can hold are a learner who does not exist, as any other bad id: no
    conversion error, no out-of-range statement."""
    await ready(site)
    response = await call(moodle, params(userid, fmt=fmt))
    assert response.status_code == 200
    expected = json_error(*NO_USER) if fmt == "json" else xml_error(*NO_USER)
    assert response.content == expected
