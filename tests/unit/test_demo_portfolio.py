"""The demo portfolio: deterministic, well-formed, realistically correlated, and fair by design."""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from decimal import Decimal
from itertools import combinations

import numpy as np
import pytest
from scipy.stats import spearmanr

from adapters.demo.portfolio import (
    DEMO_SEED,
    REFERENCE_DATE,
    generate_applicants,
    user_id_for,
)
from domain.applicant import Applicant, EmployerCategory, EmploymentType

FULL_RUN = 10_000
PAN = re.compile(r"^[A-Z]{3}P[A-Z][0-9]{4}[A-Z]$")
PHONE = re.compile(r"^\+91[6-9][0-9]{9}$")
EMAIL = re.compile(r"^[a-z]+\.[a-z]+[0-9]+@[a-z.]+$")
ADDRESS = re.compile(r"^\d+, [^,]+, [^,]+, [^,]+ \d{6}$")


@pytest.fixture(scope="module")
def portfolio() -> tuple[Applicant, ...]:
    return tuple(generate_applicants(FULL_RUN))


@pytest.fixture(scope="module")
def scored(portfolio: tuple[Applicant, ...]) -> tuple[Applicant, ...]:
    return tuple(a for a in portfolio if a.credit.bureau_score is not None)


def _incomes(applicants: tuple[Applicant, ...]) -> np.ndarray:
    return np.array([float(a.credit.monthly_income) for a in applicants])


# --------------------------------------------------------------------------- determinism


def test_two_runs_with_the_same_seed_are_equal(portfolio: tuple[Applicant, ...]) -> None:
    assert tuple(generate_applicants(300, seed=DEMO_SEED)) == portfolio[:300]


def test_start_offset_equals_the_slice_of_a_full_run(portfolio: tuple[Applicant, ...]) -> None:
    assert list(generate_applicants(5, start=42)) == list(portfolio[41:46])
    assert next(generate_applicants(1, start=FULL_RUN)) == portfolio[-1]


def test_another_seed_gives_other_applicants(portfolio: tuple[Applicant, ...]) -> None:
    other = list(generate_applicants(50, seed=DEMO_SEED + 1))
    same = sum(a.credit == b.credit for a, b in zip(other, portfolio, strict=False))
    assert same == 0


def test_count_zero_yields_nothing_and_negative_count_is_rejected() -> None:
    assert list(generate_applicants(0)) == []
    with pytest.raises(ValueError):
        list(generate_applicants(-1))


# --------------------------------------------------------------------------- identifiers


def test_user_id_format() -> None:
    assert user_id_for(1) == "user-000001"
    assert user_id_for(123_456) == "user-123456"
    with pytest.raises(ValueError):
        user_id_for(0)


def test_ids_are_sequential_well_formed_and_unique(portfolio: tuple[Applicant, ...]) -> None:
    ids = [a.user_id for a in portfolio]
    assert ids == [f"user-{i:06d}" for i in range(1, FULL_RUN + 1)]
    assert all(re.fullmatch(r"user-\d{6}", i) for i in ids)
    assert len(set(ids)) == FULL_RUN
    assert len({a.personal.email for a in portfolio}) == FULL_RUN


# --------------------------------------------------------------------------- ranges


def test_bureau_utilisation_and_counts_in_range(portfolio: tuple[Applicant, ...]) -> None:
    for a in portfolio:
        c = a.credit
        assert c.bureau_score is None or 300 <= c.bureau_score <= 900
        assert 0.0 <= c.credit_utilisation <= 1.0
        assert min(c.delinquencies_24m, c.enquiries_6m) >= 0
        b = a.behavior
        assert 0 <= b.products_held <= 4
        assert min(b.offers_viewed_90d, b.rate_comparisons_90d, b.offers_declined) >= 0
        assert min(b.offers_accepted, b.app_sessions_30d, b.loans_repaid) >= 0
        assert b.days_since_last_active is None or 0 <= b.days_since_last_active <= 365


