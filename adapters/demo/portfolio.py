"""A deterministic, realistic demo portfolio of Indian personal-loan applicants.

Every applicant is derived from its own random stream, ``numpy.random.default_rng([seed, index])``,
so applicant ``index`` is the same whatever ``count`` or ``start`` a caller asks for. No clock, no
I/O: ages are measured on the fixed :data:`REFERENCE_DATE`.

Generative story for one applicant. The parameters are hand-tuned to hit rough public
orientation figures (the market ranges in ``product.md``, TransUnion CIBIL's published score
bands, Census 2011 and NSSO population shares); they are not fitted to any data set.

1. **Latent creditworthiness** ``L ~ N(0, 1)``: the hidden "how reliably does this person repay"
   factor. It drives every bureau variable and, mildly, income and the employer grade.
2. **Age** 21..62 on 2026-01-01, right-skewed (Kumaraswamy(1.5, 3) on the range, median ~35):
   personal-loan applicants are mostly young salaried professionals.
3. **Employment**: ~75% SALARIED (the self-employed share rises slightly with age). A salaried
   applicant's employer grade comes from a Gaussian copula with ``L`` (correlation 0.4) whose
   cut-offs keep the market mix CAT_A 25% / CAT_B 35% / CAT_C 25% / UNRATED 15%; the
   self-employed are UNRATED. Months in the current job (business vintage for the self-employed)
   are exponential with a mean growing with age, capped by the years since 18 and by 360.
4. **Net monthly income** is log-normal: ``ln y = mu + age + employer grade + ln(tenure) + 0.12 L
   + noise``, the noise truncated (inverse-CDF, no piling at the edges) so that
   INR 18,000 <= y <= 4,00,000 (below, lenders' minimum-income rules turn people away; above,
   people rarely need an unsecured loan); median about INR 45,000.
5. **Bureau file**: about 8% are thin-file / new-to-credit (more of them young), with
   ``bureau_score=None``, under 6 months of history and almost no delinquencies. Otherwise the
   history starts at some point after 18. Delinquencies (24m) and enquiries (6m) are Poisson with
   rates rising steeply as ``L`` falls; utilisation is logistic in ``L``; a write-off (~1.5%)
   happens only for ``L < -1.5``. The CIBIL-style score (300..900) is ``742 + 52 s`` with
   ``s = 0.9 L + 0.44 noise``, a heavier lower tail, and penalties for delinquencies and
   write-offs: the scored population then has a median near 740 and about three quarters above
   700, roughly CIBIL's picture of retail borrowers (most personal loans go to scores above
   700-750).
6. **Existing EMI**: about 40% pay none (thin-file almost never pay one; higher incomes more often
   do); the others pay a log-normal share of income, median ~20% (typically 5-45%), slightly
   higher for weak ``L``, occasionally above 55% (over-leveraged).
7. **Residence**: owned grows with age and income, family home is the young default, company
   lease only for graded salaried employers, the rest rent.
8. **Behaviour**: existing customers (more likely for good ``L``) hold 1-4 products and have
   repaid earlier loans; ~20% never used the app (``days_since_last_active=None``).
   Price shopping (rate comparisons, declined offers) scales with income and score, as observed in
   practice: prime borrowers have more offers to compare.
9. **Personal details and protected attributes**: names from short pan-Indian lists, a ``+91``
   mobile starting 6-9, an email from the name, a PAN in the valid ``AAAPA1234A`` shape (4th
   letter ``P`` for an individual, 5th the surname initial), an address in one of 20 cities
   with its real PIN prefix. Gender, marital status, religion (Census 2011 shares) and social
   category (NSSO-like shares) are the first four draws of the stream, taken before and
   independently of everything credit related, so they carry no signal (the fairness tests
   rely on this; only the first name follows gender).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from itertools import accumulate
from statistics import NormalDist
from typing import Generic, TypeVar

import numpy as np

from domain.applicant import (
    Applicant,
    CreditProfile,
    EmployerCategory,
    EmploymentType,
    PersonalDetails,
    ProtectedAttributes,
    ResidenceType,
)
from domain.behavior.metrics import BehaviorMetrics

DEMO_SEED = 20261123
REFERENCE_DATE = date(2026, 1, 1)
MIN_AGE, MAX_AGE = 21, 62
MIN_INCOME, MAX_INCOME = 18_000, 400_000
MEDIAN_INCOME = 45_000

_T = TypeVar("_T")
_STD_NORMAL = NormalDist()
_UNIFORMS_PER_APPLICANT = 96
_EPS = 1e-12


def user_id_for(index: int) -> str:
    """``user-000001`` for index 1 (6 digits, zero padded)."""
    if index < 1:
        raise ValueError(f"index must be >= 1, got {index}")
    return f"user-{index:06d}"


def generate_applicants(
    count: int = 10_000, seed: int = DEMO_SEED, start: int = 1
) -> Iterator[Applicant]:
    """Yield ``count`` applicants ``user-{start:06d}``...; each depends only on (seed, index)."""
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    for index in range(start, start + count):
        yield _applicant(seed, index)


# --------------------------------------------------------------------------- random helpers


class _Draws:
    """The applicant's private stream of uniforms, turned into the shapes the story needs."""

    __slots__ = ("_next",)

    def __init__(self, seed: int, index: int) -> None:
        rng = np.random.default_rng([seed, index])
        self._next = iter(rng.random(_UNIFORMS_PER_APPLICANT).tolist()).__next__

    def uniform(self) -> float:
        return min(max(self._next(), _EPS), 1.0 - _EPS)

    def normal(self) -> float:
        return _STD_NORMAL.inv_cdf(self.uniform())

    def truncated_normal(self, low: float, high: float) -> float:
        """A standard normal conditioned on ``low <= x <= high`` (inverse CDF, one uniform)."""
        lo, hi = _STD_NORMAL.cdf(low), _STD_NORMAL.cdf(high)
        p = min(max(lo + self.uniform() * (hi - lo), _EPS), 1.0 - _EPS)
        return min(max(_STD_NORMAL.inv_cdf(p), low), high)

    def bernoulli(self, p: float) -> bool:
        return self.uniform() < p

    def integer(self, low: int, high: int) -> int:
        """Uniform on ``low..high`` inclusive."""
        return low + min(int(self.uniform() * (high - low + 1)), high - low)

    def exponential(self, mean: float) -> float:
        return -mean * math.log1p(-self.uniform())

    def poisson(self, lam: float, cap: int = 60) -> int:
        """Inverse-CDF Poisson from a single uniform (capped; fine for the small rates used)."""
        u, k = self.uniform(), 0
        term = cumulative = math.exp(-lam)
        while u > cumulative and k < cap:
            k += 1
            term *= lam / k
            cumulative += term
        return k

    def pick(self, categorical: _Categorical[_T]) -> _T:
        return categorical.at(self.uniform())


