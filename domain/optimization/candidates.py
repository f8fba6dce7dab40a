"""Candidate loans (amount x tenure) around the request, and the fallback families.

Without a request the candidates are the policy grid (plus the affordable maximum at each
tenure). With a request they are the requested terms plus nearby alternatives. When the request
cannot be met as asked, fallbacks are tried in this documented order, each producing a labelled
family of counter-offers:

1. REDUCED_AMOUNT: keep the requested tenure, reduce the amount to the affordable maximum.
2. EXTENDED_TENURE: keep the amount, take the shortest longer tenure that makes it affordable.
3. REDUCED_AMOUNT_EXTENDED_TENURE: the longest eligible tenure at its affordable maximum.

Then decline, with reason codes. Affordability is computed at the band's ceiling rate, so any
offered rate keeps the EMI within the FOIR allowance.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from decimal import Decimal

from domain.applicant import LoanRequest
from domain.finance.instalment import annuity_factor
from domain.offers import Fallback
from domain.policy.model import PricingPolicy
from domain.risk.assessment import floor_float_to_step, floor_to_step
from domain.slotted import fast_init

ALTERNATIVE_FRACTIONS = (Decimal("0.75"), Decimal("0.5"))


@fast_init
@dataclass(frozen=True, slots=True)
class Candidate:
    amount: Decimal
    tenure: int
    fallback: Fallback | None = None


@fast_init
@dataclass(frozen=True, slots=True)
class CandidateSpace:
    """What the applicant may borrow: eligible tenures, the amount ceiling and the FOIR room."""

    policy: PricingPolicy
    tenures: tuple[int, ...]
    max_tenure: int
    ceiling: Decimal
    max_new_emi: Decimal
    max_roi: float
    _affordable: dict[int, Decimal] = field(default_factory=dict, compare=False, repr=False)

    def affordable(self, tenure: int) -> Decimal:
        """Largest amount (a multiple of the policy step) whose EMI at ``max_roi`` fits."""
        known = self._affordable.get(tenure)
        if known is None:
            raw = float(self.max_new_emi) * annuity_factor(self.max_roi, tenure)
            known = min(floor_float_to_step(raw, self.policy.amounts.step), self.ceiling)
            self._affordable[tenure] = known
        return known

    def fits(self, amount: Decimal, tenure: int) -> bool:
        return (self.policy.amounts.minimum <= amount <= self.affordable(tenure)
                and self.tenure_allowed(tenure))

    def tenure_allowed(self, tenure: int) -> bool:
        return self.policy.tenures.minimum <= tenure <= self.max_tenure

    def step_down(self, amount: Decimal) -> Decimal:
        return max(floor_to_step(amount, self.policy.amounts.step), self.policy.amounts.minimum)


def grid_candidates(space: CandidateSpace) -> list[Candidate]:
    return [c for tenure in space.tenures for c in _amounts_at(space, tenure)]


def _nearby_tenures(space: CandidateSpace, tenure: int) -> list[int]:
    below = [t for t in space.tenures if t < tenure][-1:]
    above = [t for t in space.tenures if t > tenure][:1]
    return [*below, tenure, *above]


def _amounts_at(space: CandidateSpace, tenure: int) -> list[Candidate]:
    """Grid amounts that fit at ``tenure``, plus the largest affordable amount (ascending)."""
    top = space.affordable(tenure)
    amounts, candidates = _grid_at(space.policy, tenure)
    fitting = bisect_right(amounts, top)
    result = list(candidates[:fitting])
    # top is at least every fitting grid amount: it is new unless it equals the largest.
    if top >= space.policy.amounts.minimum and (not fitting or amounts[fitting - 1] != top):
        result.append(Candidate(top, tenure))
    return result


def _grid_at(policy: PricingPolicy, tenure: int
             ) -> tuple[tuple[Decimal, ...], tuple[Candidate, ...]]:
    """The policy's distinct grid amounts, ascending, and their candidates at ``tenure``:
    the same for every applicant, so built once per policy and tenure."""
    known = policy.derived("grid_candidates", dict)  # tenure -> (amounts, candidates)
    grid = known.get(tenure)
    if grid is None:
        amounts = tuple(sorted(dict.fromkeys(policy.amounts.grid)))
        grid = known[tenure] = amounts, tuple(Candidate(a, tenure) for a in amounts)
    return grid


def requested_candidates(space: CandidateSpace, request: LoanRequest) -> list[Candidate]:
    """The requested terms and nearby alternatives (all meant to meet the request as asked)."""
    amount, tenure = request.requested_amount, request.requested_tenure
    if amount is None:
        assert tenure is not None
        # Any allowed tenure, on the policy's tenure grid or not, gets the grid's amounts.
        return _amounts_at(space, tenure) if space.tenure_allowed(tenure) else []
    tenures = _nearby_tenures(space, tenure) if tenure is not None else list(space.tenures)
    amounts = {amount, *(space.step_down(amount * f) for f in ALTERNATIVE_FRACTIONS)}
    return [Candidate(a, t) for t in tenures for a in sorted(amounts) if space.fits(a, t)]


def meets_request(candidate: Candidate, request: LoanRequest) -> bool:
    return ((request.requested_amount is None or candidate.amount == request.requested_amount)
            and (request.requested_tenure is None or candidate.tenure == request.requested_tenure))


_LABELS = {
    (True, 0): Fallback.REDUCED_AMOUNT,
    (False, 1): Fallback.EXTENDED_TENURE,
    (True, 1): Fallback.REDUCED_AMOUNT_EXTENDED_TENURE,
    (False, -1): Fallback.SHORTER_TENURE,
    (True, -1): Fallback.REDUCED_AMOUNT_SHORTER_TENURE,
}


def fallback_label(amount: Decimal, tenure: int, request: LoanRequest) -> Fallback | None:
    """Name the fallback by how the terms differ from the request (None: they do not)."""
    reduced = request.requested_amount is not None and amount < request.requested_amount
    asked = request.requested_tenure
    direction = 0 if asked is None or tenure == asked else (1 if tenure > asked else -1)
    return _LABELS.get((reduced, direction))


def fallback_candidates(space: CandidateSpace, request: LoanRequest) -> list[Candidate]:
    """Counter-offers in the documented fallback order (possibly empty).

    Each is labelled by how it actually differs from the request; terms identical to the
    request are not repeated as a fallback.
    """
    minimum = space.policy.amounts.minimum
    wanted = request.requested_amount or space.ceiling
    asked_tenure = request.requested_tenure
    terms: list[tuple[Decimal, int]] = []
    if asked_tenure is not None and space.tenure_allowed(asked_tenure):
        reduced = min(space.affordable(asked_tenure), wanted)
        if reduced >= minimum:
            terms.append((reduced, asked_tenure))
    if request.requested_amount is not None:
        longer = [t for t in space.tenures if asked_tenure is None or t > asked_tenure]
        terms.extend([(wanted, t) for t in longer if space.fits(wanted, t)][:1])
    if space.tenures:
        longest = space.tenures[-1]
        top = min(space.affordable(longest), wanted)
        if top >= minimum:
            terms.append((top, longest))
    result: list[Candidate] = []
    for amount, tenure in terms:
        label = fallback_label(amount, tenure, request)
        if label is not None and all((c.amount, c.tenure) != (amount, tenure) for c in result):
            result.append(Candidate(amount, tenure, label))
    return result
