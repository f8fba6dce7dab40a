"""Rank priced candidates by expected value.

    objective = conversion probability x (expected NPV profit + w x long-term value)

``w`` is the policy's ``ranking.lifetime_value_weight``. Ties break deterministically: lower ROI
first (better for the customer), then the larger amount, then the shorter tenure. Only distinct
(amount, tenure) pairs are kept, at most ``ranking.max_offers``.
"""

from __future__ import annotations

from dataclasses import dataclass

from domain.optimization.pricing import PricedFamily
from domain.slotted import fast_init


@fast_init
@dataclass(frozen=True, slots=True)
class RankedPick:
    family: PricedFamily
    index: int

    @property
    def objective(self) -> float:
        return float(self.family.objective[self.index])


def rank_candidates(families: list[PricedFamily], max_offers: int) -> list[RankedPick]:
    keyed = []
    for f in families:
        # Plain Python lists: indexing numpy scalars one by one costs more than the sort.
        objective = f.objective.round(6).tolist()  # np.round without its Python wrapper
        roi_bps, feasible = f.roi_bps.tolist(), f.feasible.tolist()
        for i, c in enumerate(f.candidates):
            if feasible[i]:
                # The running count after the key keeps a stable sort's order for equal keys
                # and stops the comparison before the family.
                keyed.append((-objective[i], roi_bps[i], -c.amount, c.tenure, len(keyed), f, i))
    keyed.sort()

    seen: set[tuple] = set()
    ranked: list[RankedPick] = []
    for entry in keyed:
        f, i = entry[5], entry[6]
        c = f.candidates[i]
        if (c.amount, c.tenure) in seen:
            continue
        seen.add((c.amount, c.tenure))
        ranked.append(RankedPick(f, i))
        if len(ranked) == max_offers:
            break
    return ranked
