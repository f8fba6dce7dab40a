"""End-to-end through the ASGI app: the contract of Query.loanOffers and Query.offer."""

from __future__ import annotations

import math
from dataclasses import replace
from decimal import Decimal

import pytest
from scipy.special import lambertw

from adapters.demo.portfolio import generate_applicants
from domain.finance.key_facts import compute_key_facts
from domain.finance.money import to_paise, to_rupees
from tests.e2e.conftest import gql

FULL_QUERY = """
query Offers($userId: ID!, $amount: Float, $tenure: Int) {
  loanOffers(request: {userId: $userId, requestedAmount: $amount, requestedTenure: $tenure}) {
    userId decision policyVersion generatedAt
    reasons { code description }
    risk { riskScore probabilityOfDefault riskBand baseRoi minRoi maxRoi riskRange
           reasonCodes { code description } recommendations }
    behavior { priceSensitivity conversionProbability longTermValue }
    offers {
      offerId roi amount tenure processingFee rank conversionProbability riskImpact emi apr
      totalInterest totalPayable expectedProfit validUntil status
      explanation {
        summary breakEvenRoi unconstrainedOptimalRoi
        priceResponse { intercept slope }
        adjustments { rule deltaBps reason }
        bindingConstraints fallbackApplied
      }
    }
  }
}
"""

ROUNDING_STEP_PERCENT = 0.05  # default policy: rounding_step_bps = 5


def lambert_optimum(r0: float, a: float, b: float) -> float:
    return r0 + (1 + lambertw(math.exp(-(1 + a + b * r0))).real) / b


def check_offer(offer: dict, risk: dict) -> None:
    roi = offer["roi"]
    assert risk["minRoi"] - 1e-9 <= roi <= risk["maxRoi"] + 1e-9
    e = offer["explanation"]
    a, b = e["priceResponse"]["intercept"], e["priceResponse"]["slope"]
    r0, r_star = e["breakEvenRoi"] / 100, e["unconstrainedOptimalRoi"] / 100
    assert abs(r_star - lambert_optimum(r0, a, b)) < 1e-4  # within 1 bp
    banded = min(max(e["unconstrainedOptimalRoi"], risk["minRoi"]), risk["maxRoi"])
    moved = sum(adj["deltaBps"] for adj in e["adjustments"]) / 100
    assert abs(roi - (banded + moved)) <= ROUNDING_STEP_PERCENT / 2 + 1e-3
    rho = 1 / (1 + math.exp(a + b * roi / 100))
    assert offer["conversionProbability"] == pytest.approx(rho, abs=1e-6)
    facts = compute_key_facts(to_paise(Decimal(str(offer["amount"]))), Decimal(str(roi)),
                              offer["tenure"], to_paise(Decimal(str(offer["processingFee"]))))
    assert Decimal(str(offer["emi"])) == to_rupees(facts.emi)
    assert Decimal(str(offer["apr"])) == facts.apr_percent
    assert offer["status"] == "ACTIVE"


async def test_contract_fields_and_invariants(client) -> None:
    body = await gql(client, FULL_QUERY, userId="user-000042")
    assert "errors" not in body, body
    result = body["data"]["loanOffers"]
    assert result["userId"] == "user-000042"
    assert result["decision"] in {"APPROVED", "COUNTER_OFFER", "DECLINED"}
    assert len(result["reasons"]) <= 4
    offers = result["offers"]
    if result["decision"] == "DECLINED":
        assert offers == []
    else:
        assert [o["rank"] for o in offers] == list(range(1, len(offers) + 1))
        for offer in offers:
            check_offer(offer, result["risk"])


async def test_many_users_hold_the_invariants(client) -> None:
    approved = 0
    for n in range(1, 80):
        body = await gql(client, FULL_QUERY, userId=f"user-{n:06d}")
        assert "errors" not in body, body
        result = body["data"]["loanOffers"]
        approved += result["decision"] == "APPROVED"
        for offer in result["offers"]:
            check_offer(offer, result["risk"])
    assert approved > 20


async def test_unknown_user_is_not_found(client) -> None:
    body = await gql(client, FULL_QUERY, userId="user-999999")
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert body["data"] is None


@pytest.mark.parametrize("amount", [-5000.0, 0.0, 10.0, 5_00_00_000.0, 12345.678])
async def test_bad_amounts_are_bad_user_input(client, amount: float) -> None:
    body = await gql(client, FULL_QUERY, userId="user-000042", amount=amount)
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_bad_tenure_is_bad_user_input(client) -> None:
    body = await gql(client, FULL_QUERY, userId="user-000042", tenure=240)
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_offer_is_persisted_and_read_back(client) -> None:
    body = await gql(client, FULL_QUERY, userId="user-000007")
    offers = body["data"]["loanOffers"]["offers"]
    assert offers, body
    first = offers[0]
    read = await gql(client, """query($id: ID!) { offer(offerId: $id) {
        offerId roi amount tenure emi apr processingFee rank status
        explanation { summary breakEvenRoi adjustments { rule deltaBps } } } }""",
                     id=first["offerId"])
    got = read["data"]["offer"]
    for key in ("offerId", "roi", "amount", "tenure", "emi", "apr", "processingFee", "rank"):
        assert got[key] == first[key]
    assert got["explanation"]["summary"] == first["explanation"]["summary"]
    missing = await gql(client, "query { offer(offerId: \"nope\") { offerId } }")
    assert missing["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_unaffordable_request_gets_counter_offer_with_fallback(client) -> None:
    body = await gql(client, FULL_QUERY, userId="user-000042", amount=4_000_000.0, tenure=12)
    result = body["data"]["loanOffers"]
    assert result["decision"] == "COUNTER_OFFER"
    assert result["offers"] and 1 <= len(result["reasons"]) <= 4
    assert {r["code"] for r in result["reasons"]} & {"AMOUNT_ABOVE_LIMIT", "REPAYMENT_CAPACITY"}
    for offer in result["offers"]:
        assert offer["explanation"]["fallbackApplied"] in {
            "REDUCED_AMOUNT", "EXTENDED_TENURE", "REDUCED_AMOUNT_EXTENDED_TENURE"}
        assert offer["amount"] < 4_000_000 or offer["tenure"] > 12
        check_offer(offer, result["risk"])


async def test_an_applicant_below_the_cut_off_is_declined(client, app_env) -> None:
    some = next(iter(generate_applicants(1)))
    weak = replace(some, user_id="user-weak", credit=replace(
        some.credit, bureau_score=540, delinquencies_24m=4, enquiries_6m=9))
    await app_env["container"].seed_applicants().execute([weak])
    body = await gql(client, FULL_QUERY, userId="user-weak")
    result = body["data"]["loanOffers"]
    assert result["decision"] == "DECLINED" and result["offers"] == []
    assert 1 <= len(result["reasons"]) <= 4
    assert all(r["code"] and r["description"] for r in result["reasons"])


async def test_validation_errors_are_typed(client) -> None:
    body = await gql(client, "query { loanOffers(request: {userId: \"x\"}) { nope } }")
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    body = await gql(client, "query { loanOffers(")
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"


async def test_request_id_is_echoed(client) -> None:
    response = await client.get("/livez", headers={"X-Request-ID": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
    assert (await client.get("/readyz")).json()["ready"] is True
