"""SQL implementations of the repository ports (``application.ports``), one ``AsyncSession`` each.

They never commit: the unit of work owns the transaction. Writes are Core statements (bulk
inserts, dialect upserts); reads load rows with ``populate_existing`` so a read after a write in
the same unit of work sees the written values.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, TypeVar
from uuid import uuid4

from sqlalchemy import Table, and_, case, func, insert, literal, or_, true, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from adapters.sql.mapping import (
    applicant_columns,
    applicant_from_rows,
    behavior_columns,
    decision_columns,
    offer_columns,
    offer_from_row,
)
from adapters.sql.tables import (
    ApplicantBehaviorRow,
    ApplicantRow,
    OfferDecisionRow,
    OfferRow,
    PricingPolicyRow,
    UtcDateTime,
)
from application.errors import Conflict
from application.ports import OfferPage
from domain.applicant import Applicant
from domain.behavior.history import OfferHistorySummary
from domain.offers import LoanOffer, OfferSet, OfferStatus
from domain.policy.model import PricingPolicy
from domain.policy.parsing import parse_policy_toml

Now = Callable[[], datetime]
T = TypeVar("T")

_APPLICANTS: Table = ApplicantRow.__table__  # type: ignore[assignment]
_BEHAVIOR: Table = ApplicantBehaviorRow.__table__  # type: ignore[assignment]
_DECISIONS: Table = OfferDecisionRow.__table__  # type: ignore[assignment]
_OFFERS: Table = OfferRow.__table__  # type: ignore[assignment]
_POLICIES: Table = PricingPolicyRow.__table__  # type: ignore[assignment]


def utc_now() -> datetime:
    return datetime.now(UTC)


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _upsert_insert(session: AsyncSession, table: Table) -> Any:
    """The dialect's ``INSERT`` (with ``on_conflict_do_*``) for the session's database."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"upserts on {dialect}")


class SqlApplicantRepository:
    #: Rows per INSERT batch in ``add_many`` (x ~25 columns: well under both databases'
    #: bind-parameter limits).
    CHUNK_SIZE = 500

    def __init__(self, session: AsyncSession, now: Now = utc_now) -> None:
        self._session = session
        self._now = now

    async def get(self, user_id: str) -> Applicant | None:
        statement = (
            select(ApplicantRow, ApplicantBehaviorRow)
            .outerjoin(ApplicantBehaviorRow,
                       ApplicantBehaviorRow.user_id == ApplicantRow.user_id)  # type: ignore[arg-type]
            .where(ApplicantRow.user_id == user_id)
            .execution_options(populate_existing=True)
        )
        row = (await self._session.exec(statement)).first()
        return None if row is None else applicant_from_rows(*row)

    async def get_many(self, user_ids: Sequence[str]) -> dict[str, Applicant]:
        """The stored applicants among ``user_ids`` (unknown ids are left out)."""
        found: dict[str, Applicant] = {}
        for chunk in _chunks(list(dict.fromkeys(user_ids)), self.CHUNK_SIZE):
            statement = (
                select(ApplicantRow, ApplicantBehaviorRow)
                .outerjoin(ApplicantBehaviorRow,
                           ApplicantBehaviorRow.user_id == ApplicantRow.user_id)  # type: ignore[arg-type]
                .where(ApplicantRow.user_id.in_(chunk))  # type: ignore[attr-defined]
                .execution_options(populate_existing=True)
            )
            for row in (await self._session.exec(statement)).all():
                applicant = applicant_from_rows(*row)
                found[applicant.user_id] = applicant
        return found

    async def upsert(self, applicant: Applicant) -> None:
        await self.upsert_many([applicant])

    async def upsert_many(self, applicants: Sequence[Applicant]) -> None:
        """Insert or replace each applicant and its behaviour row (batched multi-row
        ``INSERT .. ON CONFLICT DO UPDATE``); ``created_at`` of existing rows is kept.
        Ids must be unique within the call."""
        now = self._now()
        for chunk in _chunks(applicants, self.CHUNK_SIZE):
            for table, columns, keep in (
                (_APPLICANTS, applicant_columns, {"user_id", "created_at"}),
                (_BEHAVIOR, behavior_columns, {"user_id"}),
            ):
                rows = [columns(a, now) for a in chunk]
                statement = _upsert_insert(self._session, table)
                statement = statement.on_conflict_do_update(
                    index_elements=["user_id"],
                    set_={name: statement.excluded[name] for name in rows[0] if name not in keep},
                )
                await self._session.exec(statement, params=rows)

    async def add_many(self, applicants: Sequence[Applicant]) -> int:
        """Insert the applicants whose ids are new (the first of repeated ids); skip the rest.

        Batched multi-row ``INSERT .. ON CONFLICT DO NOTHING RETURNING user_id``: exact counts
        even with a concurrent writer, and behaviour rows only for the applicants inserted."""
        first_seen: dict[str, Applicant] = {}
        for applicant in applicants:
            first_seen.setdefault(applicant.user_id, applicant)
        unique = list(first_seen.values())
        now = self._now()
        inserted = 0
        for chunk in _chunks(unique, self.CHUNK_SIZE):
            statement = (_upsert_insert(self._session, _APPLICANTS)
                         .on_conflict_do_nothing(index_elements=["user_id"])
                         .returning(_APPLICANTS.c.user_id))
            result = await self._session.exec(
                statement, params=[applicant_columns(a, now) for a in chunk])
            new_ids = set(result.scalars().all())
            if new_ids:
                await self._session.exec(
                    insert(_BEHAVIOR),
                    params=[behavior_columns(a, now) for a in chunk if a.user_id in new_ids])
            inserted += len(new_ids)
        return inserted

    async def count(self) -> int:
        result = await self._session.exec(select(func.count()).select_from(_APPLICANTS))
        return int(result.one())


