"""SQL implementations of the repository ports (``application.ports``), one ``AsyncSession`` each.

They never commit: the unit of work owns the transaction. Writes are Core statements (bulk
inserts, dialect upserts); reads load rows with ``populate_existing`` so a read after a write in
the same unit of work sees the written values. On PostgreSQL the statements of every
``loanOffers`` answer (applicant read, history aggregates, offer-set insert) take the fast paths
of ``adapters/sql/pg_fast.py``; SQLite runs the portable ones.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import fields, replace
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, TypeVar

from sqlalchemy import (
    Table,
    and_,
    any_,
    bindparam,
    case,
    delete,
    func,
    insert,
    literal,
    or_,
    true,
    tuple_,
    union_all,
    update,
)
from sqlalchemy import (
    column as column_clause,
)
from sqlalchemy import (
    table as table_clause,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from adapters.codecs import outcome_from_dict, outcome_to_dict
from adapters.sql.mapping import (
    applicant_columns,
    applicant_from_rows,
    behavior_columns,
    from_paise,
    offer_from_row,
)
from adapters.sql.offer_set_write import (
    HISTORY_SOURCE_COLUMNS,
    WriteWithHistory,
    insert_sql,
    payloads,
    rows_of,
    write_with_history,
)
from adapters.sql.pg_fast import PgQuery, fetch, in_transaction, is_asyncpg, run
from adapters.sql.pii_columns import index_column
from adapters.sql.tables import (
    ApplicantBehaviorRow,
    ApplicantRow,
    BehaviorEventRow,
    Id,
    IdempotencyKeyRow,
    OfferDecisionRow,
    OfferRow,
    PricingPolicyRow,
    UtcDateTime,
)
from application.errors import Conflict
from application.offer_outcome import OfferOutcome, StoredOutcome
from application.pii import ContactKind, PiiProtection
from application.ports import HistorySnapshot, OfferPage, PolicyRecord, RepricingGroup
from domain.applicant import Applicant, LoanRequest
from domain.behavior.events import (
    BehaviorEvent,
    BehaviorEventCounts,
    BehaviorEventType,
    apply_event_counts,
    window_start,
)
from domain.behavior.history import NO_HISTORY, OfferHistorySummary
from domain.behavior.metrics import BehaviorMetrics
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
_IDEMPOTENCY: Table = IdempotencyKeyRow.__table__  # type: ignore[assignment]
_EVENTS: Table = BehaviorEventRow.__table__  # type: ignore[assignment]
_ACTIVE = OfferStatus.ACTIVE.value


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

    def __init__(self, session: AsyncSession, pii: PiiProtection, now: Now = utc_now,
                 events: SqlBehaviorEventRepository | None = None,
                 prefetch: HistoryPrefetch | None = None) -> None:
        self._session = session
        self._pii = pii
        self._now = now
        self._events = events
        self._prefetch = prefetch

    async def get(self, user_id: str) -> Applicant | None:
        """The applicant; with an events repository, its metrics include the recorded events."""
        if self._events is not None and is_asyncpg(self._session):
            return await self._get_with_events_pg(user_id)
        applicant = await self._get_stored(user_id)
        if applicant is None or self._events is None:
            return applicant
        now = self._now()
        counts = await self._events.counts(user_id, now)
        if counts == BehaviorEventCounts():
            return applicant
        return replace(applicant, behavior=apply_event_counts(applicant.behavior, counts, now))

    async def _get_with_events_pg(self, user_id: str) -> Applicant | None:
        """PostgreSQL: the applicant, its behaviour row, its event counts and its offer-history
        aggregate in one statement (one round trip instead of three; see
        ``adapters/sql/pg_fast.py``). The aggregate is kept for this unit of work's
        ``history_snapshots`` of the user (:class:`HistoryPrefetch`)."""
        now = self._now()
        params = {"user_id": user_id, "user_ids": [user_id], "now": now,
                  "since": now - SqlOfferRepository.HISTORY_WINDOW, **_event_windows(now)}
        rows = await fetch(self._session, _applicant_with_events_query(), params)
        if not rows:
            return None
        row = rows[0]
        if self._prefetch is not None and not await in_transaction(self._session):
            history = (HistorySnapshot(NO_HISTORY, None) if row["h_user_id"] is None else
                       _snapshot_of(*(row[f"h_{name}"] for name in _HISTORY_COLUMNS[1:])))
            self._prefetch.keep(user_id, now, history)
        applicant = applicant_from_rows(_Columns(row, _APPLICANT_NAMES),
                                        _Columns(row, _BEHAVIOR_NAMES, "b_")
                                        if row["b_user_id"] is not None else None, self._pii)
        if row["events"] == 0:
            return applicant
        counts = _event_counts_of(row["event_counts"], row["last_event"])
        return replace(applicant, behavior=apply_event_counts(applicant.behavior, counts, now))

    async def _get_stored(self, user_id: str) -> Applicant | None:
        statement = _applicant_statement()
        row = (await self._session.exec(statement, params={"user_id": user_id})).first()
        return None if row is None else applicant_from_rows(*row, self._pii)

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
                applicant = applicant_from_rows(*row, self._pii)
                found[applicant.user_id] = applicant
        if self._events is None or not found:
            return found
        now = self._now()
        counts = await self._events.counts_many(list(found), now)
        return {user_id: replace(a, behavior=apply_event_counts(a.behavior, counts[user_id], now))
                if counts.get(user_id, BehaviorEventCounts()) != BehaviorEventCounts() else a
                for user_id, a in found.items()}

    async def upsert(self, applicant: Applicant) -> None:
        await self.upsert_many([applicant])

    async def upsert_many(self, applicants: Sequence[Applicant],
                          behavior_fields: Collection[str] | None = None) -> None:
        """Insert or replace each applicant and its behaviour row (batched multi-row
        ``INSERT .. ON CONFLICT DO UPDATE``); ``created_at`` of existing rows is kept.

        ``behavior_fields`` names the behaviour counters to overwrite on an existing applicant
        (``None``: all); the others keep their stored values, in the same statement, so a
        counter incremented concurrently is never written back stale. Ids must be unique."""
        now = self._now()
        kept_behavior = {"user_id"} | (set() if behavior_fields is None else
                                       {f.name for f in fields(BehaviorMetrics)}
                                       - set(behavior_fields))
        for chunk in _chunks(applicants, self.CHUNK_SIZE):
            for table, columns, keep in (
                (_APPLICANTS, self._columns, {"user_id", "created_at"}),
                (_BEHAVIOR, behavior_columns, kept_behavior),
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
                statement, params=[self._columns(a, now) for a in chunk])
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

    async def find_by_contact(self, kind: ContactKind, value: str) -> tuple[str, ...]:
        """User ids whose e-mail, phone or PAN equals ``value`` once normalised, through the
        blind index (an index scan; nothing is decrypted)."""
        digest = self._pii.index.digest(kind, value)
        if digest is None:
            return ()
        column = _APPLICANTS.c[index_column(kind.value)]
        statement = (select(_APPLICANTS.c.user_id).where(column == digest)
                     .order_by(_APPLICANTS.c.user_id))
        return tuple((await self._session.exec(statement)).all())

    def _columns(self, applicant: Applicant, now: datetime) -> dict[str, Any]:
        return applicant_columns(applicant, now, self._pii)


class HistoryPrefetch:
    """PostgreSQL: offer-history aggregates read together with an applicant, for the same unit
    of work's ``history_snapshots`` of that one user (a cache miss reads both), instead of a
    second statement.

    Served only when it cannot differ from what the second statement would read: the unit of
    work still has no transaction open (so it wrote nothing since; both are statements of their
    own at READ COMMITTED, the second merely later), and the later ``now`` is not before the
    first nor at or past the moment the aggregate changes by itself (``changes_at``: an open
    offer lapses, the oldest answer leaves the window), the same rule the history cache serves
    its entries by. Each entry serves once."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[datetime, HistorySnapshot]] = {}

    def keep(self, user_id: str, now: datetime, snapshot: HistorySnapshot) -> None:
        self._entries[user_id] = (now, snapshot)

    def take(self, user_id: str, now: datetime) -> HistorySnapshot | None:
        read_at, snapshot = self._entries.pop(user_id, (None, None))
        if read_at is None or snapshot is None or now < read_at:
            return None
        if snapshot.changes_at is not None and now >= snapshot.changes_at:
            return None
        return snapshot


