"""Golden output of the offer engine: fixed, varied inputs and an exact serialisation of the answer.

The golden file (``data/engine_golden.json.gz``) holds, for every case, the complete
:class:`~domain.offers.OfferSet` (decision, reasons, risk assessment, behaviour analysis, every
offer field with its explanation, in rank order) and the Key Facts of each offer (fee, GST,
EMI, schedule, APR). It was written by the engine as it stood before the performance work
(main at ``f85fbcb``), so any change to a result - a digit, a Decimal's exponent, a float's last
bit, a word of an explanation, the order of offers - fails ``test_engine_golden``.

Regenerate only when a result is meant to change (a policy or pricing-science change), never to
make a refactoring pass::

    .venv/bin/python -m tests.unit.domain.engine_golden
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import itertools
import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

from adapters.demo.portfolio import generate_applicants
from domain.applicant import (
    Applicant,
    CreditProfile,
    EmployerCategory,
    EmploymentType,
    LoanRequest,
    ResidenceType,
)
from domain.behavior.history import NO_HISTORY, OfferHistorySummary
from domain.behavior.metrics import BehaviorMetrics
from domain.finance.key_facts import compute_key_facts
from domain.finance.money import to_paise
from domain.offer_engine import InvalidLoanRequest, generate_offer_set
from domain.policy.model import PricingPolicy
from domain.policy.parsing import parse_policy_toml

ROOT = Path(__file__).resolve().parents[3]
POLICY_FILE = ROOT / "config" / "policies" / "default.toml"
GOLDEN_FILE = Path(__file__).resolve().parent / "data" / "engine_golden.json.gz"
NOW = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
DEMO_CASES = 300
SYNTHETIC_CASES = 120
STRICT_CASES = 60


@dataclass(frozen=True)
class Case:
    name: str
    applicant: Applicant
    request: LoanRequest
    history: OfferHistorySummary = NO_HISTORY
    policy: PricingPolicy | None = None  # None: the default policy


def load_policy() -> PricingPolicy:
    return parse_policy_toml(POLICY_FILE.read_text())


# --------------------------------------------------------------------------- inputs


def _born(age: int) -> date:
    return date(NOW.year - age - 1, 11, 20)


def _request(kind: int, applicant: Applicant, policy: PricingPolicy) -> LoanRequest:
    """Six request shapes in turn: grid, amount + tenure, amount only, tenure only (on and off
    the grid), an amount far above the ceiling, an amount with paise."""
    income = applicant.credit.monthly_income
    limits = policy.amounts

    def clipped(multiple: int) -> Decimal:
        amount = min(max(income * multiple, limits.minimum), limits.maximum)
        return amount.quantize(Decimal("1000"))

    if kind == 0:
        return LoanRequest()
    if kind == 1:
        return LoanRequest(clipped(10), 36)
    if kind == 2:
        return LoanRequest(clipped(5))
    if kind == 3:
        return LoanRequest(None, (24, 30, 48, 60)[int(income) % 4])
    if kind == 4:
        return LoanRequest(clipped(40), 60)
    return LoanRequest(clipped(3) + Decimal("456.78"), 18)


def _history(index: int) -> OfferHistorySummary:
    if index % 5:
        return NO_HISTORY
    accepted = index % 3
    return OfferHistorySummary(
        offers_seen=4 * (accepted + 2), answers=accepted + 3, accepted=accepted,
        declined=1 + index % 2, lapsed=index % 4 == 0,
        last_accepted_at=NOW - timedelta(days=40 + index) if accepted else None)


def demo_cases(policy: PricingPolicy) -> Iterator[Case]:
    for index, applicant in enumerate(generate_applicants(DEMO_CASES)):
        if index % 7 == 3:  # near the age limit: tenures past maturity get shortened
            applicant = replace(applicant, personal=replace(applicant.personal,
                                                            date_of_birth=_born(56)))
        yield Case(f"demo-{index}", applicant, _request(index % 6, applicant, policy),
                   _history(index))


def synthetic_cases(policy: PricingPolicy) -> Iterator[Case]:
    """Wider than the demo portfolio: thin files, heavy EMIs, loyal or shopping customers."""
    rng = random.Random(20260105)
    template = next(generate_applicants(1))
    for index in range(SYNTHETIC_CASES):
        employment = rng.choice(list(EmploymentType))
        income = Decimal(rng.randrange(15_000, 450_000, 500))
        credit = CreditProfile(
            monthly_income=income,
            existing_emi=(income * Decimal(rng.choice(("0", "0.1", "0.25", "0.4", "0.6")))
                          ).quantize(Decimal("0.01")),
            employment_type=employment,
            employer_category=(EmployerCategory.UNRATED if employment is
                               EmploymentType.SELF_EMPLOYED else rng.choice(list(EmployerCategory))),
            months_in_current_job=rng.randrange(0, 240),
            credit_history_months=rng.randrange(0, 300),
            bureau_score=None if rng.random() < 0.15 else rng.randrange(600, 900),
            delinquencies_24m=rng.choice((0, 0, 0, 1, 2, 4)),
            enquiries_6m=rng.randrange(0, 9),
            credit_utilisation=round(rng.uniform(0, 1.1), 3),
            residence_type=rng.choice(list(ResidenceType)),
            has_write_off=rng.random() < 0.03,
        )
        behavior = BehaviorMetrics(
            offers_viewed_90d=rng.randrange(0, 40), rate_comparisons_90d=rng.randrange(0, 15),
            offers_declined=rng.randrange(0, 6), offers_accepted=rng.randrange(0, 4),
            app_sessions_30d=rng.randrange(0, 40),
            days_since_last_active=rng.choice((None, 1, 30, 400)),
            loans_repaid=rng.randrange(0, 6), products_held=rng.randrange(0, 5))
        applicant = replace(template, user_id=f"synthetic-{index}", credit=credit,
                            behavior=behavior,
                            personal=replace(template.personal,
                                             date_of_birth=_born(rng.randrange(19, 62))))
        yield Case(f"synthetic-{index}", applicant, _request(index % 6, applicant, policy),
                   _history(index + 1))


def strict_policy(policy: PricingPolicy) -> PricingPolicy:
    """The default policy with a 10 bps discount cap and a higher minimum margin, so the
    discount cap, the value floor and the minimum-margin constraint bind often."""
    return replace(policy, version=policy.version + 1,
                   rates=replace(policy.rates, max_total_discount_bps=10),
                   economics=replace(policy.economics,
                                     min_margin=policy.economics.min_margin + 0.05))


def strict_policy_cases(policy: PricingPolicy) -> Iterator[Case]:
    strict = strict_policy(policy)
    for index, applicant in enumerate(generate_applicants(STRICT_CASES, start=5001)):
        yield Case(f"strict-{index}", applicant, _request(index % 6, applicant, strict),
                   _history(index), strict)


def invalid_cases() -> Iterator[Case]:
    applicant = next(generate_applicants(1))
    for index, request in enumerate((LoanRequest(Decimal("10")), LoanRequest(Decimal("100000.005")),
                                     LoanRequest(Decimal("90000000")), LoanRequest(None, 6),
                                     LoanRequest(Decimal("-5"), 24), LoanRequest(None, 120))):
        yield Case(f"invalid-{index}", applicant, request)


def all_cases(policy: PricingPolicy) -> list[Case]:
    return [*demo_cases(policy), *synthetic_cases(policy), *strict_policy_cases(policy),
            *invalid_cases()]


# --------------------------------------------------------------------------- serialisation


def serialise(value: Any) -> Any:
    """JSON of a domain value that tells apart everything a result could differ in: a Decimal's
    exponent ("1.50" vs "1.5"), a float's every bit (repr), a numpy scalar from a float, an enum
    from its value. Policy objects are named, not repeated."""
    if isinstance(value, Enum):  # first: a StrEnum is also a str
        return {"enum": type(value).__name__, "value": value.value}
    if value is None or type(value) in (bool, str):
        return value
    if type(value) is int:
        return value
    if type(value) is float:
        return {"float": repr(value)}
    if isinstance(value, Decimal):
        return {"decimal": str(value)}
    if isinstance(value, datetime):
        return {"datetime": value.isoformat()}
    if isinstance(value, tuple | list):
        return [serialise(v) for v in value]
    if dataclasses.is_dataclass(value):
        if type(value).__module__ == "domain.policy.model":
            return {"policy_object": type(value).__name__, "name": getattr(value, "name", None)}
        return {"type": type(value).__name__,
                **{f.name: serialise(getattr(value, f.name))
                   for f in dataclasses.fields(value) if not f.name.startswith("_")}}
    raise TypeError(f"no golden serialisation for {type(value).__module__}.{type(value).__name__}"
                    f" ({value!r})")


def _key_facts(policy: PricingPolicy, offer: Any) -> dict[str, Any]:
    fee_paise = to_paise(offer.processing_fee)
    facts = compute_key_facts(to_paise(offer.amount), offer.roi, offer.tenure, fee_paise,
                              policy.fees.gst_rate_percent)
    rows = [dataclasses.astuple(row) for row in facts.schedule.rows]
    return {
        "principal": facts.principal, "gst_on_fee": facts.gst_on_fee,
        "net_disbursal": facts.net_disbursal, "emi": facts.emi,
        "total_interest": facts.total_interest, "total_payable": facts.total_payable,
        "apr_percent": str(facts.apr_percent),
        "last_instalment": facts.schedule.last_instalment,
        "schedule_sha256": hashlib.sha256(repr(rows).encode()).hexdigest(),
    }


def run_case(policy: PricingPolicy, case: Case, new_id: Callable[[], str]) -> dict[str, Any]:
    policy = case.policy or policy
    try:
        result = generate_offer_set(policy, case.applicant, case.request, NOW, new_id,
                                    case.history)
    except InvalidLoanRequest as error:
        return {"case": case.name, "error": {"field": error.field, "message": str(error)}}
    return {"case": case.name, "offer_set": serialise(result),
            "key_facts": [_key_facts(policy, offer) for offer in result.offers]}


def compute_golden(policy: PricingPolicy) -> list[dict[str, Any]]:
    counter = itertools.count(1)
    new_id = lambda: f"golden-{next(counter)}"  # noqa: E731 - one shared, deterministic source
    return [run_case(policy, case, new_id) for case in all_cases(policy)]


def read_golden() -> list[dict[str, Any]]:
    with gzip.open(GOLDEN_FILE, "rt", encoding="utf-8") as handle:
        return json.load(handle)


def write_golden(entries: list[dict[str, Any]]) -> None:
    GOLDEN_FILE.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(entries, indent=1, sort_keys=True) + "\n"
    # mtime=0: the same results give the same bytes, so a regenerated file shows no diff.
    with open(GOLDEN_FILE, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as out:
        out.write(text.encode())


if __name__ == "__main__":
    write_golden(compute_golden(load_policy()))
    print(f"written: {GOLDEN_FILE}")
