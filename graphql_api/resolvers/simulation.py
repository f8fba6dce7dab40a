"""Query.simulatePolicy: what-if simulation of a draft policy against the live one."""

from __future__ import annotations

from dataclasses import asdict
from decimal import Decimal

import strawberry
from strawberry.types import Info

from application.use_cases.simulate_policy import InvalidPolicy, SimulationCommand
from domain.simulation import report as domain
from domain.simulation.requests import RequestScenario
from graphql_api.context import GraphQLContext
from graphql_api.errors import call, typed_error
from graphql_api.types import money


@strawberry.type(description="Rank-1 rates of one risk band, percent a year.")
class BandFigures:
    band: str
    applicants: int
    approved: int
    mean_roi: float | None
    mean_apr: float | None


@strawberry.type
class NamedCount:
    name: str
    count: int


@strawberry.type
class GroupFigures:
    group: str
    applicants: int
    approval_rate: float
    mean_roi: float | None


@strawberry.type(description="Outcome monitor for one protected attribute (never a pricing "
                             "input): approval and rate by group; adverse impact ratio = lowest "
                             "/ highest group approval rate, passing at 0.8 or above.")
class FairnessCheck:
    attribute: str
    groups: list[GroupFigures]
    adverse_impact_ratio: float | None
    passes: bool


@strawberry.type(description="A policy's outcome over the sample. Expected figures assume the "
                             "rank-1 offer is taken with its predicted conversion probability.")
class PolicyOutcome:
    policy_version: int
    policy_name: str
    applicants: int
    approval_rate: float
    counter_offer_rate: float
    decline_rate: float
    mean_conversion: float | None
    expected_booked_volume: float
    expected_profit: float
    mean_roi: float | None
    mean_apr: float | None
    bands: list[BandFigures]
    fallbacks: list[NamedCount]
    decline_reasons: list[NamedCount]
    fairness: list[FairnessCheck]

    @classmethod
    def of(cls, o: domain.PolicyOutcome) -> PolicyOutcome:
        return cls(
            policy_version=o.policy_version, policy_name=o.policy_name, applicants=o.applicants,
            approval_rate=o.approval_rate, counter_offer_rate=o.counter_offer_rate,
            decline_rate=o.decline_rate, mean_conversion=o.mean_conversion,
            expected_booked_volume=money(o.expected_booked_volume),
            expected_profit=money(o.expected_profit), mean_roi=o.mean_roi, mean_apr=o.mean_apr,
            bands=[BandFigures(**asdict(b)) for b in o.bands],
            fallbacks=[NamedCount(**asdict(c)) for c in o.fallbacks],
            decline_reasons=[NamedCount(**asdict(c)) for c in o.decline_reasons],
            fairness=[FairnessCheck(
                attribute=f.attribute, groups=[GroupFigures(**asdict(g)) for g in f.groups],
                adverse_impact_ratio=f.adverse_impact_ratio, passes=f.passes)
                for f in o.fairness],
        )


@strawberry.type
class BandRateShift:
    band: str
    current_roi: float | None
    planned_roi: float | None


@strawberry.type(description="The draft re-priced so that the approved applicants' mean take-up "
                             "reaches the target at maximum expected profit (lambda bisection, "
                             "continuous rates: a planning figure, not offers).")
class VolumeTarget:
    target_take_up: float
    current_take_up: float
    planned_take_up: float
    current_profit: float
    planned_profit: float
    shadow_price: float | None = strawberry.field(
        description="INR of expected profit given up per unit of take-up at the margin; null "
                    "when the target is out of reach within the rate bands")
    binding: bool
    feasible: bool
    bands: list[BandRateShift]

    @classmethod
    def of(cls, v) -> VolumeTarget:
        return cls(target_take_up=v.target_take_up, current_take_up=v.current_take_up,
                   planned_take_up=v.planned_take_up, current_profit=round(v.current_profit, 2),
                   planned_profit=round(v.planned_profit, 2),
                   shadow_price=v.shadow_price if v.feasible else None, binding=v.binding,
                   feasible=v.feasible, bands=[BandRateShift(**asdict(b)) for b in v.bands])


@strawberry.type(description="The live policy and the draft over the same sample.")
class PolicySimulation:
    sample_size: int
    seed: int
    live: PolicyOutcome
    draft: PolicyOutcome
    changed_decisions: int
    changed_prices: int
    mean_roi_change: float | None = strawberry.field(
        description="Draft minus live rank-1 ROI, percentage points, over applicants both approve")
    volume_target: VolumeTarget | None = strawberry.field(
        default=None, description="Only with targetTakeUp")

    @classmethod
    def of(cls, r: domain.SimulationReport) -> PolicySimulation:
        return cls(sample_size=r.sample_size, seed=r.seed, live=PolicyOutcome.of(r.live),
                   draft=PolicyOutcome.of(r.draft), changed_decisions=r.changed_decisions,
                   changed_prices=r.changed_prices, mean_roi_change=r.mean_roi_change,
                   volume_target=(VolumeTarget.of(r.volume_target)
                                  if r.volume_target is not None else None))


@strawberry.input(description="The terms every sampled applicant asks for: an amount of "
                              "incomeMultiple x their monthly income (within the policy's limits) "
                              "and/or a tenure. Runs the full engine per applicant (counter-offers "
                              "and fallbacks), with a smaller sampleSize bound.")
class SimulatedRequest:
    income_multiple: float | None = None
    tenure: int | None = None


def _scenario(request: SimulatedRequest | None) -> RequestScenario | None:
    if request is None:
        return None
    try:
        multiple = (None if request.income_multiple is None
                    else Decimal(repr(request.income_multiple)))
        return RequestScenario(multiple, request.tenure)
    except ValueError as exc:
        raise typed_error("BAD_USER_INPUT", str(exc), field="request") from exc


@strawberry.type
class SimulationQueries:
    @strawberry.field(description="Simulate a draft pricing policy (TOML) over a sample of the "
                                  "portfolio and compare it with the live policy. A draft with "
                                  "problems is BAD_USER_INPUT with extensions.problems "
                                  "[{path, message}].")
    async def simulate_policy(self, info: Info[GraphQLContext, None], draft: str,
                              sample_size: int = 1000, seed: int = 0,
                              target_take_up: float | None = None,
                              request: SimulatedRequest | None = None) -> PolicySimulation:
        use_case = info.context.services.simulate_policy
        if use_case is None:
            raise typed_error("UNAVAILABLE", "simulation is not configured")
        command = SimulationCommand(draft, sample_size, seed, target_take_up, _scenario(request))
        try:
            report = await call(use_case.execute(command))
        except Exception as exc:
            cause = exc.__cause__
            if isinstance(cause, InvalidPolicy):
                raise typed_error(
                    "BAD_USER_INPUT", cause.message, field="draft",
                    problems=[{"path": p, "message": m} for p, m in cause.problems]) from cause
            raise
        return PolicySimulation.of(report)