class SqlOfferRepository:
    def __init__(self, session: AsyncSession, now: Now = utc_now,
                 prefetch: HistoryPrefetch | None = None) -> None:
        self._session = session
        self._now = now
        self._prefetch = prefetch

    async def add_offer_set(self, offer_set: OfferSet) -> None:
        await self.add_offer_sets((offer_set,))

    async def add_offer_sets(self, offer_sets: Sequence[OfferSet]) -> None:
        """One multi-row insert per table for all the sets (on PostgreSQL one statement for
        both), in the unit of work's transaction."""
        decisions, offers = rows_of(offer_sets)
        if not decisions:
            return
        try:
            if is_asyncpg(self._session):  # begun through SQLAlchemy: it owns the transaction
                connection = await self._session.connection()
                await connection.exec_driver_sql(insert_sql(), payloads(decisions, offers))
                return
            await self._session.exec(insert(_DECISIONS),
                                     params=decisions if len(decisions) > 1 else decisions[0])
            if offers:
                await self._session.exec(insert(_OFFERS), params=offers)
        except IntegrityError as exc:  # an id taken: the caller's expected race, not a bug
            raise Conflict("the record was written concurrently by another request",
                           constraint=type(exc.orig).__name__ if exc.orig else "unique") from exc

    async def write_offer_sets(self, offer_sets: Sequence[OfferSet], history_of: Sequence[str],
                               now: datetime | None) -> dict[str, HistorySnapshot]:
        """:meth:`add_offer_sets`, then :meth:`history_snapshots` of ``history_of`` at ``now``
        (none when empty). PostgreSQL: one statement for both (``adapters/sql/offer_set_write.py``)
        which, when the unit of work has no transaction open, is its own and is committed when
        this returns: for :meth:`SqlUnitOfWork.commit_offer_sets` only."""
        if not is_asyncpg(self._session):
            await self.add_offer_sets(offer_sets)
            return await self.history_snapshots(history_of, now) if history_of else {}
        decisions, offers = rows_of(offer_sets)
        if not decisions:
            return await self.history_snapshots(history_of, now) if history_of else {}
        documents = payloads(decisions, offers)
        if not history_of or now is None:
            await run(self._session, insert_sql(), documents)
            return {}
        statement = _write_with_history()
        params = {"user_ids": list(history_of), "now": now,
                  "since": now - self.HISTORY_WINDOW}
        rows = await run(self._session, statement.sql, statement.arguments(params, *documents))
        found = {user_id: HistorySnapshot(NO_HISTORY, None) for user_id in history_of}
        for user_id, *figures in rows:
            found[user_id] = _snapshot_of(*figures)
        return found

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
        return (await self.history_snapshots([user_id], now))[user_id].summary

    async def history_snapshots(self, user_ids: Sequence[str], now: datetime | None = None
                                ) -> dict[str, HistorySnapshot]:
        """Aggregates over each user's answers of the last year, with the moment each changes
        by itself (see :class:`~application.ports.HistorySnapshot`), in one statement for all
        the users: per user, one index range scan on ``(user_id, created_at)`` whatever the
        history's length, grouped per answer, then summed. Built once (bind parameters): building
        it took more CPU than running it."""
        now = now or self._now()
        since = now - self.HISTORY_WINDOW
        found = {user_id: HistorySnapshot(NO_HISTORY, None) for user_id in user_ids}
        postgres = is_asyncpg(self._session)
        if postgres and self._prefetch is not None and len(found) == 1:
            (user_id,) = found
            kept = self._prefetch.take(user_id, now)
            if kept is not None and not await in_transaction(self._session):
                return {user_id: kept}
        for chunk in _chunks(list(found), 500):
            params = {"user_ids": list(chunk), "now": now, "since": since}
            rows = (await fetch(self._session, _history_totals_query(), params) if postgres else
                    (await self._session.exec(_history_totals_statement(), params=params)).all())
            for user_id, *figures in rows:
                found[user_id] = _snapshot_of(*figures)
        return found

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

    async def transition(self, offer_id: str, to: OfferStatus, replaced_by: str | None = None
                         ) -> LoanOffer | None:
        o = _OFFERS.c
        values: dict[str, Any] = {"status": to.value, "status_changed_at": self._now()}
        if replaced_by is not None:
            values["replaced_by"] = replaced_by
        statement = (update(_OFFERS).where(o.offer_id == offer_id, o.status == _ACTIVE)
                     .values(values).returning(*_OFFERS.c))
        row = (await self._session.exec(statement)).first()
        return None if row is None else offer_from_row(row)

    async def lock_active(self, user_id: str) -> None:
        """``SELECT .. FOR UPDATE`` on PostgreSQL; SQLite has one writer at a time anyway."""
        o = _OFFERS.c
        await self._session.exec(select(o.offer_id)
                                 .where(o.user_id == user_id, o.status == _ACTIVE)
                                 .order_by(o.offer_id).with_for_update())

    async def withdraw_active(self, user_id: str, except_offer_id: str | None = None
                              ) -> tuple[LoanOffer, ...]:
        """Offers already past ``valid_until`` are left to the expiry sweep (they expired, nobody
        withdrew them)."""
        o = _OFFERS.c
        now = self._now()
        statement = update(_OFFERS).where(o.user_id == user_id, o.status == _ACTIVE,
                                          o.valid_until > literal(now, UtcDateTime()))
        if except_offer_id is not None:
            statement = statement.where(o.offer_id != except_offer_id)
        statement = statement.values(status=OfferStatus.WITHDRAWN.value,
                                     status_changed_at=now).returning(*_OFFERS.c)
        rows = (await self._session.exec(statement)).all()
        return tuple(sorted((offer_from_row(r) for r in rows), key=lambda x: x.offer_id))

    async def expire_due(self, now: datetime, limit: int) -> tuple[LoanOffer, ...]:
        """On PostgreSQL the candidates are locked with ``SKIP LOCKED``, so replicas sweeping at
        once split the work instead of queueing; the outer ``status = 'ACTIVE'`` re-check makes
        the update conditional wherever the candidate was changed meanwhile."""
        o = _OFFERS.c
        moment = literal(now, UtcDateTime())
        # A CTE, evaluated once: as an ``IN (subquery)`` PostgreSQL may re-run a LIMIT ... FOR
        # UPDATE subquery per outer row and update more than ``limit`` offers.
        due = (select(o.offer_id).where(o.status == _ACTIVE, o.valid_until <= moment)
               .order_by(o.valid_until, o.offer_id).limit(limit)
               .with_for_update(skip_locked=True).cte("due"))
        statement = (update(_OFFERS).where(o.offer_id.in_(select(due.c.offer_id)),
                                           o.status == _ACTIVE)
                     .values(status=OfferStatus.EXPIRED.value, status_changed_at=now)
                     .returning(*_OFFERS.c))
        rows = (await self._session.exec(statement)).all()
        return tuple(sorted((offer_from_row(r) for r in rows), key=lambda x: x.valid_until))

    async def repricing_batch(self, version: int, now: datetime, max_answers: int
                              ) -> tuple[RepricingGroup, ...]:
        """Locks the offers it returns (``FOR UPDATE`` on PostgreSQL) so that no answer from the
        customer slips in between this read and the caller's transitions."""
        o, d = _OFFERS.c, _DECISIONS.c
        moment = literal(now, UtcDateTime())
        open_old = (o.status == _ACTIVE, o.policy_version == version, o.valid_until > moment)
        answers = (select(o.decision_id).where(*open_old).group_by(o.decision_id)
                   .order_by(o.decision_id).limit(max_answers))
        statement = (select(_OFFERS, d.requested_amount_paise, d.requested_tenure)
                     .join(_DECISIONS, d.decision_id == o.decision_id)
                     .where(*open_old, o.decision_id.in_(answers.scalar_subquery()))
                     # Locked in offer id order, like ``lock_active``: no deadlock with an
                     # acceptance running meanwhile.
                     .order_by(o.offer_id)
                     .with_for_update(of=_OFFERS))
        rows = sorted((await self._session.exec(statement)).all(),
                      key=lambda r: (r.decision_id, r.rank))
        groups: dict[str, list[Any]] = {}
        for row in rows:
            groups.setdefault(row.decision_id, []).append(row)
        result = []
        for members in groups.values():
            first = members[0]
            amount = (None if first.requested_amount_paise is None
                      else from_paise(first.requested_amount_paise))
            result.append(RepricingGroup(
                user_id=first.user_id,
                request=LoanRequest(amount, first.requested_tenure),
                offers=tuple(offer_from_row(r) for r in members)))
        return tuple(result)


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

    async def record(self, version: int | None = None) -> PolicyRecord | None:
        p = _POLICIES.c
        condition = p.active == true() if version is None else p.version == version
        row = (await self._session.exec(
            select(p.version, p.source_toml, p.active, p.published_at).where(condition))).first()
        if row is None:
            return None
        return PolicyRecord(policy=self._parse(row.version, row.source_toml),
                            source_toml=row.source_toml, active=bool(row.active),
                            published_at=row.published_at)

    async def latest_version(self) -> int | None:
        result = await self._session.exec(select(func.max(_POLICIES.c.version)))
        latest = result.one()
        return None if latest is None else int(latest)

    async def activate(self, version: int) -> None:
        """Two statements: at most one row may be active at any moment (partial unique index)."""
        p = _POLICIES.c
        await self._session.exec(update(_POLICIES).where(p.active == true(), p.version != version)
                                 .values(active=False))
        result = await self._session.exec(update(_POLICIES).where(p.version == version)
                                          .values(active=True))
        if result.rowcount == 0:
            raise ValueError(f"no stored policy version {version}")

    async def _load(self, condition: Any) -> PricingPolicy | None:
        p = _POLICIES.c
        row = (await self._session.exec(select(p.version, p.source_toml).where(condition))).first()
        return None if row is None else self._parse(row.version, row.source_toml)


