"""In-memory fakes of the application ports, for use-case unit tests only.

They honour the port contracts (conditional transitions, idempotency conflicts, event windows)
with plain dictionaries; the integration tests hold the SQL adapters to the same contracts.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Self

from application.errors import Conflict
from application.events import OfferEvent
from application.offer_outcome import OfferOutcome, StoredOutcome
from application.ports import (
    HistorySnapshot,
    HistoryToken,
    OfferPage,
    PolicyRecord,
    RepricingGroup,
)
from domain.applicant import Applicant, LoanRequest
from domain.behavior.events import (
    BehaviorEvent,
    BehaviorEventCounts,
    BehaviorEventType,
    apply_event_counts,
    window_start,
)
from domain.behavior.history import NO_HISTORY, OfferHistorySummary
from domain.offers import LoanOffer, OfferSet, OfferStatus
from domain.policy.model import PricingPolicy


@dataclass
class Store:
    """The 'database': committed state shared by every unit of work."""

    applicants: dict[str, Applicant] = field(default_factory=dict)
    offers: dict[str, LoanOffer] = field(default_factory=dict)
    requests: dict[str, LoanRequest] = field(default_factory=dict)     # offer id -> request
    answers: dict[str, str] = field(default_factory=dict)              # offer id -> answer id
    offer_sets: list[OfferSet] = field(default_factory=list)
    policies: dict[int, PolicyRecord] = field(default_factory=dict)
    idempotency: dict[tuple[str, str], StoredOutcome] = field(default_factory=dict)
    events: dict[tuple[str, str], BehaviorEvent] = field(default_factory=dict)


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta) -> None:
        self.current += delta


class SequentialIds:
    def __init__(self, prefix: str = "id") -> None:
        self._counter = itertools.count(1)
        self._prefix = prefix

    def new_id(self) -> str:
        return f"{self._prefix}-{next(self._counter):06d}"


class RecordingPublisher:
    def __init__(self) -> None:
        self.events: list[OfferEvent] = []

    async def publish(self, event: OfferEvent) -> None:
        self.events.append(event)

    def types(self) -> list[tuple[str, str]]:
        return [(e.type.value, e.offer.offer_id) for e in self.events]


class RecordingCache:
    """Always a miss; records what was invalidated."""

    def __init__(self) -> None:
        self.invalidated: list[str] = []
        self.cleared = 0

    async def get(self, user_id: str) -> Applicant | None:
        return None

    async def put(self, applicant: Applicant) -> None:
        return None

    async def invalidate(self, user_id: str) -> None:
        self.invalidated.append(user_id)

    async def invalidate_many(self, user_ids: Iterable[str]) -> None:
        self.invalidated.extend(user_ids)

    async def invalidate_all(self) -> None:
        self.cleared += 1


class NoHistoryCache:
    """The history cache port, always missing (the real ones have integration tests)."""

    async def read(self, user_id: str) -> tuple[OfferHistorySummary | None, HistoryToken]:
        return None, None

    async def fill(self, user_id: str, snapshot: HistorySnapshot, token: HistoryToken,
                   now: datetime) -> None:
        return None

    async def written(self, entries: Sequence[tuple[str, HistorySnapshot, HistoryToken]],
                      now: datetime) -> None:
        return None

    async def invalidate_many(self, user_ids: Iterable[str]) -> None:
        return None

    async def invalidate_all(self) -> None:
        return None


class _Applicants:
    def __init__(self, data: Store, clock: FakeClock, events: _Events) -> None:
        self._data, self._clock, self._events = data, clock, events

    async def get(self, user_id: str) -> Applicant | None:
        applicant = self._data.applicants.get(user_id)
        if applicant is None:
            return None
        now = self._clock.now()
        counts = await self._events.counts(user_id, now)
        return replace(applicant, behavior=apply_event_counts(applicant.behavior, counts, now))

    async def upsert(self, applicant: Applicant) -> None:
        self._data.applicants[applicant.user_id] = applicant

    async def add_many(self, applicants: list[Applicant]) -> int:
        new = [a for a in applicants if a.user_id not in self._data.applicants]
        for a in new:
            self._data.applicants[a.user_id] = a
        return len(new)

    async def count(self) -> int:
        return len(self._data.applicants)


class _Offers:
    def __init__(self, data: Store, clock: FakeClock) -> None:
        self._data, self._clock = data, clock
        self._answers = itertools.count(len(data.offer_sets) + 1)

    async def add_offer_sets(self, offer_sets: Sequence[OfferSet]) -> None:
        for offer_set in offer_sets:
            await self.add_offer_set(offer_set)

    async def add_offer_set(self, offer_set: OfferSet) -> None:
        answer = f"answer-{next(self._answers)}-{len(self._data.offer_sets)}"
        self._data.offer_sets.append(offer_set)
        for offer in offer_set.offers:
            self._data.offers[offer.offer_id] = offer
            self._data.requests[offer.offer_id] = offer_set.request
            self._data.answers[offer.offer_id] = answer

    async def get(self, offer_id: str) -> LoanOffer | None:
        return self._data.offers.get(offer_id)

    async def history(self, user_id: str, first: int, after: str | None) -> OfferPage:
        raise NotImplementedError

    async def history_summary(self, user_id: str, now: datetime | None = None
                              ) -> OfferHistorySummary:
        return NO_HISTORY  # the history aggregates have their own (integration) tests

    async def history_snapshots(self, user_ids: Sequence[str], now: datetime | None = None
                                ) -> dict[str, HistorySnapshot]:
        return {user_id: HistorySnapshot(NO_HISTORY, None) for user_id in user_ids}

    async def set_status(self, offer_id: str, status: OfferStatus) -> LoanOffer | None:
        offer = self._data.offers.get(offer_id)
        if offer is None:
            return None
        self._data.offers[offer_id] = offer.with_status(status)
        return self._data.offers[offer_id]

    async def transition(self, offer_id: str, to: OfferStatus, replaced_by: str | None = None
                         ) -> LoanOffer | None:
        offer = self._data.offers.get(offer_id)
        if offer is None or offer.status is not OfferStatus.ACTIVE:
            return None
        changed = replace(offer, status=to, replaced_by=replaced_by or offer.replaced_by)
        self._data.offers[offer_id] = changed
        return changed

    async def lock_active(self, user_id: str) -> None:
        return None

    async def withdraw_active(self, user_id: str, except_offer_id: str | None = None
                              ) -> tuple[LoanOffer, ...]:
        now = self._clock.now()
        due = [o for o in self._data.offers.values()
               if o.user_id == user_id and o.status is OfferStatus.ACTIVE
               and o.offer_id != except_offer_id and o.valid_until > now]
        changed = [await self.transition(o.offer_id, OfferStatus.WITHDRAWN) for o in due]
        return tuple(sorted((c for c in changed if c), key=lambda o: o.offer_id))

    async def expire_due(self, now: datetime, limit: int) -> tuple[LoanOffer, ...]:
        due = sorted((o for o in self._data.offers.values()
                      if o.status is OfferStatus.ACTIVE and o.valid_until <= now),
                     key=lambda o: o.valid_until)[:limit]
        changed = [await self.transition(o.offer_id, OfferStatus.EXPIRED) for o in due]
        return tuple(c for c in changed if c)

    async def repricing_batch(self, version: int, now: datetime, max_answers: int
                              ) -> tuple[RepricingGroup, ...]:
        groups: dict[str, list[LoanOffer]] = {}
        for o in self._data.offers.values():
            if (o.status is OfferStatus.ACTIVE and o.policy_version == version
                    and o.valid_until > now):
                groups.setdefault(self._data.answers[o.offer_id], []).append(o)
        chosen = sorted(groups)[:max_answers]
        return tuple(
            RepricingGroup(groups[a][0].user_id, self._data.requests[groups[a][0].offer_id],
                           tuple(sorted(groups[a], key=lambda o: o.rank)))
            for a in chosen)


class _Policies:
    def __init__(self, data: Store, clock: FakeClock) -> None:
        self._data, self._clock = data, clock

    async def active(self) -> PricingPolicy | None:
        record = await self.record()
        return None if record is None else record.policy

    async def get(self, version: int) -> PricingPolicy | None:
        record = self._data.policies.get(version)
        return None if record is None else record.policy

    async def add(self, policy: PricingPolicy, source_toml: str, activate: bool) -> None:
        if policy.version in self._data.policies:
            raise Conflict("already stored", version=policy.version)
        if activate or not any(r.active for r in self._data.policies.values()):
            for v, r in list(self._data.policies.items()):
                self._data.policies[v] = replace(r, active=False)
            activate = True
        self._data.policies[policy.version] = PolicyRecord(policy, source_toml, activate,
                                                           self._clock.now())

    async def record(self, version: int | None = None) -> PolicyRecord | None:
        if version is not None:
            return self._data.policies.get(version)
        return next((r for r in self._data.policies.values() if r.active), None)

    async def latest_version(self) -> int | None:
        return max(self._data.policies, default=None)

    async def activate(self, version: int) -> None:
        for v, r in list(self._data.policies.items()):
            self._data.policies[v] = replace(r, active=v == version)


class _Idempotency:
    def __init__(self, data: Store) -> None:
        self._data = data

    async def get(self, operation: str, key: str) -> StoredOutcome | None:
        return self._data.idempotency.get((operation, key))

    async def add(self, operation: str, key: str, subject_id: str, outcome: OfferOutcome
                  ) -> None:
        if (operation, key) in self._data.idempotency:
            raise Conflict("key in use")
        self._data.idempotency[(operation, key)] = StoredOutcome(subject_id, outcome)

    async def purge(self, before: datetime, limit: int) -> int:
        old = [k for k, v in self._data.idempotency.items()
               if v.outcome.decided_at < before][:limit]
        for k in old:
            del self._data.idempotency[k]
        return len(old)


class _Events:
    def __init__(self, data: Store) -> None:
        self._data = data

    async def add(self, event: BehaviorEvent) -> bool:
        key = (event.user_id, event.event_id)
        if key in self._data.events:
            return False
        self._data.events[key] = event
        return True

    async def counts(self, user_id: str, now: datetime) -> BehaviorEventCounts:
        counts: dict[BehaviorEventType, int] = {}
        last = None
        for e in self._data.events.values():
            if e.user_id != user_id:
                continue
            last = e.occurred_at if last is None else max(last, e.occurred_at)
            start = window_start(e.type, now)
            if start is None or e.occurred_at >= start:
                counts[e.type] = counts.get(e.type, 0) + 1
        return BehaviorEventCounts.of(counts, last)


class FakeUnitOfWork:
    """Works on a private copy of the store; ``commit`` publishes the copy (all or nothing)."""

    def __init__(self, store: Store, clock: FakeClock) -> None:
        self._store = store
        self._clock = clock
        self.committed = False

    async def __aenter__(self) -> Self:
        self._snapshot = copy.deepcopy(self._store)
        self._work = copy.deepcopy(self._store)
        self.behavior_events = _Events(self._work)
        self.applicants = _Applicants(self._work, self._clock, self.behavior_events)
        self.offers = _Offers(self._work, self._clock)
        self.policies = _Policies(self._work, self._clock)
        self.idempotency = _Idempotency(self._work)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        return None

    async def commit(self) -> None:
        """Refuses (``Conflict``) what a database would: a key or an offer change that another
        unit of work committed since this one began."""
        for key in self._work.idempotency.keys() - self._snapshot.idempotency.keys():
            if key in self._store.idempotency:
                raise Conflict("idempotency key written concurrently")
        for offer_id, offer in self._work.offers.items():
            seen = self._snapshot.offers.get(offer_id)
            if seen is not None and seen != offer and self._store.offers[offer_id] != seen:
                raise Conflict("offer changed concurrently")
        for name in Store.__dataclass_fields__:
            setattr(self._store, name, getattr(self._work, name))
        self.committed = True

    async def commit_offer_sets(self, offer_sets: Sequence[OfferSet], history_of: Sequence[str],
                                now: datetime | None) -> dict[str, HistorySnapshot]:
        await self.offers.add_offer_sets(offer_sets)
        snapshots = await self.offers.history_snapshots(history_of, now) if history_of else {}
        await self.commit()
        return snapshots


class FakeUnitOfWorkFactory:
    def __init__(self, clock: FakeClock, store: Store | None = None) -> None:
        self.store = store or Store()
        self._clock = clock
        self.opened = 0  # units of work handed out (a checkout and transaction each, for real)

    def __call__(self) -> FakeUnitOfWork:
        self.opened += 1
        return FakeUnitOfWork(self.store, self._clock)


NOW = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