class SqlOfferRepository:
    def __init__(self, session: AsyncSession, now: Now = utc_now) -> None:
        self._session = session
        self._now = now

    async def add_offer_set(self, offer_set: OfferSet) -> None:
        decision_id = uuid4().hex
        await self._session.exec(insert(_DECISIONS),
                                 params=decision_columns(offer_set, decision_id))
        if offer_set.offers:
            await self._session.exec(
                insert(_OFFERS), params=[offer_columns(o, decision_id) for o in offer_set.offers])

    async def get(self, offer_id: str) -> LoanOffer | None:
        statement = (select(OfferRow).where(OfferRow.offer_id == offer_id)
                     .execution_options(populate_existing=True))
        row = (await self._session.exec(statement)).first()
        return None if row is None else offer_from_row(row)

    async def history(self, user_id: str, first: int, after: str | None) -> OfferPage:
        """Newest first (``created_at`` desc, then ``rank``, then ``offer_id``), keyset-paged:
        the cursor is the last offer's sort key, so pages never repeat or skip an offer even
        while new offers arrive."""
        if first < 0:
            raise ValueError(f"first must not be negative, got {first}")
        position = decode_cursor(after) if after is not None else None
        total_result = await self._session.exec(
            select(func.count()).select_from(_OFFERS).where(_OFFERS.c.user_id == user_id))
        total = int(total_result.one())
        o = _OFFERS.c
        statement = select(OfferRow).where(OfferRow.user_id == user_id)
        if position is not None:
            created_at, rank, offer_id = position
            statement = statement.where(or_(
                o.created_at < created_at,
                and_(o.created_at == created_at,
                     or_(o.rank > rank, and_(o.rank == rank, o.offer_id > offer_id))),
            ))
        statement = (statement.order_by(o.created_at.desc(), o.rank.asc(), o.offer_id.asc())
                     .limit(first + 1).execution_options(populate_existing=True))
        rows = list((await self._session.exec(statement)).all())
        offers = tuple(offer_from_row(row) for row in rows[:first])
        cursors = tuple(encode_cursor(offer) for offer in offers)
        return OfferPage(offers=offers, has_next=len(rows) > first,
                         end_cursor=cursors[-1] if cursors else None, total=total,
                         cursors=cursors)

    #: How far back the history aggregates look.
    HISTORY_WINDOW = timedelta(days=365)

    async def history_summary(self, user_id: str, now: datetime | None = None
                              ) -> OfferHistorySummary:
        """Aggregates over the user's answers of the last year, in two grouped queries' worth of
        SQL (one per answer, then a sum), so the cost is one index range scan on
        ``(user_id, created_at)`` whatever the history's length."""
        now = now or self._now()
        o = _OFFERS.c
        moment = literal(now, UtcDateTime())

        def count_where(condition: Any) -> Any:
            return func.sum(case((condition, 1), else_=0))

        status = o.status
        unanswered_past = or_(status == OfferStatus.EXPIRED.value,
                              and_(status == OfferStatus.ACTIVE.value, o.valid_until <= moment))
        per_answer = (
            select(
                func.count().label("offers"),
                count_where(status == OfferStatus.ACCEPTED.value).label("accepted"),
                count_where(status == OfferStatus.DECLINED.value).label("declined"),
                count_where(unanswered_past).label("lapsed"),
                count_where(and_(status == OfferStatus.ACTIVE.value, o.valid_until > moment)
                            ).label("open"),
                func.max(case((status == OfferStatus.ACCEPTED.value, o.status_changed_at),
                              else_=None)).label("accepted_at"),
            )
            .where(o.user_id == user_id, o.created_at >= now - self.HISTORY_WINDOW)
            .group_by(o.decision_id)
            .subquery()
        )
        a = per_answer.c
        accepted, declined = a.accepted > 0, and_(a.accepted == 0, a.declined > 0)
        lapsed = and_(a.accepted == 0, a.declined == 0, a.open == 0, a.lapsed > 0)
        totals = select(
            func.coalesce(func.sum(a.offers), 0), func.count(),
            func.coalesce(func.sum(case((accepted, 1), else_=0)), 0),
            func.coalesce(func.sum(case((declined, 1), else_=0)), 0),
            func.coalesce(func.sum(case((lapsed, 1), else_=0)), 0),
            func.max(a.accepted_at),
        )
        seen, answers, n_accepted, n_declined, n_lapsed, last_accepted = (
            (await self._session.exec(totals)).one())
        if isinstance(last_accepted, str):  # SQLite loses the column type through max()
            last_accepted = datetime.fromisoformat(last_accepted)
        if last_accepted is not None and last_accepted.tzinfo is None:
            last_accepted = last_accepted.replace(tzinfo=UTC)
        return OfferHistorySummary(
            offers_seen=int(seen), answers=int(answers), accepted=int(n_accepted),
            declined=int(n_declined), lapsed=int(n_lapsed), last_accepted_at=last_accepted)

    async def set_status(self, offer_id: str, status: OfferStatus) -> LoanOffer | None:
        """``status_changed_at`` moves only when the status actually changes."""
        o = _OFFERS.c
        result = await self._session.exec(
            update(_OFFERS).where(o.offer_id == offer_id).values(
                status=status.value,
                status_changed_at=case(
                    (o.status != status.value, literal(self._now(), UtcDateTime())),
                    else_=o.status_changed_at),
            ))
        if result.rowcount == 0:
            return None
        return await self.get(offer_id)


