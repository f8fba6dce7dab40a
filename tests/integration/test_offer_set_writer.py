"""The grouping offer-set writer on SQLite and PostgreSQL: every acknowledged offer set is
committed, concurrent saves share transactions, a clash fails only its own request, and a
failed transaction acknowledges nobody."""

from __future__ import annotations

import asyncio

import pytest

from adapters.sql.unit_of_work import SqlUnitOfWorkFactory
from application.errors import Conflict, Unavailable
from application.offer_set_writer import BatchingOfferSetWriter
from tests.integration.conftest import OfferSetFactory
from tests.integration.test_sql_database import _terminate


async def _stored(uow_factory: SqlUnitOfWorkFactory, offer_ids: list[str]) -> int:
    async with uow_factory() as uow:
        return sum([await uow.offers.get(i) is not None for i in offer_ids])


async def test_each_save_returns_after_its_offers_are_committed_and_saves_share_transactions(
        uow_factory: SqlUnitOfWorkFactory, make_offer_set: OfferSetFactory) -> None:
    writer = BatchingOfferSetWriter(uow_factory, max_batch=16, max_in_flight=2)
    sets = [make_offer_set() for _ in range(40)]

    async def save_then_read(offer_set) -> int:
        await writer.save(offer_set)
        # Acknowledged: a fresh unit of work (another connection) must see every offer.
        return await _stored(uow_factory, [o.offer_id for o in offer_set.offers])

    seen = await asyncio.gather(*(save_then_read(s) for s in sets))
    assert seen == [len(s.offers) for s in sets]
    assert writer.written == 40
    assert writer.transactions < 40  # grouped: fewer commits than requests
    assert all(len(s.offers) for s in sets)


async def test_a_clash_fails_only_the_clashing_request(
        uow_factory: SqlUnitOfWorkFactory, make_offer_set: OfferSetFactory) -> None:
    writer = BatchingOfferSetWriter(uow_factory)
    first = make_offer_set()
    await writer.save(first)
    others = [make_offer_set() for _ in range(5)]
    results = await asyncio.gather(writer.save(first), *(writer.save(s) for s in others),
                                   return_exceptions=True)
    assert isinstance(results[0], Conflict)
    assert results[1:] == [None] * 5
    for offer_set in others:
        ids = [o.offer_id for o in offer_set.offers]
        assert await _stored(uow_factory, ids) == len(ids)


class _FailingCommit:
    """A unit-of-work factory whose transactions fail (the database went away mid-transaction).
    SQLite: the commit fails. PostgreSQL commits the group with its one statement
    (``adapters/sql/offer_set_write.py``), so the server ends the connection just before it."""

    def __init__(self, inner: SqlUnitOfWorkFactory, database_url: str) -> None:
        self.inner = inner
        self.database_url = database_url

    def __call__(self):
        uow = self.inner()
        commit_offer_sets = uow.commit_offer_sets

        async def commit() -> None:
            raise ConnectionError("database went away")

        async def connection_lost_first(*args, **kwargs):
            session = uow.offers._session
            raw = await (await session.connection()).get_raw_connection()
            await _terminate(self.database_url, raw.driver_connection.get_server_pid())
            return await commit_offer_sets(*args, **kwargs)

        uow.commit = commit
        if not self.database_url.startswith("sqlite"):
            uow.commit_offer_sets = connection_lost_first
        return uow


async def test_a_failed_transaction_acknowledges_nobody_and_stores_nothing(
        uow_factory: SqlUnitOfWorkFactory, make_offer_set: OfferSetFactory,
        database_url: str) -> None:
    writer = BatchingOfferSetWriter(_FailingCommit(uow_factory, database_url))
    sets = [make_offer_set() for _ in range(6)]
    results = await asyncio.gather(*(writer.save(s) for s in sets), return_exceptions=True)
    # The unit of work reports a lost connection as Unavailable; either way, every request
    # of the transaction gets the error and none is acknowledged.
    assert all(isinstance(r, ConnectionError | Unavailable) for r in results), results
    for offer_set in sets:
        assert await _stored(uow_factory, [o.offer_id for o in offer_set.offers]) == 0


async def test_a_cancelled_request_does_not_cancel_the_shared_write(
        uow_factory: SqlUnitOfWorkFactory, make_offer_set: OfferSetFactory) -> None:
    writer = BatchingOfferSetWriter(uow_factory)
    gone, kept = make_offer_set(), make_offer_set()
    task = asyncio.ensure_future(writer.save(gone))
    kept_save = asyncio.ensure_future(writer.save(kept))
    await asyncio.sleep(0)
    task.cancel()
    await kept_save
    with pytest.raises(asyncio.CancelledError):
        await task
    await writer.close()
    ids = [o.offer_id for o in kept.offers]
    assert await _stored(uow_factory, ids) == len(ids)