def test_ages_and_histories_are_consistent(portfolio: tuple[Applicant, ...]) -> None:
    ages = [a.age_on(REFERENCE_DATE) for a in portfolio]
    assert min(ages) >= 21
    assert max(ages) <= 62
    for a, age in zip(portfolio, ages, strict=True):
        since_18 = (age - 18) * 12
        assert 1 <= a.credit.months_in_current_job <= min(360, since_18)
        assert 0 <= a.credit.credit_history_months <= since_18


def test_money_is_whole_rupees_within_bounds(portfolio: tuple[Applicant, ...]) -> None:
    for a in portfolio:
        income, emi = a.credit.monthly_income, a.credit.existing_emi
        assert isinstance(income, Decimal)
        assert isinstance(emi, Decimal)
        assert income == income.to_integral_value()
        assert emi == emi.to_integral_value()
        assert Decimal(18_000) <= income <= Decimal(400_000)
        assert Decimal(0) <= emi < income


def test_personal_details_are_well_formed(portfolio: tuple[Applicant, ...]) -> None:
    for a in portfolio:
        p = a.personal
        assert PAN.match(p.pan or ""), p.pan
        assert (p.pan or "")[4] == p.full_name.split()[-1][0]
        assert PHONE.match(p.phone or ""), p.phone
        assert EMAIL.match(p.email or ""), p.email
        assert ADDRESS.match(p.address or ""), p.address
        assert len(p.full_name.split()) == 2


def test_employment_rules(portfolio: tuple[Applicant, ...]) -> None:
    for a in portfolio:
        if a.credit.employment_type is EmploymentType.SELF_EMPLOYED:
            assert a.credit.employer_category is EmployerCategory.UNRATED


def test_thin_files_have_no_score_short_history_and_no_write_off(
    portfolio: tuple[Applicant, ...],
) -> None:
    thin = [a.credit for a in portfolio if a.credit.bureau_score is None]
    assert thin
    assert all(c.credit_history_months < 6 and not c.has_write_off for c in thin)


# --------------------------------------------------------------------------- market shares


def test_thin_file_share_is_five_to_twelve_percent(portfolio: tuple[Applicant, ...]) -> None:
    share = sum(a.credit.bureau_score is None for a in portfolio) / FULL_RUN
    assert 0.05 <= share <= 0.12


def test_marginal_shares_match_the_story(
    portfolio: tuple[Applicant, ...], scored: tuple[Applicant, ...]
) -> None:
    credit = [a.credit for a in portfolio]
    assert sum(c.employment_type is EmploymentType.SALARIED for c in credit) / FULL_RUN >= 0.72
    assert sum(c.employment_type is EmploymentType.SALARIED for c in credit) / FULL_RUN <= 0.78
    assert 0.008 <= sum(c.has_write_off for c in credit) / FULL_RUN <= 0.025
    assert 0.30 <= sum(c.existing_emi == 0 for c in credit) / FULL_RUN <= 0.50
    assert 40_000 <= float(np.median(_incomes(portfolio))) <= 50_000
    above_700 = sum(a.credit.bureau_score > 700 for a in scored) / len(scored)  # type: ignore[operator]
    assert above_700 >= 0.65
    never_used_app = sum(a.behavior.days_since_last_active is None for a in portfolio) / FULL_RUN
    assert 0.15 <= never_used_app <= 0.25


def test_employer_mix_of_salaried(portfolio: tuple[Applicant, ...]) -> None:
    categories = Counter(
        a.credit.employer_category
        for a in portfolio
        if a.credit.employment_type is EmploymentType.SALARIED
    )
    total = sum(categories.values())
    expected = {
        EmployerCategory.CAT_A: 0.25,
        EmployerCategory.CAT_B: 0.35,
        EmployerCategory.CAT_C: 0.25,
        EmployerCategory.UNRATED: 0.15,
    }
    for category, share in expected.items():
        assert categories[category] / total == pytest.approx(share, abs=0.03)


# --------------------------------------------------------------------------- correlations


