"""The background task that expires offers past ``validUntil`` (``ExpireOffers``) every
``LOAN_OFFERS_EXPIRY_SWEEP_INTERVAL_S`` seconds, on every replica, and forgets idempotency
records past their retention (``PurgeIdempotencyKeys``).

Replicas need no leader: the repository's conditional update hands each due offer to exactly
one of them, so each EXPIRED event is sent once. A failed sweep (database down) is logged and
retried at the next tick; it never stops the task.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random

from application.use_cases.expire_offers import ExpireOffers
from application.use_cases.purge_idempotency_keys import PurgeIdempotencyKeys

log = logging.getLogger("loan_offers.expiry")


class ExpirySweeper:
    def __init__(self, expire: ExpireOffers, interval_s: float,
                 purge: PurgeIdempotencyKeys | None = None) -> None:
        self._expire = expire
        self._purge = purge
        self._interval = interval_s
        self._task: asyncio.Task[None] | None = None
        self.sweeps = 0
        self.expired = 0
        self.failures = 0

    async def start(self) -> None:
        if self._interval > 0 and self._task is None:
            self._task = asyncio.create_task(self._run(), name="offer-expiry-sweeper")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def sweep_once(self) -> int:
        expired = await self._expire.execute()
        if self._purge is not None:
            await self._purge.execute()
        self.sweeps += 1
        self.expired += expired
        if expired:
            log.info("expired %d offers past validUntil", expired)
        return expired

    async def _run(self) -> None:
        # Replicas started together drift apart instead of sweeping in lockstep.
        await asyncio.sleep(random.uniform(0, self._interval))
        while True:
            try:
                await self.sweep_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                self.failures += 1
                log.exception("offer expiry sweep failed; retrying in %.0fs", self._interval)
            await asyncio.sleep(self._interval)
