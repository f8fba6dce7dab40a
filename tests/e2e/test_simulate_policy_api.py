"""Query.simulatePolicy end to end: the live policy's simulation is what loanOffers answers."""

from __future__ import annotations

from collections import defaultdict

import pytest

from domain.simulation.batch import DECISION_NAMES, simulate_batch
from domain.simulation.columns import ApplicantColumns
from tests.e2e.conftest import gql

SIMULATE = """
query Sim($draft: String!, $n: Int!, $seed: Int!) {
  simulatePolicy(draft: $draft, sampleSize: $n, seed: $seed) {
    sampleSize seed changedDecisions changedPrices meanRoiChange
    live { policyVersion applicants approvalRate counterOfferRate declineRate meanConversion
           expectedBookedVolume expectedProfit meanRoi meanApr
           bands { band applicants approved meanRoi meanApr }
           fallbacks { name count } declineReasons { name count }
           fairness { attribute adverseImpactRatio passes groups { group applicants approvalRate } } }
    draft { policyVersion approvalRate meanRoi expectedProfit bands { band meanRoi } }
  }
}
"""

OFFERS = """
query Offers($userId: ID!) {
  loanOffers(request: {userId: $userId}) {
    decision risk { riskBand }
    offers { rank roi amount tenure emi apr conversionProbability expectedProfit }
  }
}
"""


async def test_live_policy_simulation_reproduces_loan_offers(client, app_env) -> None:
    container = app_env["container"]
    live_toml = app_env["settings"].policy_file.read_text()
    now = container.clock().now()
    sampled = await container.portfolio_sample().sample(80, 11, now)
    assert len(sampled) == 80
    applicants = [s.applicant for s in sampled]
    policy = await container.policy_source().active()
    cols = ApplicantColumns.from_applicants(applicants, [s.history for s in sampled])
    batch = simulate_batch(policy, cols, now)

    roi_by_band: dict[str, list[float]] = defaultdict(list)
    approved = 0
    for k, applicant in enumerate(applicants):
        body = await gql(client, OFFERS, userId=applicant.user_id)
        answer = body["data"]["loanOffers"]
        assert DECISION_NAMES[batch.decision[k]] == answer["decision"], applicant.user_id
        if answer["offers"]:
            approved += 1
            best = answer["offers"][0]
            assert (batch.amount_paise[k] / 100, int(batch.tenure[k]), batch.roi_bps[k] / 100,
                    batch.emi_paise[k] / 100) == (best["amount"], best["tenure"], best["roi"],
                                                  best["emi"]), applicant.user_id
            assert abs(batch.apr_percent[k] - best["apr"]) <= 0.01 + 1e-9
            roi_by_band[answer["risk"]["riskBand"]].append(best["roi"])

    body = await gql(client, SIMULATE, draft=live_toml, n=80, seed=11)
    assert "errors" not in body, body
    sim = body["data"]["simulatePolicy"]
    live = sim["live"]
    assert live["applicants"] == 80 and sim["sampleSize"] == 80
    assert live["approvalRate"] == pytest.approx(approved / 80)
    assert live["approvalRate"] + live["counterOfferRate"] + live["declineRate"] == \
        pytest.approx(1.0)
    for band in live["bands"]:
        rois = roi_by_band.get(band["band"], [])
        assert band["approved"] == len(rois)
        if rois:
            assert band["meanRoi"] == pytest.approx(sum(rois) / len(rois))
    # The same policy as the draft: nothing changes.
    assert sim["changedDecisions"] == 0 and sim["changedPrices"] == 0
    assert sim["draft"]["expectedProfit"] == live["expectedProfit"]
    assert {f["attribute"] for f in live["fairness"]} == {"gender", "marital_status", "religion",
                                                           "caste"}


async def test_a_cheaper_draft_lowers_prices(client, app_env) -> None:
    live_toml = app_env["settings"].policy_file.read_text()
    draft = live_toml.replace("version = 1", "version = 9", 1).replace(
        "cost_of_funds = 0.080", "cost_of_funds = 0.060")
    body = await gql(client, SIMULATE, draft=draft, n=150, seed=3)
    assert "errors" not in body, body
    sim = body["data"]["simulatePolicy"]
    assert sim["draft"]["policyVersion"] == 9
    assert sim["meanRoiChange"] < 0
    assert sim["draft"]["meanRoi"] < sim["live"]["meanRoi"]


