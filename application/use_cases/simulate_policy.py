"""SimulatePolicy: what-if simulation of a draft pricing policy against the live one.

The same sample of the stored portfolio (deterministic by seed) is decided and priced by both
policies with the vectorised batch engine (:mod:`domain.simulation.batch`, held equal to the
scalar engine applicant by applicant), as ``loanOffers`` would answer each applicant asking
with no terms today. The CPU-bound work runs in a worker thread, off the event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from application.errors import InvalidInput
from application.policy_source import ActivePolicySource
from application.ports import Clock, PortfolioSample, SampledApplicant
from domain.policy.model import PricingPolicy
from domain.policy.parsing import PolicyValidationError, parse_policy_toml
from domain.simulation.batch import simulate_batch
from domain.simulation.columns import ApplicantColumns
from domain.simulation.report import SimulationReport, compare
from domain.simulation.requests import RequestScenario, simulate_requests


class InvalidPolicy(InvalidInput):
    """A draft policy document with problems; ``problems`` lists ``(path, message)``."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(f"the draft policy has {len(problems)} problem(s)")
        self.problems = tuple(_split(p) for p in problems)


def _split(problem: str) -> tuple[str, str]:
    path, sep, message = problem.partition(": ")
    return (path, message) if sep else ("policy", problem)


def parse_draft(toml_text: str) -> PricingPolicy:
    """Parse a draft, turning every validation problem into :class:`InvalidPolicy`."""
    try:
        return parse_policy_toml(toml_text)
    except PolicyValidationError as exc:
        raise InvalidPolicy(exc.errors) from exc


@dataclass(frozen=True, slots=True)
class SimulationCommand:
    draft_toml: str
    sample_size: int
    seed: int = 0
    target_take_up: float | None = None   # also plan the draft for this mean take-up
    request: RequestScenario | None = None  # None: every applicant asks with no terms


class SimulatePolicy:
    def __init__(self, sample: PortfolioSample, policies: ActivePolicySource, clock: Clock,
                 max_sample: int, max_request_sample: int = 5_000) -> None:
        self._sample = sample
        self._policies = policies
        self._clock = clock
        self._max_sample = max_sample
        # Requested terms run the scalar engine per applicant (~1 ms each): a smaller bound.
        self._max_request_sample = min(max_request_sample, max_sample)

    @property
    def max_sample(self) -> int:
        return self._max_sample

    async def execute(self, command: SimulationCommand) -> SimulationReport:
        bound = self._max_sample if command.request is None else self._max_request_sample
        if not 1 <= command.sample_size <= bound:
            raise InvalidInput(f"sampleSize must be between 1 and {bound}"
                               + ("" if command.request is None else " with requested terms"),
                               field="sampleSize")
        if command.seed < 0:  # numpy's generators take non-negative seeds only
            raise InvalidInput("seed must be 0 or more", field="seed")
        target = command.target_take_up
        if target is not None and not 0 < target < 1:
            raise InvalidInput("targetTakeUp must be between 0 and 1", field="targetTakeUp")
        draft = parse_draft(command.draft_toml)
        live = await self._policies.active()
        now = self._clock.now()
        sampled = await self._sample.sample(command.sample_size, command.seed, now)
        if command.request is not None:
            return await asyncio.to_thread(run_request_comparison, live, draft, sampled, now,
                                           command.seed, command.request, target)
        return await asyncio.to_thread(run_comparison, live, draft, sample_columns(sampled), now,
                                       command.seed, target)


def sample_columns(sampled: Sequence[SampledApplicant]) -> ApplicantColumns:
    return ApplicantColumns.from_applicants([s.applicant for s in sampled],
                                            [s.history for s in sampled])


def run_comparison(live: PricingPolicy, draft: PricingPolicy, cols: ApplicantColumns,
                   now: datetime, seed: int, target_take_up: float | None = None
                   ) -> SimulationReport:
    return compare((simulate_batch(live, cols, now), live),
                   (simulate_batch(draft, cols, now), draft), cols, seed, target_take_up)


def run_request_comparison(live: PricingPolicy, draft: PricingPolicy,
                           sampled: Sequence[SampledApplicant], now: datetime, seed: int,
                           scenario: RequestScenario, target_take_up: float | None = None
                           ) -> SimulationReport:
    applicants = [s.applicant for s in sampled]
    histories = [s.history for s in sampled]
    return compare((simulate_requests(live, applicants, histories, scenario, now), live),
                   (simulate_requests(draft, applicants, histories, scenario, now), draft),
                   sample_columns(sampled), seed, target_take_up)
