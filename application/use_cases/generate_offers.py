"""GenerateOffers: the seed's Offer Generation Service orchestration."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from application.applicant_reader import ApplicantReader, HistoryReader
from application.challenger import PolicyRouter
from application.errors import InvalidInput, NotFound
from application.events import OfferEvent, OfferEventType
from application.offer_set_writer import UnitOfWorkOfferSetWriter
from application.policy_source import ActivePolicySource
from application.ports import (
    ApplicantHistoryCache,
    Clock,
    EventPublisher,
    HistoryToken,
    IdGenerator,
    OfferMetrics,
    OfferSetWriter,
    UnitOfWorkFactory,
)
from domain.applicant import Applicant, LoanRequest
from domain.behavior.history import OfferHistorySummary
from domain.offer_engine import InvalidLoanRequest, generate_offer_set
from domain.offers import OfferSet


@dataclass(frozen=True, slots=True)
class GenerateOffersCommand:
    user_id: str
    requested_amount: Decimal | None = None
    requested_tenure: int | None = None


class GenerateOffers:
    """Fetch the applicant and their offer history (through the cache), decide and price with
    the active policy, persist every offer with its explanation and policy version, then publish
    GENERATED events."""

    def __init__(self, uow_factory: UnitOfWorkFactory, applicants: ApplicantReader,
                 policies: ActivePolicySource, events: EventPublisher, clock: Clock,
                 ids: IdGenerator, history: HistoryReader,
                 metrics: OfferMetrics | None = None, router: PolicyRouter | None = None,
                 writer: OfferSetWriter | None = None,
                 both: ApplicantHistoryCache | None = None) -> None:
        self._uow_factory = uow_factory
        self._both = both  # both caches in one round trip, when the adapters allow it
        self._router = router  # champion/challenger: which policy prices this user
        self._writer = writer or UnitOfWorkOfferSetWriter(uow_factory)
        self._applicants = applicants
        self._history = history
        self._policies = policies
        self._events = events
        self._clock = clock
        self._ids = ids
        self._metrics = metrics

    async def execute(self, command: GenerateOffersCommand) -> OfferSet:
        applicant, history, history_token = await self._cached(command.user_id)
        if applicant is None or history is None:
            applicant, history = await self._load(command.user_id, applicant, history)
        if applicant is None or history is None:
            raise NotFound(f"no applicant with id {command.user_id!r}", user_id=command.user_id)
        if self._router is not None:
            policy, _ = await self._router.for_user(command.user_id)
        else:
            policy = await self._policies.active()
        request = LoanRequest(command.requested_amount, command.requested_tenure)
        try:
            offer_set = generate_offer_set(policy, applicant, request, self._clock.now(),
                                           self._ids.new_id, history)
        except InvalidLoanRequest as exc:
            raise InvalidInput(str(exc), field=exc.field) from exc
        await self._writer.save(offer_set, history_token)  # returns once committed
        if self._metrics is not None:
            self._metrics.offers_generated(offer_set)
        for offer in offer_set.offers:
            await self._events.publish(
                OfferEvent(OfferEventType.GENERATED, offer.user_id, offer, offer_set.generated_at))
        return offer_set

    async def _cached(self, user_id: str
                      ) -> tuple[Applicant | None, OfferHistorySummary | None, HistoryToken]:
        if self._both is not None:
            return await self._both.read(user_id)
        applicant = await self._applicants.cached(user_id)
        return applicant, *(await self._history.cached(user_id))

    async def _load(self, user_id: str, applicant: Applicant | None,
                    history: OfferHistorySummary | None
                    ) -> tuple[Applicant | None, OfferHistorySummary | None]:
        """What the caches missed, in one unit of work (one pool checkout and transaction, not
        one per reader). The history is not filled into its cache: the writer of this request's
        offer set stores the aggregate including it."""
        async with self._uow_factory() as uow:
            loaded = applicant or await uow.applicants.get(user_id)
            if loaded is not None and history is None:
                history = (await self._history.load(uow, user_id, self._clock.now())).summary
        if applicant is None and loaded is not None:
            await self._applicants.remember(loaded)
        return loaded, history
