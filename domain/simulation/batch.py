"""The offer engine over a whole portfolio at once: vectorised across applicants.

Decides what :func:`domain.offer_engine.generate_offer_set` decides for each applicant asking
with no terms (the policy grid, what ``loanOffers`` returns without ``requestedAmount`` and
``requestedTenure``), in a few numpy passes instead of one Python call per applicant:

1. score every applicant (the scorecard's first-matching-bin rule, attribute by attribute);
   whatever depends on the score alone (PD, band, break-even, ROI band) is computed once per
   distinct score with the scalar functions (:func:`~domain.risk.assessment.score_rates`);
2. age, the longest eligible tenure, the FOIR allowance and the amount ceilings, in integer paise;
3. the decline rules;
4. behaviour: sensitivity score and level, the price-response curve per (level, band), the
   long-term value once per distinct repeat probability;
5. the candidate grid of every applicant (grid amounts that fit at each eligible tenure plus the
   affordable maximum), as rows;
6. :func:`~domain.optimization.pricing.price_rows` over all rows: the same pricing arithmetic as
   the scalar engine (exposures once per distinct PD and horizon, fees once per distinct
   band, amount and waiver);
7. ranking by the same keys (objective to 6 decimals, lower ROI, larger amount, shorter tenure).

The rank-1 offer's EMI is exact (whole paise, half up; the exact rational formula whenever
float rounding could be near a half paisa). Its APR is the monthly IRR of level instalments,
solved by vectorised Newton steps: within 0.01 percentage point of the Key Facts APR, whose last
instalment absorbs the rounding residue (well inside Reg Z's 1/8 point tolerance).
The equivalence tests hold this module to the scalar engine applicant by applicant.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import numpy as np

from domain.behavior.analysis import ACCEPTANCE_MEMORY_DAYS, base_price_response, long_term_value
from domain.behavior.sensitivity_level import PriceSensitivity
from domain.finance.instalment import annuity_factor, emi_paise
from domain.finance.money import exact_ratio, percent_of, to_paise
from domain.optimization.economics import exposure_factors
from domain.optimization.pricing import (
    PricedRows,
    PricingRows,
    price_rows,
    processing_fee,
)
from domain.policy.model import PricingPolicy, ScorecardAttribute
from domain.risk.assessment import score_rates
from domain.risk.scorecard import ScoreScaling
from domain.simulation.columns import NO_ACCEPTANCE, ApplicantColumns, epoch_microseconds

APPROVED, COUNTER_OFFER, DECLINED = 0, 1, 2
DECISION_NAMES = ("APPROVED", "COUNTER_OFFER", "DECLINED")
NO_VIABLE_OFFER = "NO_VIABLE_OFFER"
SENSITIVITY_LEVELS = (PriceSensitivity.LOW, PriceSensitivity.MEDIUM, PriceSensitivity.HIGH)


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    """Per applicant (arrays aligned with the input columns). Rank-1 fields are 0 / NaN where
    the applicant was declined. ``band`` is the policy band index (-1 out of policy)."""

    policy_version: int
    decision: np.ndarray
    band: np.ndarray
    risk_score: np.ndarray
    offers: np.ndarray               # how many offers (at most ranking.max_offers)
    amount_paise: np.ndarray
    tenure: np.ndarray
    roi_bps: np.ndarray
    emi_paise: np.ndarray
    apr_percent: np.ndarray
    fee_paise: np.ndarray
    conversion: np.ndarray
    expected_profit: np.ndarray      # INR, if booked
    decline_reasons: dict[str, np.ndarray]   # code -> applicants it applies to
    fallback: np.ndarray             # fallback name of the rank-1 offer ("" none)
    # The rank-1 offer's price response and economics (a segment for volume targets; NaN when
    # declined): break-even r0, the curve, NPV per unit of rate (amount x A), its rate band.
    break_even: np.ndarray
    intercept: np.ndarray
    slope: np.ndarray
    margin_factor: np.ndarray
    rate_floor: np.ndarray
    rate_ceiling: np.ndarray


def _ints(values: object) -> np.ndarray:
    return np.asarray(values, dtype=np.int64)


def _ages(cols: ApplicantColumns, on: date) -> np.ndarray:
    before_birthday = (cols.birth_month > on.month) | ((cols.birth_month == on.month)
                                                       & (cols.birth_day > on.day))
    return on.year - cols.birth_year - before_birthday.astype(np.int64)


def _attribute_values(name: str, cols: ApplicantColumns) -> np.ndarray:
    """The column a scorecard attribute scores (:func:`domain.risk.scorecard.attribute_value`)."""
    if name == "foir":
        with np.errstate(divide="ignore", invalid="ignore"):
            foir = cols.existing_emi_paise / cols.income_paise
        return np.where(cols.income_paise <= 0, np.inf, foir)
    if name == "employment":
        salaried = cols.employment_type == "SALARIED"
        return np.where(salaried, "SALARIED:" + cols.employer_category.astype(str),
                        cols.employment_type.astype(str)).astype(object)
    if name == "monthly_income":
        return cols.income_paise / 100
    if name == "existing_emi":
        return cols.existing_emi_paise / 100
    value = getattr(cols, name, None)
    if value is None:
        raise ValueError(f"scorecard attribute {name!r} is not an applicant field")
    return value.astype(object) if value.dtype == object else value.astype(float)


def _attribute_points(attribute: ScorecardAttribute, values: np.ndarray) -> np.ndarray:
    """First matching bin, else the worst bin; missing values get ``missing_points``."""
    worst = min(attribute.bins, key=lambda b: b.points).points
    points = np.full(len(values), worst, dtype=float)
    categorical = values.dtype == object
    for b in reversed(attribute.bins):
        if categorical:
            if b.value is not None:
                points = np.where(values == b.value, b.points, points)
        elif b.value is None:
            hit = np.ones(len(values), bool) if b.upper is None else values < b.upper
            points = np.where(hit, b.points, points)
    if not categorical:
        missing = np.isnan(values)
        if missing.any():
            if attribute.missing_points is None:
                raise ValueError(f"attribute {attribute.name} has no value and no missing_points")
            points = np.where(missing, attribute.missing_points, points)
    return points


def _scores(policy: PricingPolicy, cols: ApplicantColumns) -> np.ndarray:
    total = np.zeros(len(cols))
    for attribute in policy.scorecard.attributes:   # the scalar sum's order: same float result
        total = total + _attribute_points(attribute, _attribute_values(attribute.name, cols))
    return policy.scorecard.base_points + total


@dataclass(frozen=True, slots=True)
class _ScoreTable:
    """Per distinct score: PD and the ROI band; ``index`` maps applicants to rows."""

    index: np.ndarray
    pd: np.ndarray
    band: np.ndarray
    break_even: np.ndarray
    min_roi: np.ndarray
    max_roi: np.ndarray
    base_roi: np.ndarray


def _score_table(policy: PricingPolicy, scores: np.ndarray) -> _ScoreTable:
    unique, index = np.unique(scores, return_inverse=True)
    scaling = ScoreScaling.of(policy.scorecard)
    names = [b.name for b in policy.bands]
    pds, bands, r0, lo, hi, base = [], [], [], [], [], []
    for score in unique.tolist():
        pd = scaling.probability_of_default(score)
        rated = score_rates(policy, score, pd)
        pds.append(pd)
        bands.append(-1 if rated.band is None else names.index(rated.band.name))
        r0.append(rated.break_even_roi)
        lo.append(rated.min_roi)
        hi.append(rated.max_roi)
        base.append(rated.base_roi)
    return _ScoreTable(index, np.array(pds), _ints(bands), np.array(r0), np.array(lo),
                       np.array(hi), np.array(base))


def _floor_to_step(raw: np.ndarray, step: float) -> np.ndarray:
    """floor(raw / step) * step, exact for the float ``raw`` (as ``floor_to_step`` of its repr)."""
    k = np.floor(raw / step)
    k = np.where((k + 1) * step <= raw, k + 1, k)
    return np.where(k * step > raw, k - 1, k) * step


def _annuity(rates: np.ndarray, tenure: int) -> np.ndarray:
    """The scalar :func:`annuity_factor` once per distinct rate: identical floats."""
    unique, index = np.unique(rates, return_inverse=True)
    return np.array([annuity_factor(r, tenure) for r in unique.tolist()])[index]


def _annuity_by_tenure(rates: np.ndarray, tenures: np.ndarray) -> np.ndarray:
    out = np.empty(len(rates))
    for t in np.unique(tenures).tolist():
        mask = tenures == t
        out[mask] = _annuity(rates[mask], t)
    return out


def _paise_times(paise: np.ndarray, factor: Decimal) -> np.ndarray:
    """``paise * factor`` floored to whole paise (exact: integer arithmetic)."""
    num, den = exact_ratio(factor)
    return (paise * num) // den


@dataclass(frozen=True, slots=True)
class _Applicants:
    """Everything the candidate grid and pricing need, per applicant."""

    ages: np.ndarray
    months_left: np.ndarray
    scores: np.ndarray
    table: _ScoreTable
    band: np.ndarray
    min_roi: np.ndarray
    max_roi: np.ndarray
    max_new_emi_paise: np.ndarray
    ceiling_paise: np.ndarray
    max_amount_paise: np.ndarray
    declines: dict[str, np.ndarray]


def _assess(policy: PricingPolicy, cols: ApplicantColumns, on: date) -> _Applicants:
    ages = _ages(cols, on)
    rules = policy.decline
    months_left = (rules.max_age_at_maturity - ages) * 12
    max_tenure = np.maximum(0, np.minimum(policy.tenures.maximum, months_left))
    scores = _scores(policy, cols)
    table = _score_table(policy, scores)
    band = table.band[table.index]
    min_roi, max_roi = table.min_roi[table.index], table.max_roi[table.index]

    income = cols.income_paise
    cap = np.full(len(cols), policy.foir_caps[-1].cap)
    for foir in reversed(policy.foir_caps):
        hit = (np.ones(len(cols), bool) if foir.income_up_to is None
               else income <= to_paise(foir.income_up_to))
        cap = np.where(hit, foir.cap, cap)
    allowance = np.zeros(len(cols), dtype=np.int64)
    for value in np.unique(cap).tolist():
        num, den = exact_ratio(Decimal(str(value)))
        mask = cap == value
        allowance[mask] = (income[mask] * num - cols.existing_emi_paise[mask] * den) // den
    allowance = np.maximum(allowance, 0)

    limits = [to_paise(policy.amounts.maximum)]
    ceiling = np.minimum(limits[0], _paise_times(income, policy.amounts.max_income_multiple))
    band_max = _ints([to_paise(b.max_amount) for b in policy.bands])
    ceiling = np.where(band >= 0, np.minimum(ceiling, band_max[np.maximum(band, 0)]), ceiling)

    step = float(policy.amounts.step)
    afford_tenure = np.maximum(max_tenure, policy.tenures.minimum)
    raw = (allowance / 100) * _annuity_by_tenure(max_roi, afford_tenure)
    max_amount = np.maximum(np.minimum(_floor_to_step(raw, step) * 100, ceiling), 0)

    declines = {
        "AGE_OUTSIDE_POLICY": (ages < rules.min_age) | (max_tenure < policy.tenures.minimum),
        "INCOME_BELOW_MINIMUM": income < to_paise(rules.min_monthly_income),
        "WRITTEN_OFF_ACCOUNT": cols.has_write_off & rules.decline_on_write_off,
        "BUREAU_SCORE_BELOW_MINIMUM": ~np.isnan(cols.bureau_score)
        & (cols.bureau_score < rules.min_bureau_score),
        "TOO_MANY_DELINQUENCIES": cols.delinquencies_24m > rules.max_delinquencies_24m,
    }
    below = (scores < rules.min_score) | (band < 0)
    declines["SCORE_BELOW_CUTOFF"] = below
    declines["PRICE_ABOVE_CAP"] = ~below & (min_roi > max_roi)
    declines["NO_REPAYMENT_CAPACITY"] = max_amount < to_paise(policy.amounts.minimum)
    return _Applicants(ages, months_left, scores, table, band, min_roi, max_roi, allowance,
                       ceiling.astype(np.int64), max_amount.astype(np.int64), declines)


@dataclass(frozen=True, slots=True)
class _Behaviour:
    level: np.ndarray        # index into SENSITIVITY_LEVELS
    intercept: np.ndarray
    slope: np.ndarray
    long_term_value: np.ndarray


def _behaviour(policy: PricingPolicy, cols: ApplicantColumns, curve_band: np.ndarray,
               pd: np.ndarray, now: datetime) -> _Behaviour:
    decisions = cols.offers_declined + cols.offers_accepted
    with np.errstate(divide="ignore", invalid="ignore"):
        decline_ratio = np.where(decisions > 0, cols.offers_declined / decisions, 0.0)
    engagement = np.minimum(cols.app_sessions_30d / 20.0, 1.0)
    features = {   # the order of domain.behavior.analysis.sensitivity_features
        "rate_comparisons": np.minimum(cols.rate_comparisons_90d / 10.0, 1.0),
        "decline_ratio": decline_ratio,
        "browsing": np.minimum(cols.offers_viewed_90d / 20.0, 1.0),
        "loyalty": np.minimum(cols.loans_repaid / 3.0, 1.0),
        "engagement": engagement,
        # then domain.behavior.analysis.history_features, in its order
        "declined_offers": np.minimum(cols.history_declined / 3.0, 1.0),
        "lapsed_offers": np.minimum(cols.history_lapsed / 5.0, 1.0),
        "recent_acceptance": _recent_acceptance(cols, now),
    }
    weights = policy.sensitivity.weights
    total = np.zeros(len(cols))
    for name, value in features.items():
        total = total + weights.get(name, 0.0) * value
    score = np.minimum(1.0, np.maximum(0.0, policy.sensitivity.base + total))
    level = np.where(score >= policy.sensitivity.high_from, 2,
                     np.where(score >= policy.sensitivity.medium_from, 1, 0))
    intercept, slope = np.zeros(len(cols)), np.zeros(len(cols))
    for lv in range(3):
        for b, band in enumerate(policy.bands):
            mask = (level == lv) & (curve_band == b)
            if mask.any():
                curve = base_price_response(policy, SENSITIVITY_LEVELS[lv], band)
                intercept[mask], slope[mask] = curve.intercept, curve.slope
    lv_policy = policy.lifetime_value
    p = (lv_policy.base_repeat_probability + lv_policy.per_loan_repaid * cols.loans_repaid
         + lv_policy.per_product_held * cols.products_held + lv_policy.per_engagement * engagement)
    p = np.minimum(lv_policy.max_repeat_probability, p) * (1.0 - pd)
    unique, index = np.unique(p, return_inverse=True)
    ltv = np.array([float(long_term_value(policy, float(x))) for x in unique.tolist()])
    return _Behaviour(level, intercept, slope, ltv[index])


def _recent_acceptance(cols: ApplicantColumns, now: datetime) -> np.ndarray:
    """1 - whole days since the last acceptance / 365, at least 0; 0 without one."""
    accepted = cols.history_accepted_at_us != NO_ACCEPTANCE
    elapsed = epoch_microseconds(now) - np.where(accepted, cols.history_accepted_at_us, 0)
    days = np.maximum(0, elapsed // 86_400_000_000)
    return np.where(accepted, np.maximum(0.0, 1.0 - days / ACCEPTANCE_MEMORY_DAYS), 0.0)


@dataclass(frozen=True, slots=True)
class _Grid:
    applicant: np.ndarray
    tenure: np.ndarray
    tenure_index: np.ndarray
    amount_paise: np.ndarray


def _candidate_grid(policy: PricingPolicy, a: _Applicants, priced: np.ndarray) -> _Grid:
    """Rows (applicant, tenure, amount) of :func:`~domain.optimization.candidates.grid_candidates`."""
    tenures = _ints(policy.tenures.grid)
    grid = np.unique(_ints([to_paise(x) for x in policy.amounts.grid]))
    minimum = to_paise(policy.amounts.minimum)
    step = float(policy.amounts.step)
    idx = np.flatnonzero(priced)
    n, t_count = len(idx), len(tenures)
    eligible = tenures[None, :] <= a.months_left[idx, None]
    emi = a.max_new_emi_paise[idx] / 100
    tops = np.empty((n, t_count), dtype=np.int64)
    for j, t in enumerate(tenures.tolist()):
        raw = emi * _annuity(a.max_roi[idx], t)
        tops[:, j] = np.minimum(_floor_to_step(raw, step) * 100, a.ceiling_paise[idx])
    fits = eligible[:, :, None] & (grid[None, None, :] <= tops[:, :, None])
    extra = eligible & (tops >= minimum) & ~np.isin(tops, grid)
    # Grid amounts then the affordable maximum, per tenure, per applicant: applicant-major rows.
    keep = np.concatenate([fits, extra[:, :, None]], axis=2)
    amounts = np.concatenate([np.broadcast_to(grid[None, None, :], fits.shape),
                              tops[:, :, None]], axis=2)
    shape = keep.shape
    applicant = np.broadcast_to(idx[:, None, None], shape)[keep]
    tenure_index = np.broadcast_to(np.arange(t_count)[None, :, None], shape)[keep]
    return _Grid(applicant, tenures[tenure_index], tenure_index, amounts[keep])


def _exposures(policy: PricingPolicy, table: _ScoreTable, grid: _Grid, n_apps: int
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A, B, H per row, computed like the scalar family: once per (score, family horizon)
    (the horizon fixes the length of the sums, hence their rounding)."""
    tenures = _ints(policy.tenures.grid)
    t_count = len(tenures)
    horizon = np.zeros(n_apps, dtype=np.int64)
    np.maximum.at(horizon, grid.applicant, grid.tenure_index)
    group = table.index[grid.applicant] * t_count + horizon[grid.applicant]
    unique, inverse = np.unique(group, return_inverse=True)
    factors = np.zeros((3, len(unique), t_count))
    for g, key in enumerate(unique.tolist()):
        score_row, top = divmod(key, t_count)
        exposure = exposure_factors(float(table.pd[score_row]), tenures[: top + 1],
                                    float(table.break_even[score_row]),
                                    policy.economics.discount_rate)
        factors[0, g, : top + 1] = exposure.interest_exposure
        factors[1, g, : top + 1] = exposure.funding_exposure
        factors[2, g, : top + 1] = exposure.expected_loss_exposure
    picked = factors[:, inverse.reshape(-1), grid.tenure_index]
    return picked[0], picked[1], picked[2]


