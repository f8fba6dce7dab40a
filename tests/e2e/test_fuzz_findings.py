"""Regression tests for what the schema fuzzer (``tests/schema_fuzz.py``) found: each input
once ended in INTERNAL_SERVER_ERROR; now it is a typed error and changes nothing.

The tests take an ``api`` fixture (a staff caller of the prod-profile app): here on SQLite,
and the NUL tests again on PostgreSQL in ``tests/integration/test_schema_fuzz_postgres.py``,
the database that actually refuses U+0000.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest

from tests.fuzz_values import DEFAULT_POLICY
from tests.schema_fuzz import ROLES
from tests.tokens import IdentityProvider

USER = "user-000021"
APPLICANT = "query($u: ID!) { applicant(userId: $u) { personal { fullName address } } }"
HISTORY = "query($u: ID!) { offerHistory(userId: $u) { totalCount } }"
VERSIONS = "{ policyVersions { version } }"
UPSERT = "mutation($i: ApplicantInput!) { upsertApplicant(input: $i) { userId } }"
RECORD = {"userId": USER, "fullName": "Asha Rao", "dateOfBirth": "1990-01-01",
          "monthlyIncome": 80000.0, "existingEmi": 0.0, "employmentType": "SALARIED",
          "monthsInCurrentJob": 20, "creditHistoryMonths": 40, "delinquencies24m": 0,
          "enquiries6m": 1, "creditUtilisation": 0.2}


@dataclass
class Api:
    client: httpx.AsyncClient
    headers: dict[str, str]

    async def __call__(self, query: str, **variables: object) -> dict:
        response = await self.client.post("/graphql", headers=self.headers,
                                          json={"query": query, "variables": variables})
        assert response.status_code == 200, response.text
        return response.json()

    async def refused(self, query: str, field: str, **variables: object) -> dict:
        """The operation's one error: BAD_USER_INPUT naming ``field``; no data."""
        body = await self(query, **variables)
        assert body.get("data") is None, body
        [error] = body["errors"]
        assert error["extensions"]["code"] == "BAD_USER_INPUT", error
        assert error["extensions"].get("field") == field, error
        return error


@pytest.fixture
def api(prod_client: httpx.AsyncClient, identity_provider: IdentityProvider) -> Api:
    return Api(prod_client, identity_provider.headers("fuzz-staff", *ROLES))


# --- found on SQLite ------------------------------------------------------------------------

async def test_a_huge_challenger_share_is_bad_input(api: Api) -> None:
    """``share: 1.79e308`` overflowed round(share x 10,000) (OverflowError)."""
    await api.refused("mutation { startChallenger(policyVersion: 1, share: 1.7976931348623157e+308)"
                      " { experimentId } }", "share")


async def test_a_negative_simulation_seed_is_bad_input(api: Api) -> None:
    """numpy's generators refuse negative seeds (ValueError)."""
    await api.refused("query($d: String!) { simulatePolicy(draft: $d, sampleSize: 5, seed: -87)"
                      " { seed } }", "seed", d=DEFAULT_POLICY.replace("version = 1", "version = 90"))


async def test_an_astronomical_requested_amount_is_bad_input_and_makes_no_offers(api: Api) -> None:
    """``requestedAmount: -2.88e115`` could not be quantised to the paisa
    (decimal.InvalidOperation)."""
    before = (await api(HISTORY, u=USER))["data"]["offerHistory"]["totalCount"]
    for amount in (-2.8797782110223438e115, 1e300):
        await api.refused("query($u: ID!, $a: Float) { loanOffers(request: {userId: $u, "
                          "requestedAmount: $a}) { decision } }", "requestedAmount", u=USER, a=amount)
    assert (await api(HISTORY, u=USER))["data"]["offerHistory"]["totalCount"] == before


async def test_a_draft_scorecard_with_astronomical_points_simulates(api: Api) -> None:
    """A draft with 1e11 points in a bin made math.exp overflow in the PD (OverflowError)."""
    draft = (DEFAULT_POLICY.replace("version = 1", "version = 91")
             .replace('points = 48, label = "salaried, category C employer"',
                      'points = 100000000000, label = "salaried, category C employer"'))
    body = await api("query($d: String!) { simulatePolicy(draft: $d, sampleSize: 20) "
                     "{ draft { approvalRate } } }", d=draft)
    assert "errors" not in body, body
    assert 0 <= body["data"]["simulatePolicy"]["draft"]["approvalRate"] <= 1


async def test_a_draft_that_makes_every_pd_one_simulates(api: Api) -> None:
    """``base_score = 1e308`` rounded every PD to 1.0 and the break-even rate divided by
    1 - PD (ZeroDivisionError)."""
    draft = (DEFAULT_POLICY.replace("version = 1", "version = 93")
             .replace("base_score = 600", "base_score = 1e308"))
    body = await api("query($d: String!) { simulatePolicy(draft: $d, sampleSize: 20) "
                     "{ draft { approvalRate } } }", d=draft)
    assert "errors" not in body, body
    offers = await api("query($d: String!) { validatePolicy(draft: $d) { valid } }", d=draft)
    assert offers["data"]["validatePolicy"]["valid"] is True


async def test_a_draft_version_beyond_int_is_bad_input(api: Api) -> None:
    """``version = 9223372036854775808`` overflowed the version column in savePolicyDraft."""
    before = await api(VERSIONS)
    draft = DEFAULT_POLICY.replace("version = 1", "version = 9223372036854775808")
    error = await api.refused("mutation($d: String!) { savePolicyDraft(draft: $d) { version } }",
                              "draft", d=draft)
    assert error["extensions"]["problems"][0]["path"] == "policy.version"
    assert await api(VERSIONS) == before


# --- NUL characters (PostgreSQL refuses them in text columns) -------------------------------

async def test_nul_in_a_variable_is_bad_input_and_the_applicant_is_unchanged(api: Api) -> None:
    before = await api(APPLICANT, u=USER)
    for field in ("fullName", "address", "gender"):
        await api.refused(UPSERT, field, i={**RECORD, field: "Asha\x00"})
    assert await api(APPLICANT, u=USER) == before


async def test_nul_in_a_literal_is_bad_input(api: Api) -> None:
    await api.refused('{ applicant(userId: "user-\\u0000") { userId } }', "userId")
    await api.refused('mutation { acceptOffer(offerId: "\\u0000") { replayed } }', "offerId")
    await api.refused('mutation { recordBehaviorEvent(event: {userId: "user-000021", '
                      'type: APP_SESSION, eventId: "e\\u0000"}) { eventId } }', "eventId")


async def test_nul_in_an_id_lookup_is_bad_input(api: Api) -> None:
    """Looking the user up (and auditing the lookup) with a NUL in the id failed on PostgreSQL."""
    for query in (APPLICANT, HISTORY,
                  "query($u: ID!) { loanOffers(request: {userId: $u}) { decision } }"):
        await api.refused(query, "u", u="user-\x00")


async def test_nul_in_a_policy_draft_is_bad_input_and_stores_no_version(api: Api) -> None:
    """A TOML ``\\u0000`` escape put a NUL into the draft's name (savePolicyDraft failed)."""
    before = await api(VERSIONS)
    draft = (DEFAULT_POLICY.replace("version = 1", "version = 92")
             .replace('name = "default-unsecured-pl"', 'name = "pl\\u0000"'))
    error = await api.refused("mutation($d: String!) { savePolicyDraft(draft: $d) { version } }",
                              "draft", d=draft)
    assert error["extensions"]["problems"] == [
        {"path": "policy.name", "message": "contains a NUL character (U+0000)"}]
    assert await api(VERSIONS) == before
