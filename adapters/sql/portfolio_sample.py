"""The ``PortfolioSample`` port over the SQL applicant tables.

Sampling is uniform without replacement and deterministic: the ids are read in ``user_id``
order and ``numpy.random.default_rng(seed)`` picks positions, so a seed names a sample for as
long as the portfolio does not change. Applicants are then read in chunks (bind-parameter
limits) with their behaviour rows, in ``user_id`` order. Offer histories come from
``SqlOfferRepository.history_summary`` itself (the very aggregates ``loanOffers`` weighs), asked
only for the sampled users who have an offer in its window: one query finds them per chunk.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from adapters.sql.mapping import applicant_from_rows
from adapters.sql.repositories import SqlOfferRepository
from adapters.sql.tables import ApplicantBehaviorRow, ApplicantRow, OfferRow
from application.pii import PiiProtection
from application.ports import SampledApplicant
from domain.behavior.history import NO_HISTORY

CHUNK = 500


class SqlPortfolioSample:
    def __init__(self, session_factory: async_sessionmaker[AsyncSession], pii: PiiProtection
                 ) -> None:
        self._session_factory = session_factory
        self._pii = pii

    async def sample(self, size: int, seed: int, now: datetime) -> Sequence[SampledApplicant]:
        if size < 1:
            raise ValueError("sample size must be at least 1")
        async with self._session_factory() as session:
            ids = list((await session.exec(
                select(ApplicantRow.user_id).order_by(col(ApplicantRow.user_id)))).all())
            if size < len(ids):
                picked = np.sort(np.random.default_rng(seed).choice(len(ids), size, replace=False))
                ids = [ids[i] for i in picked.tolist()]
            offers = SqlOfferRepository(session)
            window_start = now - SqlOfferRepository.HISTORY_WINDOW
            sampled: list[SampledApplicant] = []
            for start in range(0, len(ids), CHUNK):
                chunk = ids[start:start + CHUNK]
                statement = (
                    select(ApplicantRow, ApplicantBehaviorRow)
                    .outerjoin(ApplicantBehaviorRow,
                               ApplicantBehaviorRow.user_id == ApplicantRow.user_id)  # type: ignore[arg-type]
                    .where(col(ApplicantRow.user_id).in_(chunk))
                    .order_by(col(ApplicantRow.user_id))
                )
                applicants = [applicant_from_rows(*row, self._pii)
                              for row in (await session.exec(statement)).all()]
                with_offers = set((await session.exec(
                    select(OfferRow.user_id).distinct()
                    .where(col(OfferRow.user_id).in_(chunk),
                           col(OfferRow.created_at) >= window_start))).all())
                for applicant in applicants:
                    history = (await offers.history_summary(applicant.user_id, now)
                               if applicant.user_id in with_offers else NO_HISTORY)
                    sampled.append(SampledApplicant(applicant, history))
            return sampled
