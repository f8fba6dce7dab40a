"""The active pricing policy, read from the repository and kept in memory for a short time.

Policies change rarely (an admin publishes); a few seconds of staleness across replicas is the
price of not reading the policy table on every request. ``refresh()`` drops the copy at once
(called after a publish on this process). When the database is unavailable the last policy read
is kept (a stale policy prices correctly; a missing one cannot price at all) and re-read later.
"""

from __future__ import annotations

import asyncio

from application.errors import Unavailable
from application.ports import Clock, UnitOfWorkFactory
from domain.policy.model import PricingPolicy


class ActivePolicySource:
    def __init__(self, uow_factory: UnitOfWorkFactory, clock: Clock, ttl_seconds: float = 5.0
                 ) -> None:
        self._uow_factory = uow_factory
        self._clock = clock
        self._ttl = ttl_seconds
        self._policy: PricingPolicy | None = None
        self._loaded_at = 0.0
        self._lock = asyncio.Lock()

    async def active(self) -> PricingPolicy:
        now = self._clock.now().timestamp()
        if self._policy is not None and now - self._loaded_at < self._ttl:
            return self._policy
        async with self._lock:
            if self._policy is None or now - self._loaded_at >= self._ttl:
                try:
                    async with self._uow_factory() as uow:
                        policy = await uow.policies.active()
                except Unavailable:
                    if self._policy is None:
                        raise
                    return self._policy
                if policy is None:
                    raise Unavailable("no pricing policy has been published")
                self._policy, self._loaded_at = policy, now
        return self._policy

    def refresh(self) -> None:
        self._policy = None
