"""PublishPricingPolicy: validate a policy document, make it the active version, then bring
every open offer priced under the version it replaces up to date.

The document's ``version`` is either new (above every stored version: stored and activated) or
a stored, inactive version with exactly this content (a saved draft, or a rollback: activated).
Anything else is a ``CONFLICT`` (``POLICY_VERSION_NOT_NEWER``, ``POLICY_VERSION_EXISTS``,
``POLICY_ALREADY_ACTIVE``).

Open (ACTIVE, unexpired) offers of the replaced version are handled per answer (offer set), a
batch of answers per transaction (their offers locked while it runs); offers of other versions
(a running challenger's) are left alone:

* REPRICE (default): the answer's original request is priced again with the new policy, the
  applicant's current data and offer history. Old offer of rank k -> REPRICED, ``replaced_by``
  the new rank-k offer (event REPRICED carrying the new offer and ``previousOfferId``); old
  offers without a new counterpart (the new answer has fewer offers, declines, or the request
  no longer fits the policy's limits) -> WITHDRAWN (event WITHDRAWN); new offers beyond the old
  count -> event GENERATED. The new answer is stored like any other, with the new version.
* WITHDRAW: every such offer -> WITHDRAWN (event WITHDRAWN).

Status changes are conditional on ACTIVE, so an offer accepted or declined meanwhile is left as
the customer answered it (and no successor is stored for it).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from application.errors import Conflict, InvalidInput, NotFound
from application.events import OfferEvent, OfferEventType
from application.policy_source import ActivePolicySource
from application.ports import (
    ApplicantCache,
    Clock,
    EventPublisher,
    IdGenerator,
    PolicyRecord,
    RepricingGroup,
    UnitOfWork,
    UnitOfWorkFactory,
)
from domain.offer_engine import InvalidLoanRequest, generate_offer_set
from domain.offers import LoanOffer, OfferStatus
from domain.policy.model import PricingPolicy
from domain.policy.parsing import PolicyValidationError, parse_policy_toml

#: Called after a publish (e.g. to drop cached results computed with the old policy).
PublishHook = Callable[[PricingPolicy], Awaitable[None]]


class OpenOfferAction(StrEnum):
    REPRICE = "REPRICE"
    WITHDRAW = "WITHDRAW"


@dataclass(frozen=True, slots=True)
class PublishReport:
    record: PolicyRecord
    previous_version: int | None
    repriced: int = 0       # old offers replaced by a re-priced successor
    withdrawn: int = 0      # old offers withdrawn without a successor
    generated: int = 0      # new offers without a predecessor


@dataclass
class _Tally:
    repriced: int = 0
    withdrawn: int = 0
    generated: int = 0


class PublishPricingPolicy:
    def __init__(self, uow_factory: UnitOfWorkFactory, policy_source: ActivePolicySource,
                 events: EventPublisher, clock: Clock, ids: IdGenerator,
                 cache: ApplicantCache | None = None, hooks: Sequence[PublishHook] = (),
                 answers_per_batch: int = 50) -> None:
        self._uow_factory = uow_factory
        self._cache = cache
        self._policy_source = policy_source
        self._events = events
        self._clock = clock
        self._ids = ids
        self._hooks = tuple(hooks)
        self._batch = answers_per_batch

    async def execute(self, source_toml: str,
                      open_offers: OpenOfferAction = OpenOfferAction.REPRICE) -> PublishReport:
        try:
            policy = parse_policy_toml(source_toml)
        except PolicyValidationError as exc:
            raise InvalidInput(str(exc), field="source", errors=tuple(exc.errors)) from exc
        async with self._uow_factory() as uow:
            previous = await uow.policies.active()
            stored = await uow.policies.record(policy.version)
            if stored is not None:
                self._check_stored(stored, policy)
                await uow.policies.activate(policy.version)  # a draft, or a rollback
            else:
                latest = await uow.policies.latest_version()
                if latest is not None and policy.version <= latest:
                    raise Conflict(f"policy version {policy.version} is not newer than the "
                                   f"latest stored version {latest}",
                                   reason="POLICY_VERSION_NOT_NEWER", latest_version=latest)
                await uow.policies.add(policy, source_toml, activate=True)
            await uow.commit()
        async with self._uow_factory() as uow:
            record = await uow.policies.record(policy.version)
        if record is None:
            raise NotFound(f"policy version {policy.version} vanished after publishing")
        self._policy_source.refresh()
        if self._cache is not None:  # nothing computed under the old policy may be served
            await self._cache.invalidate_all()
        for hook in self._hooks:
            await hook(policy)
        tally = _Tally()
        if previous is not None:
            tally = await self._update_open_offers(policy, previous.version, open_offers)
        return PublishReport(record, previous.version if previous else None,
                             tally.repriced, tally.withdrawn, tally.generated)

    @staticmethod
    def _check_stored(stored: PolicyRecord, policy: PricingPolicy) -> None:
        if stored.policy != policy:
            raise Conflict(f"policy version {policy.version} is already stored with other "
                           "content (versions are immutable)", reason="POLICY_VERSION_EXISTS",
                           version=policy.version)
        if stored.active:
            raise Conflict(f"policy version {policy.version} is already active",
                           reason="POLICY_ALREADY_ACTIVE", version=policy.version)

    async def _update_open_offers(self, policy: PricingPolicy, previous_version: int,
                                  action: OpenOfferAction) -> _Tally:
        tally = _Tally()
        while True:
            now = self._clock.now()
            events: list[OfferEvent] = []
            async with self._uow_factory() as uow:
                groups = await uow.offers.repricing_batch(previous_version, now, self._batch)
                for group in groups:
                    if action is OpenOfferAction.REPRICE:
                        events += await self._reprice(uow, policy, group, tally)
                    else:
                        events += await self._withdraw(uow, group.offers, tally)
                await uow.commit()
            for event in events:
                await self._events.publish(event)
            if len(groups) < self._batch:
                return tally

    async def _reprice(self, uow: UnitOfWork, policy: PricingPolicy, group: RepricingGroup,
                       tally: _Tally) -> list[OfferEvent]:
        applicant = await uow.applicants.get(group.user_id)
        if applicant is None:
            return await self._withdraw(uow, group.offers, tally)
        now = self._clock.now()
        history = await uow.offers.history_summary(group.user_id, now)
        try:
            answer = generate_offer_set(policy, applicant, group.request, now, self._ids.new_id,
                                        history)
        except InvalidLoanRequest:  # the old request is outside the new policy's limits
            return await self._withdraw(uow, group.offers, tally)
        successors = answer.offers
        events: list[OfferEvent] = []
        kept: list[LoanOffer] = []
        answered_meanwhile = False
        for k, old in enumerate(group.offers):
            new = successors[k] if k < len(successors) else None
            if new is None:
                events += await self._withdraw(uow, (old,), tally)
            elif await uow.offers.transition(old.offer_id, OfferStatus.REPRICED,
                                             replaced_by=new.offer_id) is None:
                answered_meanwhile = True  # the batch read locks rows: a safety net only
            else:
                kept.append(new)
                tally.repriced += 1
                events.append(OfferEvent(OfferEventType.REPRICED, new.user_id, new, now,
                                         previous_offer_id=old.offer_id))
        extra = () if answered_meanwhile else successors[len(group.offers):]
        if kept or extra or (events and not successors):
            # Stored as a new answer to the same request; successors of offers the customer
            # answered meanwhile are left out, so no orphan offer opens.
            await uow.offers.add_offer_set(replace(answer, offers=(*kept, *extra)))
        tally.generated += len(extra)
        events += [OfferEvent(OfferEventType.GENERATED, o.user_id, o, now) for o in extra]
        return events

    async def _withdraw(self, uow: UnitOfWork, offers: Sequence[LoanOffer], tally: _Tally
                        ) -> list[OfferEvent]:
        now = self._clock.now()
        events = []
        for offer in offers:
            changed = await uow.offers.transition(offer.offer_id, OfferStatus.WITHDRAWN)
            if changed is not None:
                tally.withdrawn += 1
                events.append(OfferEvent(OfferEventType.WITHDRAWN, changed.user_id, changed, now))
        return events
