"""Read-through access to applicants: cache first, then the database, then fill the cache."""

from __future__ import annotations

from application.ports import ApplicantCache, UnitOfWorkFactory
from domain.applicant import Applicant


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
