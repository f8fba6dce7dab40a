"""Which policy prices a user: the active (champion) policy, or the challenger for its share.

The running experiment and its policy are kept in memory like the active policy (re-read every
``ttl_seconds``): a stale few seconds after a start or stop, the price of not reading two tables
on every request. The arm comes from a stable hash of the user id
(:func:`domain.policy.challenger.arm_for`), so a user sees one arm for the whole experiment on
every replica.
"""

from __future__ import annotations

import asyncio

from application.errors import Unavailable
from application.policy_source import ActivePolicySource
from application.ports import ChallengerConfig, ChallengerStore, Clock, UnitOfWorkFactory
from domain.policy.challenger import Arm, arm_for
from domain.policy.model import PricingPolicy


class PolicyRouter:
    def __init__(self, champion: ActivePolicySource, challengers: ChallengerStore,
                 uow_factory: UnitOfWorkFactory, clock: Clock, ttl_seconds: float = 5.0) -> None:
        self._champion = champion
        self._challengers = challengers
        self._uow_factory = uow_factory
        self._clock = clock
        self._ttl = ttl_seconds
        self._state: tuple[ChallengerConfig, PricingPolicy] | None = None
        self._loaded_at: float | None = None
        self._lock = asyncio.Lock()

    async def _challenger(self) -> tuple[ChallengerConfig, PricingPolicy] | None:
        now = self._clock.now().timestamp()
        if self._loaded_at is not None and now - self._loaded_at < self._ttl:
            return self._state
        async with self._lock:
            if self._loaded_at is None or now - self._loaded_at >= self._ttl:
                try:
                    config = await self._challengers.running()
                    policy = None
                    if config is not None:
                        async with self._uow_factory() as uow:
                            policy = await uow.policies.get(config.challenger_version)
                except Unavailable:
                    if self._loaded_at is None:
                        raise
                    return self._state   # keep the last experiment while the database is away
                self._state = (config, policy) if config is not None and policy else None
                self._loaded_at = now
        return self._state

    async def for_user(self, user_id: str) -> tuple[PricingPolicy, Arm]:
        champion = await self._champion.active()
        state = await self._challenger()
        if state is None:
            return champion, Arm.CHAMPION
        config, challenger = state
        if challenger.version == champion.version:   # promoted meanwhile: one policy, no test
            return champion, Arm.CHAMPION
        if arm_for(user_id, config.share_bps, config.salt) is Arm.CHALLENGER:
            return challenger, Arm.CHALLENGER
        return champion, Arm.CHAMPION

    def refresh(self) -> None:
        self._loaded_at = None
