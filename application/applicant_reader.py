"""Read-through access to applicants and their offer history: cache first, then the database,
then fill the cache."""

from __future__ import annotations

from application.ports import (
    ApplicantCache,
    Clock,
    HistoryCache,
    HistoryToken,
    UnitOfWorkFactory,
)
from domain.applicant import Applicant
from domain.behavior.history import OfferHistorySummary


class ApplicantReader:
    def __init__(self, uow_factory: UnitOfWorkFactory, cache: ApplicantCache) -> None:
        self._uow_factory = uow_factory
        self._cache = cache

    async def get(self, user_id: str) -> Applicant | None:
        cached = await self._cache.get(user_id)
        if cached is not None:
            return cached
        async with self._uow_factory() as uow:
            applicant = await uow.applicants.get(user_id)
        if applicant is not None:
            await self._cache.put(applicant)
        return applicant


class HistoryReader:
    """The offer-history aggregates the behaviour analysis weighs, through the history cache
    (exact: entries are kept until the next write for the user, see ``HistoryCache``)."""

    def __init__(self, uow_factory: UnitOfWorkFactory, cache: HistoryCache, clock: Clock
                 ) -> None:
        self._uow_factory = uow_factory
        self._cache = cache
        self._clock = clock

    async def read(self, user_id: str, fill: bool = True
                   ) -> tuple[OfferHistorySummary, HistoryToken]:
        """The summary and the cache token. ``fill=False`` leaves a miss unfilled: for a caller
        about to write an offer set, whose writer stores the new aggregates anyway."""
        cached, token = await self._cache.read(user_id)
        if cached is not None:
            return cached, token
        now = self._clock.now()
        async with self._uow_factory() as uow:
            snapshot = (await uow.offers.history_snapshots([user_id], now))[user_id]
        if fill:
            await self._cache.fill(user_id, snapshot, token, now)
        return snapshot.summary, token

    async def get(self, user_id: str) -> OfferHistorySummary:
        return (await self.read(user_id))[0]