def test_bureau_score_falls_with_delinquencies(scored: tuple[Applicant, ...]) -> None:
    rho = spearmanr(
        [a.credit.bureau_score for a in scored], [a.credit.delinquencies_24m for a in scored]
    ).statistic
    assert rho < -0.2


def test_existing_emi_rises_with_income(portfolio: tuple[Applicant, ...]) -> None:
    emi = [float(a.credit.existing_emi) for a in portfolio]
    assert spearmanr(_incomes(portfolio), emi).statistic > 0.2


def test_income_rises_with_age_and_tenure(portfolio: tuple[Applicant, ...]) -> None:
    incomes = _incomes(portfolio)
    ages = [a.age_on(REFERENCE_DATE) for a in portfolio]
    tenure = [a.credit.months_in_current_job for a in portfolio]
    assert spearmanr(ages, incomes).statistic > 0.15
    assert spearmanr(tenure, incomes).statistic > 0.1


def test_write_offs_belong_to_weak_borrowers(scored: tuple[Applicant, ...]) -> None:
    scores = np.array([a.credit.bureau_score for a in scored], dtype=float)
    written_off = np.array([a.credit.has_write_off for a in scored])
    assert scores[written_off].mean() < scores.mean() - 80


def test_price_shopping_is_commoner_for_prime_borrowers(scored: tuple[Applicant, ...]) -> None:
    comparisons = [a.behavior.rate_comparisons_90d for a in scored]
    declines = [a.behavior.offers_declined for a in scored]
    scores = [a.credit.bureau_score for a in scored]
    assert spearmanr(_incomes(scored), comparisons).statistic > 0.1
    assert spearmanr(scores, declines).statistic > 0.05


# --------------------------------------------------------------------------- fairness

PROTECTED = ("gender", "marital_status", "religion", "caste")
MIN_GROUP = 150  # smaller groups (e.g. Jain, Buddhist) are too noisy to test on their own


def _largest_gap_in_standard_errors(
    applicants: tuple[Applicant, ...], attribute: str, values: np.ndarray
) -> tuple[float, str]:
    """Largest gap between two groups' means, in standard errors of that difference."""
    groups: dict[str | None, list[float]] = defaultdict(list)
    for a, value in zip(applicants, values, strict=True):
        groups[getattr(a.protected, attribute)].append(float(value))
    testable = {k: v for k, v in groups.items() if len(v) >= MIN_GROUP}
    assert len(testable) >= 2, f"too few testable groups for {attribute}"
    sd = float(values.std())
    worst, label = 0.0, ""
    for (a, va), (b, vb) in combinations(testable.items(), 2):
        gap = abs(float(np.mean(va)) - float(np.mean(vb)))
        z = gap / (sd * math.sqrt(1 / len(va) + 1 / len(vb)))
        if z > worst:
            worst, label = z, f"{a} vs {b}: gap {gap:.3f} (n={len(va)}, {len(vb)})"
    return worst, label


@pytest.mark.parametrize("attribute", PROTECTED)
def test_protected_attribute_carries_no_bureau_signal(
    scored: tuple[Applicant, ...], attribute: str
) -> None:
    """Group means agree within 4 standard errors of their difference.

    The score SD is ~60 points, so for men (n ~6,400) vs women (n ~2,700) one SE is ~1.4 points
    and the tolerance ~5.5 points; smaller groups get proportionally wider ones. Independent
    draws exceed 4 SE with probability 6e-5 per pair (~0.2% over the ~27 pairs tested), while a
    leak of 0.15 SD in the latent factor (~7 points) fails.
    """
    scores = np.array([a.credit.bureau_score for a in scored], dtype=float)
    worst, label = _largest_gap_in_standard_errors(scored, attribute, scores)
    assert worst < 4.0, label


@pytest.mark.parametrize("attribute", PROTECTED)
def test_protected_attribute_carries_no_income_signal(
    portfolio: tuple[Applicant, ...], attribute: str
) -> None:
    log_income = np.log(_incomes(portfolio))
    worst, label = _largest_gap_in_standard_errors(portfolio, attribute, log_income)
    assert worst < 4.0, label
