"""Build a :class:`PricingPolicy` from TOML text or a mapping, with every error named by path.

Pure: the caller reads the file. Validation collects all problems before failing, so a product
team fixing a draft sees the whole list at once.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from domain.applicant import EmployerCategory, EmploymentType, ResidenceType
from domain.behavior.sensitivity_level import PriceSensitivity
from domain.policy.model import (
    AdjustmentRule,
    AmountLimits,
    DeclineRules,
    Economics,
    FeeSchedule,
    FeeWaiver,
    FoirCap,
    LifetimeValuePolicy,
    PriceResponsePolicy,
    PricingPolicy,
    RankingPolicy,
    RateLimits,
    RiskBand,
    RuleConditions,
    ScoreBin,
    Scorecard,
    ScorecardAttribute,
    SensitivityPolicy,
    TenureLimits,
)

SCORED_ATTRIBUTES = (
    "bureau_score", "foir", "delinquencies_24m", "enquiries_6m", "credit_history_months",
    "employment", "months_in_current_job", "monthly_income", "credit_utilisation",
    "residence_type",
)
# Attributes an applicant may lack; the policy must say how many points a missing value earns.
NULLABLE_ATTRIBUTES = ("bureau_score",)
# The values a categorical bin may match (an applicant's value with no bin scores as the worst bin).
CATEGORICAL_VALUES: dict[str, frozenset[str]] = {
    "employment": frozenset({EmploymentType.SELF_EMPLOYED.value}
                            | {f"{EmploymentType.SALARIED.value}:{c.value}" for c in EmployerCategory}),
    "residence_type": frozenset(t.value for t in ResidenceType),
}
SENSITIVITY_FEATURES = ("rate_comparisons", "decline_ratio", "browsing", "loyalty", "engagement")
#: Offer-history features: optional (0 when absent) so policies written before them still load.
HISTORY_SENSITIVITY_FEATURES = ("declined_offers", "lapsed_offers", "recent_acceptance")


class PolicyValidationError(ValueError):
    """A policy document is invalid; ``errors`` lists every problem as ``path: message``."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        super().__init__("invalid pricing policy:\n  " + "\n  ".join(errors))