class SqlIdempotencyRepository:
    def __init__(self, session: AsyncSession, now: Now = utc_now) -> None:
        self._session = session
        self._now = now

    async def get(self, operation: str, key: str) -> StoredOutcome | None:
        k = _IDEMPOTENCY.c
        statement = select(k.subject_id, k.response).where(k.operation == operation,
                                                           k.idempotency_key == key)
        row = (await self._session.exec(statement)).first()
        if row is None:
            return None
        return StoredOutcome(subject_id=row.subject_id, outcome=outcome_from_dict(row.response))

    async def add(self, operation: str, key: str, subject_id: str, outcome: OfferOutcome
                  ) -> None:
        """On PostgreSQL a concurrent insert of the same key waits for the other transaction
        and then fails here; on SQLite (one writer at a time) at the latest at commit."""
        try:
            await self._session.exec(insert(_IDEMPOTENCY), params={
                "operation": operation, "idempotency_key": key, "subject_id": subject_id,
                "response": outcome_to_dict(outcome), "created_at": self._now(),
            })
        except IntegrityError as exc:
            raise Conflict("this idempotencyKey is being used by a concurrent request",
                           reason="IDEMPOTENCY_KEY_IN_USE") from exc

    async def purge(self, before: datetime, limit: int) -> int:
        k = _IDEMPOTENCY.c
        old = (select(k.operation, k.idempotency_key)
               .where(k.created_at < literal(before, UtcDateTime())).limit(limit).cte("old"))
        statement = delete(_IDEMPOTENCY).where(tuple_(k.operation, k.idempotency_key).in_(
            select(old.c.operation, old.c.idempotency_key))).returning(k.idempotency_key)
        # Counted from RETURNING: SQLite reports no row count for a statement with a CTE.
        return len((await self._session.exec(statement)).all())


