"""Ports: what the use cases need from the outside world, as ``typing.Protocol``.

Adapters in ``adapters/`` implement them; ``config/`` picks which. Each docstring is the contract
an adapter must honour (the integration tests hold every adapter to it).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self

from application.events import OfferEvent
from application.offer_outcome import OfferOutcome, StoredOutcome
from application.pii import ContactKind
from domain.applicant import Applicant, LoanRequest
from domain.behavior.events import BehaviorEvent, BehaviorEventCounts
from domain.behavior.history import OfferHistorySummary
from domain.offers import LoanOffer, OfferSet, OfferStatus
from domain.policy.model import PricingPolicy


class ApplicantRepository(Protocol):
    """Applicants with their credit profile, PII and behaviour metrics.

    ``get`` returns ``None`` for an unknown user; ``get_many`` the known ones by id. Their
    behaviour metrics are the stored snapshot plus the recorded behaviour events
    (``domain.behavior.events.apply_event_counts``), so never ``upsert`` an applicant read back
    from ``get`` (the events would count twice).
    ``upsert`` inserts or replaces the applicant (identity: ``user_id``) within the unit of
    work's transaction; ``upsert_many`` does that for many (ids unique within the call), and
    with ``behavior_fields`` overwrites only those behaviour counters of an existing applicant
    (atomically: the others keep whatever is stored at that moment).
    Personal data is stored sealed (``application.pii``); a value that does not open raises
    ``PiiCryptoError`` rather than returning another row's data.
    ``find_by_contact`` returns the ids (sorted) of the applicants whose e-mail, phone or PAN
    equals ``value`` after :func:`~application.pii.normalise_contact`, through the blind index.
    """

    async def get(self, user_id: str) -> Applicant | None: ...

    async def get_many(self, user_ids: Sequence[str]) -> dict[str, Applicant]: ...

    async def upsert(self, applicant: Applicant) -> None: ...

    async def upsert_many(self, applicants: Sequence[Applicant],
                          behavior_fields: Collection[str] | None = None) -> None: ...

    async def add_many(self, applicants: Sequence[Applicant]) -> int:
        """Insert applicants whose ids do not exist yet; returns how many were inserted."""
        ...

    async def count(self) -> int: ...

    async def find_by_contact(self, kind: ContactKind, value: str) -> tuple[str, ...]: ...


@dataclass(frozen=True, slots=True)
class OfferPage:
    offers: tuple[LoanOffer, ...]
    has_next: bool
    end_cursor: str | None
    total: int
    #: One opaque cursor per offer (Relay edges), ``end_cursor`` is the last.
    cursors: tuple[str, ...] = ()


class OfferSetWriter(Protocol):
    """Makes a generated offer set durable. ``save`` returns only once the decision and all
    its offers are committed (an acknowledged answer's offers survive a crash); it raises
    ``Conflict`` for a unique-key clash and whatever the database raised otherwise. With a
    history cache, the user's new history aggregates are stored in it before ``save`` returns
    (``history_token``: what the request's history read returned)."""

    async def save(self, offer_set: OfferSet, history_token: HistoryToken = None) -> None: ...


#: What a history-cache read saw (opaque to callers): handed back to ``HistoryCache.fill`` and
#: ``HistoryCache.written``; ``None`` when the cache could not be read (nothing is then stored).
HistoryToken = tuple[str, str] | None


@dataclass(frozen=True, slots=True)
class HistorySnapshot:
    """A user's offer-history aggregates as read at some moment, and ``changes_at``: the first
    moment they change by themselves (an open answer lapses, an old answer leaves the window;
    ``None``: never). Until then only a write for the user changes them."""

    summary: OfferHistorySummary
    changes_at: datetime | None


class OfferRepository(Protocol):
    """Every generated offer set, its offers with explanations, and their status changes.

    ``add_offer_set`` stores the decision and all its offers atomically with the unit of work.
    ``history`` pages a user's offers newest first; ``after`` is an opaque cursor returned by a
    previous page (``end_cursor``), and a malformed cursor raises ``ValueError``.
    ``set_status`` changes one offer's status and returns the updated offer, or ``None`` if unknown.
    ``history_summary`` aggregates the user's answers of the last year as seen at ``now``
    (default: the repository's clock): offers seen, answers accepted, declined and lapsed (see
    :mod:`domain.behavior.history`), and when an offer was last accepted.
    """

    async def add_offer_set(self, offer_set: OfferSet) -> None: ...

    async def add_offer_sets(self, offer_sets: Sequence[OfferSet]) -> None:
        """Several offer sets in the same unit of work, as :meth:`add_offer_set` would store
        each (adapters may use one multi-row statement per table)."""
        ...

    async def get(self, offer_id: str) -> LoanOffer | None: ...

    async def history(self, user_id: str, first: int, after: str | None) -> OfferPage: ...

    async def set_status(self, offer_id: str, status: OfferStatus) -> LoanOffer | None: ...

    async def history_summary(self, user_id: str, now: datetime | None = None
                              ) -> OfferHistorySummary: ...

    async def history_snapshots(self, user_ids: Sequence[str], now: datetime | None = None
                                ) -> dict[str, HistorySnapshot]:
        """``history_summary`` of each user (every id is a key), with when it changes by
        itself, in one query for all of them."""
        ...

    async def transition(self, offer_id: str, to: OfferStatus, replaced_by: str | None = None
                         ) -> LoanOffer | None:
        """Move one ACTIVE offer to ``to`` (a final status) and return it as updated; ``None``
        when the offer is unknown or no longer ACTIVE. Conditional on the stored status, so of
        concurrent transitions of one offer exactly one succeeds (the others wait for it and
        then see a final status)."""
        ...

    async def lock_active(self, user_id: str) -> None:
        """Lock the user's ACTIVE offers until the transaction ends, in offer id order (the
        order every locker of several offers uses, so two lockers cannot deadlock). Concurrent
        answers of one customer then queue instead of interleaving."""
        ...

    async def withdraw_active(self, user_id: str, except_offer_id: str | None = None
                              ) -> tuple[LoanOffer, ...]:
        """Move every ACTIVE offer of the user (but ``except_offer_id``) to WITHDRAWN; returns
        exactly the offers this call changed."""
        ...

    async def expire_due(self, now: datetime, limit: int) -> tuple[LoanOffer, ...]:
        """Move up to ``limit`` ACTIVE offers whose ``valid_until`` is at or before ``now`` to
        EXPIRED; returns exactly the offers this call changed (safe with concurrent callers on
        other replicas: an offer is returned by one caller only)."""
        ...

    async def repricing_batch(self, version: int, now: datetime, max_answers: int
                              ) -> tuple[RepricingGroup, ...]:
        """Up to ``max_answers`` answers (offer sets) that still have ACTIVE, unexpired offers
        priced under policy ``version``: each with its request and those
        offers (rank order). Read-only; the caller transitions the offers."""
        ...


@dataclass(frozen=True, slots=True)
class RepricingGroup:
    user_id: str
    request: LoanRequest
    offers: tuple[LoanOffer, ...]


@dataclass(frozen=True, slots=True)
class PolicyRecord:
    policy: PricingPolicy
    source_toml: str
    active: bool
    published_at: datetime


class PolicyRepository(Protocol):
    """Versioned pricing policies. Versions are immutable once stored; exactly one is active.

    ``active`` returns ``None`` only before any policy was stored.
    """

    async def active(self) -> PricingPolicy | None: ...

    async def get(self, version: int) -> PricingPolicy | None: ...

    async def add(self, policy: PricingPolicy, source_toml: str, activate: bool) -> None: ...

    async def record(self, version: int | None = None) -> PolicyRecord | None:
        """The stored version (``None``: the active one) with its source and publication."""
        ...

    async def latest_version(self) -> int | None:
        """The highest version ever stored (active or not), ``None`` before the first."""
        ...

    async def activate(self, version: int) -> None:
        """Make the stored ``version`` the one active policy (a stored draft, or a rollback to
        an earlier version) in this transaction."""
        ...


class IdempotencyRepository(Protocol):
    """Answers of idempotent mutations, by operation and client key, kept with the transaction
    that produced them. ``add`` raises ``Conflict`` (at once or at commit) when the same key was
    stored meanwhile by a concurrent request."""

    async def get(self, operation: str, key: str) -> StoredOutcome | None: ...

    async def add(self, operation: str, key: str, subject_id: str, outcome: OfferOutcome
                  ) -> None: ...

    async def purge(self, before: datetime, limit: int) -> int:
        """Delete up to ``limit`` records stored before ``before``; returns how many."""
        ...


class BehaviorEventRepository(Protocol):
    """Behaviour events reported by lender systems. ``add`` returns ``False`` (and stores
    nothing) when an event with the same ``event_id`` is already stored. ``counts`` counts the
    user's events inside each type's window ending at ``now``."""

    async def add(self, event: BehaviorEvent) -> bool: ...

    async def counts(self, user_id: str, now: datetime) -> BehaviorEventCounts: ...


class UnitOfWork(Protocol):
    """One database transaction. Use as ``async with uow:``; nothing is durable until
    ``commit()`` returns; leaving the block without commit rolls back."""

    applicants: ApplicantRepository
    offers: OfferRepository
    policies: PolicyRepository
    idempotency: IdempotencyRepository
    behavior_events: BehaviorEventRepository

    async def __aenter__(self) -> Self: ...

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None: ...

    async def commit(self) -> None:
        """Make the work durable; raises ``Conflict`` when a concurrent writer took a unique key
        (the transaction is then rolled back)."""

    async def commit_offer_sets(self, offer_sets: Sequence[OfferSet], history_of: Sequence[str],
                                now: datetime | None) -> dict[str, HistorySnapshot]:
        """``offers.add_offer_sets(offer_sets)``, the new ``offers.history_snapshots`` of the
        users ``history_of`` at ``now`` (``{}`` when there are none; ``now`` is then unused),
        then ``commit()``: returns once all of it is durable, with the aggregates the
        transaction saw after its writes; on a failure nothing of the sets is stored. Adapters
        may do it all in one statement."""


UnitOfWorkFactory = Callable[[], UnitOfWork]


class ApplicantCache(Protocol):
    """A cache of applicants and of their offer-history aggregates, in front of the database.

    Fails open: any backend error behaves as a miss (``get*`` return ``None``) or a no-op
    (``put*``/``invalidate*``); it never raises to the caller. Entries expire after the adapter's
    TTLs. ``invalidate(user_id)`` drops everything cached about that user: call it after
    changing an applicant or the status of one of their offers (accepted, declined).
    ``invalidate_many`` does that for many users (imports); ``invalidate_all`` drops everything
    (a new pricing policy).
    """

    async def get(self, user_id: str) -> Applicant | None: ...

    async def put(self, applicant: Applicant) -> None: ...

    async def invalidate(self, user_id: str) -> None: ...

    async def invalidate_many(self, user_ids: Iterable[str]) -> None: ...

    async def invalidate_all(self) -> None: ...


class HistoryCache(Protocol):
    """Offer-history aggregates cached until the next write for their user (or until they
    change by themselves, ``HistorySnapshot.changes_at``), shared by every process.

    ``read`` returns the cached summary (or ``None``) and a token. ``fill`` stores what the
    database said after a miss, unless a write for the user committed since the token was read
    (so a fill never stores a stale value). ``written`` is called after a commit that changed
    these users' history, with the aggregates that transaction saw: it marks older entries
    stale and stores the new ones where the token is still current. ``invalidate_many`` after
    any other change of a user's offers (accepted, declined, withdrawn); ``invalidate_all``
    after a change for everyone (a new policy re-pricing offers). A read after an invalidation
    or ``written`` returned never sees the older value, on any process. Fails open: an error is
    a miss or a no-op, never raised.
    """

    async def read(self, user_id: str) -> tuple[OfferHistorySummary | None, HistoryToken]: ...

    async def fill(self, user_id: str, snapshot: HistorySnapshot, token: HistoryToken,
                   now: datetime) -> None: ...

    async def written(self, entries: Sequence[tuple[str, HistorySnapshot, HistoryToken]],
                      now: datetime) -> None: ...

    async def invalidate_many(self, user_ids: Iterable[str]) -> None: ...

    async def invalidate_all(self) -> None: ...


class ApplicantHistoryCache(Protocol):
    """The applicant cache and the history cache read together, for a request that needs both.

    ``read(user_id)`` returns exactly what ``ApplicantCache.get(user_id)`` and
    ``HistoryCache.read(user_id)`` would (applicant or ``None``, summary or ``None``, token),
    with the same counting, failing open and invalidation guarantees, in one backend round
    trip where both live on the same backend.
    """

    async def read(self, user_id: str
                   ) -> tuple[Applicant | None, OfferHistorySummary | None, HistoryToken]: ...


class EventPublisher(Protocol):
    """Delivers offer events to every subscriber of the user, on every server process sharing
    the same backend. Publishing never raises for a missing subscriber."""

    async def publish(self, event: OfferEvent) -> None: ...


class EventSubscriber(Protocol):
    """``subscribe(user_id)`` yields that user's events published after the subscription began,
    in publication order per process, until the consumer stops iterating."""

    def subscribe(self, user_id: str) -> AsyncIterator[OfferEvent]: ...


class Clock(Protocol):
    """The current time, timezone-aware (UTC)."""

    def now(self) -> datetime: ...


class IdGenerator(Protocol):
    """Globally unique, URL-safe identifiers (used as offer ids and KFS proposal numbers)."""

    def new_id(self) -> str: ...


class OfferMetrics(Protocol):
    """Business metrics about offers, for monitoring (never for decisions).

    Implementations record aggregates only: decision, risk band, fallback, rates and
    probabilities; never a user id or any other per-person label. Recording never raises and
    never blocks on I/O (a metrics backend that is down must not fail a request).
    """

    def offers_generated(self, offer_set: OfferSet) -> None:
        """One decision was made and its offers persisted."""

    def offer_accepted(self, offer: LoanOffer) -> None:
        """A customer accepted an offer (the acceptance is durable)."""


@dataclass(frozen=True, slots=True)
class SampledApplicant:
    applicant: Applicant
    history: OfferHistorySummary


class PortfolioSample(Protocol):
    """A sample of the stored portfolio for what-if simulation.

    ``sample(size, seed, now)`` returns ``min(size, portfolio size)`` distinct applicants, each
    with their offer history as ``OfferRepository.history_summary`` gives it at ``now``; the same
    applicants (in the same order) for the same seed and portfolio; ``size`` is at least 1.
    """

    async def sample(self, size: int, seed: int, now: datetime) -> Sequence[SampledApplicant]: ...


@dataclass(frozen=True, slots=True)
class ChallengerConfig:
    """A champion/challenger experiment: ``challenger_version`` prices ``share_bps`` / 10,000 of
    users (by :func:`domain.policy.challenger.arm_for` with ``salt``) from ``started_at``."""

    experiment_id: int
    challenger_version: int
    champion_version: int
    share_bps: int
    started_at: datetime
    ended_at: datetime | None = None

    @property
    def salt(self) -> str:
        return f"challenger-{self.experiment_id}"


@dataclass(frozen=True, slots=True)
class ArmFigures:
    """Per policy version, over offers created during the experiment."""

    policy_version: int
    answers: int                # decisions (offer sets) that carried offers
    offers: int
    acceptances: int
    expected_profit: float      # INR: sum over answers of rank-1 conversion x expected NPV
    accepted_profit: float      # INR: expected NPV of the accepted offers


class ChallengerStore(Protocol):
    """Champion/challenger experiments; at most one runs at a time.

    ``start`` raises ``NotFound`` for a version that is not stored and ``Conflict`` when an
    experiment is running or the version is the active one. ``stop`` ends the running experiment
    (``None`` if none). ``figures`` aggregates the offers created while ``config`` ran, per policy
    version.
    """

    async def running(self) -> ChallengerConfig | None: ...

    async def start(self, challenger_version: int, share_bps: int, now: datetime
                    ) -> ChallengerConfig: ...

    async def stop(self, now: datetime) -> ChallengerConfig | None: ...

    async def latest(self) -> ChallengerConfig | None:
        """The running experiment, else the last one that ran (``None``: never any)."""
        ...

    async def figures(self, config: ChallengerConfig, now: datetime) -> Sequence[ArmFigures]: ...


@dataclass(frozen=True, slots=True)
class PolicyVersionInfo:
    version: int
    name: str
    active: bool
    published_at: datetime


class PolicyVersions(Protocol):
    """Read access to every stored policy version and the TOML it was stored from.

    ``source`` returns ``None`` for a version that is not stored.
    """

    async def list(self) -> Sequence[PolicyVersionInfo]: ...

    async def source(self, version: int) -> str | None: ...