def _fees(policy: PricingPolicy, band: np.ndarray, amount_paise: np.ndarray,
          loans_repaid: np.ndarray) -> np.ndarray:
    """Processing fee in paise per row, the scalar function once per distinct input."""
    waivers = sorted({w.min_loans_repaid for w in policy.fees.waivers})
    tier = np.searchsorted(_ints(waivers), loans_repaid, side="right")
    tier_loans = [0, *waivers]
    span = int(amount_paise.max(initial=0)) + 1
    key = (band * len(tier_loans) + tier) * span + amount_paise
    unique, inverse = np.unique(key, return_inverse=True)
    fees = []
    for k in unique.tolist():
        group, amount = divmod(k, span)
        b, t = divmod(group, len(tier_loans))
        fee = processing_fee(policy, policy.bands[b], Decimal(amount).scaleb(-2), tier_loans[t])
        fees.append(to_paise(fee))
    return _ints(fees)[inverse]


def _rank(priced: PricedRows, grid: _Grid, n_apps: int, max_offers: int
          ) -> tuple[np.ndarray, np.ndarray]:
    """Row index of each applicant's rank-1 offer (-1 none) and how many offers it gets.

    Rows are applicant-major. Rank 1 has the highest objective (to 6 decimals); ties break
    like the scalar ranker: lower ROI, larger amount, shorter tenure.
    """
    ok = np.flatnonzero(priced.feasible)
    apps = grid.applicant[ok]
    objective = np.round(priced.objective[ok], 6)
    best = np.full(n_apps, -1, dtype=np.int64)
    if len(ok) == 0:
        return best, np.zeros(n_apps, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, apps[1:] != apps[:-1]])
    top = np.maximum.reduceat(objective, starts)
    lengths = np.diff(np.r_[starts, len(ok)])
    tied = objective == np.repeat(top, lengths)
    rows = ok[tied]
    order = rows[np.lexsort((grid.tenure[rows], -grid.amount_paise[rows], priced.roi_bps[rows],
                             grid.applicant[rows]))]
    first = np.r_[True, grid.applicant[order][1:] != grid.applicant[order][:-1]]
    best[grid.applicant[order][first]] = order[first]
    counts = np.bincount(apps, minlength=n_apps)
    return best, np.minimum(counts, max_offers)


