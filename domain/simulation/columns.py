"""Applicants as columns (one numpy array per field): the batch simulation's input.

Money is integer paise (exact), a missing bureau score is NaN, enums are their string values.
Protected attributes are carried only for the fairness check of the report: no pricing step in
:mod:`domain.simulation.batch` reads them (the scalar engine's guarantee, kept by construction).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime

import numpy as np

from domain.applicant import Applicant
from domain.behavior.history import NO_HISTORY, OfferHistorySummary
from domain.finance.money import to_paise

PROTECTED_FIELDS = ("gender", "marital_status", "religion", "caste")
NO_ACCEPTANCE = np.iinfo(np.int64).min
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch_microseconds(moment: datetime) -> int:
    """Exact integer microseconds since 1970 (``timedelta`` arithmetic, no float)."""
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


@dataclass(frozen=True, slots=True)
class ApplicantColumns:
    user_ids: tuple[str, ...]
    income_paise: np.ndarray
    existing_emi_paise: np.ndarray
    employment_type: np.ndarray
    employer_category: np.ndarray
    months_in_current_job: np.ndarray
    credit_history_months: np.ndarray
    bureau_score: np.ndarray          # float, NaN = new to credit
    delinquencies_24m: np.ndarray
    enquiries_6m: np.ndarray
    credit_utilisation: np.ndarray
    residence_type: np.ndarray
    has_write_off: np.ndarray
    birth_year: np.ndarray
    birth_month: np.ndarray
    birth_day: np.ndarray
    offers_viewed_90d: np.ndarray
    rate_comparisons_90d: np.ndarray
    offers_declined: np.ndarray
    offers_accepted: np.ndarray
    app_sessions_30d: np.ndarray
    loans_repaid: np.ndarray
    products_held: np.ndarray
    history_declined: np.ndarray      # offer history with us: answers declined (last year)
    history_lapsed: np.ndarray        # answers left to lapse
    history_accepted_at_us: np.ndarray  # last acceptance, epoch microseconds (NO_ACCEPTANCE)
    protected: dict[str, np.ndarray]  # attribute -> group label ("" when not recorded)

    def __len__(self) -> int:
        return len(self.user_ids)

    def take(self, index: np.ndarray) -> ApplicantColumns:
        """The applicants at ``index`` (a subset or a reordering)."""
        values = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "user_ids":
                values[f.name] = tuple(value[i] for i in np.asarray(index).tolist())
            elif f.name == "protected":
                values[f.name] = {k: v[index] for k, v in value.items()}
            else:
                values[f.name] = value[index]
        return ApplicantColumns(**values)

    @classmethod
    def from_applicants(cls, applicants: Sequence[Applicant],
                        histories: Sequence[OfferHistorySummary] | None = None
                        ) -> ApplicantColumns:
        """``histories`` aligned with ``applicants``; ``None``: nobody has a history with us."""
        if histories is None:
            histories = [NO_HISTORY] * len(applicants)
        if len(histories) != len(applicants):
            raise ValueError("one offer history per applicant is needed")
        credits = [a.credit for a in applicants]
        behaviors = [a.behavior for a in applicants]
        births = [a.personal.date_of_birth for a in applicants]

        def ints(values: list) -> np.ndarray:
            return np.array(values, dtype=np.int64)

        return cls(
            user_ids=tuple(a.user_id for a in applicants),
            income_paise=ints([to_paise(c.monthly_income) for c in credits]),
            existing_emi_paise=ints([to_paise(c.existing_emi) for c in credits]),
            employment_type=np.array([c.employment_type.value for c in credits], dtype=object),
            employer_category=np.array([c.employer_category.value for c in credits], dtype=object),
            months_in_current_job=ints([c.months_in_current_job for c in credits]),
            credit_history_months=ints([c.credit_history_months for c in credits]),
            bureau_score=np.array([np.nan if c.bureau_score is None else float(c.bureau_score)
                                   for c in credits]),
            delinquencies_24m=ints([c.delinquencies_24m for c in credits]),
            enquiries_6m=ints([c.enquiries_6m for c in credits]),
            credit_utilisation=np.array([float(c.credit_utilisation) for c in credits]),
            residence_type=np.array([c.residence_type.value for c in credits], dtype=object),
            has_write_off=np.array([c.has_write_off for c in credits], dtype=bool),
            birth_year=ints([b.year for b in births]),
            birth_month=ints([b.month for b in births]),
            birth_day=ints([b.day for b in births]),
            offers_viewed_90d=ints([b.offers_viewed_90d for b in behaviors]),
            rate_comparisons_90d=ints([b.rate_comparisons_90d for b in behaviors]),
            offers_declined=ints([b.offers_declined for b in behaviors]),
            offers_accepted=ints([b.offers_accepted for b in behaviors]),
            app_sessions_30d=ints([b.app_sessions_30d for b in behaviors]),
            loans_repaid=ints([b.loans_repaid for b in behaviors]),
            products_held=ints([b.products_held for b in behaviors]),
            history_declined=ints([h.declined for h in histories]),
            history_lapsed=ints([h.lapsed for h in histories]),
            history_accepted_at_us=ints([NO_ACCEPTANCE if h.last_accepted_at is None
                                         else epoch_microseconds(h.last_accepted_at)
                                         for h in histories]),
            protected={name: np.array([getattr(a.protected, name) or "" for a in applicants],
                                      dtype=object)
                       for name in PROTECTED_FIELDS},
        )
