"""SqlApplicantRepository against SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from adapters.demo.portfolio import generate_applicants
from adapters.sql.unit_of_work import SqlUnitOfWorkFactory
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

THIN_FILE = Applicant(
    user_id="user-thin-file",
    personal=PersonalDetails(full_name="Meera Iyer", date_of_birth=date(2001, 2, 28),
                             phone="+919812345678", email="meera@example.in", pan="ABCPI1234K",
                             address="12, MG Road, Bengaluru, Karnataka 560001"),
    credit=CreditProfile(
        monthly_income=Decimal("38250.75"), existing_emi=Decimal("0.05"),
        employment_type=EmploymentType.SELF_EMPLOYED, employer_category=EmployerCategory.UNRATED,
        months_in_current_job=7, credit_history_months=3, bureau_score=None,
        delinquencies_24m=0, enquiries_6m=2, credit_utilisation=0.1234567890123,
        residence_type=ResidenceType.FAMILY, has_write_off=False),
    behavior=BehaviorMetrics(offers_viewed_90d=4, rate_comparisons_90d=3, offers_declined=1,
                             offers_accepted=0, app_sessions_30d=9, days_since_last_active=None,
                             loans_repaid=0, products_held=1),
    protected=ProtectedAttributes(gender="FEMALE", marital_status=None, religion="HINDU",
                                  caste=None),
)


async def test_an_applicant_round_trips_every_field(uow_factory: SqlUnitOfWorkFactory,
                                                    applicant: Applicant) -> None:
    async with uow_factory() as uow:
        await uow.applicants.upsert(THIN_FILE)
        await uow.applicants.upsert(applicant)
        await uow.commit()

    async with uow_factory() as uow:
        thin = await uow.applicants.get(THIN_FILE.user_id)
        demo = await uow.applicants.get(applicant.user_id)

    assert thin == THIN_FILE
    assert thin is not None and thin.credit.bureau_score is None
    assert thin.credit.monthly_income == Decimal("38250.75")
    assert str(thin.credit.existing_emi) == "0.05"
    assert thin.behavior.days_since_last_active is None
    assert demo == applicant


async def test_unknown_applicant_is_none(uow_factory: SqlUnitOfWorkFactory) -> None:
    async with uow_factory() as uow:
        assert await uow.applicants.get("nobody") is None
        assert await uow.applicants.count() == 0


async def test_upsert_replaces_the_applicant_and_its_behaviour(
        uow_factory: SqlUnitOfWorkFactory) -> None:
    changed = replace(
        THIN_FILE,
        personal=replace(THIN_FILE.personal, email=None, address="Flat 3, Pune 411001"),
        credit=replace(THIN_FILE.credit, bureau_score=712, monthly_income=Decimal("41000")),
        behavior=replace(THIN_FILE.behavior, offers_accepted=2, days_since_last_active=1),
    )
    async with uow_factory() as uow:
        await uow.applicants.upsert(THIN_FILE)
        await uow.commit()
    async with uow_factory() as uow:
        await uow.applicants.upsert(changed)
        assert await uow.applicants.get(THIN_FILE.user_id) == changed  # read your own write
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.applicants.get(THIN_FILE.user_id) == changed
        assert await uow.applicants.count() == 1


async def test_add_many_inserts_only_new_ids(uow_factory: SqlUnitOfWorkFactory) -> None:
    portfolio = list(generate_applicants(30))
    async with uow_factory() as uow:
        assert await uow.applicants.add_many(portfolio[:10]) == 10
        await uow.commit()

    renamed = replace(portfolio[0], personal=replace(portfolio[0].personal, full_name="Other"))
    batch = [renamed, *portfolio[5:30], portfolio[29]]  # 6 known ids, one repeated new id
    async with uow_factory() as uow:
        assert await uow.applicants.add_many(batch) == 20
        assert await uow.applicants.add_many([]) == 0
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.applicants.count() == 30
        assert await uow.applicants.get(portfolio[0].user_id) == portfolio[0]  # not replaced
        for expected in (portfolio[5], portfolio[17], portfolio[29]):
            assert await uow.applicants.get(expected.user_id) == expected


async def test_add_many_loads_a_large_portfolio_in_chunks(
        uow_factory: SqlUnitOfWorkFactory) -> None:
    portfolio = list(generate_applicants(2_345))
    async with uow_factory() as uow:
        assert await uow.applicants.add_many(portfolio) == len(portfolio)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.applicants.count() == len(portfolio)
        assert await uow.applicants.get(portfolio[-1].user_id) == portfolio[-1]
        assert await uow.applicants.add_many(portfolio) == 0


async def test_money_with_a_fraction_of_a_paisa_is_refused(
        uow_factory: SqlUnitOfWorkFactory) -> None:
    bad = replace(THIN_FILE, credit=replace(THIN_FILE.credit, monthly_income=Decimal("1.005")))
    async with uow_factory() as uow:
        with pytest.raises(ValueError, match="monthly_income"):
            await uow.applicants.upsert(bad)


async def test_upsert_many_and_get_many(uow_factory: SqlUnitOfWorkFactory) -> None:
    portfolio = list(generate_applicants(1200))  # more than one batch
    async with uow_factory() as uow:
        await uow.applicants.add_many(portfolio[:700])
        await uow.commit()
    changed = [replace(a, credit=replace(a.credit, enquiries_6m=a.credit.enquiries_6m + 1))
               for a in portfolio[600:]]
    async with uow_factory() as uow:
        await uow.applicants.upsert_many(changed)
        await uow.commit()

    ids = [a.user_id for a in portfolio] + ["nobody"]
    async with uow_factory() as uow:
        found = await uow.applicants.get_many(ids)
        assert await uow.applicants.count() == 1200
    assert set(found) == {a.user_id for a in portfolio}
    expected = portfolio[:600] + changed
    assert [found[a.user_id] for a in expected] == expected


async def test_upsert_many_overwrites_only_the_named_behaviour_counters(
        uow_factory: SqlUnitOfWorkFactory) -> None:
    async with uow_factory() as uow:
        await uow.applicants.upsert(THIN_FILE)
        await uow.commit()
    # A lender record that gives only rate comparisons; the stored counters stay as they are.
    record = replace(THIN_FILE, credit=replace(THIN_FILE.credit, enquiries_6m=5),
                     behavior=BehaviorMetrics(rate_comparisons_90d=7))
    newcomer = replace(THIN_FILE, user_id="user-new", behavior=BehaviorMetrics(
        rate_comparisons_90d=7))
    async with uow_factory() as uow:
        await uow.applicants.upsert_many([record, newcomer], {"rate_comparisons_90d"})
        await uow.commit()
    async with uow_factory() as uow:
        stored = await uow.applicants.get(THIN_FILE.user_id)
        new = await uow.applicants.get("user-new")
    assert stored is not None and new is not None
    assert stored.credit.enquiries_6m == 5
    assert stored.behavior == replace(THIN_FILE.behavior, rate_comparisons_90d=7)
    assert new.behavior == BehaviorMetrics(rate_comparisons_90d=7)