class SqlBehaviorEventRepository:
    def __init__(self, session: AsyncSession, now: Now = utc_now) -> None:
        self._session = session
        self._now = now

    async def add(self, event: BehaviorEvent) -> bool:
        statement = (_upsert_insert(self._session, _EVENTS)
                     .on_conflict_do_nothing(index_elements=["user_id", "event_id"])
                     .returning(_EVENTS.c.event_id))
        result = await self._session.exec(statement, params={
            "user_id": event.user_id, "event_id": event.event_id, "event_type": event.type.value,
            "offer_id": event.offer_id, "occurred_at": event.occurred_at,
            "recorded_at": self._now(),
        })
        return result.first() is not None

    async def counts(self, user_id: str, now: datetime) -> BehaviorEventCounts:
        return (await self.counts_many([user_id], now)).get(user_id, BehaviorEventCounts())

    async def counts_many(self, user_ids: Sequence[str], now: datetime
                          ) -> dict[str, BehaviorEventCounts]:
        """Per user, one indexed range scan over their events: a conditional count per type
        (users without events are left out). The statement is built once, with the users and
        each windowed type's start as bind parameters (building it per call took more CPU
        than running it, on every applicant cache miss)."""
        windows = _event_windows(now)
        found: dict[str, BehaviorEventCounts] = {}
        for chunk in _chunks(list(dict.fromkeys(user_ids)), 500):
            params = {"user_ids": list(chunk), **windows}
            rows = (await self._session.exec(_event_counts_statement(), params=params)).all()
            for user_id, *numbers, last in rows:
                found[user_id] = _event_counts_of(numbers, last)
        return found


