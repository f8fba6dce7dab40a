"""PostgreSQL: a group of offer sets written, and their users' new offer-history aggregates
read, in ONE statement, which is its own transaction when the unit of work has none open.

Why: the group commit was four round trips (``BEGIN``, the insert, the aggregate, ``COMMIT``),
each with the driver's and SQLAlchemy's per-call work. Here the decisions and offers are
inserted by data-modifying ``WITH`` clauses (rows as one JSON text per table,
:class:`~adapters.sql.pg_fast.RecordsetInsert`), and the statement's own ``SELECT`` computes the
aggregates over the stored offers *and* the rows the insert returns: a statement does not see
its own inserts, so they are added explicitly, which gives what a second statement in the same
transaction would read (at READ COMMITTED, one snapshot a moment earlier). Outside a
transaction the statement commits before PostgreSQL answers (``synchronous_commit`` on, so
durably), and fails, or commits, as a whole: a clash stores nothing of the group.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

from sqlalchemy import Table

from adapters.sql.mapping import decision_columns, offer_columns
from adapters.sql.pg_fast import PgQuery, RecordsetInsert
from adapters.sql.tables import OfferDecisionRow, OfferRow
from domain.offers import OfferSet

_DECISIONS: Table = OfferDecisionRow.__table__  # type: ignore[assignment]
_OFFERS: Table = OfferRow.__table__  # type: ignore[assignment]
DECISIONS_INSERT = RecordsetInsert.of(_DECISIONS)
OFFERS_INSERT = RecordsetInsert.of(_OFFERS)
#: The offers' columns the history aggregate reads (the ``inserted`` clause returns them).
HISTORY_SOURCE_COLUMNS = ("user_id", "decision_id", "status", "valid_until",
                          "status_changed_at", "created_at")


def rows_of(offer_sets: Sequence[OfferSet]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The ``offer_decisions`` and ``offers`` rows of the sets (a new decision id each)."""
    decisions, offers = [], []
    for offer_set in offer_sets:
        decision_id = uuid4().hex
        decisions.append(decision_columns(offer_set, decision_id))
        offers.extend(offer_columns(o, decision_id) for o in offer_set.offers)
    return decisions, offers


def payloads(decisions: list[dict[str, Any]], offers: list[dict[str, Any]]) -> tuple[str, str]:
    return DECISIONS_INSERT.payload(decisions), OFFERS_INSERT.payload(offers)


def insert_sql(first_parameter: int = 1) -> str:
    """Both tables in one statement; the offers' foreign keys are checked at its end."""
    return (f"WITH decisions AS ({DECISIONS_INSERT.sql(first_parameter)}) "
            f"{OFFERS_INSERT.sql(first_parameter + 1)}")


@dataclass(frozen=True, slots=True)
class WriteWithHistory:
    """The statement's text and the aggregate's arguments, the two payloads last."""

    sql: str
    aggregate: PgQuery

    def arguments(self, params: dict[str, Any], decisions: str, offers: str) -> list[Any]:
        return [*self.aggregate.arguments(params), decisions, offers]


def write_with_history(aggregate: PgQuery) -> WriteWithHistory:
    """``aggregate`` (compiled over a source that unions ``offers`` with ``inserted``) after
    the inserts; its parameters come first, then the decisions' and the offers' JSON."""
    first = len(aggregate.names) + 1
    inserted = OFFERS_INSERT.sql(first + 1, returning=HISTORY_SOURCE_COLUMNS)
    sql = (f"WITH decisions AS ({DECISIONS_INSERT.sql(first)}), inserted AS ({inserted}) "
           f"{aggregate.sql}")
    return WriteWithHistory(sql, aggregate)
