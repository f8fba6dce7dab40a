"""Read-through access to applicants and their offer history: cache first, then the database,
then fill the cache."""

from __future__ import annotations

from application.ports import ApplicantCache, Clock, UnitOfWorkFactory
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
    """The offer-history aggregates the behaviour analysis weighs, cached briefly: they change
    when an offer is accepted or declined (the writer invalidates) or lapses (the TTL bounds
    that staleness)."""

    def __init__(self, uow_factory: UnitOfWorkFactory, cache: ApplicantCache, clock: Clock
                 ) -> None:
        self._uow_factory = uow_factory
        self._cache = cache
        self._clock = clock

    async def get(self, user_id: str, fresh: bool = False) -> OfferHistorySummary:
        """``fresh`` reads the database (and refreshes the cache) whatever is cached."""
        cached = None if fresh else await self._cache.get_history(user_id)
        if cached is not None:
            return cached
        async with self._uow_factory() as uow:
            summary = await uow.offers.history_summary(user_id, self._clock.now())
        await self._cache.put_history(user_id, summary)
        return summary