#: The event types counted over a window (the others over all time).
_WINDOWED_EVENTS = tuple(t for t in BehaviorEventType
                         if window_start(t, datetime(2000, 1, 1, tzinfo=UTC)) is not None)


def _event_windows(now: datetime) -> dict[str, datetime | None]:
    """The ``since_<type>`` bind parameters of the event counts at ``now``."""
    return {f"since_{t.name.lower()}": window_start(t, now) for t in _WINDOWED_EVENTS}


def _event_counts_of(numbers: Sequence[Any], last: datetime | str | None) -> BehaviorEventCounts:
    """Counts in ``BehaviorEventType`` order, as :func:`_event_count_columns` selects them."""
    return BehaviorEventCounts.of(
        {t: int(n) for t, n in zip(BehaviorEventType, numbers, strict=True)}, _utc(last))


def _event_count_columns() -> list[Any]:
    """Per event type, how many of the user's events count (bind parameters ``since_<type>``
    per windowed type)."""
    e = _EVENTS.c
    columns = []
    for event_type in BehaviorEventType:
        condition = e.event_type == event_type.value
        if event_type in _WINDOWED_EVENTS:
            since = bindparam(f"since_{event_type.name.lower()}", type_=UtcDateTime())
            condition = and_(condition, e.occurred_at >= since)
        columns.append(func.coalesce(func.sum(case((condition, 1), else_=0)), 0))
    return columns


