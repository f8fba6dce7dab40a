"""What a simulation tells a pricing manager: portfolio figures of one policy, and the
comparison of a draft with the live policy on the same sample.

Expected figures assume each approved applicant is shown their offers and takes rank 1 with
its predicted conversion probability (the engine's own price-response model):

    expected booked volume = sum over approved applicants of conversion x amount
    expected profit        = sum over approved applicants of conversion x expected NPV

Fairness (pricing-science section 5): pricing never reads a protected attribute (the batch
engine has no input for one), so the check here is the outcome monitor a compliance officer
runs: approval rate and mean rank-1 ROI for every recorded group of each protected attribute,
and the adverse impact ratio (lowest group approval rate / highest), flagged below the
four-fifths rule's 0.8. Groups smaller than :data:`MIN_GROUP` are listed but not compared.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from domain.policy.model import PricingPolicy
from domain.simulation.batch import APPROVED, COUNTER_OFFER, DECLINED, BatchOutcome
from domain.simulation.columns import ApplicantColumns
from domain.simulation.volume import VolumeTargetReport, plan_volume_target

FOUR_FIFTHS = 0.8
MIN_GROUP = 30
_CENT = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class BandFigures:
    """Rates in percent a year over the band's approved applicants' rank-1 offers."""

    band: str
    applicants: int
    approved: int
    mean_roi: float | None
    mean_apr: float | None


@dataclass(frozen=True, slots=True)
class GroupFigures:
    group: str
    applicants: int
    approval_rate: float
    mean_roi: float | None


@dataclass(frozen=True, slots=True)
class FairnessCheck:
    attribute: str
    groups: tuple[GroupFigures, ...]
    adverse_impact_ratio: float | None
    passes: bool


@dataclass(frozen=True, slots=True)
class Count:
    name: str
    count: int


@dataclass(frozen=True, slots=True)
class PolicyOutcome:
    policy_version: int
    policy_name: str
    applicants: int
    approval_rate: float
    counter_offer_rate: float
    decline_rate: float
    mean_conversion: float | None
    expected_booked_volume: Decimal
    expected_profit: Decimal
    mean_roi: float | None
    mean_apr: float | None
    bands: tuple[BandFigures, ...]
    fallbacks: tuple[Count, ...]
    decline_reasons: tuple[Count, ...]
    fairness: tuple[FairnessCheck, ...]


@dataclass(frozen=True, slots=True)
class SimulationReport:
    sample_size: int
    seed: int
    live: PolicyOutcome
    draft: PolicyOutcome
    changed_decisions: int          # applicants whose decision differs
    changed_prices: int             # approved by both, with a different rank-1 ROI
    mean_roi_change: float | None   # draft - live, percentage points, over those approved by both
    volume_target: VolumeTargetReport | None = None   # the draft re-priced for a target take-up


def _mean(values: np.ndarray) -> float | None:
    return float(values.mean()) if len(values) else None


def _money(value: float) -> Decimal:
    return Decimal(repr(float(value))).quantize(_CENT)


def _fairness(outcome: BatchOutcome, cols: ApplicantColumns) -> tuple[FairnessCheck, ...]:
    approved = outcome.decision != DECLINED
    checks = []
    for attribute, labels in cols.protected.items():
        groups = []
        for group in sorted({str(x) for x in labels.tolist()} - {""}):
            mask = labels == group
            groups.append(GroupFigures(
                group, int(mask.sum()), float(approved[mask].mean()),
                _mean(outcome.roi_bps[mask & approved] / 100)))
        rates = [g.approval_rate for g in groups if g.applicants >= MIN_GROUP]
        ratio = min(rates) / max(rates) if len(rates) >= 2 and max(rates) > 0 else None
        checks.append(FairnessCheck(attribute, tuple(groups), ratio,
                                    ratio is None or ratio >= FOUR_FIFTHS))
    return tuple(checks)


def summarise(outcome: BatchOutcome, policy: PricingPolicy, cols: ApplicantColumns
              ) -> PolicyOutcome:
    n = len(outcome.decision)
    approved = outcome.decision != DECLINED
    conversion = outcome.conversion[approved]
    bands = []
    for b, band in enumerate(policy.bands):
        in_band = outcome.band == b
        ok = in_band & approved
        bands.append(BandFigures(band.name, int(in_band.sum()), int(ok.sum()),
                                 _mean(outcome.roi_bps[ok] / 100),
                                 _mean(outcome.apr_percent[ok])))
    fallbacks = {}
    for name in outcome.fallback[approved].tolist():
        if name:
            fallbacks[name] = fallbacks.get(name, 0) + 1
    reasons = sorted(((code, int(mask.sum())) for code, mask in outcome.decline_reasons.items()
                      if mask.any()), key=lambda x: (-x[1], x[0]))
    share = (lambda code: float((outcome.decision == code).mean())) if n else (lambda code: 0.0)
    return PolicyOutcome(
        policy_version=policy.version, policy_name=policy.name, applicants=n,
        approval_rate=share(APPROVED), counter_offer_rate=share(COUNTER_OFFER),
        decline_rate=share(DECLINED), mean_conversion=_mean(conversion),
        expected_booked_volume=_money((conversion * outcome.amount_paise[approved] / 100).sum()),
        expected_profit=_money((conversion * outcome.expected_profit[approved]).sum()),
        mean_roi=_mean(outcome.roi_bps[approved] / 100),
        mean_apr=_mean(outcome.apr_percent[approved]),
        bands=tuple(bands),
        fallbacks=tuple(Count(k, v) for k, v in sorted(fallbacks.items())),
        decline_reasons=tuple(Count(k, v) for k, v in reasons),
        fairness=_fairness(outcome, cols),
    )


def compare(live: tuple[BatchOutcome, PricingPolicy], draft: tuple[BatchOutcome, PricingPolicy],
            cols: ApplicantColumns, seed: int, target_take_up: float | None = None
            ) -> SimulationReport:
    (live_out, live_policy), (draft_out, draft_policy) = live, draft
    both = (live_out.decision != DECLINED) & (draft_out.decision != DECLINED)
    change = (draft_out.roi_bps[both] - live_out.roi_bps[both]) / 100
    return SimulationReport(
        sample_size=len(cols), seed=seed,
        live=summarise(live_out, live_policy, cols),
        draft=summarise(draft_out, draft_policy, cols),
        changed_decisions=int((live_out.decision != draft_out.decision).sum()),
        changed_prices=int((change != 0).sum()),
        mean_roi_change=_mean(change),
        volume_target=(None if target_take_up is None
                       else plan_volume_target(draft_out, draft_policy, target_take_up)),
    )
