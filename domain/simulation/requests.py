"""Simulation of applicants asking for terms: the scalar engine, applicant by applicant.

With requested terms the engine's path depends on the request (requested candidates, then the
fallback families in their documented order), so these runs call
:func:`domain.offer_engine.generate_offer_set` itself for every applicant (about 1 ms each: a
bounded sample, not the 100,000-applicant grid case) and gather its answers into a
:class:`~domain.simulation.batch.BatchOutcome`, so the same report covers counter-offers and the
fallbacks used.

The scenario names the request every applicant makes: an amount of ``income_multiple`` x their
monthly income (within the policy's amount limits, rounded down to the amount step) and/or a
tenure in months.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import numpy as np

from domain.applicant import Applicant, LoanRequest
from domain.behavior.history import OfferHistorySummary
from domain.finance.money import to_paise
from domain.offer_engine import generate_offer_set
from domain.offers import OfferDecision, OfferSet
from domain.policy.model import PricingPolicy
from domain.risk.assessment import floor_to_step
from domain.simulation.batch import APPROVED, COUNTER_OFFER, DECLINED, BatchOutcome

_DECISIONS = {OfferDecision.APPROVED: APPROVED, OfferDecision.COUNTER_OFFER: COUNTER_OFFER,
              OfferDecision.DECLINED: DECLINED}


@dataclass(frozen=True, slots=True)
class RequestScenario:
    income_multiple: Decimal | None = None
    tenure: int | None = None

    def __post_init__(self) -> None:
        if self.income_multiple is None and self.tenure is None:
            raise ValueError("a request scenario needs an income multiple, a tenure or both")
        if self.income_multiple is not None and not 0 < self.income_multiple <= 100:
            raise ValueError("incomeMultiple must be above 0 and at most 100")
        if self.tenure is not None and not 1 <= self.tenure <= 600:
            raise ValueError("tenure must be between 1 and 600 months")

    def request_for(self, policy: PricingPolicy, applicant: Applicant) -> LoanRequest:
        amount = None
        if self.income_multiple is not None:
            limits = policy.amounts
            wanted = applicant.credit.monthly_income * self.income_multiple
            amount = floor_to_step(min(max(wanted, limits.minimum), limits.maximum), limits.step)
            amount = max(amount, limits.minimum)
        tenure = self.tenure
        if tenure is not None:   # the policy's limits, so the request itself is valid
            tenure = min(max(tenure, policy.tenures.minimum), policy.tenures.maximum)
        return LoanRequest(amount, tenure)


def simulate_requests(policy: PricingPolicy, applicants: Sequence[Applicant],
                      histories: Sequence[OfferHistorySummary], scenario: RequestScenario,
                      now: datetime) -> BatchOutcome:
    ids = itertools.count()
    answers = [generate_offer_set(policy, a, scenario.request_for(policy, a), now,
                                  lambda: f"sim-{next(ids)}", h)
               for a, h in zip(applicants, histories, strict=True)]
    return gather(policy, answers)


def gather(policy: PricingPolicy, answers: Sequence[OfferSet]) -> BatchOutcome:
    n = len(answers)
    names = [b.name for b in policy.bands]
    ints = {k: np.zeros(n, dtype=np.int64) for k in ("decision", "band", "offers", "amount_paise",
                                                     "tenure", "roi_bps", "emi_paise",
                                                     "fee_paise")}
    floats = {k: np.full(n, np.nan) for k in ("risk_score", "apr_percent", "conversion",
                                              "expected_profit", "break_even", "intercept",
                                              "slope", "margin_factor", "rate_floor",
                                              "rate_ceiling")}
    fallback = np.full(n, "", dtype=object)
    reasons: dict[str, np.ndarray] = {}
    for k, answer in enumerate(answers):
        ints["decision"][k] = _DECISIONS[answer.decision]
        ints["band"][k] = names.index(answer.risk.risk_band) if answer.risk.risk_band in names \
            else -1
        floats["risk_score"][k] = answer.risk.risk_score
        ints["offers"][k] = len(answer.offers)
        if not answer.offers:
            for reason in answer.reasons:
                reasons.setdefault(reason.code, np.zeros(n, bool))[k] = True
            continue
        best = answer.offers[0]
        e = best.explanation
        roi = float(best.roi) / 100
        ints["amount_paise"][k], ints["tenure"][k] = to_paise(best.amount), best.tenure
        ints["roi_bps"][k] = int(best.roi * 100)
        ints["emi_paise"][k], ints["fee_paise"][k] = to_paise(best.emi), \
            to_paise(best.processing_fee)
        floats["apr_percent"][k] = float(best.apr)
        floats["conversion"][k] = best.conversion_probability
        floats["expected_profit"][k] = float(best.expected_profit)
        floats["break_even"][k] = e.break_even_roi
        floats["intercept"][k], floats["slope"][k] = (e.price_response.intercept,
                                                      e.price_response.slope)
        # NPV per unit of rate: profit = K (roi - r0) (the amortising model is linear in r).
        floats["margin_factor"][k] = (float(best.expected_profit) / (roi - e.break_even_roi)
                                      if roi > e.break_even_roi else float(best.amount))
        floats["rate_floor"][k] = max(answer.risk.min_roi,
                                      e.break_even_roi + policy.economics.min_margin)
        floats["rate_ceiling"][k] = answer.risk.max_roi
        fallback[k] = e.fallback_applied or ""
    return BatchOutcome(policy_version=policy.version, decline_reasons=reasons,
                        fallback=fallback, **ints, **floats)