@lru_cache(maxsize=1)
def _event_counts_statement() -> Any:
    """:meth:`SqlBehaviorEventRepository.counts_many`'s query; bind parameters ``user_ids``
    (expanding) and ``since_<type>`` per windowed type."""
    e = _EVENTS.c
    return (select(e.user_id, *_event_count_columns(), func.max(e.occurred_at))
            .where(e.user_id.in_(bindparam("user_ids", expanding=True)))
            .group_by(e.user_id))


_APPLICANT_NAMES = tuple(c.name for c in _APPLICANTS.columns)
_BEHAVIOR_NAMES = tuple(c.name for c in _BEHAVIOR.columns)


class _Columns:
    """Attribute access to some of a record's columns (``mapping.applicant_from_rows`` reads
    rows by attribute), optionally under a prefix."""

    __slots__ = ("_values",)

    def __init__(self, record: Any, names: tuple[str, ...], prefix: str = "") -> None:
        self._values = {name: record[prefix + name] for name in names}

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None


@lru_cache(maxsize=1)
def _applicant_with_events_query() -> PgQuery:
    """PostgreSQL: :meth:`SqlApplicantRepository.get` in one statement. The applicant's
    columns, its behaviour row's as ``b_<column>`` (all ``NULL`` without one), and its events'
    counts (``events`` = 0: none, the counts then do not apply) from a lateral aggregate (one
    row whatever the number of events), and the user's offer-history aggregate as
    ``h_<column>`` (all ``NULL`` without offers in the window); bind parameters ``user_id``,
    ``since_<type>``, and the history's ``user_ids`` (``[user_id]``), ``now`` and ``since``."""
    a, b, e = _APPLICANTS.c, _BEHAVIOR.c, _EVENTS.c
    counts = (select(func.count().label("events"),
                     postgresql.array(_event_count_columns()).label("event_counts"),
                     func.max(e.occurred_at).label("last_event"))
              .where(e.user_id == a.user_id)
              .lateral("behaviour_events"))
    # At most one row (the user's), none without offers in the window: joined on true.
    history = _history_totals_statement(any_users=True).subquery("history")
    return PgQuery.of(
        select(*a, *(column.label(f"b_{column.name}") for column in b), counts,
               *(column.label(f"h_{name}")
                 for column, name in zip(history.c, _HISTORY_COLUMNS, strict=True)))
        .select_from(_APPLICANTS.outerjoin(_BEHAVIOR, b.user_id == a.user_id)
                     .join(counts, true()).outerjoin(history, true()))
        .where(a.user_id == bindparam("user_id", type_=Id)))


