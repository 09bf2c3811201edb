"""Access-line redaction: no secret parameter's value survives, whatever its spelling."""

from __future__ import annotations

import logging

import pytest

from definum_gql.server import RedactSecrets, redact_target


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/webservice/rest/server.php", "/webservice/rest/server.php"),
        ("/w?wstoken=abc&userid=5", "/w?wstoken=***&userid=5"),
        ("/w?userid=5&WSTOKEN=abc", "/w?userid=5&WSTOKEN=***"),
        ("/w?%77stoken=abc", "/w?%77stoken=***"),
        ("/w?wstoken[]=abc&wstoken[x]=def", "/w?wstoken[]=***&wstoken[x]=***"),
        ("/w?a=1;password=pw&token=t", "/w?a=1;password=***&token=***"),
        ("/w?wstokens=kept&mytoken=kept", "/w?wstokens=kept&mytoken=kept"),
        ("/w?wstoken=", "/w?wstoken=***"),
    ],
)
def test_secret_parameters_are_hidden(target: str, expected: str) -> None:
    assert redact_target(target) == expected


def test_the_filter_rewrites_uvicorn_s_access_arguments() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/w?wstoken=secret1234", "1.1", 200),
        None,
    )
    assert RedactSecrets().filter(record)
    assert record.getMessage() == '127.0.0.1:5000 - "GET /w?wstoken=*** HTTP/1.1" 200'
