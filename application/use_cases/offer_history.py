"""GetOfferHistory and GetApplicant: what we know about a customer and what we offered them."""

from __future__ import annotations

from dataclasses import dataclass, replace

from application.applicant_reader import ApplicantReader, HistoryReader
from application.errors import InvalidInput, NotFound
from application.ports import Clock, OfferPage, UnitOfWorkFactory
from domain.applicant import Applicant
from domain.behavior.history import OfferHistorySummary
from domain.offers import OfferStatus

MAX_PAGE = 100
DEFAULT_PAGE = 20


class GetOfferHistory:
    """A user's offers, newest first, one page at a time (``first`` 1..100, ``after`` an opaque
    cursor from a previous page). Offers past their validity read as EXPIRED at once."""

    def __init__(self, uow_factory: UnitOfWorkFactory, applicants: ApplicantReader,
                 clock: Clock, max_page: int = MAX_PAGE) -> None:
        self._uow_factory = uow_factory
        self._applicants = applicants
        self._clock = clock
        self._max_page = max_page  # LOAN_OFFERS_MAX_PAGE_SIZE

    async def execute(self, user_id: str, first: int | None = None, after: str | None = None
                      ) -> OfferPage:
        size = min(DEFAULT_PAGE, self._max_page) if first is None else first
        if not 1 <= size <= self._max_page:
            raise InvalidInput(f"first must be between 1 and {self._max_page}, got {size}",
                               field="first", max=self._max_page)
        if await self._applicants.get(user_id) is None:
            raise NotFound(f"no applicant with id {user_id!r}", user_id=user_id)
        async with self._uow_factory() as uow:
            try:
                page = await uow.offers.history(user_id, size, after)
            except ValueError as exc:
                raise InvalidInput("after is not a cursor from this history", field="after"
                                   ) from exc
        now = self._clock.now()
        offers = tuple(o.with_status(OfferStatus.EXPIRED)
                       if o.status is OfferStatus.ACTIVE and o.is_expired_at(now) else o
                       for o in page.offers)
        return replace(page, offers=offers)


@dataclass(frozen=True, slots=True)
class ApplicantView:
    applicant: Applicant
    history: OfferHistorySummary


class GetApplicant:
    def __init__(self, applicants: ApplicantReader, history: HistoryReader) -> None:
        self._applicants = applicants
        self._history = history

    async def execute(self, user_id: str) -> ApplicantView:
        applicant = await self._applicants.get(user_id)
        if applicant is None:
            raise NotFound(f"no applicant with id {user_id!r}", user_id=user_id)
        return ApplicantView(applicant, await self._history.get(user_id))