_CURSOR_TAG = "o1"


def encode_cursor(offer: LoanOffer) -> str:
    """Opaque, URL-safe: the offer's position in the history order."""
    key = [_CURSOR_TAG, offer.created_at.isoformat(), offer.rank, offer.offer_id]
    raw = json.dumps(key, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int, str]:
    """Raises ``ValueError`` for anything :func:`encode_cursor` did not produce."""
    try:
        raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
        tag, created_at, rank, offer_id = json.loads(raw)
        moment = datetime.fromisoformat(created_at)
        valid = (tag == _CURSOR_TAG and type(rank) is int and isinstance(offer_id, str)
                 and moment.tzinfo is not None)
    except (binascii.Error, UnicodeDecodeError, TypeError, ValueError) as exc:
        raise ValueError("malformed cursor") from exc
    if not valid:
        raise ValueError("malformed cursor")
    return moment, rank, offer_id


@lru_cache(maxsize=64)
def _parse_stored_policy(version: int, source_toml: str) -> PricingPolicy:
    return parse_policy_toml(source_toml)


class SqlPolicyRepository:
    """Policies are stored as the TOML they were published from; reads parse it once per
    version and source (memoised for every repository instance: versions are immutable)."""

    _parse = staticmethod(_parse_stored_policy)

    def __init__(self, session: AsyncSession, now: Now = utc_now) -> None:
        self._session = session
        self._now = now

    async def active(self) -> PricingPolicy | None:
        return await self._load(_POLICIES.c.active == true())

    async def get(self, version: int) -> PricingPolicy | None:
        return await self._load(_POLICIES.c.version == version)

    async def add(self, policy: PricingPolicy, source_toml: str, activate: bool) -> None:
        """Store ``policy`` (which ``source_toml`` must describe exactly). With ``activate``, or
        when no policy is active yet, it becomes the one active policy in this transaction.
        Raises ``Conflict`` for a version already stored (here or, at commit, by a concurrent
        writer) and ``ValueError`` for a source that does not match."""
        parsed = self._parse(policy.version, source_toml)
        if parsed != policy:
            raise ValueError(f"source_toml does not describe policy version {policy.version}")
        p = _POLICIES.c
        existing = await self._session.exec(select(p.version).where(p.version == policy.version))
        if existing.first() is not None:
            raise Conflict(f"policy version {policy.version} is already stored "
                           "(versions are immutable)", version=policy.version)
        any_active = (await self._session.exec(select(p.version).where(p.active == true())))
        if not activate and any_active.first() is None:
            activate = True
        if activate:
            await self._session.exec(update(_POLICIES).where(p.active == true())
                                     .values(active=False))
        try:
            await self._session.exec(insert(_POLICIES), params={
                "version": policy.version, "name": policy.name, "source_toml": source_toml,
                "active": activate, "published_at": self._now(),
            })
        except IntegrityError as exc:  # a concurrent writer stored it since the check above
            raise Conflict(f"policy version {policy.version} is already stored "
                           "(versions are immutable)", version=policy.version) from exc

    async def _load(self, condition: Any) -> PricingPolicy | None:
        p = _POLICIES.c
        row = (await self._session.exec(select(p.version, p.source_toml).where(condition))).first()
        return None if row is None else self._parse(row.version, row.source_toml)