@dataclass(frozen=True, slots=True)
class _Categorical(Generic[_T]):
    values: tuple[_T, ...]
    cumulative: tuple[float, ...]

    @classmethod
    def of(cls, weights: dict[_T, float]) -> _Categorical[_T]:
        total = sum(weights.values())
        return cls(tuple(weights), tuple(w / total for w in accumulate(weights.values())))

    def at(self, u: float) -> _T:
        return self.values[min(bisect_right(self.cumulative, u), len(self.values) - 1)]


def _logistic(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _clamp(value: int, low: int, high: int) -> int:
    return min(max(value, low), high)


# --------------------------------------------------------------------------- reference data
# fmt: off
_GENDER = _Categorical.of({"MALE": 0.70, "FEMALE": 0.295, "OTHER": 0.005})
_MARITAL = _Categorical.of({"SINGLE": 0.36, "MARRIED": 0.59, "DIVORCED": 0.02, "WIDOWED": 0.03})
_RELIGION = _Categorical.of({  # Census 2011 shares; None: prefers not to say
    "HINDU": 0.766, "MUSLIM": 0.136, "CHRISTIAN": 0.022, "SIKH": 0.017, "BUDDHIST": 0.007,
    "JAIN": 0.004, "OTHER": 0.008, None: 0.04,
})
_CASTE = _Categorical.of({"GENERAL": 0.29, "OBC": 0.39, "SC": 0.18, "ST": 0.09, None: 0.05})

_EMPLOYER_CUTS = (  # copula thresholds: P(signal > cut) = 25%, 60%, 85%
    (_STD_NORMAL.inv_cdf(0.75), EmployerCategory.CAT_A),
    (_STD_NORMAL.inv_cdf(0.40), EmployerCategory.CAT_B),
    (_STD_NORMAL.inv_cdf(0.15), EmployerCategory.CAT_C),
)
_EMPLOYER_INCOME_EFFECT = {
    EmployerCategory.CAT_A: 0.35, EmployerCategory.CAT_B: 0.10,
    EmployerCategory.CAT_C: -0.12, EmployerCategory.UNRATED: -0.22,
}

_MALE_NAMES = (
    "Aarav", "Rahul", "Amit", "Vikram", "Arjun", "Rohan", "Sanjay", "Suresh", "Karthik", "Imran",
    "Rajesh", "Anil", "Vivek", "Manoj", "Harpreet", "Joseph", "Deepak", "Nikhil", "Pranav",
    "Siddharth",
)
_FEMALE_NAMES = (
    "Priya", "Ananya", "Sneha", "Pooja", "Kavya", "Divya", "Neha", "Lakshmi", "Fatima", "Meera",
    "Aishwarya", "Riya", "Shalini", "Anjali", "Gurpreet", "Mary", "Swati", "Nandini", "Deepa",
    "Sunita",
)
_LAST_NAMES = (
    "Sharma", "Verma", "Patel", "Reddy", "Nair", "Iyer", "Singh", "Kumar", "Gupta", "Das",
    "Banerjee", "Mukherjee", "Rao", "Joshi", "Khan", "Fernandes", "Menon", "Pillai", "Chopra",
    "Mehta", "Desai", "Kulkarni", "Shah", "Yadav", "Naidu", "Bose", "Gill", "Thomas", "Hegde",
    "Mishra",
)
_EMAIL_DOMAINS = _Categorical.of({
    "gmail.com": 0.62, "yahoo.co.in": 0.12, "outlook.com": 0.10, "hotmail.com": 0.10,
    "rediffmail.com": 0.06,
})
_STREETS = (
    "MG Road", "Station Road", "Nehru Nagar", "Gandhi Marg", "Park Street", "Link Road",
    "Lake View Road", "Temple Street", "Church Road", "Market Road", "Ring Road", "Civil Lines",
)
_CITIES = (  # (city, state, PIN prefix: the first three digits)
    ("Mumbai", "Maharashtra", 400), ("New Delhi", "Delhi", 110),
    ("Bengaluru", "Karnataka", 560), ("Hyderabad", "Telangana", 500),
    ("Chennai", "Tamil Nadu", 600), ("Kolkata", "West Bengal", 700),
    ("Pune", "Maharashtra", 411), ("Ahmedabad", "Gujarat", 380),
    ("Jaipur", "Rajasthan", 302), ("Lucknow", "Uttar Pradesh", 226),
    ("Kochi", "Kerala", 682), ("Indore", "Madhya Pradesh", 452),
    ("Chandigarh", "Chandigarh", 160), ("Coimbatore", "Tamil Nadu", 641),
    ("Nagpur", "Maharashtra", 440), ("Surat", "Gujarat", 395),
    ("Patna", "Bihar", 800), ("Bhubaneswar", "Odisha", 751),
    ("Guwahati", "Assam", 781), ("Visakhapatnam", "Andhra Pradesh", 530),
)
_RESIDENCE_ORDER = (
    ResidenceType.OWNED, ResidenceType.FAMILY, ResidenceType.COMPANY, ResidenceType.RENTED,
)
# fmt: on
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


# --------------------------------------------------------------------------- the story


@dataclass(frozen=True, slots=True)
class _Work:
    employment_type: EmploymentType
    employer_category: EmployerCategory
    months_in_current_job: int


def _applicant(seed: int, index: int) -> Applicant:
    draws = _Draws(seed, index)
    protected = _protected(draws)  # first, from fixed stream positions: no path to credit
    latent = draws.normal()
    age = _age(draws)
    work = _work(draws, latent, age)
    income = _income(draws, latent, age, work)
    credit = _credit_profile(draws, latent, age, work, income)
    return Applicant(
        user_id=user_id_for(index),
        personal=_personal(draws, index, age, protected.gender),
        credit=credit,
        behavior=_behavior(draws, latent, credit),
        protected=protected,
    )


def _age(draws: _Draws) -> int:
    """Right-skewed on 21..62: Kumaraswamy(1.5, 3) by its closed-form inverse CDF."""
    x = (1.0 - (1.0 - draws.uniform()) ** (1.0 / 3.0)) ** (1.0 / 1.5)
    return _clamp(MIN_AGE + int(x * (MAX_AGE - MIN_AGE + 1)), MIN_AGE, MAX_AGE)


def _work(draws: _Draws, latent: float, age: int) -> _Work:
    self_employed = draws.bernoulli(0.15 + 0.0065 * (age - MIN_AGE))
    grade_signal = 0.4 * latent + math.sqrt(1.0 - 0.4**2) * draws.normal()
    if self_employed:
        kind, category, mean_months = EmploymentType.SELF_EMPLOYED, EmployerCategory.UNRATED, 30
    else:
        kind, category, mean_months = EmploymentType.SALARIED, _employer(grade_signal), 12
    mean_months += 3.0 * (age - MIN_AGE)
    cap = min(360, (age - 18) * 12)
    months = _clamp(1 + int(draws.exponential(mean_months)), 1, cap)
    return _Work(kind, category, months)


def _employer(signal: float) -> EmployerCategory:
    for cut, category in _EMPLOYER_CUTS:
        if signal > cut:
            return category
    return EmployerCategory.UNRATED


def _income(draws: _Draws, latent: float, age: int, work: _Work) -> int:
    """Net monthly income in whole rupees, log-normal truncated to the market band."""
    salaried = work.employment_type is EmploymentType.SALARIED
    mean = (
        math.log(MEDIAN_INCOME)
        - 0.16
        + 0.028 * (min(age, 50) - 33)
        + (_EMPLOYER_INCOME_EFFECT[work.employer_category] if salaried else 0.05)
        + 0.08 * math.log(work.months_in_current_job / 24)
        + 0.12 * latent
    )
    sigma = 0.45 if salaried else 0.65
    low = (math.log(MIN_INCOME) - mean) / sigma
    high = (math.log(MAX_INCOME) - mean) / sigma
    income = round(math.exp(mean + sigma * draws.truncated_normal(low, high)))
    return _clamp(income, MIN_INCOME, MAX_INCOME)


def _credit_profile(
    draws: _Draws, latent: float, age: int, work: _Work, income: int
) -> CreditProfile:
    thin_file = draws.bernoulli(0.05 + 0.18 * math.exp(-(age - MIN_AGE) / 5.0))
    history = _credit_history_months(draws, age, thin_file)
    delinquencies = draws.poisson(0.07 * math.exp(-1.25 * latent) * (0.2 if thin_file else 1.0))
    enquiries = draws.poisson(0.9 * math.exp(-0.35 * latent) + (0.6 if thin_file else 0.0))
    utilisation = _utilisation(draws, latent, thin_file)
    write_off = not thin_file and latent < -1.5 and draws.bernoulli(0.24)
    score_noise = draws.normal()
    score = (
        None if thin_file else _bureau_score(latent, score_noise, history, delinquencies, write_off)
    )
    return CreditProfile(
        monthly_income=Decimal(income),
        existing_emi=Decimal(_existing_emi(draws, latent, income, thin_file)),
        employment_type=work.employment_type,
        employer_category=work.employer_category,
        months_in_current_job=work.months_in_current_job,
        credit_history_months=history,
        bureau_score=score,
        delinquencies_24m=delinquencies,
        enquiries_6m=enquiries,
        credit_utilisation=utilisation,
        residence_type=_residence(draws, age, income, work),
        has_write_off=write_off,
    )


def _credit_history_months(draws: _Draws, age: int, thin_file: bool) -> int:
    u = draws.uniform()
    if thin_file:
        return int(u * 6)  # 0..5 months: too short for a score
    available = (age - 18) * 12
    return 6 + int((available - 6) * (0.08 + 0.85 * u))


def _utilisation(draws: _Draws, latent: float, thin_file: bool) -> float:
    noise = draws.normal()
    if thin_file:
        return round(0.15 * _logistic(noise), 3)
    return round(_logistic(-0.5 - 1.0 * latent + 0.7 * noise), 3)


def _bureau_score(
    latent: float, noise: float, history: int, delinquencies: int, write_off: bool
) -> int:
    s = 0.9 * latent + math.sqrt(1.0 - 0.9**2) * noise
    score = 742.0 + 52.0 * s - 25.0 * max(0.0, -s - 1.0) ** 2
    score += 8.0 * math.log(max(history, 6) / 60)
    score -= 15.0 * min(delinquencies, 4) + (70.0 if write_off else 0.0)
    return _clamp(round(score), 300, 900)


def _existing_emi(draws: _Draws, latent: float, income: int, thin_file: bool) -> int:
    p_has = 0.08 if thin_file else _logistic(0.62 + 0.6 * math.log(income / MEDIAN_INCOME))
    has_emi = draws.bernoulli(p_has)
    share = 0.2 * math.exp(-0.1 * latent + 0.5 * draws.normal())
    return round(min(share, 0.9) * income) if has_emi else 0


def _residence(draws: _Draws, age: int, income: int, work: _Work) -> ResidenceType:
    years = age - MIN_AGE
    owned = 0.08 + 0.014 * years + 0.05 * math.log(income / MEDIAN_INCOME)
    family = max(0.05, 0.45 - 0.012 * years)
    graded = work.employer_category in (EmployerCategory.CAT_A, EmployerCategory.CAT_B)
    company = 0.07 if graded else 0.0
    weights = (max(owned, 0.02), family, company, 0.38)
    u, total = draws.uniform() * sum(weights), 0.0
    for weight, kind in zip(weights, _RESIDENCE_ORDER, strict=True):
        total += weight
        if u < total:
            return kind
    return ResidenceType.RENTED


def _behavior(draws: _Draws, latent: float, credit: CreditProfile) -> BehaviorMetrics:
    existing_customer = draws.bernoulli(_logistic(-0.4 + 0.6 * latent))
    thin_file = credit.bureau_score is None
    products = 1 + draws.poisson(0.6, cap=3) if existing_customer else 0
    repaid_rate = 0.9 * math.exp(0.4 * latent) * (0.3 if thin_file else 1.0)
    repaid = draws.poisson(repaid_rate) if existing_customer else 0
    app_user = draws.bernoulli(0.9 if existing_customer else 0.72)
    sessions, days = _app_activity(draws, app_user)
    score = credit.bureau_score
    score_z = 0.0 if score is None else (score - 740) / 60
    shop = math.exp(0.6 * math.log(float(credit.monthly_income) / MEDIAN_INCOME) + 0.5 * score_z)
    viewed = draws.poisson((2.0 + 1.5 * (sessions > 0)) if app_user else 0.5)
    return BehaviorMetrics(
        offers_viewed_90d=viewed,
        rate_comparisons_90d=draws.poisson(0.6 * shop * (1.0 if viewed else 0.3)),
        offers_declined=draws.poisson(0.35 * shop),
        offers_accepted=draws.poisson(0.2 + 0.3 * existing_customer),
        app_sessions_30d=sessions,
        days_since_last_active=days,
        loans_repaid=repaid,
        products_held=products,
    )


def _app_activity(draws: _Draws, app_user: bool) -> tuple[int, int | None]:
    """Sessions in the last 30 days and days since last active (consistent with each other)."""
    active_recently = draws.bernoulli(0.6)
    sessions = 1 + draws.poisson(math.exp(1.0 + 0.7 * draws.normal()))
    lapse = draws.uniform()
    if not app_user:
        return 0, None
    if active_recently:
        return sessions, int(lapse * 30)
    return 0, min(30 + int(-60.0 * math.log1p(-lapse)), 365)


def _protected(draws: _Draws) -> ProtectedAttributes:
    return ProtectedAttributes(
        gender=draws.pick(_GENDER),
        marital_status=draws.pick(_MARITAL),
        religion=draws.pick(_RELIGION),
        caste=draws.pick(_CASTE),
    )


def _personal(draws: _Draws, index: int, age: int, gender: str | None) -> PersonalDetails:
    first = _first_name(draws, gender)
    last = _LAST_NAMES[draws.integer(0, len(_LAST_NAMES) - 1)]
    domain = draws.pick(_EMAIL_DOMAINS)
    return PersonalDetails(
        full_name=f"{first} {last}",
        date_of_birth=_date_of_birth(draws, age),
        phone=_phone(draws),
        email=f"{first.lower()}.{last.lower()}{index}@{domain}",
        pan=_pan(draws, last),
        address=_address(draws),
    )


def _first_name(draws: _Draws, gender: str | None) -> str:
    names = {"MALE": _MALE_NAMES, "FEMALE": _FEMALE_NAMES}.get(
        gender or "", _MALE_NAMES + _FEMALE_NAMES
    )
    return names[draws.integer(0, len(names) - 1)]


def _date_of_birth(draws: _Draws, age: int) -> date:
    """A birthday that makes the applicant exactly ``age`` on :data:`REFERENCE_DATE`."""
    latest = REFERENCE_DATE.replace(year=REFERENCE_DATE.year - age)
    return latest - timedelta(days=draws.integer(0, 364))


def _phone(draws: _Draws) -> str:
    return f"+91{draws.integer(6, 9)}{draws.integer(0, 999_999_999):09d}"


def _pan(draws: _Draws, last_name: str) -> str:
    """``AAAPA1234A``: three letters, ``P`` (individual), surname initial, 4 digits, a letter."""
    head = "".join(_LETTERS[draws.integer(0, 25)] for _ in range(3))
    return f"{head}P{last_name[0]}{draws.integer(1, 9999):04d}{_LETTERS[draws.integer(0, 25)]}"


def _address(draws: _Draws) -> str:
    city, state, pin_prefix = _CITIES[draws.integer(0, len(_CITIES) - 1)]
    street = _STREETS[draws.integer(0, len(_STREETS) - 1)]
    pin = pin_prefix * 1000 + draws.integer(1, 99)
    return f"{draws.integer(1, 450)}, {street}, {city}, {state} {pin}"
