"""Points scorecard with PDO scaling (the industry standard; Siddiqi, *Credit Risk Scorecards*).

    Factor = PDO / ln 2,  Offset = S0 - Factor * ln(odds0)
    Score  = Offset + Factor * ln(odds_good)
    PD     = 1 / (1 + exp((Score - Offset) / Factor))

The score is the sum of the scorecard's base points and one bin's points per attribute. The
points an attribute loses against its best bin rank the reason codes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache

from domain.applicant import CreditProfile, EmploymentType
from domain.policy.model import ScoreBin, Scorecard, ScorecardAttribute
from domain.slotted import fast_init

MAX_PD = 1.0 - 1e-9


@fast_init
@dataclass(frozen=True, slots=True)
class ScoreScaling:
    factor: float
    offset: float

    @classmethod
    def of(cls, scorecard: Scorecard) -> ScoreScaling:
        return _scaling(scorecard.pdo, scorecard.base_score, scorecard.base_odds)

    def probability_of_default(self, score: float) -> float:
        x = (score - self.offset) / self.factor
        if x > 700.0:  # exp() overflows past ~709 (a far-off score); the PD is ~1e-304 by then
            return 0.0
        # Never exactly 1 (a score ~37 factors below the offset rounds to it): the break-even
        # rate divides by 1 - PD. Such a PD prices far above any cap, so the applicant is declined.
        return min(1.0 / (1.0 + math.exp(x)), MAX_PD)

    def score_for_odds(self, odds_good: float) -> float:
        return self.offset + self.factor * math.log(odds_good)


@lru_cache(maxsize=64)
def _scaling(pdo: float, base_score: float, base_odds: float) -> ScoreScaling:
    """Every applicant of a policy has the same scaling: two logarithms once, not per score."""
    factor = pdo / math.log(2)
    return ScoreScaling(factor=factor, offset=base_score - factor * math.log(base_odds))


@fast_init
@dataclass(frozen=True, slots=True)
class AttributeScore:
    attribute: ScorecardAttribute
    bin_label: str
    points: float

    @property
    def points_lost(self) -> float:
        return self.attribute.best_points - self.points


@fast_init
@dataclass(frozen=True, slots=True)
class ScoreResult:
    score: float
    probability_of_default: float
    attributes: tuple[AttributeScore, ...]
    # by_points_lost() is read for the reason codes and again for the recommendations.
    _by_points_lost: tuple[AttributeScore, ...] | None = field(
        default=None, init=False, repr=False, compare=False)

    def by_points_lost(self) -> tuple[AttributeScore, ...]:
        """Attributes that lost points, largest loss first (ties by attribute order)."""
        if self._by_points_lost is None:
            losing = [a for a in self.attributes if a.points_lost > 1e-9]
            object.__setattr__(self, "_by_points_lost",
                               tuple(sorted(losing, key=lambda a: -a.points_lost)))
        return self._by_points_lost


def existing_foir(credit: CreditProfile) -> float:
    """Existing EMIs over net monthly income (before the new loan)."""
    if credit.monthly_income <= 0:
        return math.inf
    return float(credit.existing_emi / credit.monthly_income)


def attribute_value(name: str, credit: CreditProfile) -> float | str | None:
    """The applicant's value of a scored attribute, by the name the policy uses."""
    if name == "foir":
        return existing_foir(credit)
    if name == "employment":
        if credit.employment_type is EmploymentType.SELF_EMPLOYED:
            return EmploymentType.SELF_EMPLOYED.value
        return f"{credit.employment_type.value}:{credit.employer_category.value}"
    value = getattr(credit, name)
    if isinstance(value, Decimal):
        return float(value)
    if hasattr(value, "value"):
        return value.value
    return value


def _pick_bin(attribute: ScorecardAttribute, value: float | str | None) -> tuple[str, float]:
    if value is None:
        if attribute.missing_points is None:
            raise ValueError(f"attribute {attribute.name} has no value and no missing_points")
        return "missing", attribute.missing_points
    if isinstance(value, str):
        for b in attribute.bins:
            if b.value == value:
                return b.label, b.points
        return _worst(attribute.bins)
    for b in attribute.bins:
        if b.value is None and (b.upper is None or value < b.upper):
            return b.label, b.points
    return _worst(attribute.bins)


def _worst(bins: tuple[ScoreBin, ...]) -> tuple[str, float]:
    worst = min(bins, key=lambda b: b.points)
    return worst.label, worst.points


def score_applicant(scorecard: Scorecard, credit: CreditProfile) -> ScoreResult:
    scaling = ScoreScaling.of(scorecard)
    attributes = []
    for attribute in scorecard.attributes:
        label, points = _pick_bin(attribute, attribute_value(attribute.name, credit))
        attributes.append(AttributeScore(attribute, label, points))
    score = scorecard.base_points + sum(a.points for a in attributes)
    return ScoreResult(score, scaling.probability_of_default(score), tuple(attributes))
