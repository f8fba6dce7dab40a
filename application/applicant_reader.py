"""Read-through access to applicants and their offer history: cache first, then the database,
then fill the cache."""

from __future__ import annotations

from datetime import datetime

from application.ports import (
    ApplicantCache,
    Clock,
    HistoryCache,
    HistorySnapshot,
    HistoryToken,
    UnitOfWork,
    UnitOfWorkFactory,
)
from domain.applicant import Applicant
from domain.behavior.history import OfferHistorySummary


class ApplicantReader:
    def __init__(self, uow_factory: UnitOfWorkFactory, cache: ApplicantCache) -> None:
        self._uow_factory = uow_factory
        self._cache = cache

    async def get(self, user_id: str) -> Applicant | None:
        cached = await self.cached(user_id)
        if cached is not None:
            return cached
        async with self._uow_factory() as uow:
            applicant = await uow.applicants.get(user_id)
        if applicant is not None:
            await self.remember(applicant)
        return applicant

    # The steps of ``get``, for a caller that reads more in the same unit of work on a miss.
    async def cached(self, user_id: str) -> Applicant | None:
        return await self._cache.get(user_id)

    async def remember(self, applicant: Applicant) -> None:
        """Fill the cache with an applicant just read from the database (after the unit of
        work: no connection is held while Redis answers)."""
        await self._cache.put(applicant)


class HistoryReader:
    """The offer-history aggregates the behaviour analysis weighs, through the history cache
    (exact: entries are kept until the next write for the user, see ``HistoryCache``)."""

    def __init__(self, uow_factory: UnitOfWorkFactory, cache: HistoryCache, clock: Clock
                 ) -> None:
        self._uow_factory = uow_factory
        self._cache = cache
        self._clock = clock

    async def read(self, user_id: str) -> tuple[OfferHistorySummary, HistoryToken]:
        """The summary and the cache token; a miss is read from the database and filled."""
        cached, token = await self.cached(user_id)
        if cached is not None:
            return cached, token
        now = self._clock.now()
        async with self._uow_factory() as uow:
            snapshot = await self.load(uow, user_id, now)
        await self._cache.fill(user_id, snapshot, token, now)
        return snapshot.summary, token

    # The steps of ``read``, for a caller that reads more in the same unit of work on a miss.
    async def cached(self, user_id: str) -> tuple[OfferHistorySummary | None, HistoryToken]:
        return await self._cache.read(user_id)

    @staticmethod
    async def load(uow: UnitOfWork, user_id: str, now: datetime) -> HistorySnapshot:
        return (await uow.offers.history_snapshots([user_id], now))[user_id]

    async def get(self, user_id: str) -> OfferHistorySummary:
        return (await self.read(user_id))[0]
