"""Nothing the service does needs more than SELECT (issue 11).

The generated-input suites (REST raw requests, schemathesis, GraphQL documents) through a real
``definum-gql serve --workers 2`` whose database account may only SELECT, on PostgreSQL and
MariaDB: every answer is one the service may give, and the server logs no error — a statement
needing any other privilege would fail and be logged. A few dozen cases each here;
reliability/readonly.py runs thousands.
"""

from __future__ import annotations

import pytest

from tests.readonly_account import (
    log_problems,
    select_only_site,
    served_generated,
    write_attempt,
)
from tests.rest_fuzz import EXAMPLES

#: Cases per suite: a short run here (three suites, two workers behind a real socket).
CASES = max(10, EXAMPLES // 8)


@pytest.mark.parametrize("backend", ["postgresql", "mariadb"])
async def test_generated_suites_through_a_select_only_account(backend: str) -> None:
    async with select_only_site(backend) as site:
        # The account really cannot write: the proof that what follows proves something.
        refused = await write_attempt(site.reader_url)
        assert "denied" in refused.lower(), refused
        counts, log = await served_generated(site, CASES)
        assert not log_problems(log), log_problems(log)[:5]
    # Every suite ran its cases, and some of them read data (a 200 REST document or GraphQL data).
    for kind in ("rest", "schemathesis", "graphql valid", "graphql invalid"):
        assert sum(n for key, n in counts.items() if key.startswith(kind + " ")) >= CASES // 2, (
            kind,
            counts,
        )
    assert counts["graphql valid 200"] > 0, counts
