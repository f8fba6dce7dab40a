"""Champion/challenger: start and stop an experiment, and read its figures per arm."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from application.challenger import PolicyRouter
from application.errors import InvalidInput, NotFound
from application.ports import ArmFigures, ChallengerConfig, ChallengerStore, Clock
from domain.policy.challenger import BUCKETS


@dataclass(frozen=True, slots=True)
class ChallengerReport:
    config: ChallengerConfig
    arms: tuple[ArmFigures, ...]


class ManageChallenger:
    def __init__(self, store: ChallengerStore, router: PolicyRouter, clock: Clock) -> None:
        self._store = store
        self._router = router
        self._clock = clock

    async def start(self, challenger_version: int, share: float) -> ChallengerConfig:
        """``share`` of users (0 < share < 1, to the basis point) priced by the stored
        ``challenger_version``."""
        # The range first: round() of a huge share (1e308 x BUCKETS is infinite) would raise.
        if not 0 < share < 1 or not 0 < round(share * BUCKETS) < BUCKETS:
            raise InvalidInput("share must be between 0.0001 and 0.9999", field="share")
        share_bps = round(share * BUCKETS)
        config = await self._store.start(challenger_version, share_bps, self._clock.now())
        self._router.refresh()
        return config

    async def stop(self) -> ChallengerConfig:
        config = await self._store.stop(self._clock.now())
        if config is None:
            raise NotFound("no challenger experiment is running")
        self._router.refresh()
        return config

    async def figures(self) -> ChallengerReport:
        config = await self._store.latest()
        if config is None:
            raise NotFound("no challenger experiment has run")
        arms: Sequence[ArmFigures] = await self._store.figures(config, self._clock.now())
        return ChallengerReport(config, tuple(arms))
