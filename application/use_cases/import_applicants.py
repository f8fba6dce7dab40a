"""ImportApplicants: load applicant records from a lender system's file.

All or nothing by default: every row is validated first, and a single invalid row means nothing
is written; otherwise every row is stored in one transaction. With ``partial`` the valid rows are
stored (still in one transaction) and the invalid ones reported. Either way each problem is
reported with its line number, and the cache entries of every stored applicant are dropped.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from application.applicant_records import (
    ApplicantRecord,
    FieldError,
    InvalidRecord,
    parse_applicant_record,
)
from application.ports import ApplicantCache, Clock, UnitOfWorkFactory
from domain.applicant import Applicant


@dataclass(frozen=True, slots=True)
class SourceRow:
    """One record of the file: its first line number, and the record or why it is unreadable."""

    line: int
    record: Mapping[str, Any] | None
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class RowError:
    line: int
    user_id: str | None
    error: FieldError

    def __str__(self) -> str:
        who = f" ({self.user_id})" if self.user_id else ""
        return f"line {self.line}{who}: {self.error}"


@dataclass(frozen=True, slots=True)
class ImportReport:
    rows: int
    created: int
    updated: int
    errors: tuple[RowError, ...]
    committed: bool

    @property
    def imported(self) -> int:
        return self.created + self.updated


class ImportApplicants:
    CHUNK = 500

    def __init__(self, uow_factory: UnitOfWorkFactory, cache: ApplicantCache, clock: Clock
                 ) -> None:
        self._uow_factory = uow_factory
        self._cache = cache
        self._clock = clock

    async def execute(self, rows: Iterable[SourceRow], partial: bool = False) -> ImportReport:
        valid, errors, count = self._validate(rows)
        if not valid or (errors and not partial):
            return ImportReport(count, 0, 0, tuple(errors), committed=False)
        created = updated = 0
        async with self._uow_factory() as uow:
            for start in range(0, len(valid), self.CHUNK):
                chunk = valid[start:start + self.CHUNK]
                stored = await uow.applicants.get_many([r.user_id for r in chunk])
                updated += len(stored)
                created += len(chunk) - len(stored)
                # Rows that give the same behaviour counters are written together; counters a
                # row leaves out keep their stored values.
                groups: dict[frozenset[str], list[Applicant]] = defaultdict(list)
                for r in chunk:
                    groups[frozenset(r.behavior_given)].append(r.applicant)
                for given, applicants in groups.items():
                    await uow.applicants.upsert_many(applicants, given)
            await uow.commit()
        await self._cache.invalidate_many(r.user_id for r in valid)
        return ImportReport(count, created, updated, tuple(errors), committed=True)

    def _validate(self, rows: Iterable[SourceRow]
                  ) -> tuple[list[ApplicantRecord], list[RowError], int]:
        today = self._clock.now().date()
        valid: list[ApplicantRecord] = []
        errors: list[RowError] = []
        first_line: dict[str, int] = {}
        count = 0
        for row in rows:
            count += 1
            if row.record is None:
                errors.append(RowError(row.line, None, FieldError(None, row.problem or "unreadable")))
                continue
            user_id = row.record.get("user_id")
            user_id = user_id.strip() if isinstance(user_id, str) else None
            try:
                record = parse_applicant_record(row.record, today)
            except InvalidRecord as exc:
                errors.extend(RowError(row.line, user_id, e) for e in exc.errors)
                continue
            if record.user_id in first_line:
                errors.append(RowError(row.line, record.user_id, FieldError(
                    "user_id", f"repeats the applicant of line {first_line[record.user_id]}")))
                continue
            first_line[record.user_id] = row.line
            valid.append(record)
        return valid, errors, count
