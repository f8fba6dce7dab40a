"""Ports: what the use cases need from the outside world, as ``typing.Protocol``.

Adapters in ``adapters/`` implement them; ``config/`` picks which. Each docstring is the contract
an adapter must honour (the integration tests hold every adapter to it).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self

from application.events import OfferEvent
from domain.applicant import Applicant
from domain.offers import LoanOffer, OfferSet, OfferStatus
from domain.policy.model import PricingPolicy


class ApplicantRepository(Protocol):
    """Applicants with their credit profile, PII and behaviour metrics.

    ``get`` returns ``None`` for an unknown user. ``upsert`` inserts or replaces the applicant
    (identity: ``user_id``) within the unit of work's transaction.
    """

    async def get(self, user_id: str) -> Applicant | None: ...

    async def upsert(self, applicant: Applicant) -> None: ...

    async def add_many(self, applicants: Sequence[Applicant]) -> int:
        """Insert applicants whose ids do not exist yet; returns how many were inserted."""
        ...

    async def count(self) -> int: ...


@dataclass(frozen=True, slots=True)
class OfferPage:
    offers: tuple[LoanOffer, ...]
    has_next: bool
    end_cursor: str | None
    total: int


class OfferRepository(Protocol):
    """Every generated offer set, its offers with explanations, and their status changes.

    ``add_offer_set`` stores the decision and all its offers atomically with the unit of work.
    ``history`` pages a user's offers newest first; ``after`` is an opaque cursor returned by a
    previous page (``end_cursor``), and a malformed cursor raises ``ValueError``.
    ``set_status`` changes one offer's status and returns the updated offer, or ``None`` if unknown.
    """

    async def add_offer_set(self, offer_set: OfferSet) -> None: ...

    async def get(self, offer_id: str) -> LoanOffer | None: ...

    async def history(self, user_id: str, first: int, after: str | None) -> OfferPage: ...

    async def set_status(self, offer_id: str, status: OfferStatus) -> LoanOffer | None: ...


class PolicyRepository(Protocol):
    """Versioned pricing policies. Versions are immutable once stored; exactly one is active.

    ``active`` returns ``None`` only before any policy was stored.
    """

    async def active(self) -> PricingPolicy | None: ...

    async def get(self, version: int) -> PricingPolicy | None: ...

    async def add(self, policy: PricingPolicy, source_toml: str, activate: bool) -> None: ...


class UnitOfWork(Protocol):
    """One database transaction. Use as ``async with uow:``; nothing is durable until
    ``commit()`` returns; leaving the block without commit rolls back."""

    applicants: ApplicantRepository
    offers: OfferRepository
    policies: PolicyRepository

    async def __aenter__(self) -> Self: ...

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None: ...

    async def commit(self) -> None:
        """Make the work durable; raises ``Conflict`` when a concurrent writer took a unique key
        (the transaction is then rolled back)."""


UnitOfWorkFactory = Callable[[], UnitOfWork]


class ApplicantCache(Protocol):
    """A cache of applicants in front of the repository.

    Fails open: any backend error behaves as a miss (``get`` returns ``None``) or a no-op
    (``put``/``invalidate``); it never raises to the caller. Entries expire after the adapter's TTL.
    """

    async def get(self, user_id: str) -> Applicant | None: ...

    async def put(self, applicant: Applicant) -> None: ...

    async def invalidate(self, user_id: str) -> None: ...


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
