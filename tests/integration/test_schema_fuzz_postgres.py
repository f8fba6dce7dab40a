"""The schema fuzzer (``tests/schema_fuzz.py``) against the prod-profile app on real PostgreSQL,
which refuses what SQLite stores without a word (NUL characters in text), and the NUL
regression tests of ``tests/e2e/test_fuzz_findings.py`` again on it: before the fixes each was
an INTERNAL_SERVER_ERROR here (asyncpg: invalid byte sequence for encoding "UTF8": 0x00)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.e2e.conftest import start_prod_app
from tests.e2e.test_fuzz_findings import (  # noqa: F401 - collected here again, on PostgreSQL
    Api,
    test_nul_in_a_literal_is_bad_input,
    test_nul_in_a_policy_draft_is_bad_input_and_stores_no_version,
    test_nul_in_a_variable_is_bad_input_and_the_applicant_is_unchanged,
    test_nul_in_an_id_lookup_is_bad_input,
)
from tests.e2e.test_schema_fuzz import GENEROUS_LIMITS
from tests.schema_fuzz import ROLES, run_schema_fuzz
from tests.servers import PostgresServer
from tests.tokens import IdentityProvider

pytestmark = pytest.mark.slow

ROUNDS, CASES_PER_ROUND = 1, 24  # 432 documents: SQLite's run covers the volume


@pytest.fixture(scope="module")
async def postgres_fuzz_env(postgres_server: PostgresServer,
                            identity_provider: IdentityProvider) -> AsyncIterator[dict]:
    env = await start_prod_app(postgres_server.create_database("schema_fuzz"), identity_provider,
                               **GENEROUS_LIMITS)
    yield env
    await env["container"].engine().dispose()


@pytest.fixture
async def api(postgres_fuzz_env: dict) -> AsyncIterator[Api]:
    """The staff caller the NUL regression tests (``test_fuzz_findings.py``) take."""
    transport = httpx.ASGITransport(app=postgres_fuzz_env["app"])
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
        yield Api(client, postgres_fuzz_env["identity"].headers("fuzz-staff", *ROLES))


async def test_fuzzing_the_schema_on_postgresql_finds_no_server_errors(
        postgres_fuzz_env: dict) -> None:
    report = await run_schema_fuzz(postgres_fuzz_env["app"], postgres_fuzz_env["identity"],
                                   ROUNDS, CASES_PER_ROUND)
    print("\n" + report.summary())
    assert not report.failures, report.problems()
    assert (await postgres_fuzz_env["container"].audit_trail().verify()).ok
