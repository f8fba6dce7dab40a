"""Domain dataclasses <-> table rows: the one place that knows both shapes.

Values are converted exactly or not at all: an amount with a fraction of a paisa, or a rate that
is not a whole number of basis points, raises ``ValueError`` instead of being rounded silently.
Row readers accept ORM instances or Core rows (anything with the columns as attributes).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from adapters.sql.pii_columns import open_values, seal_values
from application.pii import PiiProtection
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
from domain.offers import LoanOffer, OfferExplanation, OfferSet, OfferStatus, RoiAdjustment
from domain.optimization.price_response import PriceResponseCurve

_HUNDRED = Decimal(100)


def to_hundredths(value: Decimal, what: str = "value") -> int:
    """``Decimal('17.70')`` -> ``1770``: paise from rupees, basis points from a percent rate,
    hundredths of a percent from an APR. Raises ``ValueError`` if that is not a whole number."""
    if type(value) is Decimal and value.is_finite():
        # Exact integer arithmetic, a quarter cheaper than the Decimal product below (ten
        # calls per offer written); a fraction of a hundredth still goes on to be refused.
        numerator, denominator = value.as_integer_ratio()
        whole, rest = divmod(numerator * 100, denominator)
        if not rest:
            return whole
    scaled = Decimal(value) * _HUNDRED
    whole = scaled.to_integral_value()
    if scaled != whole:
        raise ValueError(f"{what} {value} is not a whole number of hundredths")
    return int(whole)


def from_hundredths(value: int) -> Decimal:
    """``1770`` -> ``Decimal('17.70')`` (always two decimal places)."""
    return Decimal(value).scaleb(-2)


to_paise = to_hundredths
from_paise = from_hundredths


# --- applicants -----------------------------------------------------------------------------

def personal_plaintext(a: Applicant) -> dict[str, str | None]:
    """The sealed columns' plaintext (``pii_columns.SEALED``): personal details and protected
    attributes as text. Never stored as such: :func:`applicant_columns` seals them."""
    p, pr = a.personal, a.protected
    return {
        "full_name": p.full_name,
        "date_of_birth": p.date_of_birth.isoformat(),
        "phone": p.phone,
        "email": p.email,
        "pan": p.pan,
        "address": p.address,
        "gender": pr.gender,
        "marital_status": pr.marital_status,
        "religion": pr.religion,
        "caste": pr.caste,
    }


def personal_from_plaintext(v: dict[str, str | None]) -> tuple[PersonalDetails,
                                                                ProtectedAttributes]:
    personal = PersonalDetails(
        full_name=v["full_name"] or "",
        date_of_birth=date.fromisoformat(v["date_of_birth"] or ""),
        phone=v["phone"],
        email=v["email"],
        pan=v["pan"],
        address=v["address"],
    )
    protected = ProtectedAttributes(gender=v["gender"], marital_status=v["marital_status"],
                                    religion=v["religion"], caste=v["caste"])
    return personal, protected


def applicant_columns(a: Applicant, now: datetime, pii: PiiProtection) -> dict[str, Any]:
    """The ``applicants`` row for ``a`` (``created_at`` and ``updated_at`` set to ``now``),
    personal values sealed for this row with their blind indexes."""
    c = a.credit
    return {
        "user_id": a.user_id,
        **seal_values(a.user_id, personal_plaintext(a), pii),
        "monthly_income_paise": to_paise(c.monthly_income, "monthly_income"),
        "existing_emi_paise": to_paise(c.existing_emi, "existing_emi"),
        "employment_type": c.employment_type.value,
        "employer_category": c.employer_category.value,
        "months_in_current_job": c.months_in_current_job,
        "credit_history_months": c.credit_history_months,
        "bureau_score": c.bureau_score,
        "delinquencies_24m": c.delinquencies_24m,
        "enquiries_6m": c.enquiries_6m,
        "credit_utilisation": c.credit_utilisation,
        "residence_type": c.residence_type.value,
        "has_write_off": c.has_write_off,
        "created_at": now,
        "updated_at": now,
    }


def behavior_columns(a: Applicant, now: datetime) -> dict[str, Any]:
    b = a.behavior
    return {
        "user_id": a.user_id,
        "offers_viewed_90d": b.offers_viewed_90d,
        "rate_comparisons_90d": b.rate_comparisons_90d,
        "offers_declined": b.offers_declined,
        "offers_accepted": b.offers_accepted,
        "app_sessions_30d": b.app_sessions_30d,
        "days_since_last_active": b.days_since_last_active,
        "loans_repaid": b.loans_repaid,
        "products_held": b.products_held,
        "updated_at": now,
    }


def applicant_from_rows(row: Any, behavior: Any | None, pii: PiiProtection) -> Applicant:
    """An applicant from its ``applicants`` row and ``applicant_behavior`` row (``None``: a new
    customer's default metrics). Raises ``PiiCryptoError`` when a sealed value does not open."""
    credit = CreditProfile(
        monthly_income=from_paise(row.monthly_income_paise),
        existing_emi=from_paise(row.existing_emi_paise),
        employment_type=EmploymentType(row.employment_type),
        employer_category=EmployerCategory(row.employer_category),
        months_in_current_job=row.months_in_current_job,
        credit_history_months=row.credit_history_months,
        bureau_score=row.bureau_score,
        delinquencies_24m=row.delinquencies_24m,
        enquiries_6m=row.enquiries_6m,
        credit_utilisation=row.credit_utilisation,
        residence_type=ResidenceType(row.residence_type),
        has_write_off=bool(row.has_write_off),
    )
    metrics = BehaviorMetrics() if behavior is None else BehaviorMetrics(
        offers_viewed_90d=behavior.offers_viewed_90d,
        rate_comparisons_90d=behavior.rate_comparisons_90d,
        offers_declined=behavior.offers_declined,
        offers_accepted=behavior.offers_accepted,
        app_sessions_30d=behavior.app_sessions_30d,
        days_since_last_active=behavior.days_since_last_active,
        loans_repaid=behavior.loans_repaid,
        products_held=behavior.products_held,
    )
    personal, protected = personal_from_plaintext(open_values(row, pii))
    return Applicant(user_id=row.user_id, personal=personal, credit=credit,
                     behavior=metrics, protected=protected)


# --- offer decisions and offers -------------------------------------------------------------

def decision_columns(s: OfferSet, decision_id: str) -> dict[str, Any]:
    """The ``offer_decisions`` row: the request, the decision and its risk and behaviour."""
    r, b, aff = s.risk, s.behavior, s.risk.affordability
    asked = s.request.requested_amount
    return {
        "decision_id": decision_id,
        "user_id": s.user_id,
        "decision": s.decision.value,
        "reasons": [{"code": c.code, "description": c.description} for c in s.reasons],
        "risk": {
            "risk_score": r.risk_score,
            "probability_of_default": r.probability_of_default,
            "risk_band": r.risk_band,
            "break_even_roi": r.break_even_roi,
            "base_roi": r.base_roi,
            "min_roi": r.min_roi,
            "max_roi": r.max_roi,
            "reason_codes": [{"code": c.code, "description": c.description}
                             for c in r.reason_codes],
            "recommendations": list(r.recommendations),
            "affordability": {
                "foir_cap": aff.foir_cap,
                "max_new_emi": str(aff.max_new_emi),
                "max_amount": str(aff.max_amount),
                "max_amount_tenure": aff.max_amount_tenure,
            },
        },
        "behavior": {
            "price_sensitivity": b.price_sensitivity.value,
            "sensitivity_score": b.sensitivity_score,
            "conversion_probability": b.conversion_probability,
            "long_term_value": str(b.long_term_value),
            "repeat_probability": b.repeat_probability,
            "price_response": {"intercept": b.price_response.intercept,
                               "slope": b.price_response.slope},
        },
        "policy_version": s.policy_version,
        "requested_amount_paise": None if asked is None else to_paise(asked),
        "requested_tenure": s.request.requested_tenure,
        "inputs_hash": s.inputs_hash or None,
        "generated_at": s.generated_at,
    }


def explanation_json(e: OfferExplanation) -> dict[str, Any]:
    return {
        "summary": e.summary,
        "break_even_roi": e.break_even_roi,
        "unconstrained_optimal_roi": e.unconstrained_optimal_roi,
        "price_response": {"intercept": e.price_response.intercept,
                           "slope": e.price_response.slope},
        "adjustments": [{"rule": a.rule, "delta_bps": a.delta_bps, "reason": a.reason}
                        for a in e.adjustments],
        "binding_constraints": list(e.binding_constraints),
        "fallback_applied": e.fallback_applied,
    }


def explanation_from_json(d: dict[str, Any]) -> OfferExplanation:
    curve = d["price_response"]
    return OfferExplanation(
        summary=d["summary"],
        break_even_roi=d["break_even_roi"],
        unconstrained_optimal_roi=d["unconstrained_optimal_roi"],
        price_response=PriceResponseCurve(intercept=curve["intercept"], slope=curve["slope"]),
        adjustments=tuple(RoiAdjustment(rule=a["rule"], delta_bps=a["delta_bps"],
                                        reason=a["reason"]) for a in d["adjustments"]),
        binding_constraints=tuple(d["binding_constraints"]),
        fallback_applied=d["fallback_applied"],
    )


def offer_columns(o: LoanOffer, decision_id: str) -> dict[str, Any]:
    return {
        "offer_id": o.offer_id,
        "decision_id": decision_id,
        "user_id": o.user_id,
        "rank": o.rank,
        "amount_paise": to_paise(o.amount, "amount"),
        "tenure": o.tenure,
        "roi_bps": to_hundredths(o.roi, "roi"),
        "processing_fee_paise": to_paise(o.processing_fee, "processing_fee"),
        "gst_on_fee_paise": to_paise(o.gst_on_fee, "gst_on_fee"),
        "net_disbursal_paise": to_paise(o.net_disbursal, "net_disbursal"),
        "emi_paise": to_paise(o.emi, "emi"),
        "apr_centi": to_hundredths(o.apr, "apr"),
        "total_interest_paise": to_paise(o.total_interest, "total_interest"),
        "total_payable_paise": to_paise(o.total_payable, "total_payable"),
        "conversion_probability": o.conversion_probability,
        "risk_impact": o.risk_impact,
        "expected_profit_paise": to_paise(o.expected_profit, "expected_profit"),
        "objective": o.objective,
        "explanation": explanation_json(o.explanation),
        "policy_version": o.policy_version,
        "created_at": o.created_at,
        "valid_until": o.valid_until,
        "status": o.status.value,
        "inputs_hash": o.inputs_hash,
        "status_changed_at": o.created_at,
        "replaced_by": o.replaced_by,
    }


def offer_from_row(row: Any) -> LoanOffer:
    return LoanOffer(
        offer_id=row.offer_id,
        user_id=row.user_id,
        rank=row.rank,
        amount=from_paise(row.amount_paise),
        tenure=row.tenure,
        roi=from_hundredths(row.roi_bps),
        processing_fee=from_paise(row.processing_fee_paise),
        gst_on_fee=from_paise(row.gst_on_fee_paise),
        net_disbursal=from_paise(row.net_disbursal_paise),
        emi=from_paise(row.emi_paise),
        apr=from_hundredths(row.apr_centi),
        total_interest=from_paise(row.total_interest_paise),
        total_payable=from_paise(row.total_payable_paise),
        conversion_probability=row.conversion_probability,
        risk_impact=row.risk_impact,
        expected_profit=from_paise(row.expected_profit_paise),
        objective=row.objective,
        explanation=explanation_from_json(row.explanation),
        policy_version=row.policy_version,
        created_at=row.created_at,
        valid_until=row.valid_until,
        status=OfferStatus(row.status),
        inputs_hash=row.inputs_hash,
        replaced_by=row.replaced_by,
    )
