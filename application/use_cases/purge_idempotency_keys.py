"""PurgeIdempotencyKeys: forget stored answers older than the retention period.

A client retries within seconds or minutes; keeping answers for days (default a week) covers
any retry and keeps the table small. After the purge, reusing an old key acts again.
"""

from __future__ import annotations

from datetime import timedelta

from application.ports import Clock, UnitOfWorkFactory


class PurgeIdempotencyKeys:
    def __init__(self, uow_factory: UnitOfWorkFactory, clock: Clock, retention: timedelta,
                 batch_size: int = 1000) -> None:
        self._uow_factory = uow_factory
        self._clock = clock
        self._retention = retention
        self._batch = batch_size

    async def execute(self) -> int:
        before = self._clock.now() - self._retention
        total = 0
        while True:
            async with self._uow_factory() as uow:
                purged = await uow.idempotency.purge(before, self._batch)
                await uow.commit()
            total += purged
            if purged < self._batch:
                return total
