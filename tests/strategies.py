"""Hypothesis strategies for the domain's inputs: credit profiles, behaviour, applicants, requests.

Shared by the unit tests of every layer. The ranges are wider than the demo portfolio's (edge
cases included: thin files, zero income headroom, applicants too young or too old for the
policy, off-grid tenures) but every value is one a lender system could actually send.

    from tests.strategies import applicants, loan_requests
    @given(applicants(), loan_requests())
    def test_something(applicant, request): ...

Money is ``Decimal`` INR with at most 2 decimals; rates are fractions.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from hypothesis import strategies as st

from domain.applicant import (
    Applicant,
    CreditProfile,
    EmployerCategory,
    EmploymentType,
    LoanRequest,
    PersonalDetails,
    ProtectedAttributes,
    ResidenceType,
)
from domain.behavior.metrics import BehaviorMetrics

#: The date the applicant strategies measure ages on (a Monday; matches the domain tests' ``now``).
REFERENCE_DAY = date(2026, 1, 5)

#: Default policy limits (``config/policies/default.toml``) used when no policy is passed.
DEFAULT_MIN_AMOUNT, DEFAULT_MAX_AMOUNT = 50_000, 4_000_000
DEFAULT_MIN_TENURE, DEFAULT_MAX_TENURE = 12, 60
DEFAULT_TENURE_GRID = (12, 18, 24, 36, 48, 60)

GENDERS = ("MALE", "FEMALE", "OTHER", None)
MARITAL_STATUSES = ("SINGLE", "MARRIED", "DIVORCED", "WIDOWED", None)
RELIGIONS = ("HINDU", "MUSLIM", "CHRISTIAN", "SIKH", "BUDDHIST", "JAIN", "OTHER", None)
CASTES = ("GENERAL", "OBC", "SC", "ST", None)


def rupees(low: int, high: int, paise: bool = False) -> st.SearchStrategy[Decimal]:
    """Whole rupees in ``[low, high]`` (or with paise when ``paise``), as ``Decimal``."""
    if not paise:
        return st.integers(low, high).map(Decimal)
    return st.integers(low * 100, high * 100).map(lambda p: Decimal(p) / 100)


@st.composite
def credit_profiles(
    draw: st.DrawFn,
    min_income: int = 10_000,
    max_income: int = 500_000,
    thin_file: bool | None = None,
    min_bureau_score: int = 300,
    max_delinquencies: int = 6,
    max_emi_share: float = 0.8,
    write_offs: bool = True,
) -> CreditProfile:
    """A bureau + affordability profile. ``thin_file``: True forces ``bureau_score=None``,
    False forbids it, None lets hypothesis pick (about one in six). The defaults cover the
    whole range (most such applicants are declined); :func:`priceable_credit_profiles` narrows
    it to applicants the default policy usually prices."""
    income = draw(rupees(min_income, max_income))
    # Existing EMIs from none up to ~80 % of income (over-leveraged applicants included).
    emi_share = draw(st.one_of(st.just(0.0), st.floats(0.0, max_emi_share)))
    existing_emi = (income * Decimal(repr(emi_share))).quantize(Decimal("0.01"))
    employment = draw(st.sampled_from(EmploymentType))
    category = (EmployerCategory.UNRATED if employment is EmploymentType.SELF_EMPLOYED
                else draw(st.sampled_from(EmployerCategory)))
    thin = draw(st.integers(0, 5)) == 0 if thin_file is None else thin_file
    if thin:
        bureau_score = None
        history = draw(st.integers(0, 6))
        delinquencies = 0
    else:
        bureau_score = draw(st.integers(min_bureau_score, 900))
        history = draw(st.integers(0, 360))
        delinquencies = draw(st.integers(0, max_delinquencies))
    return CreditProfile(
        monthly_income=income,
        existing_emi=existing_emi,
        employment_type=employment,
        employer_category=category,
        months_in_current_job=draw(st.integers(0, 360)),
        credit_history_months=history,
        bureau_score=bureau_score,
        delinquencies_24m=delinquencies,
        enquiries_6m=draw(st.integers(0, 12)),
        credit_utilisation=draw(st.floats(0.0, 1.2, allow_nan=False)),
        residence_type=draw(st.sampled_from(ResidenceType)),
        has_write_off=write_offs and draw(st.integers(0, 19)) == 0,
    )


def priceable_credit_profiles() -> st.SearchStrategy[CreditProfile]:
    """Profiles that pass the default policy's hard rules (bureau >= 650, at most 2 recent
    delinquencies, no write-off, income >= 20k, EMIs <= 40 % of income), so most get priced."""
    return credit_profiles(min_income=20_000, min_bureau_score=650, max_delinquencies=2,
                           max_emi_share=0.4, write_offs=False)


@st.composite
def behavior_metrics(draw: st.DrawFn) -> BehaviorMetrics:
    return BehaviorMetrics(
        offers_viewed_90d=draw(st.integers(0, 40)),
        rate_comparisons_90d=draw(st.integers(0, 20)),
        offers_declined=draw(st.integers(0, 10)),
        offers_accepted=draw(st.integers(0, 10)),
        app_sessions_30d=draw(st.integers(0, 40)),
        days_since_last_active=draw(st.none() | st.integers(0, 720)),
        loans_repaid=draw(st.integers(0, 6)),
        products_held=draw(st.integers(0, 5)),
    )


def any_credit_profiles() -> st.SearchStrategy[CreditProfile]:
    """Half the whole range, half priceable: every decision type shows up often."""
    return st.one_of(credit_profiles(), priceable_credit_profiles())


def protected_attributes() -> st.SearchStrategy[ProtectedAttributes]:
    return st.builds(
        ProtectedAttributes,
        gender=st.sampled_from(GENDERS),
        marital_status=st.sampled_from(MARITAL_STATUSES),
        religion=st.sampled_from(RELIGIONS),
        caste=st.sampled_from(CASTES),
    )


def dates_of_birth(on: date = REFERENCE_DAY, min_age: int = 18,
                   max_age: int = 70) -> st.SearchStrategy[date]:
    """Birth dates giving an age in ``[min_age, max_age]`` on ``on``."""
    latest = on.replace(year=on.year - min_age)
    earliest = on.replace(year=on.year - max_age - 1) + timedelta(days=1)
    return st.dates(earliest, latest)


@st.composite
def applicants(
    draw: st.DrawFn,
    credit: st.SearchStrategy[CreditProfile] | None = None,
    behavior: st.SearchStrategy[BehaviorMetrics] | None = None,
    on: date = REFERENCE_DAY,
    min_age: int = 18,
    max_age: int = 70,
) -> Applicant:
    """A whole applicant; ages default to 18..70 on ``on`` so the age rules get exercised,
    credit to :func:`any_credit_profiles`."""
    index = draw(st.integers(1, 999_999))
    return Applicant(
        user_id=f"user-{index:06d}",
        personal=PersonalDetails(
            full_name="Test Applicant",
            date_of_birth=draw(dates_of_birth(on, min_age, max_age)),
        ),
        credit=draw(credit if credit is not None else any_credit_profiles()),
        behavior=draw(behavior if behavior is not None else behavior_metrics()),
        protected=draw(protected_attributes()),
    )


@st.composite
def loan_requests(
    draw: st.DrawFn,
    min_amount: int = DEFAULT_MIN_AMOUNT,
    max_amount: int = DEFAULT_MAX_AMOUNT,
    min_tenure: int = DEFAULT_MIN_TENURE,
    max_tenure: int = DEFAULT_MAX_TENURE,
    tenure_grid: tuple[int, ...] = DEFAULT_TENURE_GRID,
    allow_empty: bool = True,
) -> LoanRequest:
    """A request the policy accepts as valid: amount in [min, max] (whole thousands, whole
    rupees or with paise), tenure in [min, max] (grid or off-grid), either may be absent."""
    amount = draw(st.one_of(
        st.none(),
        st.integers(-(-min_amount // 1000), max_amount // 1000).map(lambda k: Decimal(k * 1000)),
        rupees(min_amount, max_amount),
        rupees(min_amount, max_amount - 1, paise=True),
    ))
    tenure = draw(st.one_of(st.none(), st.sampled_from(tenure_grid),
                            st.integers(min_tenure, max_tenure)))
    if not allow_empty and amount is None and tenure is None:
        tenure = draw(st.sampled_from(tenure_grid))
    return LoanRequest(requested_amount=amount, requested_tenure=tenure)
