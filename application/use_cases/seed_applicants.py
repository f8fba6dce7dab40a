"""Load applicants in chunks, skipping ids that exist (idempotent)."""

from __future__ import annotations

from collections.abc import Iterable
from itertools import islice

from application.ports import UnitOfWorkFactory
from domain.applicant import Applicant


class SeedApplicants:
    def __init__(self, uow_factory: UnitOfWorkFactory, chunk_size: int = 1000) -> None:
        self._uow_factory = uow_factory
        self._chunk = chunk_size

    async def execute(self, applicants: Iterable[Applicant]) -> int:
        inserted = 0
        iterator = iter(applicants)
        while chunk := list(islice(iterator, self._chunk)):
            async with self._uow_factory() as uow:
                inserted += await uow.applicants.add_many(chunk)
                await uow.commit()
        return inserted