class _Reader:
    """Reads typed values out of nested mappings, recording errors instead of raising."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def fail(self, path: str, message: str) -> None:
        self.errors.append(f"{path}: {message}")

    def section(self, data: Mapping[str, Any], key: str, path: str = "") -> Mapping[str, Any]:
        value = data.get(key)
        where = f"{path}{key}"
        if not isinstance(value, Mapping):
            self.fail(where, "missing section" if value is None else "must be a table")
            return {}
        return value

    def items(self, data: Mapping[str, Any], key: str, path: str = "") -> list[Mapping[str, Any]]:
        value = data.get(key)
        where = f"{path}{key}"
        if not isinstance(value, list) or not value:
            self.fail(where, "must be a non-empty array of tables")
            return []
        return self._tables(value, where)

    def optional_items(self, data: Mapping[str, Any], key: str,
                       path: str = "") -> list[Mapping[str, Any]]:
        """Like :meth:`items`, but an absent or empty array is allowed."""
        value = data.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            self.fail(f"{path}{key}", "must be an array of tables")
            return []
        return self._tables(value, f"{path}{key}")

    def _tables(self, value: list[Any], where: str) -> list[Mapping[str, Any]]:
        good = [v for v in value if isinstance(v, Mapping)]
        if len(good) != len(value):
            self.fail(where, "every entry must be a table")
        return good

    def number(
        self, data: Mapping[str, Any], key: str, path: str,
        low: float | None = None, high: float | None = None, default: Any = ...,
    ) -> float:
        value = data.get(key, default)
        where = f"{path}.{key}"
        if value is ...:
            self.fail(where, "is required")
            return math.nan
        if value is None and default is None:
            return None  # type: ignore[return-value]
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            self.fail(where, f"must be a number, got {value!r}")
            return math.nan
        if low is not None and value < low:
            self.fail(where, f"must be >= {low}, got {value}")
        if high is not None and value > high:
            self.fail(where, f"must be <= {high}, got {value}")
        return float(value)

    def integer(self, data: Mapping[str, Any], key: str, path: str, low: int | None = None,
                high: int | None = None, default: Any = ...) -> int:
        value = data.get(key, default)
        if value is None and default is None:
            return None  # type: ignore[return-value]
        if value is not ... and (isinstance(value, bool) or not isinstance(value, int)):
            self.fail(f"{path}.{key}", f"must be a whole number, got {value!r}")
            return 0
        number = self.number(data, key, path, low, high, default)
        return 0 if math.isnan(number) else int(number)

    def money(self, data: Mapping[str, Any], key: str, path: str, low: float = 0,
              default: Any = ..., high: float | None = None) -> Decimal:
        number = self.number(data, key, path, low=low, high=high, default=default)
        if number is None:
            return None  # type: ignore[return-value]
        try:
            return Decimal(str(data.get(key, default))).quantize(Decimal("0.01"))
        except (InvalidOperation, TypeError):
            return Decimal(0) if math.isnan(number) else Decimal(str(number))

    def text(self, data: Mapping[str, Any], key: str, path: str, default: Any = ...) -> str:
        value = data.get(key, default)
        if value is ...:
            self.fail(f"{path}.{key}", "is required")
            return ""
        if not isinstance(value, str) or not value.strip():
            self.fail(f"{path}.{key}", f"must be non-empty text, got {value!r}")
            return ""
        return value

    def by_sensitivity(self, data: Mapping[str, Any], key: str, path: str,
                       low: float | None = None) -> dict[PriceSensitivity, float]:
        table = self.section(data, key, f"{path}.")
        result = {}
        for level in PriceSensitivity:
            result[level] = self.number(table, level.value, f"{path}.{key}", low=low)
        extra = set(table) - {level.value for level in PriceSensitivity}
        if extra:
            self.fail(f"{path}.{key}", f"unknown sensitivity levels {sorted(extra)}")
        return result


#: GraphQL's Int (and PostgreSQL's integer column) stop at 2**31 - 1: a version beyond it could
#: be neither stored nor asked for.
MAX_VERSION = 2**31 - 1


def parse_policy_toml(text: str) -> PricingPolicy:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyValidationError([f"TOML syntax: {exc}"]) from exc
    # paths as the other problems name them: policy.name, adjustments[0].reason
    nul = list(_paths_with_nul(data, "policy", top=True))
    if nul:
        raise PolicyValidationError([f"{path}: contains a NUL character (U+0000)" for path in nul])
    return parse_policy(data)


def _paths_with_nul(value: Any, path: str, top: bool = False) -> Iterator[str]:
    """Where a ``\\u0000`` escape put a NUL into a key or text: no policy needs one, and
    PostgreSQL cannot store one in a text column (names, descriptions, reasons)."""
    if isinstance(value, str):
        if "\x00" in value:
            yield path
    elif isinstance(value, Mapping):
        for key, item in value.items():
            where = key if top and not isinstance(item, str) else f"{path}.{key}"
            if "\x00" in key:
                yield f"{path}.{key!r}"
            else:
                yield from _paths_with_nul(item, where)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths_with_nul(item, f"{path}[{index}]")


def parse_policy(data: Mapping[str, Any]) -> PricingPolicy:
    r = _Reader()
    builders: list[tuple[str, Callable[[_Reader, Mapping[str, Any]], Any]]] = [
        ("amounts", _amounts), ("tenures", _tenures), ("economics", _economics),
        ("rates", _rates), ("fees", _fees), ("foir_caps", _foir_caps),
        ("scorecard", _scorecard), ("bands", _bands), ("decline", _decline),
        ("sensitivity", _sensitivity), ("price_response", _price_response),
        ("lifetime_value", _lifetime_value), ("adjustments", _adjustments),
        ("ranking", _ranking),
    ]
    parts = {name: build(r, data) for name, build in builders}
    policy_fields = dict(
        version=r.integer(data, "version", "policy", low=1, high=MAX_VERSION),
        name=r.text(data, "name", "policy"),
        description=r.text(data, "description", "policy", default="(no description)"),
        validity_working_days=r.integer(data, "validity_working_days", "policy", low=3, high=30),
        **parts,
    )
    if not r.errors:
        _cross_checks(r, policy_fields)
    if r.errors:
        raise PolicyValidationError(r.errors)
    return PricingPolicy(**policy_fields)


def _amounts(r: _Reader, data: Mapping[str, Any]) -> AmountLimits:
    s = r.section(data, "amounts")
    p = "amounts"
    low, high = r.money(s, "minimum", p, low=1), r.money(s, "maximum", p, low=1)
    grid_raw = s.get("grid")
    grid: tuple[Decimal, ...] = ()
    if not isinstance(grid_raw, list) or not grid_raw:
        r.fail("amounts.grid", "must be a non-empty list of amounts")
    else:
        grid = tuple(sorted(Decimal(str(v)) for v in grid_raw
                            if isinstance(v, int | float) and not isinstance(v, bool)
                            and math.isfinite(v)))
        if len(grid) != len(grid_raw) or any(not (low <= g <= high) for g in grid):
            r.fail("amounts.grid", f"every amount must be a number within [{low}, {high}]")
    if low > high:
        r.fail("amounts", f"minimum {low} exceeds maximum {high}")
    return AmountLimits(
        minimum=low, maximum=high, step=r.money(s, "step", p, low=1), grid=grid,
        max_income_multiple=r.money(s, "max_income_multiple", p, low=1),
    )


def _tenures(r: _Reader, data: Mapping[str, Any]) -> TenureLimits:
    s = r.section(data, "tenures")
    low = r.integer(s, "minimum", "tenures", low=1, high=600)
    high = r.integer(s, "maximum", "tenures", low=1, high=600)
    grid_raw = s.get("grid")
    grid: tuple[int, ...] = ()
    if not isinstance(grid_raw, list) or not all(isinstance(v, int) for v in grid_raw) or not grid_raw:
        r.fail("tenures.grid", "must be a non-empty list of whole months")
    else:
        grid = tuple(sorted(set(grid_raw)))
        if any(not (low <= g <= high) for g in grid):
            r.fail("tenures.grid", f"every tenure must lie within [{low}, {high}]")
    if low > high:
        r.fail("tenures", f"minimum {low} exceeds maximum {high}")
    return TenureLimits(minimum=low, maximum=high, grid=grid)


def _economics(r: _Reader, data: Mapping[str, Any]) -> Economics:
    s, p = r.section(data, "economics"), "economics"
    return Economics(
        cost_of_funds=r.number(s, "cost_of_funds", p, 0, 0.5),
        opex=r.number(s, "opex", p, 0, 0.5),
        loss_given_default=r.number(s, "loss_given_default", p, 0, 1),
        discount_rate=r.number(s, "discount_rate", p, 0, 1),
        min_margin=r.number(s, "min_margin", p, 0, 0.5),
        min_expected_profit=r.money(s, "min_expected_profit", p, low=-1e12),
    )


def _rates(r: _Reader, data: Mapping[str, Any]) -> RateLimits:
    s, p = r.section(data, "rates"), "rates"
    floor = r.number(s, "floor", p, 0, 1)
    cap = r.number(s, "regulatory_cap", p, 0, 1)
    if floor >= cap:
        r.fail(p, f"floor {floor} must be below regulatory_cap {cap}")
    return RateLimits(
        floor=floor, regulatory_cap=cap,
        rounding_step_bps=r.integer(s, "rounding_step_bps", p, 1, 100),
        max_total_discount_bps=r.integer(s, "max_total_discount_bps", p, 0, 1000),
    )


def _fees(r: _Reader, data: Mapping[str, Any]) -> FeeSchedule:
    s, p = r.section(data, "fees"), "fees"
    waivers = tuple(
        FeeWaiver(
            name=r.text(w, "name", f"fees.waivers[{i}]"),
            min_loans_repaid=r.integer(w, "min_loans_repaid", f"fees.waivers[{i}]", low=0),
            waiver_percent=r.money(w, "waiver_percent", f"fees.waivers[{i}]"),
        )
        for i, w in enumerate(r.optional_items(s, "waivers", "fees."))
    )
    for i, w in enumerate(waivers):
        if w.waiver_percent > 100:
            r.fail(f"fees.waivers[{i}].waiver_percent", "must be <= 100")
    low, high = r.money(s, "minimum", p), r.money(s, "maximum", p)
    if low > high:
        r.fail(p, f"minimum {low} exceeds maximum {high}")
    return FeeSchedule(
        minimum=low, maximum=high,
        gst_rate_percent=r.money(s, "gst_rate_percent", p, high=100), waivers=waivers,
    )


def _foir_caps(r: _Reader, data: Mapping[str, Any]) -> tuple[FoirCap, ...]:
    caps = tuple(
        FoirCap(
            income_up_to=r.money(c, "income_up_to", f"foir_caps[{i}]", default=None),
            cap=r.number(c, "cap", f"foir_caps[{i}]", 0.05, 1),
        )
        for i, c in enumerate(r.items(data, "foir_caps"))
    )
    bounded = [c.income_up_to for c in caps if c.income_up_to is not None]
    if bounded != sorted(bounded) or (caps and caps[-1].income_up_to is not None):
        r.fail("foir_caps", "income_up_to must increase and the last cap must have no upper bound")
    return caps


def _scorecard(r: _Reader, data: Mapping[str, Any]) -> Scorecard:
    s, p = r.section(data, "scorecard"), "scorecard"
    attributes = []
    for i, a in enumerate(r.items(s, "attributes", "scorecard.")):
        ap = f"scorecard.attributes[{i}]"
        name = r.text(a, "name", ap)
        if name and name not in SCORED_ATTRIBUTES:
            r.fail(f"{ap}.name", f"unknown attribute {name!r}; known: {', '.join(SCORED_ATTRIBUTES)}")
        bins = tuple(
            ScoreBin(
                label=r.text(b, "label", f"{ap}.bins[{j}]"),
                points=r.number(b, "points", f"{ap}.bins[{j}]"),
                upper=r.number(b, "upper", f"{ap}.bins[{j}]", default=None),
                value=b.get("value"),
            )
            for j, b in enumerate(r.items(a, "bins", f"{ap}."))
        )
        numeric = [b for b in bins if b.value is None]
        uppers = [b.upper for b in numeric[:-1]]
        if numeric and (numeric[-1].upper is not None or None in uppers or uppers != sorted(uppers)):
            r.fail(f"{ap}.bins", "numeric bins need increasing 'upper' bounds and a last open bin")
        _check_bins(r, ap, name, bins)
        attributes.append(ScorecardAttribute(
            name=name, reason_code=r.text(a, "reason_code", ap),
            description=r.text(a, "description", ap),
            recommendation=r.text(a, "recommendation", ap),
            bins=bins, missing_points=r.number(a, "missing_points", ap, default=None),
        ))
    for i, attribute in enumerate(attributes):
        if attribute.name in NULLABLE_ATTRIBUTES and attribute.missing_points is None:
            r.fail(f"scorecard.attributes[{i}].missing_points",
                   f"is required: {attribute.name} may be missing (new-to-credit applicants)")
    return Scorecard(
        base_score=r.number(s, "base_score", p, 1), base_odds=r.number(s, "base_odds", p, 1e-6),
        pdo=r.number(s, "pdo", p, 1), base_points=r.number(s, "base_points", p),
        attributes=tuple(attributes),
    )


def _check_bins(r: _Reader, path: str, name: str, bins: tuple[ScoreBin, ...]) -> None:
    allowed = CATEGORICAL_VALUES.get(name)
    for j, b in enumerate(bins):
        if allowed is None and b.value is not None:
            r.fail(f"{path}.bins[{j}].value", f"{name} is numeric: use 'upper', not 'value'")
        elif allowed is not None and b.value not in allowed:
            r.fail(f"{path}.bins[{j}].value",
                   f"unknown {name} value {b.value!r}; known: {', '.join(sorted(allowed))}")


def _bands(r: _Reader, data: Mapping[str, Any]) -> tuple[RiskBand, ...]:
    bands = []
    for i, b in enumerate(r.items(data, "bands")):
        bp = f"bands[{i}]"
        bands.append(RiskBand(
            name=r.text(b, "name", bp), min_score=r.number(b, "min_score", bp),
            max_roi=r.number(b, "max_roi", bp, 0, 1),
            target_margin=r.number(b, "target_margin", bp, 0, 0.5),
            fee_percent=r.money(b, "fee_percent", bp, high=10),
            max_amount=r.money(b, "max_amount", bp, low=1),
            price_midpoint=r.number(b, "price_midpoint", bp, 0, 1),
        ))
    scores = [b.min_score for b in bands]
    if scores != sorted(scores, reverse=True) or len(set(scores)) != len(scores):
        r.fail("bands", "bands must be listed best first with strictly decreasing min_score")
    if len({b.name for b in bands}) != len(bands):
        r.fail("bands", "band names must be unique")
    return tuple(bands)


def _decline(r: _Reader, data: Mapping[str, Any]) -> DeclineRules:
    s, p = r.section(data, "decline"), "decline"
    write_off = s.get("decline_on_write_off", True)
    if not isinstance(write_off, bool):
        r.fail(f"{p}.decline_on_write_off", "must be true or false")
    min_age = r.integer(s, "min_age", p, 18, 100)
    max_age = r.integer(s, "max_age_at_maturity", p, 18, 100)
    if min_age >= max_age:
        r.fail(p, f"min_age {min_age} must be below max_age_at_maturity {max_age}")
    return DeclineRules(
        min_score=r.number(s, "min_score", p),
        min_bureau_score=r.integer(s, "min_bureau_score", p, 300, 900),
        max_delinquencies_24m=r.integer(s, "max_delinquencies_24m", p, 0),
        decline_on_write_off=bool(write_off),
        min_monthly_income=r.money(s, "min_monthly_income", p),
        min_age=min_age, max_age_at_maturity=max_age,
    )


def _sensitivity(r: _Reader, data: Mapping[str, Any]) -> SensitivityPolicy:
    s, p = r.section(data, "sensitivity"), "sensitivity"
    weights_raw = r.section(s, "weights", "sensitivity.")
    weights = {k: r.number(weights_raw, k, "sensitivity.weights") for k in SENSITIVITY_FEATURES}
    weights |= {k: r.number(weights_raw, k, "sensitivity.weights")
                for k in HISTORY_SENSITIVITY_FEATURES if k in weights_raw}
    extra = set(weights_raw) - set(SENSITIVITY_FEATURES) - set(HISTORY_SENSITIVITY_FEATURES)
    if extra:
        r.fail("sensitivity.weights", f"unknown features {sorted(extra)}")
    medium, high = r.number(s, "medium_from", p, 0, 1), r.number(s, "high_from", p, 0, 1)
    if medium >= high:
        r.fail(p, "medium_from must be below high_from")
    return SensitivityPolicy(base=r.number(s, "base", p, 0, 1), weights=weights,
                             medium_from=medium, high_from=high)


def _price_response(r: _Reader, data: Mapping[str, Any]) -> PriceResponsePolicy:
    s, p = r.section(data, "price_response"), "price_response"
    return PriceResponsePolicy(
        slope=r.by_sensitivity(s, "slope", p, low=0.5),
        midpoint_shift=r.by_sensitivity(s, "midpoint_shift", p),
        amount_shortfall_penalty=r.number(s, "amount_shortfall_penalty", p, 0, 50),
        tenure_mismatch_penalty_per_year=r.number(s, "tenure_mismatch_penalty_per_year", p, 0, 50),
    )


def _lifetime_value(r: _Reader, data: Mapping[str, Any]) -> LifetimeValuePolicy:
    s, p = r.section(data, "lifetime_value"), "lifetime_value"
    return LifetimeValuePolicy(
        base_repeat_probability=r.number(s, "base_repeat_probability", p, 0, 1),
        per_loan_repaid=r.number(s, "per_loan_repaid", p, 0, 1),
        per_product_held=r.number(s, "per_product_held", p, 0, 1),
        per_engagement=r.number(s, "per_engagement", p, 0, 1),
        max_repeat_probability=r.number(s, "max_repeat_probability", p, 0, 0.99),
        future_margin=r.money(s, "future_margin", p),
        horizon_years=r.integer(s, "horizon_years", p, 0, 30),
    )


def _conditions(r: _Reader, data: Mapping[str, Any], path: str) -> RuleConditions:
    known = set(RuleConditions.__dataclass_fields__)
    unknown = set(data) - known
    if unknown:
        r.fail(path, f"unknown conditions {sorted(unknown)}; known: {sorted(known)}")

    def enum_list(key: str, enum: Any) -> tuple | None:
        raw = data.get(key)
        if raw is None:
            return None
        try:
            return tuple(enum(v) for v in raw)
        except (ValueError, TypeError):
            r.fail(f"{path}.{key}", f"values must be among {[e.value for e in enum]}")
            return None

    bands = data.get("risk_bands")
    if bands is not None and (not isinstance(bands, list)
                              or not all(isinstance(b, str) for b in bands)):
        r.fail(f"{path}.risk_bands", "must be a list of band names")
        bands = None
    return RuleConditions(
        min_loans_repaid=r.integer(data, "min_loans_repaid", path, 0, default=None),
        employer_categories=enum_list("employer_categories", EmployerCategory),
        min_tenure=r.integer(data, "min_tenure", path, 1, default=None),
        max_tenure=r.integer(data, "max_tenure", path, 1, default=None),
        min_amount=r.money(data, "min_amount", path, default=None),
        max_amount=r.money(data, "max_amount", path, default=None),
        risk_bands=tuple(bands) if bands is not None else None,
        sensitivities=enum_list("sensitivities", PriceSensitivity),
    )


def _adjustments(r: _Reader, data: Mapping[str, Any]) -> tuple[AdjustmentRule, ...]:
    rules = []
    for i, a in enumerate(r.optional_items(data, "adjustments")):
        ap = f"adjustments[{i}]"
        when = a.get("when", {})
        if not isinstance(when, Mapping):
            r.fail(f"{ap}.when", "must be a table of conditions")
            when = {}
        rules.append(AdjustmentRule(
            name=r.text(a, "name", ap), delta_bps=r.integer(a, "delta_bps", ap, -500, 500),
            reason=r.text(a, "reason", ap), when=_conditions(r, when, f"{ap}.when"),
        ))
    if len({rule.name for rule in rules}) != len(rules):
        r.fail("adjustments", "rule names must be unique")
    return tuple(rules)


def _ranking(r: _Reader, data: Mapping[str, Any]) -> RankingPolicy:
    s, p = r.section(data, "ranking"), "ranking"
    return RankingPolicy(
        lifetime_value_weight=r.number(s, "lifetime_value_weight", p, 0, 10),
        max_offers=r.integer(s, "max_offers", p, 1, 20),
    )


def _cross_checks(r: _Reader, f: dict[str, Any]) -> None:
    rates: RateLimits = f["rates"]
    for i, band in enumerate(f["bands"]):
        if not rates.floor < band.max_roi <= rates.regulatory_cap:
            r.fail(f"bands[{i}].max_roi", "must lie above rates.floor and within rates.regulatory_cap")
    names = {band.name for band in f["bands"]}
    for i, rule in enumerate(f["adjustments"]):
        if rule.when.risk_bands and not set(rule.when.risk_bands) <= names:
            r.fail(f"adjustments[{i}].when.risk_bands", f"unknown bands; known: {sorted(names)}")
    scored = [a.name for a in f["scorecard"].attributes]
    if len(set(scored)) != len(scored):
        r.fail("scorecard.attributes", "each attribute may appear once")
    if f["decline"].min_score > f["bands"][0].min_score:
        r.fail("decline.min_score", "declines everyone: above the best band's min_score")
