"""Rank priced candidates by expected value.

    objective = conversion probability x (expected NPV profit + w x long-term value)

``w`` is the policy's ``ranking.lifetime_value_weight``. Ties break deterministically: lower ROI
first (better for the customer), then the larger amount, then the shorter tenure. Only distinct
(amount, tenure) pairs are kept, at most ``ranking.max_offers``.
"""

from __future__ import annotations

from dataclasses import dataclass

from domain.optimization.pricing import PricedFamily


@dataclass(frozen=True, slots=True)
class RankedPick:
    family: PricedFamily
    index: int

    @property
    def objective(self) -> float:
        return float(self.family.objective[self.index])


def rank_candidates(families: list[PricedFamily], max_offers: int) -> list[RankedPick]:
    picks = [RankedPick(f, i) for f in families for i in range(len(f.candidates)) if f.feasible[i]]

    def order(pick: RankedPick) -> tuple:
        c = pick.family.candidates[pick.index]
        return (-round(pick.objective, 6), int(pick.family.roi_bps[pick.index]), -c.amount, c.tenure)

    seen: set[tuple] = set()
    ranked: list[RankedPick] = []
    for pick in sorted(picks, key=order):
        c = pick.family.candidates[pick.index]
        if (c.amount, c.tenure) in seen:
            continue
        seen.add((c.amount, c.tenure))
        ranked.append(pick)
        if len(ranked) == max_offers:
            break
    return ranked