def _exact_emi(amount_paise: np.ndarray, roi_bps: np.ndarray, tenure: np.ndarray) -> np.ndarray:
    """EMI in whole paise, half up: float formula, exact rationals where rounding is close."""
    i = roi_bps / 120_000  # bps a year -> fraction a month
    raw = amount_paise * i / (1.0 - (1.0 + i) ** (-tenure.astype(float)))
    emi = np.floor(raw + 0.5).astype(np.int64)
    close = np.abs(raw - np.floor(raw) - 0.5) < 1e-4
    for k in np.flatnonzero(close).tolist():
        emi[k] = emi_paise(int(amount_paise[k]), Decimal(int(roi_bps[k])).scaleb(-2),
                           int(tenure[k]))
    return emi


def _level_apr(net_paise: np.ndarray, emi: np.ndarray, tenure: np.ndarray) -> np.ndarray:
    """12 x monthly IRR of ``net`` now against ``emi`` for ``tenure`` months, percent, 2 dp."""
    n = tenure.astype(float)
    r = 2 * (emi * n - net_paise) / (net_paise * (n + 1))     # constant-ratio first guess
    for _ in range(50):
        growth = (1.0 + r) ** (-n)
        value = emi * (1.0 - growth) / r - net_paise
        slope = emi * (n * growth / (1.0 + r) - (1.0 - growth) / r) / r
        step = value / slope
        r = r - step
        if np.all(np.abs(step) < 1e-14):
            break
    return np.floor(1200 * r * 100 + 0.5) / 100


