"""The pricing policy: every business number the engine uses, as one immutable, versioned value.

Product teams edit it as TOML (``config/policies/default.toml``); :mod:`domain.policy.parsing`
validates it. Rates are fractions per year (0.125 = 12.5 %), money is INR ``Decimal``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

from domain.applicant import EmployerCategory
from domain.behavior.sensitivity_level import PriceSensitivity

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class AmountLimits:
    minimum: Decimal
    maximum: Decimal
    step: Decimal
    grid: tuple[Decimal, ...]
    max_income_multiple: Decimal


@dataclass(frozen=True, slots=True)
class TenureLimits:
    minimum: int
    maximum: int
    grid: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Economics:
    """Lender economics per unit of principal (Thomas, *Consumer Credit Models*, ch. 3)."""

    cost_of_funds: float
    opex: float
    loss_given_default: float
    discount_rate: float
    min_margin: float
    min_expected_profit: Decimal


@dataclass(frozen=True, slots=True)
class RateLimits:
    floor: float
    regulatory_cap: float
    rounding_step_bps: int
    max_total_discount_bps: int


@dataclass(frozen=True, slots=True)
class FeeWaiver:
    name: str
    min_loans_repaid: int
    waiver_percent: Decimal


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    minimum: Decimal
    maximum: Decimal
    gst_rate_percent: Decimal
    waivers: tuple[FeeWaiver, ...]


@dataclass(frozen=True, slots=True)
class FoirCap:
    """FOIR cap (all EMIs / net monthly income) for incomes up to ``income_up_to`` (None = above)."""

    income_up_to: Decimal | None
    cap: float


@dataclass(frozen=True, slots=True)
class RiskBand:
    name: str
    min_score: float
    max_roi: float
    target_margin: float
    fee_percent: Decimal
    max_amount: Decimal
    price_midpoint: float


@dataclass(frozen=True, slots=True)
class ScoreBin:
    """Points for values below ``upper`` (None = no upper bound); categorical bins use ``value``."""

    label: str
    points: float
    upper: float | None = None
    value: str | None = None


@dataclass(frozen=True, slots=True)
class ScorecardAttribute:
    name: str
    reason_code: str
    description: str
    recommendation: str
    bins: tuple[ScoreBin, ...]
    missing_points: float | None = None
    # Computed once: every applicant's reason codes ask for it, per attribute.
    best_points: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        candidates = [b.points for b in self.bins]
        if self.missing_points is not None:
            candidates.append(self.missing_points)
        object.__setattr__(self, "best_points", max(candidates, default=0.0))


@dataclass(frozen=True, slots=True)
class Scorecard:
    """Points scorecard with PDO scaling: Score = Offset + Factor * ln(odds_good)."""

    base_score: float
    base_odds: float
    pdo: float
    base_points: float
    attributes: tuple[ScorecardAttribute, ...]


@dataclass(frozen=True, slots=True)
class DeclineRules:
    min_score: float
    min_bureau_score: int
    max_delinquencies_24m: int
    decline_on_write_off: bool
    min_monthly_income: Decimal
    min_age: int
    max_age_at_maturity: int


@dataclass(frozen=True, slots=True)
class PriceResponsePolicy:
    """Logistic take-up rho(r) = 1/(1+exp(a + b r)) (Phillips 2018).

    ``b`` is the slope for the sensitivity; ``a = -b * (band midpoint + sensitivity shift)``
    plus the request-fit penalties, so a product team reads the curve as "half of this segment
    takes an offer at the midpoint rate".
    """

    slope: dict[PriceSensitivity, float]
    midpoint_shift: dict[PriceSensitivity, float]
    amount_shortfall_penalty: float
    tenure_mismatch_penalty_per_year: float


@dataclass(frozen=True, slots=True)
class SensitivityPolicy:
    """Price-sensitivity score = base + sum(weight * feature), clipped to [0, 1]."""

    base: float
    weights: dict[str, float]
    medium_from: float
    high_from: float


@dataclass(frozen=True, slots=True)
class LifetimeValuePolicy:
    base_repeat_probability: float
    per_loan_repaid: float
    per_product_held: float
    per_engagement: float
    max_repeat_probability: float
    future_margin: Decimal
    horizon_years: int


@dataclass(frozen=True, slots=True)
class RuleConditions:
    """All set conditions must hold for an adjustment rule to apply."""

    min_loans_repaid: int | None = None
    employer_categories: tuple[EmployerCategory, ...] | None = None
    min_tenure: int | None = None
    max_tenure: int | None = None
    min_amount: Decimal | None = None
    max_amount: Decimal | None = None
    risk_bands: tuple[str, ...] | None = None
    sensitivities: tuple[PriceSensitivity, ...] | None = None


@dataclass(frozen=True, slots=True)
class AdjustmentRule:
    name: str
    delta_bps: int
    reason: str
    when: RuleConditions


@dataclass(frozen=True, slots=True)
class RankingPolicy:
    lifetime_value_weight: float
    max_offers: int


@dataclass(frozen=True, slots=True)
class PricingPolicy:
    version: int
    name: str
    description: str
    amounts: AmountLimits
    tenures: TenureLimits
    economics: Economics
    rates: RateLimits
    fees: FeeSchedule
    foir_caps: tuple[FoirCap, ...]
    scorecard: Scorecard
    bands: tuple[RiskBand, ...]
    decline: DeclineRules
    sensitivity: SensitivityPolicy
    price_response: PriceResponsePolicy
    lifetime_value: LifetimeValuePolicy
    adjustments: tuple[AdjustmentRule, ...]
    ranking: RankingPolicy
    validity_working_days: int
    # Values the pricing core derives from this policy alone (the fee of each grid amount, the
    # grid's candidates at each tenure), computed on first use: the policy is immutable, so
    # they never go stale, and ``dataclasses.replace`` starts an empty one.
    _derived: dict[Any, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def derived(self, key: Any, compute: Callable[[], T]) -> T:
        """``compute()``, once per policy and ``key`` (a value that depends on nothing else)."""
        value = self._derived.get(key)
        if value is None:
            value = self._derived[key] = compute()
        return value

    def band_for(self, score: float) -> RiskBand | None:
        """Highest band whose cut-off the score reaches; None below the lowest band."""
        for band in self.bands:
            if score >= band.min_score:
                return band
        return None

    def foir_cap_for(self, monthly_income: Decimal) -> float:
        for cap in self.foir_caps:
            if cap.income_up_to is None or monthly_income <= cap.income_up_to:
                return cap.cap
        return self.foir_caps[-1].cap