async def test_bad_draft_names_each_problem_by_path(client, app_env) -> None:
    live_toml = app_env["settings"].policy_file.read_text()
    draft = live_toml.replace("cost_of_funds = 0.080", "cost_of_funds = -3").replace(
        "max_offers = 5", "max_offers = 0")
    body = await gql(client, SIMULATE, draft=draft, n=10, seed=0)
    error = body["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    paths = {p["path"] for p in error["extensions"]["problems"]}
    assert "economics.cost_of_funds" in paths and "ranking.max_offers" in paths

    body = await gql(client, SIMULATE, draft="version = [", n=10, seed=0)
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


@pytest.mark.parametrize("size", [0, -5, 20_001])
async def test_sample_size_is_bounded(client, app_env, size: int) -> None:
    body = await gql(client, SIMULATE, draft=app_env["settings"].policy_file.read_text(), n=size,
                     seed=0)
    error = body["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["field"] == "sampleSize"


async def test_volume_target_for_the_draft(client, app_env) -> None:
    query = """query V($d: String!) { simulatePolicy(draft: $d, sampleSize: 200, seed: 1,
      targetTakeUp: 0.65) { volumeTarget { targetTakeUp currentTakeUp plannedTakeUp
      currentProfit plannedProfit shadowPrice binding feasible bands { band currentRoi
      plannedRoi } } } }"""
    body = await gql(client, query, d=app_env["settings"].policy_file.read_text())
    assert "errors" not in body, body
    volume = body["data"]["simulatePolicy"]["volumeTarget"]
    assert volume["binding"] and volume["feasible"]
    assert volume["plannedTakeUp"] == pytest.approx(0.65, abs=1e-6)
    assert volume["shadowPrice"] > 0
    body = await gql(client, query.replace("0.65", "1.5"),
                     d=app_env["settings"].policy_file.read_text())
    assert body["errors"][0]["extensions"]["field"] == "targetTakeUp"


REQUEST_SIM = """query R($d: String!) { simulatePolicy(draft: $d, sampleSize: 60, seed: 4,
  request: {incomeMultiple: 14, tenure: 36}) { live { applicants approvalRate counterOfferRate
  declineRate fallbacks { name count } } } }"""

OFFERS_ASKED = """query O($u: ID!, $a: Float, $t: Int) { loanOffers(request: {userId: $u,
  requestedAmount: $a, requestedTenure: $t}) { decision offers { explanation {
  fallbackApplied } } } }"""


async def test_requested_terms_reproduce_loan_offers_with_fallbacks(client, app_env) -> None:
    from decimal import Decimal

    from domain.simulation.requests import RequestScenario

    container = app_env["container"]
    policy = await container.policy_source().active()
    sampled = await container.portfolio_sample().sample(60, 4, container.clock().now())
    scenario = RequestScenario(Decimal(14), 36)
    decisions: dict[str, int] = defaultdict(int)
    fallbacks: dict[str, int] = defaultdict(int)
    for s in sampled:
        request = scenario.request_for(policy, s.applicant)
        answer = (await gql(client, OFFERS_ASKED, u=s.applicant.user_id,
                            a=float(request.requested_amount), t=request.requested_tenure)
                  )["data"]["loanOffers"]
        decisions[answer["decision"]] += 1
        if answer["offers"] and answer["offers"][0]["explanation"]["fallbackApplied"]:
            fallbacks[answer["offers"][0]["explanation"]["fallbackApplied"]] += 1
    body = await gql(client, REQUEST_SIM, d=app_env["settings"].policy_file.read_text())
    assert "errors" not in body, body
    live = body["data"]["simulatePolicy"]["live"]
    assert live["applicants"] == 60
    assert live["approvalRate"] == pytest.approx(decisions["APPROVED"] / 60)
    assert live["counterOfferRate"] == pytest.approx(decisions["COUNTER_OFFER"] / 60)
    assert live["counterOfferRate"] > 0 and fallbacks   # the scenario exercises fallbacks
    assert {f["name"]: f["count"] for f in live["fallbacks"]} == dict(fallbacks)


async def test_requested_terms_have_their_own_bound(client, app_env) -> None:
    query = REQUEST_SIM.replace("sampleSize: 60", "sampleSize: 5001")
    body = await gql(client, query, d=app_env["settings"].policy_file.read_text())
    assert body["errors"][0]["extensions"]["field"] == "sampleSize"
    query = REQUEST_SIM.replace("incomeMultiple: 14, tenure: 36", "incomeMultiple: -2")
    body = await gql(client, query, d=app_env["settings"].policy_file.read_text())
    assert body["errors"][0]["extensions"]["field"] == "request"
