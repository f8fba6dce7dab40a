"""The audit trail through the prod-profile app: decisions, staff actions for customers and
refusals are recorded with ids, terms and reason codes, never the applicant's PII."""

from __future__ import annotations

import httpx
from sqlalchemy import text

from tests.tokens import IdentityProvider

OFFERS = '{ loanOffers(request: {userId: "user-000042"}) { decision offers { offerId } } }'


async def audit_rows(prod_app_env: dict, request_id: str) -> list[dict]:
    engine = prod_app_env["container"].engine()
    async with engine.connect() as c:
        rows = await c.execute(text("SELECT * FROM audit_log WHERE request_id = :r ORDER BY seq"),
                               {"r": request_id})
        return [dict(r._mapping) for r in rows]


async def test_decisions_and_refusals_are_audited_without_pii(
        prod_client: httpx.AsyncClient, prod_app_env: dict,
        identity_provider: IdentityProvider) -> None:
    agent = identity_provider.headers("agent-audit", "AGENT")
    response = await prod_client.post("/graphql", json={"query": OFFERS}, headers=agent)
    assert "errors" not in response.json()
    rows = await audit_rows(prod_app_env, response.headers["x-request-id"])
    assert len(rows) == 1
    row = rows[0]
    assert (row["actor"], row["role"], row["action"], row["outcome"]) == (
        "agent-audit", "AGENT", "Query.loanOffers", "OK")
    assert row["resource"] == "user:user-000042" and row["policy_version"] is not None
    assert '"decision"' in row["details"] and '"roi"' in row["details"]
    applicant = await prod_app_env["container"].uow_factory()().__aenter__()
    try:
        person = (await applicant.applicants.get("user-000042")).personal
    finally:
        await applicant.__aexit__(None, None, None)
    flat = " ".join(str(v) for v in row.values())
    for pii in (person.full_name, person.pan, person.phone, person.email):
        if pii:
            assert pii not in flat

    customer = identity_provider.headers("user-000042", "CUSTOMER")
    theirs = OFFERS.replace("user-000042", "user-000043")
    refused = await prod_client.post("/graphql", json={"query": theirs}, headers=customer)
    rows = await audit_rows(prod_app_env, refused.headers["x-request-id"])
    assert [(r["actor"], r["outcome"], r["resource"]) for r in rows] == [
        ("user-000042", "FORBIDDEN", "user:user-000043")]
    assert (await prod_app_env["container"].audit_trail().verify()).ok
