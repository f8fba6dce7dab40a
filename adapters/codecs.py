"""JSON-ready dictionaries for domain objects that cross a process boundary (cache, pub/sub).

Explicit field lists rather than pickle: safe to read from a shared Redis, stable across
versions, and readable with ``redis-cli``.
"""

from __future__ import annotations

from dataclasses import asdict, fields
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from typing import Any

from application.events import OfferEvent, OfferEventType
from application.offer_outcome import OfferOutcome
from domain.applicant import (
    Applicant,
    CreditProfile,
    EmployerCategory,
    EmploymentType,
    PersonalDetails,
    ProtectedAttributes,
    ResidenceType,
)
from domain.behavior.metrics import BehaviorMetrics
from domain.offers import LoanOffer, OfferExplanation, OfferStatus, RoiAdjustment
from domain.optimization.price_response import PriceResponseCurve

_DECIMAL_CREDIT_FIELDS = ("monthly_income", "existing_emi")


@cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


def _flat(obj: Any) -> dict[str, Any]:
    """``asdict`` of a dataclass whose fields are all scalars (str, numbers, Decimal, date,
    enums, None): the same dictionary without ``asdict``'s recursion and deep copies, which
    were most of a cache fill's CPU."""
    return {name: getattr(obj, name) for name in _field_names(type(obj))}


def applicant_to_dict(a: Applicant) -> dict[str, Any]:
    credit = _flat(a.credit)
    for name in _DECIMAL_CREDIT_FIELDS:
        credit[name] = str(credit[name])
    for name in ("employment_type", "employer_category", "residence_type"):
        credit[name] = credit[name].value
    personal = _flat(a.personal)
    personal["date_of_birth"] = a.personal.date_of_birth.isoformat()
    return {
        "user_id": a.user_id,
        "personal": personal,
        "credit": credit,
        "behavior": _flat(a.behavior),
        "protected": _flat(a.protected),
    }


def applicant_from_dict(d: dict[str, Any]) -> Applicant:
    credit = dict(d["credit"])
    for name in _DECIMAL_CREDIT_FIELDS:
        credit[name] = Decimal(credit[name])
    credit["employment_type"] = EmploymentType(credit["employment_type"])
    credit["employer_category"] = EmployerCategory(credit["employer_category"])
    credit["residence_type"] = ResidenceType(credit["residence_type"])
    personal = dict(d["personal"])
    personal["date_of_birth"] = date.fromisoformat(personal["date_of_birth"])
    return Applicant(
        user_id=d["user_id"],
        personal=PersonalDetails(**personal),
        credit=CreditProfile(**credit),
        behavior=BehaviorMetrics(**d["behavior"]),
        protected=ProtectedAttributes(**d["protected"]),
    )


_OFFER_DECIMALS = ("amount", "roi", "processing_fee", "gst_on_fee", "net_disbursal", "emi", "apr",
                   "total_interest", "total_payable", "expected_profit")


def offer_to_dict(o: LoanOffer) -> dict[str, Any]:
    d: dict[str, Any] = {f.name: getattr(o, f.name) for f in fields(o) if f.name != "explanation"}
    for name in _OFFER_DECIMALS:
        d[name] = str(d[name])
    d["status"] = o.status.value
    d["created_at"] = o.created_at.isoformat()
    d["valid_until"] = o.valid_until.isoformat()
    e = o.explanation
    d["explanation"] = {
        "summary": e.summary,
        "break_even_roi": e.break_even_roi,
        "unconstrained_optimal_roi": e.unconstrained_optimal_roi,
        "price_response": {"intercept": e.price_response.intercept, "slope": e.price_response.slope},
        "adjustments": [asdict(a) for a in e.adjustments],
        "binding_constraints": list(e.binding_constraints),
        "fallback_applied": e.fallback_applied,
    }
    return d


def offer_from_dict(d: dict[str, Any]) -> LoanOffer:
    values = dict(d)
    for name in _OFFER_DECIMALS:
        values[name] = Decimal(values[name])
    values["status"] = OfferStatus(values["status"])
    values["created_at"] = datetime.fromisoformat(values["created_at"])
    values["valid_until"] = datetime.fromisoformat(values["valid_until"])
    e = values.pop("explanation")
    values["explanation"] = OfferExplanation(
        summary=e["summary"],
        break_even_roi=e["break_even_roi"],
        unconstrained_optimal_roi=e["unconstrained_optimal_roi"],
        price_response=PriceResponseCurve(**e["price_response"]),
        adjustments=tuple(RoiAdjustment(**a) for a in e["adjustments"]),
        binding_constraints=tuple(e["binding_constraints"]),
        fallback_applied=e["fallback_applied"],
    )
    return LoanOffer(**values)


def outcome_to_dict(outcome: OfferOutcome) -> dict[str, Any]:
    """The stored answer of an idempotent offer decision (``replayed`` is not stored: every
    read of a stored answer is a replay)."""
    return {
        "offer": offer_to_dict(outcome.offer),
        "withdrawn": [offer_to_dict(o) for o in outcome.withdrawn],
        "decided_at": outcome.decided_at.isoformat(),
    }


def outcome_from_dict(d: dict[str, Any]) -> OfferOutcome:
    return OfferOutcome(
        offer=offer_from_dict(d["offer"]),
        withdrawn=tuple(offer_from_dict(o) for o in d["withdrawn"]),
        decided_at=datetime.fromisoformat(d["decided_at"]),
    )


def event_to_dict(event: OfferEvent) -> dict[str, Any]:
    return {
        "type": event.type.value,
        "user_id": event.user_id,
        "offer": offer_to_dict(event.offer),
        "occurred_at": event.occurred_at.isoformat(),
        "previous_offer_id": event.previous_offer_id,
    }


def event_from_dict(d: dict[str, Any]) -> OfferEvent:
    return OfferEvent(
        type=OfferEventType(d["type"]),
        user_id=d["user_id"],
        offer=offer_from_dict(d["offer"]),
        occurred_at=datetime.fromisoformat(d["occurred_at"]),
        previous_offer_id=d.get("previous_offer_id"),
    )