def _utc(value: datetime | str | None) -> datetime | None:
    """A timestamp read through an aggregate: SQLite loses the column type through min/max."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


def _snapshot_of(seen: int, answers: int, accepted: int, declined: int, lapsed: int,
                 last_accepted: Any, next_lapse: Any, first_created: Any) -> HistorySnapshot:
    """One user's row of :func:`_history_totals_statement` (after its ``user_id``)."""
    oldest = _utc(first_created)
    moments = [_utc(next_lapse),
               None if oldest is None else oldest + SqlOfferRepository.HISTORY_WINDOW]
    changes_at = min((t for t in moments if t is not None), default=None)
    return HistorySnapshot(
        OfferHistorySummary(offers_seen=int(seen), answers=int(answers), accepted=int(accepted),
                            declined=int(declined), lapsed=int(lapsed),
                            last_accepted_at=_utc(last_accepted)),
        changes_at)


#: Names for :func:`_history_totals_statement`'s columns (as ``h_<name>`` in the applicant's).
_HISTORY_COLUMNS = ("user_id", "seen", "answers", "accepted", "declined", "lapsed",
                    "last_accepted", "next_lapse", "first_created")


@lru_cache(maxsize=2)
def _history_totals_query(with_inserted: bool = False) -> PgQuery:
    """PostgreSQL: :func:`_history_totals_statement` with ``user_id = ANY(:user_ids)``, one
    text whatever the number of users."""
    return PgQuery.of(_history_totals_statement(any_users=True, with_inserted=with_inserted))


