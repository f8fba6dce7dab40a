"""config.expiry_sweeper: sweeps on its interval, survives a failing sweep, stops cleanly."""

from __future__ import annotations

import asyncio

from config.expiry_sweeper import ExpirySweeper


class CountingExpire:
    def __init__(self, fail_first: int = 0) -> None:
        self.calls = 0
        self._fail_first = fail_first

    async def execute(self) -> int:
        self.calls += 1
        if self.calls <= self._fail_first:
            raise ConnectionError("database away")
        return 2


async def test_the_sweeper_keeps_sweeping_after_failures_and_stops() -> None:
    expire = CountingExpire(fail_first=2)
    sweeper = ExpirySweeper(expire, interval_s=0.01)
    await sweeper.start()
    for _ in range(500):
        if sweeper.sweeps >= 2:
            break
        await asyncio.sleep(0.01)
    await sweeper.stop()
    assert sweeper.failures == 2
    assert sweeper.sweeps >= 2 and sweeper.expired == 2 * sweeper.sweeps
    calls = expire.calls
    await asyncio.sleep(0.05)
    assert expire.calls == calls  # stopped for good


async def test_interval_zero_turns_the_sweeper_off() -> None:
    expire = CountingExpire()
    sweeper = ExpirySweeper(expire, interval_s=0)
    await sweeper.start()
    await asyncio.sleep(0.05)
    await sweeper.stop()
    assert expire.calls == 0
    assert await sweeper.sweep_once() == 2  # a manual sweep still works


async def test_idempotency_answers_are_forgotten_after_the_retention(
        uow_factory, clock, publisher) -> None:
    from datetime import timedelta

    from application.offer_outcome import OfferOutcome
    from application.use_cases.purge_idempotency_keys import PurgeIdempotencyKeys
    from tests.unit.use_cases.fakes import NOW

    class _Offer:  # only decided_at matters to the purge
        pass

    async with uow_factory() as uow:
        for n, age in enumerate((timedelta(days=8), timedelta(days=6), timedelta(days=9))):
            outcome = OfferOutcome(_Offer(), (), NOW - age)  # type: ignore[arg-type]
            await uow.idempotency.add("acceptOffer", f"k{n}", "x", outcome)
        await uow.commit()
    purge = PurgeIdempotencyKeys(uow_factory, clock, timedelta(days=7), batch_size=1)
    assert await purge.execute() == 2
    assert [k for _, k in uow_factory.store.idempotency] == ["k1"]