def simulate_batch(policy: PricingPolicy, cols: ApplicantColumns, now: datetime) -> BatchOutcome:
    """Decide and price every applicant (no requested terms) with ``policy`` at ``now``."""
    n = len(cols)
    a = _assess(policy, cols, now.date())
    declined = np.zeros(n, bool)
    for mask in a.declines.values():
        declined |= mask
    table = a.table
    curve_band = np.where(a.band >= 0, a.band, len(policy.bands) - 1)
    behaviour = _behaviour(policy, cols, curve_band, table.pd[table.index], now)

    grid = _candidate_grid(policy, a, ~declined)
    rows_app = grid.applicant
    fees = _fees(policy, a.band[rows_app], grid.amount_paise, cols.loans_repaid[rows_app])
    amounts = grid.amount_paise / 100
    a_exp, b_exp, h_exp = _exposures(policy, table, grid, n)
    band_names = np.array([b.name for b in policy.bands], dtype=object)
    levels = np.array([s.value for s in SENSITIVITY_LEVELS], dtype=object)
    rows = PricingRows(
        amounts=amounts, tenures=grid.tenure, fee_fraction=(fees / 100) / amounts,
        interest_exposure=a_exp, funding_exposure=b_exp, loss_exposure=h_exp,
        intercept=behaviour.intercept[rows_app], slope=behaviour.slope[rows_app],
        requested_amount=np.nan, requested_tenure=np.nan,
        min_roi=a.min_roi[rows_app], max_roi=a.max_roi[rows_app],
        max_new_emi=a.max_new_emi_paise[rows_app] / 100,
        long_term_value=behaviour.long_term_value[rows_app],
        loans_repaid=cols.loans_repaid[rows_app],
        employer_category=cols.employer_category[rows_app],
        band=band_names[np.maximum(a.band[rows_app], 0)],
        sensitivity=levels[behaviour.level[rows_app]],
    )
    priced = price_rows(policy, rows)
    best, counts = _rank(priced, grid, n, policy.ranking.max_offers)
    has = best >= 0
    decision = np.where(has, APPROVED, DECLINED)
    reasons = dict(a.declines)
    reasons[NO_VIABLE_OFFER] = ~declined & ~has
    pick = best[has]

    amount = np.zeros(n, dtype=np.int64)
    tenure = np.zeros(n, dtype=np.int64)
    roi = np.zeros(n, dtype=np.int64)
    fee = np.zeros(n, dtype=np.int64)
    emi = np.zeros(n, dtype=np.int64)
    apr = np.full(n, np.nan)
    conversion = np.full(n, np.nan)
    profit = np.full(n, np.nan)
    amount[has], tenure[has], roi[has] = grid.amount_paise[pick], grid.tenure[pick], \
        priced.roi_bps[pick]
    fee[has] = fees[pick]
    conversion[has], profit[has] = priced.conversion[pick], priced.expected_profit[pick]
    segment = {name: np.full(n, np.nan) for name in ("break_even", "intercept", "slope",
                                                     "margin_factor", "rate_floor",
                                                     "rate_ceiling")}
    segment["break_even"][has] = priced.break_even[pick]
    segment["intercept"][has] = priced.intercept[pick]
    segment["slope"][has] = rows.slope[pick]
    segment["margin_factor"][has] = amounts[pick] * a_exp[pick]
    segment["rate_floor"][has] = np.maximum(a.min_roi[has], priced.break_even[pick]
                                            + policy.economics.min_margin)
    segment["rate_ceiling"][has] = a.max_roi[has]
    if has.any():
        emi[has] = _exact_emi(amount[has], roi[has], tenure[has])
        gst_rate = policy.fees.gst_rate_percent
        unique_fees, inverse = np.unique(fee[has], return_inverse=True)
        gst = _ints([percent_of(int(f), gst_rate) for f in unique_fees.tolist()])[inverse]
        apr[has] = _level_apr(amount[has] - fee[has] - gst, emi[has], tenure[has])
    return BatchOutcome(
        policy_version=policy.version, decision=decision, band=a.band, risk_score=a.scores,
        offers=np.where(has, counts, 0), amount_paise=amount, tenure=tenure, roi_bps=roi,
        emi_paise=emi, apr_percent=apr, fee_paise=fee, conversion=conversion,
        expected_profit=profit, decline_reasons=reasons,
        fallback=np.full(n, "", dtype=object), **segment,
    )