@lru_cache(maxsize=1)
def _write_with_history() -> WriteWithHistory:
    """PostgreSQL: :meth:`SqlOfferRepository.write_offer_sets` with aggregates, one text."""
    return write_with_history(_history_totals_query(with_inserted=True))


def _offers_with_inserted() -> Any:
    """The stored offers' history columns and those of the ``inserted`` clause of the
    statement that writes them (``adapters/sql/offer_set_write.py``): what the table holds
    once that statement is done, as the statement itself sees it."""
    stored = select(*(_OFFERS.c[name] for name in HISTORY_SOURCE_COLUMNS))
    new = select(*(column_clause(name) for name in HISTORY_SOURCE_COLUMNS)).select_from(
        table_clause("inserted"))
    return union_all(stored, new).subquery("offers_after_write").c


@lru_cache(maxsize=3)
def _history_totals_statement(any_users: bool = False, with_inserted: bool = False) -> Any:
    """The history aggregates of :meth:`SqlOfferRepository.history_snapshots`, one row per
    user with offers in the window; bind parameters ``user_ids`` (expanding, or one array with
    ``any_users``), ``now`` and ``since``. ``with_inserted``: over the offers and the rows an
    enclosing statement inserts (:func:`_offers_with_inserted`)."""
    o = _offers_with_inserted() if with_inserted else _OFFERS.c
    users = (o.user_id == any_(bindparam("user_ids", type_=ARRAY(Id))) if any_users
             else o.user_id.in_(bindparam("user_ids", expanding=True)))
    moment = bindparam("now", type_=UtcDateTime())

    def count_where(condition: Any) -> Any:
        return func.sum(case((condition, 1), else_=0))

    status = o.status
    open_offer = and_(status == OfferStatus.ACTIVE.value, o.valid_until > moment)
    unanswered_past = or_(status == OfferStatus.EXPIRED.value,
                          and_(status == OfferStatus.ACTIVE.value, o.valid_until <= moment))
    per_answer = (
        select(
            o.user_id.label("user_id"),
            func.count().label("offers"),
            count_where(status == OfferStatus.ACCEPTED.value).label("accepted"),
            count_where(status == OfferStatus.DECLINED.value).label("declined"),
            count_where(unanswered_past).label("lapsed"),
            count_where(open_offer).label("open"),
            func.max(case((status == OfferStatus.ACCEPTED.value, o.status_changed_at),
                          else_=None)).label("accepted_at"),
            # When this answer can change by itself: an open offer lapses; it leaves the window.
            func.min(case((open_offer, o.valid_until), else_=None)).label("next_lapse"),
            func.min(o.created_at).label("first_created"),
        )
        .where(users, o.created_at >= bindparam("since", type_=UtcDateTime()))
        .group_by(o.user_id, o.decision_id)
        .subquery()
    )
    a = per_answer.c
    accepted, declined = a.accepted > 0, and_(a.accepted == 0, a.declined > 0)
    lapsed = and_(a.accepted == 0, a.declined == 0, a.open == 0, a.lapsed > 0)
    return select(
        a.user_id,
        func.coalesce(func.sum(a.offers), 0), func.count(),
        func.coalesce(func.sum(case((accepted, 1), else_=0)), 0),
        func.coalesce(func.sum(case((declined, 1), else_=0)), 0),
        func.coalesce(func.sum(case((lapsed, 1), else_=0)), 0),
        func.max(a.accepted_at), func.min(a.next_lapse), func.min(a.first_created),
    ).group_by(a.user_id)


@lru_cache(maxsize=1)
def _applicant_statement() -> Any:
    """:meth:`SqlApplicantRepository.get`'s query, built once (bind parameter ``user_id``)."""
    return (
        select(ApplicantRow, ApplicantBehaviorRow)
        .outerjoin(ApplicantBehaviorRow,
                   ApplicantBehaviorRow.user_id == ApplicantRow.user_id)  # type: ignore[arg-type]
        .where(ApplicantRow.user_id == bindparam("user_id"))
        .execution_options(populate_existing=True)
    )
