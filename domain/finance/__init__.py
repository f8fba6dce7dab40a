"""Loan arithmetic: money in paise, EMI, amortisation schedule, APR and Key Facts Statement."""

from domain.finance.apr import apr_percent, monthly_irr
from domain.finance.calendar import add_working_days
from domain.finance.instalment import annuity_factor, emi_float, emi_paise, monthly_rate
from domain.finance.key_facts import GST_RATE_DEFAULT, KeyFacts, compute_key_facts
from domain.finance.money import (
    Paise,
    div_round_half_up,
    percent_of,
    to_paise,
    to_rupees,
)
from domain.finance.schedule import AmortisationSchedule, Instalment, build_schedule

__all__ = [
    "GST_RATE_DEFAULT",
    "AmortisationSchedule",
    "Instalment",
    "KeyFacts",
    "Paise",
    "add_working_days",
    "annuity_factor",
    "apr_percent",
    "build_schedule",
    "compute_key_facts",
    "div_round_half_up",
    "emi_float",
    "emi_paise",
    "monthly_irr",
    "monthly_rate",
    "percent_of",
    "to_paise",
    "to_rupees",
]
