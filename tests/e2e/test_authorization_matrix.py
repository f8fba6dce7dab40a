"""The authorisation matrix: every role x every root operation, in the prod profile, real tokens.

``EXPECTED`` is the documented policy written out independently of
``graphql_api/authorization.py``: ``own`` (a customer: only their own resources, others'
FORBIDDEN), ``any`` (staff acting for any customer), ``none`` (FORBIDDEN). ``CASES`` holds one
valid call per operation; ``prepare`` returns its variables for a resource owned by ``owner``.

Adding an operation: add its row to ``EXPECTED`` and its call to ``CASES`` (the completeness
tests fail until you do).
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from config.settings import DEFAULT_POLICY_FILE
from graphql_api.authorization import OPERATIONS
from graphql_api.schema import SchemaOptions, build_schema
from tests.tokens import IdentityProvider

OWNER, STRANGER = "user-000042", "user-000043"
ROLES = ("CUSTOMER", "AGENT", "ANALYST", "ADMIN")

C, S = "own", "any"
EXPECTED: dict[str, dict[str, str]] = {
    "Query.loanOffers": {"CUSTOMER": C, "AGENT": S, "ANALYST": S, "ADMIN": S},
    "Query.offer": {"CUSTOMER": C, "AGENT": S, "ANALYST": S, "ADMIN": S},
    "Query.offerHistory": {"CUSTOMER": C, "AGENT": S, "ANALYST": S, "ADMIN": S},
    "Query.applicant": {"CUSTOMER": C, "AGENT": S, "ANALYST": S, "ADMIN": S},
    "Query.pricingPolicy": {"CUSTOMER": "none", "AGENT": S, "ANALYST": S, "ADMIN": S},
    "Query.simulatePolicy": {"CUSTOMER": "none", "AGENT": "none", "ANALYST": S, "ADMIN": S},
    "Mutation.acceptOffer": {"CUSTOMER": C, "AGENT": S, "ANALYST": "none", "ADMIN": S},
    "Mutation.declineOffer": {"CUSTOMER": C, "AGENT": S, "ANALYST": "none", "ADMIN": S},
    "Mutation.recordBehaviorEvent": {"CUSTOMER": "none", "AGENT": S, "ANALYST": "none",
                                     "ADMIN": S},
    "Mutation.upsertApplicant": {"CUSTOMER": "none", "AGENT": S, "ANALYST": "none", "ADMIN": S},
    "Mutation.publishPricingPolicy": {"CUSTOMER": "none", "AGENT": "none", "ANALYST": "none",
                                      "ADMIN": S},
    "Subscription.offerUpdates": {"CUSTOMER": C, "AGENT": S, "ANALYST": S, "ADMIN": S},
    "Query.validatePolicy": {"CUSTOMER": "none", "AGENT": "none", "ANALYST": S, "ADMIN": S},
    "Query.challengerFigures": {"CUSTOMER": "none", "AGENT": "none", "ANALYST": S, "ADMIN": S},
    "Mutation.savePolicyDraft": {"CUSTOMER": "none", "AGENT": "none", "ANALYST": S, "ADMIN": S},
    "Query.policyVersions": {"CUSTOMER": "none", "AGENT": "none", "ANALYST": S, "ADMIN": S},
    "Query.policyDiff": {"CUSTOMER": "none", "AGENT": "none", "ANALYST": S, "ADMIN": S},
    "Mutation.startChallenger": {"CUSTOMER": "none", "AGENT": "none", "ANALYST": "none",
                                 "ADMIN": S},
    "Mutation.stopChallenger": {"CUSTOMER": "none", "AGENT": "none", "ANALYST": "none",
                                "ADMIN": S},
}

Prepare = Callable[["Harness", str], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Case:
    query: str
    prepare: Prepare
    cleanup: Callable[[Harness], Awaitable[None]] | None = None


@dataclass
class Harness:
    client: httpx.AsyncClient
    idp: IdentityProvider

    async def post(self, query: str, variables: dict[str, Any],
                   headers: dict[str, str] | None) -> httpx.Response:
        return await self.client.post("/graphql", json={"query": query, "variables": variables},
                                      headers=headers or {})

    async def as_staff(self, query: str, **variables: Any) -> dict[str, Any]:
        response = await self.post(query, variables, self.idp.headers("ops-1", "ADMIN"))
        body = response.json()
        assert "errors" not in body, body
        return body["data"]


GENERATE = """query($u: ID!) { loanOffers(request: {userId: $u}) { decision offers { offerId } } }"""


async def fresh_offer_of(h: Harness, owner: str) -> str:
    data = await h.as_staff(GENERATE, u=owner)
    offers = data["loanOffers"]["offers"]
    assert offers, f"{owner} must be an applicant with offers for this matrix"
    return offers[0]["offerId"]


async def no_vars(_: Harness, owner: str) -> dict[str, Any]:
    return {}


async def user_vars(_: Harness, owner: str) -> dict[str, Any]:
    return {"u": owner}


async def offer_vars(h: Harness, owner: str) -> dict[str, Any]:
    return {"id": await fresh_offer_of(h, owner)}


async def new_applicant_vars(_: Harness, owner: str) -> dict[str, Any]:
    return {"input": {
        "userId": f"matrix-{uuid.uuid4().hex[:12]}", "fullName": "Matrix Test",
        "dateOfBirth": "1990-04-12", "monthlyIncome": 80000, "existingEmi": 0,
        "employmentType": "SALARIED", "monthsInCurrentJob": 30, "creditHistoryMonths": 60,
        "delinquencies24m": 0, "enquiries6m": 1, "creditUtilisation": 0.3}}


def unique_draft() -> str:
    """The shipped policy under a version number no other test uses."""
    version = 1000 + uuid.uuid4().int % 1_000_000
    return DEFAULT_POLICY_FILE.read_text().replace("version = 1", f"version = {version}", 1)


async def draft_policy_vars(_: Harness, owner: str) -> dict[str, Any]:
    return {"draft": unique_draft()}


PUBLISHED_VERSIONS = itertools.count(10_000_000)  # above every draft version used here


async def publish_vars(_: Harness, owner: str) -> dict[str, Any]:
    source = DEFAULT_POLICY_FILE.read_text().replace(
        "version = 1", f"version = {next(PUBLISHED_VERSIONS)}", 1)
    return {"source": source}


async def behaviour_vars(_: Harness, owner: str) -> dict[str, Any]:
    return {"event": {"userId": owner, "type": "APP_SESSION"}}


STOP = "mutation { stopChallenger { running } }"


async def stop_challenger(h: Harness) -> None:
    """Leave no experiment running (it would move other tests' users to the draft)."""
    await h.post(STOP, {}, h.idp.headers("ops-1", "ADMIN"))


async def saved_draft_vars(h: Harness, owner: str) -> dict[str, Any]:
    await stop_challenger(h)
    data = await h.as_staff("mutation($d: String!) { savePolicyDraft(draft: $d) { version } }",
                            d=unique_draft())
    return {"v": data["savePolicyDraft"]["version"]}


async def running_challenger_vars(h: Harness, owner: str) -> dict[str, Any]:
    version = (await saved_draft_vars(h, owner))["v"]
    await h.as_staff("mutation($v: Int!) { startChallenger(policyVersion: $v, share: 0.01) "
                     "{ running } }", v=version)
    return {}


CASES: dict[str, Case] = {
    "Query.loanOffers": Case(GENERATE, user_vars),
    "Query.offer": Case("query($id: ID!) { offer(offerId: $id) { offerId status } }", offer_vars),
    "Query.offerHistory": Case(
        "query($u: ID!) { offerHistory(userId: $u, first: 2) { totalCount edges { node { offerId } } } }",
        user_vars),
    "Query.applicant": Case(
        "query($u: ID!) { applicant(userId: $u) { userId personal { fullName } } }", user_vars),
    "Mutation.upsertApplicant": Case(
        "mutation($input: ApplicantInput!) { upsertApplicant(input: $input) { userId } }",
        new_applicant_vars),
    "Query.simulatePolicy": Case(
        "query($draft: String!) { simulatePolicy(draft: $draft, sampleSize: 20) { sampleSize } }",
        draft_policy_vars),
    "Query.validatePolicy": Case(
        "query($draft: String!) { validatePolicy(draft: $draft) { valid } }", draft_policy_vars),
    "Query.challengerFigures": Case("{ challengerFigures { arms { arm } } }",
                                    running_challenger_vars, stop_challenger),
    "Mutation.savePolicyDraft": Case(
        "mutation($draft: String!) { savePolicyDraft(draft: $draft) { version } }",
        draft_policy_vars),
    "Mutation.startChallenger": Case(
        "mutation($v: Int!) { startChallenger(policyVersion: $v, share: 0.01) { running } }",
        saved_draft_vars, stop_challenger),
    "Mutation.stopChallenger": Case(STOP, running_challenger_vars, stop_challenger),
    "Query.policyVersions": Case("{ policyVersions { version } }", no_vars),
    "Query.pricingPolicy": Case("{ pricingPolicy { version } }", no_vars),
    "Mutation.acceptOffer": Case(
        "mutation($id: ID!) { acceptOffer(offerId: $id) { offer { status } } }", offer_vars),
    "Mutation.declineOffer": Case(
        "mutation($id: ID!) { declineOffer(offerId: $id) { offer { status } } }", offer_vars),
    "Mutation.recordBehaviorEvent": Case(
        "mutation($event: BehaviorEventInput!) { recordBehaviorEvent(event: $event) { duplicate } }",
        behaviour_vars),
    "Mutation.publishPricingPolicy": Case(
        "mutation($source: String!) { publishPricingPolicy(source: $source, openOffers: WITHDRAW) "
        "{ previousVersion } }", publish_vars),
    "Query.policyDiff": Case(
        "query($v: Int!) { policyDiff(fromVersion: 1, toVersion: $v) { path } }",
        saved_draft_vars),
}


def schema_operations() -> list[str]:
    schema = build_schema(SchemaOptions())._schema
    found = []
    for root in (schema.query_type, schema.mutation_type, schema.subscription_type):
        if root is not None:
            found += [f"{root.name}.{name}" for name in root.fields]
    return found


OPERATIONS_ON_SCHEMA = schema_operations()
HTTP_OPERATIONS = [op for op in OPERATIONS_ON_SCHEMA if not op.startswith("Subscription.")]


def test_every_operation_has_a_rule_a_row_and_a_case() -> None:
    missing_rules = [op for op in OPERATIONS_ON_SCHEMA if op not in OPERATIONS]
    missing_rows = [op for op in OPERATIONS_ON_SCHEMA if op not in EXPECTED]
    missing_cases = [op for op in HTTP_OPERATIONS if op not in CASES]
    assert not missing_rules, f"add to graphql_api/authorization.py: {missing_rules}"
    assert not missing_rows, f"add to EXPECTED: {missing_rows}"
    assert not missing_cases, f"add to CASES: {missing_cases}"


def test_the_table_matches_the_documented_matrix() -> None:
    for op in OPERATIONS_ON_SCHEMA:
        allowed = {role for role, access in EXPECTED[op].items() if access != "none"}
        assert {r.value for r in OPERATIONS[op].roles} == allowed, op


@pytest.fixture
def harness(prod_client: httpx.AsyncClient, identity_provider: IdentityProvider) -> Harness:
    return Harness(prod_client, identity_provider)


def codes(body: dict[str, Any]) -> list[str]:
    return [e.get("extensions", {}).get("code") for e in body.get("errors", [])]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("operation", HTTP_OPERATIONS)
async def test_matrix(harness: Harness, operation: str, role: str) -> None:
    case = CASES[operation]
    try:
        await check_access(harness, case, EXPECTED[operation][role], role)
    finally:
        if case.cleanup is not None:
            await case.cleanup(harness)


async def check_access(harness: Harness, case: Case, access: str, role: str) -> None:
    subject = OWNER if role == "CUSTOMER" else f"{role.lower()}-7"
    headers = harness.idp.headers(subject, role)

    own = await harness.post(case.query, await case.prepare(harness, OWNER), headers)
    assert own.status_code == 200, own.text
    if access == "none":
        assert codes(own.json()) == ["FORBIDDEN"], own.json()
        return
    assert "errors" not in own.json(), own.json()

    other = await harness.post(case.query, await case.prepare(harness, STRANGER), headers)
    if access == "own":
        assert codes(other.json()) == ["FORBIDDEN"], other.json()
        assert other.json()["data"] is None
    else:
        assert "errors" not in other.json(), other.json()


@pytest.mark.parametrize("operation", HTTP_OPERATIONS)
async def test_no_token_is_unauthenticated(harness: Harness, operation: str) -> None:
    case = CASES[operation]
    try:
        response = await harness.post(case.query, await case.prepare(harness, OWNER), None)
    finally:
        if case.cleanup is not None:
            await case.cleanup(harness)
    assert response.status_code == 401
    assert codes(response.json()) == ["UNAUTHENTICATED"]
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_customer_cannot_reach_another_users_offers_by_alias_or_fragment(
        harness: Harness) -> None:
    headers = harness.idp.headers(OWNER, "CUSTOMER")
    sneaky = """query($mine: ID!, $theirs: ID!) {
      a: loanOffers(request: {userId: $mine}) { decision }
      ...F
    }
    fragment F on Query { b: loanOffers(request: {userId: $theirs}) { decision } }"""
    response = await harness.post(sneaky, {"mine": OWNER, "theirs": STRANGER}, headers)
    assert codes(response.json()) == ["FORBIDDEN"]
    inline = f'{{ loanOffers(request: {{userId: "{STRANGER}"}}) {{ decision }} }}'
    response = await harness.post(inline, {}, headers)
    assert codes(response.json()) == ["FORBIDDEN"]


async def test_token_without_roles_is_forbidden_everything(harness: Harness) -> None:
    headers = harness.idp.headers(OWNER)
    for operation in HTTP_OPERATIONS:
        case = CASES[operation]
        try:
            response = await harness.post(case.query, await case.prepare(harness, OWNER), headers)
        finally:
            if case.cleanup is not None:
                await case.cleanup(harness)
        assert codes(response.json()) == ["FORBIDDEN"], operation


ECONOMICS = """query($u: ID!) { loanOffers(request: {userId: $u}) {
  offers { offerId expectedProfit explanation { summary breakEvenRoi priceResponse { slope } } }
} }"""
CUSTOMER_VIEW = """query($u: ID!) { loanOffers(request: {userId: $u}) {
  decision reasons { code description }
  offers { offerId roi amount tenure emi apr explanation { summary } }
} }"""


@pytest.mark.parametrize("role, allowed", [("CUSTOMER", False), ("AGENT", False),
                                           ("ANALYST", True), ("ADMIN", True)])
async def test_lender_economics_are_field_level(harness: Harness, role: str,
                                                allowed: bool) -> None:
    subject = OWNER if role == "CUSTOMER" else "staff-9"
    response = await harness.post(ECONOMICS, {"u": OWNER}, harness.idp.headers(subject, role))
    body = response.json()
    if allowed:
        assert "errors" not in body, body
        assert body["data"]["loanOffers"]["offers"][0]["expectedProfit"] is not None
    else:
        assert codes(body) == ["FORBIDDEN"]
        assert body["errors"][0]["extensions"]["field"] == "LoanOffer.expectedProfit"
    customer_view = await harness.post(CUSTOMER_VIEW, {"u": OWNER},
                                       harness.idp.headers(subject, role))
    assert "errors" not in customer_view.json(), customer_view.json()
