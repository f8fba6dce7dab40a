"""The SQL unit of work: one ``AsyncSession``, one transaction, its repositories."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from types import TracebackType
from typing import Self

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from adapters.sql.errors import as_unavailable, is_unavailable
from adapters.sql.repositories import (
    HistoryPrefetch,
    Now,
    SqlApplicantRepository,
    SqlBehaviorEventRepository,
    SqlIdempotencyRepository,
    SqlOfferRepository,
    SqlPolicyRepository,
    utc_now,
)
from application.errors import ApplicationError, Conflict
from application.pii import PiiProtection
from application.ports import HistorySnapshot
from domain.offers import OfferSet


class SqlUnitOfWork:
    """``async with uow:`` opens a session; ``commit()`` makes the work durable; leaving the
    block rolls back whatever was not committed and returns the connection to the pool.

    The transaction begins with the first statement that needs one; on PostgreSQL the fast
    paths' reads (``adapters/sql/pg_fast.py``) run before it as statements of their own, so a
    unit of work that only reads opens none."""

    applicants: SqlApplicantRepository
    offers: SqlOfferRepository
    policies: SqlPolicyRepository
    idempotency: SqlIdempotencyRepository
    behavior_events: SqlBehaviorEventRepository

    def __init__(self, session_factory: async_sessionmaker[AsyncSession], pii: PiiProtection,
                 now: Now = utc_now) -> None:
        self._session_factory = session_factory
        self._pii = pii
        self._now = now
        self._session: AsyncSession | None = None

    async def __aenter__(self) -> Self:
        if self._session is not None:
            raise RuntimeError("this unit of work is already in use")
        session = self._session_factory()
        self._session = session
        self.behavior_events = SqlBehaviorEventRepository(session, self._now)
        prefetch = HistoryPrefetch()  # a cache miss's applicant and history in one statement
        self.applicants = SqlApplicantRepository(session, self._pii, self._now,
                                                 self.behavior_events, prefetch)
        self.offers = SqlOfferRepository(session, self._now, prefetch)
        self.policies = SqlPolicyRepository(session, self._now)
        self.idempotency = SqlIdempotencyRepository(session, self._now)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        session, self._session = self._session, None
        if session is not None:
            try:
                await session.close()  # rolls back anything not committed
            except Exception as close_exc:
                # A session whose connection died fails to close too: after a commit the work
                # is durable, and otherwise the error raised in the block tells the story.
                if not is_unavailable(close_exc):
                    raise
        if exc is not None and not isinstance(exc, ApplicationError) and is_unavailable(exc):
            raise as_unavailable(exc) from exc

    async def commit(self) -> None:
        if self._session is None:
            raise RuntimeError("commit() outside `async with`")
        try:
            await self._session.commit()
        except IntegrityError as exc:
            # A unique key taken by a concurrent writer: the caller's expected race, not a bug.
            raise Conflict("the record was written concurrently by another request",
                           constraint=type(exc.orig).__name__ if exc.orig else "unique") from exc
        except Exception as exc:
            if is_unavailable(exc):
                raise as_unavailable(exc) from exc
            raise

    async def commit_offer_sets(self, offer_sets: Sequence[OfferSet], history_of: Sequence[str],
                                now: datetime | None) -> dict[str, HistorySnapshot]:
        """On PostgreSQL one statement (``adapters/sql/offer_set_write.py``): with no
        transaction open yet it is its own, committed when it returns, and ``commit()`` has
        nothing left to send; inside an open transaction it is part of it."""
        if self._session is None:
            raise RuntimeError("commit_offer_sets() outside `async with`")
        snapshots = await self.offers.write_offer_sets(offer_sets, history_of, now)
        await self.commit()
        return snapshots


class SqlUnitOfWorkFactory:
    """The ``UnitOfWorkFactory`` port: ``factory()`` is a fresh :class:`SqlUnitOfWork`.

    ``pii`` is required: applicants are never stored without sealing their personal data."""

    def __init__(self, session_factory: async_sessionmaker[AsyncSession], now: Now = utc_now,
                 *, pii: PiiProtection) -> None:
        self._session_factory = session_factory
        self._now = now
        self._pii = pii

    def __call__(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self._session_factory, self._pii, self._now)
