"""Price a family of candidate loans for one applicant, vectorised over the candidates.

For each candidate: fee, its own break-even ``r0`` (amortising model), the price-response curve
(the applicant's curve shifted by how far the candidate is from the request), the unconstrained
optimum ``r*`` (Lambert W), then in this order:

1. clamp to the applicant's band ``[minRoi, maxRoi]`` (MIN_ROI_FLOOR / MAX_ROI_CAP bind);
2. adjustment rules from the policy, in policy order, each recorded in bps;
3. the discount cap (DISCOUNT_CAP gives back what exceeds ``max_total_discount_bps``);
4. value preservation: never below ``max(minRoi, r0 + min_margin)`` (VALUE_FLOOR), never above
   ``maxRoi`` (MAX_ROI_CAP); a candidate whose floor exceeds its ceiling is infeasible (MIN_MARGIN);
5. rounding to the policy step, towards the inside of ``[floor, ceiling]``.

So ``roi = clamp(r*, minRoi, maxRoi) + sum(adjustments)`` up to the rounding step. A candidate
survives when its expected NPV reaches the policy minimum and its EMI fits the FOIR allowance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, getcontext

import numpy as np

from domain.applicant import CreditProfile, LoanRequest
from domain.behavior.analysis import BehaviorAnalysis
from domain.behavior.metrics import BehaviorMetrics
from domain.finance.instalment import MONTHS_PER_YEAR
from domain.optimization.candidates import Candidate
from domain.optimization.economics import shared_exposure_factors
from domain.optimization.price_response import optimal_rate_from, take_up_from
from domain.policy.model import AdjustmentRule, PricingPolicy, RiskBand, RuleConditions
from domain.risk.assessment import RiskAssessment
from domain.slotted import fast_init

BPS = 1e-4
_RUPEE = Decimal("1")


@fast_init
@dataclass(frozen=True, slots=True)
class ApplicantContext:
    policy: PricingPolicy
    credit: CreditProfile
    behavior_metrics: BehaviorMetrics
    request: LoanRequest
    risk: RiskAssessment
    behavior: BehaviorAnalysis

    @property
    def band(self) -> RiskBand:
        assert self.risk.band is not None
        return self.risk.band


@fast_init
@dataclass(frozen=True, slots=True)
class PricedFamily:
    """Arrays indexed like ``candidates``; rates are fractions per year."""

    candidates: tuple[Candidate, ...]
    fee: tuple[Decimal, ...]
    break_even: np.ndarray
    intercept: np.ndarray
    slope: float
    optimal: np.ndarray
    banded: np.ndarray
    rule_deltas_bps: np.ndarray      # (rules, candidates)
    discount_cap_bps: np.ndarray
    value_floor_bps: np.ndarray
    cap_bps: np.ndarray
    roi_bps: np.ndarray              # integer bps after rounding
    feasible: np.ndarray
    margin_infeasible: np.ndarray
    conversion: np.ndarray
    expected_profit: np.ndarray      # INR if booked
    risk_impact: np.ndarray          # percent per year
    objective: np.ndarray


@fast_init
@dataclass(frozen=True, slots=True)
class PricingRows:
    """Candidate loans as rows, with the facts of the applicant each row belongs to.

    Applicant-level fields are arrays aligned with the rows or plain scalars (one applicant):
    numpy broadcasting serves both the scalar engine (one family) and the batch simulation
    (every candidate of every applicant at once), so both price with the same arithmetic.
    ``requested_*`` are NaN where nothing was requested. Exposures are the amortising model's
    A, B, H per row (:func:`~domain.optimization.economics.exposure_factors`).
    """

    amounts: np.ndarray
    tenures: np.ndarray
    fee_fraction: np.ndarray
    interest_exposure: np.ndarray
    funding_exposure: np.ndarray
    loss_exposure: np.ndarray
    intercept: np.ndarray | float
    slope: np.ndarray | float
    requested_amount: np.ndarray | float
    requested_tenure: np.ndarray | float
    min_roi: np.ndarray | float
    max_roi: np.ndarray | float
    max_new_emi: np.ndarray | float
    long_term_value: np.ndarray | float
    loans_repaid: np.ndarray | int
    employer_category: np.ndarray | str
    band: np.ndarray | str
    sensitivity: np.ndarray | str


@fast_init
@dataclass(frozen=True, slots=True)
class PricedRows:
    """The pricing of :class:`PricingRows`, one entry per row; rates are fractions per year."""

    break_even: np.ndarray
    intercept: np.ndarray
    optimal: np.ndarray
    banded: np.ndarray
    rule_deltas_bps: np.ndarray      # (rules, rows)
    discount_cap_bps: np.ndarray
    value_floor_bps: np.ndarray
    cap_bps: np.ndarray
    roi_bps: np.ndarray
    feasible: np.ndarray
    margin_infeasible: np.ndarray
    conversion: np.ndarray
    expected_profit: np.ndarray
    risk_impact: np.ndarray
    objective: np.ndarray


def processing_fee(policy: PricingPolicy, band: RiskBand, amount: Decimal,
                   loans_repaid: int) -> Decimal:
    """Band percentage of the amount within [minimum, maximum], less waivers, to the rupee."""
    return _fee(policy, band, amount, fee_waiver_percent(policy, loans_repaid))


def _fee(policy: PricingPolicy, band: RiskBand, amount: Decimal, waiver: Decimal) -> Decimal:
    fees = policy.fees
    fee = min(max(amount * band.fee_percent / 100, fees.minimum), fees.maximum)
    fee = fee * (100 - waiver) / 100
    return fee.quantize(_RUPEE, rounding=ROUND_HALF_UP)


def _grid_fees(policy: PricingPolicy, band: RiskBand, waiver: Decimal
               ) -> dict[Decimal, tuple[Decimal, float, float]]:
    """``amount -> (fee, float(amount), float(fee))`` for every grid amount, for a band and
    waiver, computed once per policy (most candidates are grid amounts). Kept with the band it
    was computed for: another band object of the same name (not this policy's) gets none."""
    def build() -> tuple[RiskBand, dict[Decimal, tuple[Decimal, float, float]]]:
        fees = {a: _fee(policy, band, a, waiver) for a in policy.amounts.grid}
        return band, {a: (fee, float(a), float(fee)) for a, fee in fees.items()}

    cached_band, table = policy.derived(("grid_fees", band.name, waiver), build)
    return table if cached_band is band else {}


def fee_waiver_percent(policy: PricingPolicy, loans_repaid: int) -> Decimal:
    return max((w.waiver_percent for w in policy.fees.waivers if loans_repaid >= w.min_loans_repaid),
               default=Decimal(0))


#: Significant digits a policy's fee terms may have for :func:`_integer_fee` (see there).
_FEE_TERM_DIGITS = 8
#: Whole-rupee amounts below this take :func:`_integer_fee`.
_INTEGER_FEE_LIMIT = 10**10


def _fee_terms(policy: PricingPolicy, band: RiskBand, waiver: Decimal
               ) -> tuple[int, ...] | None:
    """``_fee``'s Decimal terms as integer ratios ``(percent, minimum, maximum, 100 - waiver)``,
    once per policy, band and waiver; None when one has more than ``_FEE_TERM_DIGITS``
    significant digits (then :func:`_fee` decides)."""
    def build() -> tuple[RiskBand, tuple[int, ...] | None]:
        fees = policy.fees
        terms = (band.fee_percent, fees.minimum, fees.maximum, 100 - waiver)
        if not all(t.is_finite() and len(t.normalize().as_tuple().digits) <= _FEE_TERM_DIGITS
                   for t in terms):
            return band, None
        return band, tuple(n for t in terms for n in t.as_integer_ratio())

    cached_band, terms = policy.derived(("fee_terms", band.name, waiver), build)
    return terms if cached_band is band else None


def _integer_fee(terms: tuple[int, ...], rupees: int) -> int | None:
    """:func:`_fee` of a whole number of rupees, in exact integer arithmetic: the same rupees.

    ``_fee``'s Decimal operations are exact here, so it rounds the exact rational value half
    up once, as this does: with at most 10 significant digits in the amount and
    ``_FEE_TERM_DIGITS`` in each term, no result has more than 10 + 8 + 8 = 26 significant
    digits, within the default context's 28 (dividing by 100 only moves the exponent). The
    comparisons are the Decimal ones (cross-multiplied, denominators positive). None for a
    negative fee (half up is then away from zero). Worth it for the affordable maxima: about
    six per applicant, each ~0.8 us of Decimal arithmetic."""
    pn, pd, mn, md, xn, xd, kn, kd = terms
    num, den = rupees * pn, pd * 100
    if num * md < mn * den:          # max(raw, minimum)
        num, den = mn, md
    if num * xd > xn * den:          # min(..., maximum)
        num, den = xn, xd
    num, den = num * kn, den * kd * 100
    if num < 0:
        return None
    return (2 * num + den) // (2 * den)


def _applicant_conditions(w: RuleConditions, rows: PricingRows) -> np.ndarray | bool:
    """The conditions on the applicant: a plain bool for one applicant's scalars (the engine),
    a mask for the batch simulation's per-row applicant columns."""
    held: np.ndarray | bool = True
    if w.min_loans_repaid is not None:
        held = held & (np.asarray(rows.loans_repaid) >= w.min_loans_repaid
                       if isinstance(rows.loans_repaid, np.ndarray)
                       else rows.loans_repaid >= w.min_loans_repaid)
    if w.employer_categories is not None:
        held = held & _is_in(rows.employer_category, [c.value for c in w.employer_categories])
    if w.risk_bands is not None:
        held = held & _is_in(rows.band, list(w.risk_bands))
    if w.sensitivities is not None:
        held = held & _is_in(rows.sensitivity, [s.value for s in w.sensitivities])
    return bool(held) if not isinstance(held, np.ndarray) else held


@fast_init
@dataclass(frozen=True, slots=True)
class _RulePlan:
    """An adjustment rule's conditions prepared once per policy for one applicant's scalars:
    the allowed values as sets, the amount bounds as floats, the row bounds as
    ``(column, at_least, bound)``."""

    delta_bps: int
    min_loans_repaid: int | None
    employer_categories: frozenset[str] | None
    risk_bands: frozenset[str] | None
    sensitivities: frozenset[str] | None
    row_bounds: tuple[tuple[str, bool, float], ...]

    @staticmethod
    def of(rule: AdjustmentRule) -> _RulePlan:
        w = rule.when
        bounds = (("tenures", True, w.min_tenure), ("tenures", False, w.max_tenure),
                  ("amounts", True, w.min_amount), ("amounts", False, w.max_amount))
        return _RulePlan(
            rule.delta_bps, w.min_loans_repaid,
            None if w.employer_categories is None
            else frozenset(c.value for c in w.employer_categories),
            None if w.risk_bands is None else frozenset(w.risk_bands),
            None if w.sensitivities is None else frozenset(s.value for s in w.sensitivities),
            tuple((column, at_least, int(bound) if column == "tenures" else float(bound))
                  for column, at_least, bound in bounds if bound is not None))

    def applies_to(self, rows: PricingRows) -> bool:
        """The applicant conditions, for one applicant's scalar fields."""
        return ((self.min_loans_repaid is None or rows.loans_repaid >= self.min_loans_repaid)
                and (self.employer_categories is None
                     or rows.employer_category in self.employer_categories)
                and (self.risk_bands is None or rows.band in self.risk_bands)
                and (self.sensitivities is None or rows.sensitivity in self.sensitivities))

    def row_mask(self, rows: PricingRows) -> np.ndarray | None:
        """Where the row conditions hold (None: no row condition)."""
        mask = None
        for column, at_least, bound in self.row_bounds:
            values = rows.tenures if column == "tenures" else rows.amounts
            held = values >= bound if at_least else values <= bound
            mask = held if mask is None else mask & held
        return mask


def _row_conditions(w: RuleConditions, rows: PricingRows, mask: np.ndarray) -> np.ndarray:
    """``mask`` narrowed by the rule's amount and tenure conditions (the batch simulation)."""
    if w.min_tenure is not None:
        mask &= rows.tenures >= w.min_tenure
    if w.max_tenure is not None:
        mask &= rows.tenures <= w.max_tenure
    if w.min_amount is not None:
        mask &= rows.amounts >= float(w.min_amount)
    if w.max_amount is not None:
        mask &= rows.amounts <= float(w.max_amount)
    return mask


def _rule_deltas(policy: PricingPolicy, rows: PricingRows) -> np.ndarray:
    """(rules, rows) bps each rule moves each row by: ``float(delta)`` where it applies (all
    its applicant conditions and the row's own amount and tenure conditions hold), +0.0
    elsewhere. For one applicant who does not qualify, a rule costs no row comparison."""
    deltas = np.zeros((len(policy.adjustments), len(rows.amounts)))
    if type(rows.employer_category) is str:  # one applicant: plain comparisons
        plans = policy.derived("rule_plans",
                               lambda: tuple(_RulePlan.of(r) for r in policy.adjustments))
        for k, plan in enumerate(plans):
            if plan.applies_to(rows):
                mask = plan.row_mask(rows)
                if mask is None:
                    deltas[k] = plan.delta_bps  # every row
                else:
                    np.copyto(deltas[k], plan.delta_bps, where=mask)
        return deltas
    for k, rule in enumerate(policy.adjustments):  # the batch simulation: per-row applicants
        applicant = _applicant_conditions(rule.when, rows)
        if not isinstance(applicant, np.ndarray):
            applicant = np.full(len(rows.amounts), bool(applicant))
        deltas[k][_row_conditions(rule.when, rows, applicant)] = rule.delta_bps
    return deltas


def _discount_cap_cannot_bind(policy: PricingPolicy) -> bool:
    """Whether no row can get a discount cap: every rule's delta a nonzero whole number of bps
    (so float sums of them are exact in any order, and never -0.0) and all the negative ones
    together within ``max_total_discount_bps``. Then the cap is +0.0 on every row and adding
    it changes no sum, so :func:`price_rows` skips its five array passes."""
    def compute() -> bool:
        deltas = [rule.delta_bps for rule in policy.adjustments]
        if not all(d != 0 and float(d).is_integer() and abs(d) < 2**40 for d in deltas):
            return False
        return -sum(d for d in deltas if d < 0) <= policy.rates.max_total_discount_bps
    return policy.derived("discount_cap_cannot_bind", compute)


def _is_in(values: np.ndarray | str, allowed: list[str]) -> np.ndarray | bool:
    """``np.isin`` for arrays (the batch simulation); a plain membership test for one
    applicant's scalar (np.isin sorts and uniques even a single value)."""
    if isinstance(values, str):
        return values in allowed
    return np.isin(values, allowed)


def _intercepts(policy: PricingPolicy, rows: PricingRows) -> np.ndarray | float:
    """The applicant's curve moved by how far each row is from the request (x + 0.0 == x, so
    rows without a request keep the applicant's intercept exactly). One applicant without a
    request keeps the plain float: every row has it."""
    pr = policy.price_response
    asked, asked_tenure = rows.requested_amount, rows.requested_tenure
    requested, requested_tenure = _any_requested(asked), _any_requested(asked_tenure)
    if type(rows.intercept) is float:  # one applicant's curve
        if not (requested or requested_tenure):
            return rows.intercept
        base = np.full(rows.amounts.shape, rows.intercept)
    else:
        base = np.broadcast_to(np.asarray(rows.intercept, dtype=float), rows.amounts.shape).copy()
    if requested:
        with np.errstate(invalid="ignore"):
            shortfall = np.clip(1.0 - rows.amounts / asked, 0.0, 1.0)
        base += np.where(np.isnan(asked), 0.0, pr.amount_shortfall_penalty * shortfall)
    if requested_tenure:
        mismatch = pr.tenure_mismatch_penalty_per_year * np.abs(rows.tenures - asked_tenure) / 12
        base += np.where(np.isnan(asked_tenure), 0.0, mismatch)
    return base


def _any_requested(asked: np.ndarray | float) -> bool:
    """Whether any row carries a request (NaN: none); a float is one applicant's request."""
    if isinstance(asked, float):
        return not math.isnan(asked)
    return bool(np.any(~np.isnan(np.asarray(asked, dtype=float))))


def _round_inside(rate: np.ndarray, low: np.ndarray, high: np.ndarray | float,
                  k: _Constants) -> tuple[np.ndarray, np.ndarray | None]:
    """Round to the step in bps, then move inward if rounding left [low, high]. The mask of
    rows inside is None when every row is (the common case: nothing to combine it with)."""
    step = k.step
    bps = np.rint(rate / k.bps / step) * step
    low_bps, high_bps = low / k.bps, high / BPS
    lowest, highest = low_bps - k.rounding_slack, _zero_d(high_bps + 1e-6)
    ok = (bps >= lowest) & (bps <= highest)
    # Rounding rarely leaves the range: when every row is inside, none is moved (a row is
    # moved only when below ``lowest`` or above ``highest``, i.e. not ok).
    if _all(ok):
        return bps.astype(np.int64), None
    below = bps < lowest
    if _any(below):
        bps = np.where(below, np.ceil(low_bps / step - 1e-9) * step, bps)
    above = bps > highest
    if _any(above):
        bps = np.where(above, np.floor(high_bps / step + 1e-9) * step, bps)
    ok = (bps >= lowest) & (bps <= highest)
    return bps.astype(np.int64), ok


# The reductions behind ndarray.all/any/sum, called without their Python wrappers (which
# cost more than the reduction on a family's few dozen rows).
_all, _any, _sum = np.logical_and.reduce, np.logical_or.reduce, np.add.reduce


def _zero_d(value: np.ndarray | float) -> np.ndarray:
    """A float as a 0-d float64 array (an array stays as it is). NumPy 2 takes a Python float
    operand through its weak-scalar promotion, which makes an array operation with one cost
    about 1.5 times one with a 0-d array (~450 ns against ~290 ns on a family's rows); the
    numbers are the same, a Python float being a float64."""
    return value if type(value) is np.ndarray else np.asarray(value, dtype=np.float64)


@fast_init
@dataclass(frozen=True, slots=True)
class _Constants:
    """The policy's constants of :func:`price_rows` as 0-d arrays (see :func:`_zero_d`),
    made once per policy."""

    loss_given_default: np.ndarray
    funding_rate: np.ndarray         # cost of funds + opex
    min_margin: np.ndarray
    min_expected_profit: np.ndarray
    lifetime_value_weight: np.ndarray
    bps: np.ndarray                  # BPS
    step: np.ndarray                 # the rounding step in bps
    rounding_slack: np.ndarray       # 1e-6 bps
    zero: np.ndarray
    one: np.ndarray
    months_per_year: np.ndarray
    hundred: np.ndarray

    @staticmethod
    def of(policy: PricingPolicy) -> _Constants:
        econ = policy.economics
        values = (econ.loss_given_default, econ.cost_of_funds + econ.opex, econ.min_margin,
                  float(econ.min_expected_profit), policy.ranking.lifetime_value_weight, BPS,
                  policy.rates.rounding_step_bps, 1e-6, 0.0, 1.0, MONTHS_PER_YEAR, 100.0)
        arrays = [np.asarray(float(v), dtype=np.float64) for v in values]
        for array in arrays:
            array.flags.writeable = False
        return _Constants(*arrays)


def _constants(policy: PricingPolicy) -> _Constants:
    return policy.derived("price_rows_constants", lambda: _Constants.of(policy))


def price_rows(policy: PricingPolicy, rows: PricingRows) -> PricedRows:
    """Price every row: the steps of the module docstring, elementwise.

    A family has a few dozen rows, so each numpy pass costs about its call overhead whatever
    its size: one applicant's figures are 0-d arrays (broadcasting gives the same rows, and
    see :func:`_zero_d`), and passes whose result is known are skipped only where that result
    is provably the same floats (see :func:`_discount_cap_cannot_bind`, :func:`_round_inside`).
    """
    k = _constants(policy)
    a_exp = rows.interest_exposure
    expected_loss = k.loss_given_default * rows.loss_exposure  # also the risk impact's
    r0 = ((k.funding_rate * rows.funding_exposure + expected_loss) / a_exp
          - rows.fee_fraction / a_exp)
    intercept = _intercepts(policy, rows)
    slope = _zero_d(rows.slope)
    # Phillips' optimum and take-up (optimal_rate, take_up) with the intercept's negations
    # taken once: -(1 + a + b r0) = (-1 - a) - b r0 and -(a + b r) = (-a) - b r exactly.
    r_star = optimal_rate_from(r0, _zero_d(-1.0 - intercept), slope, k.one)
    min_roi = _zero_d(rows.min_roi)
    max_roi = _zero_d(rows.max_roi)
    # min(max()) is what np.clip computes, without its argument handling.
    banded = np.minimum(np.maximum(r_star, min_roi), max_roi)

    rule_deltas = _rule_deltas(policy, rows)
    if _discount_cap_cannot_bind(policy):
        # The cap is +0.0 everywhere and the sums are never -0.0: adding it changes nothing.
        discount_cap = np.zeros(len(r0))
        adjusted = banded + _sum(rule_deltas, axis=0) * k.bps
    else:
        discounts = _sum(np.minimum(rule_deltas, 0), axis=0)
        discount_cap = np.maximum(0.0, -discounts - policy.rates.max_total_discount_bps)
        adjusted = banded + (_sum(rule_deltas, axis=0) + discount_cap) * k.bps

    floor = np.maximum(min_roi, r0 + k.min_margin)
    ceiling = max_roi
    value_floor = np.maximum(k.zero, floor - adjusted) / k.bps
    cap = np.minimum(k.zero, ceiling - (adjusted + value_floor * k.bps)) / k.bps
    preserved = adjusted + (value_floor + cap) * k.bps
    roi_bps, rounding_ok = _round_inside(preserved, floor, rows.max_roi, k)
    margin_ok = floor <= _zero_d(rows.max_roi + 1e-12)
    roi = roi_bps * k.bps

    conversion = take_up_from(roi, _zero_d(-intercept), slope)
    profit = rows.amounts * a_exp * (roi - r0)
    # annuity_factor's array branch, (1 - (1 + i)^-n) / i with i = roi / 12, on 0-d constants.
    i = roi / k.months_per_year
    emi = rows.amounts / ((k.one - (k.one + i) ** -rows.tenures) / i)
    affordable = emi <= _zero_d(rows.max_new_emi + 0.005)
    feasible = margin_ok & affordable & (profit >= k.min_expected_profit)
    if rounding_ok is not None:
        feasible &= rounding_ok
    objective = conversion * (profit + _zero_d(policy.ranking.lifetime_value_weight
                                               * rows.long_term_value))
    loss_part = expected_loss / a_exp
    return PricedRows(  # positional, in field order (see price_family)
        r0,                                                          # break_even
        np.full(len(r0), intercept) if type(intercept) is float else intercept,  # intercept
        r_star,                                                      # optimal
        banded,                                                      # banded
        rule_deltas,                                                 # rule_deltas_bps
        discount_cap,                                                # discount_cap_bps
        value_floor,                                                 # value_floor_bps
        cap,                                                         # cap_bps
        roi_bps,                                                     # roi_bps
        feasible,                                                    # feasible
        ~margin_ok,                                                  # margin_infeasible
        conversion,                                                  # conversion
        profit,                                                      # expected_profit
        loss_part * k.hundred,                                       # risk_impact
        objective,                                                   # objective
    )


def price_family(ctx: ApplicantContext, candidates: list[Candidate]) -> PricedFamily:
    policy, risk = ctx.policy, ctx.risk
    waiver = fee_waiver_percent(policy, ctx.behavior_metrics.loans_repaid)
    known = _grid_fees(policy, ctx.band, waiver)
    # (fee, float amount, float fee) per candidate: the policy's table for grid amounts.
    columns = [known.get(c.amount) for c in candidates]
    if None in columns:
        _fill_fees(ctx, candidates, waiver, columns)
    fees, amount_floats, fee_floats = zip(*columns, strict=True) if columns else ((), (), ())
    tenure_list = [c.tenure for c in candidates]
    # Few distinct tenures: a dict beats np.unique's sort for the index of each row.
    distinct = sorted(set(tenure_list))
    position = {t: k for k, t in enumerate(distinct)}
    index = np.array([position[t] for t in tenure_list], dtype=np.int64)
    amounts = np.array(amount_floats, dtype=np.float64)
    tenures = np.array(tenure_list, dtype=np.int64)
    exposure = shared_exposure_factors(risk.probability_of_default, tuple(distinct),
                                       risk.break_even_roi, policy.economics.discount_rate)
    # A, B and H of each row in one gather of the (3, tenures) stack (a copy: the shared
    # factors stay untouched; rows of the copy are views).
    interest, funding, loss = exposure.stacked[:, index]
    request = ctx.request
    slope = ctx.behavior.price_response.slope
    # The three records below are built positionally, in field order: keyword matching for
    # some fifty arguments costs ~1.3 us an applicant (the golden test pins every field).
    rows = PricingRows(
        amounts,                                                     # amounts
        tenures,                                                     # tenures
        np.array(fee_floats) / amounts,                              # fee_fraction
        interest,                                                    # interest_exposure
        funding,                                                     # funding_exposure
        loss,                                                        # loss_exposure
        ctx.behavior.price_response.intercept,                       # intercept
        slope,                                                       # slope
        (float(request.requested_amount)
         if request.requested_amount is not None else np.nan),       # requested_amount
        (float(request.requested_tenure)
         if request.requested_tenure is not None else np.nan),       # requested_tenure
        risk.min_roi,                                                # min_roi
        risk.max_roi,                                                # max_roi
        float(risk.affordability.max_new_emi),                       # max_new_emi
        float(ctx.behavior.long_term_value),                         # long_term_value
        ctx.behavior_metrics.loans_repaid,                           # loans_repaid
        ctx.credit.employer_category.value,                          # employer_category
        ctx.band.name,                                               # band
        ctx.behavior.price_sensitivity.value,                        # sensitivity
    )
    p = price_rows(policy, rows)
    return PricedFamily(
        tuple(candidates), fees, p.break_even, p.intercept, slope, p.optimal, p.banded,
        p.rule_deltas_bps, p.discount_cap_bps, p.value_floor_bps, p.cap_bps, p.roi_bps,
        p.feasible, p.margin_infeasible, p.conversion, p.expected_profit, p.risk_impact,
        p.objective,
    )


def _fill_fees(ctx: ApplicantContext, candidates: list[Candidate], waiver: Decimal,
               columns: list[tuple[Decimal, float, float] | None]) -> None:
    """The fee columns of amounts off the policy grid (the affordable maxima, requests):
    whole rupees in integers (:func:`_integer_fee`), anything else with Decimals."""
    policy, band = ctx.policy, ctx.band
    # _integer_fee's proof assumes the default 28-digit context (nothing here changes it).
    terms = _fee_terms(policy, band, waiver) if getcontext().prec >= 28 else None
    for k, column in enumerate(columns):
        if column is None:
            amount = candidates[k].amount
            rupees, denominator = amount.as_integer_ratio()
            fee_rupees = (_integer_fee(terms, rupees)
                          if terms is not None and denominator == 1
                          and 0 < rupees < _INTEGER_FEE_LIMIT else None)
            if fee_rupees is None:
                fee = _fee(policy, band, amount, waiver)
                columns[k] = (fee, float(amount), float(fee))
            else:
                columns[k] = (Decimal(fee_rupees), float(rupees), float(fee_rupees))
