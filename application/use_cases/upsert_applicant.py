"""UpsertApplicant: a lender system creates or replaces one applicant's record."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from application.applicant_records import parse_applicant_record
from application.ports import ApplicantCache, Clock, UnitOfWorkFactory
from domain.applicant import Applicant


class UpsertApplicant:
    """Validate (every field, :class:`~application.applicant_records.InvalidRecord`), store in
    one transaction, keeping behaviour counters the record leaves out (atomically, so a
    concurrent behaviour event is not overwritten), then drop everything cached about the
    applicant (after the commit, so no reader can re-cache the old record)."""

    def __init__(self, uow_factory: UnitOfWorkFactory, cache: ApplicantCache, clock: Clock
                 ) -> None:
        self._uow_factory = uow_factory
        self._cache = cache
        self._clock = clock

    async def execute(self, record: Mapping[str, Any]) -> Applicant:
        parsed = parse_applicant_record(record, self._clock.now().date())
        async with self._uow_factory() as uow:
            await uow.applicants.upsert_many([parsed.applicant], parsed.behavior_given.keys())
            stored = await uow.applicants.get(parsed.user_id)
            await uow.commit()
        await self._cache.invalidate(parsed.user_id)
        assert stored is not None  # written in this transaction
        return stored
