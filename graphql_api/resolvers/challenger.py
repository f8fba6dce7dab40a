"""Champion/challenger: start and stop an experiment; its figures per arm."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

from application.ports import ArmFigures as DomainArm
from application.ports import ChallengerConfig
from application.use_cases.challenger import ChallengerReport
from domain.policy.challenger import BUCKETS, Arm
from graphql_api.context import GraphQLContext
from graphql_api.errors import call, typed_error

ChallengerArm = strawberry.enum(Arm, name="ChallengerArm")


@strawberry.type(description="A champion/challenger experiment: the challenger version prices "
                             "`share` of users, chosen by a stable hash of the user id.")
class ChallengerExperiment:
    experiment_id: int
    challenger_version: int
    champion_version: int
    share: float
    started_at: datetime
    ended_at: datetime | None
    running: bool

    @classmethod
    def of(cls, c: ChallengerConfig) -> ChallengerExperiment:
        return cls(experiment_id=c.experiment_id, challenger_version=c.challenger_version,
                   champion_version=c.champion_version, share=c.share_bps / BUCKETS,
                   started_at=c.started_at, ended_at=c.ended_at, running=c.ended_at is None)


@strawberry.type(description="Offers created while the experiment ran, for one policy version.")
class ArmFigures:
    arm: ChallengerArm
    policy_version: int
    answers: int = strawberry.field(description="Decisions that carried offers")
    offers: int
    acceptances: int
    acceptance_rate: float = strawberry.field(description="Acceptances per answer")
    expected_profit: float = strawberry.field(
        description="INR: sum over answers of rank-1 conversion probability x expected NPV")
    accepted_profit: float = strawberry.field(description="INR: expected NPV of accepted offers")

    @classmethod
    def of(cls, a: DomainArm, challenger_version: int) -> ArmFigures:
        arm = Arm.CHALLENGER if a.policy_version == challenger_version else Arm.CHAMPION
        return cls(arm=arm, policy_version=a.policy_version, answers=a.answers, offers=a.offers,
                   acceptances=a.acceptances,
                   acceptance_rate=a.acceptances / a.answers if a.answers else 0.0,
                   expected_profit=a.expected_profit, accepted_profit=a.accepted_profit)


@strawberry.type
class ChallengerFigures:
    experiment: ChallengerExperiment
    arms: list[ArmFigures]

    @classmethod
    def of(cls, report: ChallengerReport) -> ChallengerFigures:
        version = report.config.challenger_version
        return cls(experiment=ChallengerExperiment.of(report.config),
                   arms=[ArmFigures.of(a, version) for a in report.arms])


def _use_case(info: Info[GraphQLContext, None]):
    use_case = info.context.services.challenger
    if use_case is None:
        raise typed_error("UNAVAILABLE", "champion/challenger is not configured")
    return use_case


@strawberry.type
class ChallengerQueries:
    @strawberry.field(description="The running (else the last) challenger experiment and its "
                                  "offers, acceptances and expected profit per arm.")
    async def challenger_figures(self, info: Info[GraphQLContext, None]) -> ChallengerFigures:
        return ChallengerFigures.of(await call(_use_case(info).figures()))


@strawberry.type
class ChallengerMutations:
    @strawberry.mutation(description="Price `share` (0..1) of users with the stored, inactive "
                                     "policy version `policyVersion` (one experiment at a time).")
    async def start_challenger(self, info: Info[GraphQLContext, None], policy_version: int,
                               share: float) -> ChallengerExperiment:
        return ChallengerExperiment.of(await call(_use_case(info).start(policy_version, share)))

    @strawberry.mutation(description="End the running experiment: everyone gets the active policy.")
    async def stop_challenger(self, info: Info[GraphQLContext, None]) -> ChallengerExperiment:
        return ChallengerExperiment.of(await call(_use_case(info).stop()))
