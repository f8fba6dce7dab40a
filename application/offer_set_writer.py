"""Durable offer-set writes, grouped: many concurrent requests share one transaction.

Why: per request the write was a pool checkout (with its liveness ping), ``BEGIN``, two
``INSERT``s and a ``COMMIT`` that waits for the WAL flush. Under load, the requests that finish
pricing while a commit is in flight now queue and go together in the next transaction
(group commit) through ``UnitOfWork.commit_offer_sets``: one checkout and one transaction
(on PostgreSQL a single statement that is its own transaction). Nothing is weakened:
:meth:`BatchingOfferSetWriter.save` returns only after the transaction holding that offer set
has committed, so every acknowledged response's offers are in the database; a failed
transaction fails every request in it (none is acknowledged).

A lone request waits for no one: the first one starts a flush at once (after one event-loop
turn, so requests ready in the same turn join it). At most ``max_in_flight`` transactions run
at a time, each with at most ``max_batch`` offer sets. A unique-key clash (``Conflict``) in a
batch is retried set by set, so only the offending request sees it.

With a history cache, the transaction also reads the new offer-history aggregates of the users
it wrote for (in the same statement on PostgreSQL), and after the commit hands them to the cache
(one pipelined Redis call per transaction), before any request of the group is answered: the
next request of those users reads its history from the cache, and never a stale one.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

from application.errors import Conflict
from application.ports import Clock, HistoryCache, HistoryToken, UnitOfWorkFactory
from domain.offers import OfferSet


async def commit_offer_sets(uow_factory: UnitOfWorkFactory,
                            items: Sequence[tuple[OfferSet, HistoryToken]],
                            history: HistoryCache | None, clock: Clock | None) -> None:
    """One transaction for all the sets; then the users' new history aggregates to the cache."""
    offer_sets = [offer_set for offer_set, _ in items]
    if history is None or clock is None:
        async with uow_factory() as uow:
            await uow.commit_offer_sets(offer_sets, (), None)
        return
    now = clock.now()
    users = list(dict.fromkeys(offer_set.user_id for offer_set in offer_sets))
    async with uow_factory() as uow:
        snapshots = await uow.commit_offer_sets(offer_sets, users, now)
    await history.written([(offer_set.user_id, snapshots[offer_set.user_id], token)
                           for offer_set, token in items], now)


class UnitOfWorkOfferSetWriter:
    """One transaction per offer set (no grouping): the plain form, for tools and tests."""

    def __init__(self, uow_factory: UnitOfWorkFactory, history: HistoryCache | None = None,
                 clock: Clock | None = None) -> None:
        self._uow_factory = uow_factory
        self._history, self._clock = history, clock

    async def save(self, offer_set: OfferSet, history_token: HistoryToken = None) -> None:
        await commit_offer_sets(self._uow_factory, [(offer_set, history_token)], self._history,
                                self._clock)


class BatchingOfferSetWriter:
    def __init__(self, uow_factory: UnitOfWorkFactory, max_batch: int = 128,
                 max_in_flight: int = 2, history: HistoryCache | None = None,
                 clock: Clock | None = None) -> None:
        if max_batch < 1 or max_in_flight < 1:
            raise ValueError("max_batch and max_in_flight must be at least 1")
        self._uow_factory = uow_factory
        self._history, self._clock = history, clock
        self._max_batch = max_batch
        self._max_in_flight = max_in_flight
        self._pending: list[tuple[OfferSet, HistoryToken, asyncio.Future[None]]] = []
        self._flushers = 0
        self._tasks: set[asyncio.Task[None]] = set()
        #: Transactions committed and offer sets written (read by tests and the benchmark).
        self.transactions = 0
        self.written = 0

    async def save(self, offer_set: OfferSet, history_token: HistoryToken = None) -> None:
        """Returns once ``offer_set`` is committed; raises what its transaction raised."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((offer_set, history_token, done))
        if self._flushers < self._max_in_flight:
            self._flushers += 1
            task = asyncio.ensure_future(self._flush())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        # A cancelled request (client gone) must not cancel the shared write of the others.
        await asyncio.shield(done)

    async def _flush(self) -> None:
        try:
            await asyncio.sleep(0)  # let the requests that are ready in this turn join
            while self._pending:
                batch = self._pending[:self._max_batch]
                del self._pending[:self._max_batch]
                await self._write(batch)
        finally:
            self._flushers -= 1

    async def _write(self, batch: list[tuple[OfferSet, HistoryToken, asyncio.Future[None]]]) -> None:
        try:
            await commit_offer_sets(self._uow_factory, [(o, token) for o, token, _ in batch],
                                    self._history, self._clock)
        except Conflict as exc:
            if len(batch) == 1:
                _settle(batch, exc)
                return
            for item in batch:  # only the clashing set's request should see the conflict
                await self._write([item])
            return
        except BaseException as exc:
            _settle(batch, exc)
            if not isinstance(exc, Exception):
                raise
            return
        self.transactions += 1
        self.written += len(batch)
        _settle(batch, None)

    async def close(self) -> None:
        """Wait for the writes in flight (shutdown)."""
        with contextlib.suppress(Exception):
            await asyncio.gather(*self._tasks, return_exceptions=True)


def _settle(batch: list[tuple[OfferSet, HistoryToken, asyncio.Future[None]]],
            error: BaseException | None) -> None:
    for _, _, done in batch:
        if done.done():
            continue
        if error is None:
            done.set_result(None)
        else:
            done.set_exception(error)
