"""SqlOfferRepository against SQLite and PostgreSQL: offer sets, history paging, status."""

from __future__ import annotations

import base64
from dataclasses import fields, replace
from datetime import UTC, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sql.repositories import encode_cursor
from adapters.sql.tables import OfferDecisionRow, OfferRow
from adapters.sql.unit_of_work import SqlUnitOfWorkFactory
from domain.applicant import Applicant, LoanRequest
from domain.offers import LoanOffer, OfferDecision, OfferStatus
from tests.integration.conftest import NOW, OfferSetFactory


async def test_every_field_of_every_offer_reads_back_equal(
        uow_factory: SqlUnitOfWorkFactory, make_offer_set: OfferSetFactory) -> None:
    offer_set = make_offer_set()
    assert offer_set.decision is OfferDecision.APPROVED and len(offer_set.offers) >= 2
    async with uow_factory() as uow:
        await uow.offers.add_offer_set(offer_set)
        await uow.commit()

    async with uow_factory() as uow:
        stored = [await uow.offers.get(o.offer_id) for o in offer_set.offers]

    for original, back in zip(offer_set.offers, stored, strict=True):
        assert back is not None
        for field in fields(LoanOffer):
            assert getattr(back, field.name) == getattr(original, field.name), field.name
        assert back == original
        for money in (back.amount, back.emi, back.total_payable, back.expected_profit):
            assert isinstance(money, Decimal) and money.as_tuple().exponent == -2
        assert str(back.roi) == str(original.roi) and back.roi.as_tuple().exponent == -2
        assert back.created_at.tzinfo is not None
        assert back.created_at.utcoffset() == timedelta(0)
        assert back.explanation == original.explanation


async def test_the_decision_is_stored_with_its_analyses(
        uow_factory: SqlUnitOfWorkFactory, sql_engine: AsyncEngine,
        make_offer_set: OfferSetFactory) -> None:
    offer_set = make_offer_set()
    async with uow_factory() as uow:
        await uow.offers.add_offer_set(offer_set)
        await uow.commit()

    async with sql_engine.connect() as connection:
        decision = (await connection.execute(select(OfferDecisionRow.__table__))).one()
        offer_decisions = set((await connection.execute(
            select(OfferRow.__table__.c.decision_id))).scalars())
    assert offer_decisions == {decision.decision_id}
    assert len(decision.decision_id) == 32
    assert decision.decision == "APPROVED" and decision.user_id == offer_set.user_id
    assert decision.generated_at == offer_set.generated_at
    assert decision.policy_version == offer_set.policy_version
    assert decision.inputs_hash == offer_set.offers[0].inputs_hash == offer_set.inputs_hash
    assert (decision.requested_amount_paise, decision.requested_tenure) == (None, None)
    risk = decision.risk
    assert risk["risk_band"] == offer_set.risk.risk_band
    assert risk["probability_of_default"] == offer_set.risk.probability_of_default
    assert risk["affordability"]["max_amount"] == str(offer_set.risk.affordability.max_amount)
    assert [r["code"] for r in risk["reason_codes"]] == [
        r.code for r in offer_set.risk.reason_codes]
    behavior = decision.behavior
    assert behavior["price_sensitivity"] == offer_set.behavior.price_sensitivity.value
    assert behavior["long_term_value"] == str(offer_set.behavior.long_term_value)
    assert behavior["price_response"]["slope"] == offer_set.behavior.price_response.slope


async def test_the_request_is_stored_with_the_decision(
        uow_factory: SqlUnitOfWorkFactory, sql_engine: AsyncEngine,
        make_offer_set: OfferSetFactory) -> None:
    offer_set = make_offer_set(request=LoanRequest(Decimal("250000.50"), 36))
    async with uow_factory() as uow:
        await uow.offers.add_offer_set(offer_set)
        await uow.commit()
    async with sql_engine.connect() as connection:
        decision = (await connection.execute(select(OfferDecisionRow.__table__))).one()
    assert (decision.requested_amount_paise, decision.requested_tenure) == (25_000_050, 36)
    assert decision.inputs_hash == offer_set.inputs_hash and len(offer_set.inputs_hash) == 64


async def test_a_declined_decision_is_stored_without_offers(
        uow_factory: SqlUnitOfWorkFactory, sql_engine: AsyncEngine,
        make_offer_set: OfferSetFactory, applicant: Applicant) -> None:
    written_off = replace(applicant, credit=replace(applicant.credit, has_write_off=True))
    offer_set = make_offer_set(who=written_off)
    assert offer_set.decision is OfferDecision.DECLINED and not offer_set.offers
    async with uow_factory() as uow:
        await uow.offers.add_offer_set(offer_set)
        await uow.commit()
        page = await uow.offers.history(applicant.user_id, 10, None)
    assert page.total == 0 and page.offers == () and page.end_cursor is None
    async with sql_engine.connect() as connection:
        decision = (await connection.execute(select(OfferDecisionRow.__table__))).one()
    assert decision.decision == "DECLINED"
    assert [r["code"] for r in decision.reasons] == [r.code for r in offer_set.reasons]


async def test_history_pages_newest_first_without_gaps_or_repeats(
        uow_factory: SqlUnitOfWorkFactory, make_offer_set: OfferSetFactory,
        applicant: Applicant) -> None:
    # Two sets at the same instant: their ranks tie, the offer id breaks the tie.
    later = NOW + timedelta(minutes=5)
    moments = [NOW, later, later, NOW + timedelta(hours=1)]
    sets = [make_offer_set(now=moment) for moment in moments]
    other_user = make_offer_set(who=_other(applicant))
    async with uow_factory() as uow:
        for offer_set in [*sets, other_user]:
            await uow.offers.add_offer_set(offer_set)
        await uow.commit()
    expected = sorted((o for s in sets for o in s.offers),
                      key=lambda o: (-o.created_at.timestamp(), o.rank, o.offer_id))
    assert len(expected) >= 10

    seen: list[LoanOffer] = []
    after = None
    async with uow_factory() as uow:
        while True:
            page = await uow.offers.history(applicant.user_id, 3, after)
            assert page.total == len(expected)
            assert 0 < len(page.offers) <= 3
            seen.extend(page.offers)
            assert page.end_cursor == encode_cursor(page.offers[-1])
            if not page.has_next:
                break
            after = page.end_cursor
        everything = await uow.offers.history(applicant.user_id, 100, None)
        none_left = await uow.offers.history(applicant.user_id, 3, page.end_cursor)
        nothing = await uow.offers.history(applicant.user_id, 0, None)

    assert [o.offer_id for o in seen] == [o.offer_id for o in expected]
    assert seen == expected
    assert everything.offers == tuple(expected) and not everything.has_next
    assert none_left.offers == () and not none_left.has_next and none_left.end_cursor is None
    assert nothing.offers == () and nothing.has_next and nothing.total == len(expected)


async def test_history_of_an_unknown_user_is_empty(uow_factory: SqlUnitOfWorkFactory) -> None:
    async with uow_factory() as uow:
        page = await uow.offers.history("nobody", 5, None)
    assert page.offers == () and not page.has_next and page.end_cursor is None
    assert page.total == 0


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize("cursor", [
    "", "not a cursor", "!!!!", _b64(b"not json"), _b64(b"{}"), _b64(b"[1,2,3]"),
    _b64(b'["o1","2026-01-05T10:00:00+00:00",1]'),
    _b64(b'["o1","2026-01-05T10:00:00",1,"x"]'),          # naive timestamp
    _b64(b'["o1","yesterday",1,"x"]'),
    _b64(b'["o1","2026-01-05T10:00:00+00:00","1","x"]'),  # rank not an int
    _b64(b'["o1","2026-01-05T10:00:00+00:00",true,"x"]'),
    _b64(b'["o2","2026-01-05T10:00:00+00:00",1,"x"]'),    # unknown version
    _b64(b"\xff\xfe"),
])
async def test_a_malformed_cursor_is_a_value_error(uow_factory: SqlUnitOfWorkFactory,
                                                   cursor: str) -> None:
    async with uow_factory() as uow:
        with pytest.raises(ValueError, match="cursor"):
            await uow.offers.history("user-000042", 5, cursor)


async def test_set_status_updates_one_offer(uow_factory: SqlUnitOfWorkFactory,
                                            make_offer_set: OfferSetFactory) -> None:
    offer_set = make_offer_set()
    chosen, other = offer_set.offers[0], offer_set.offers[1]
    async with uow_factory() as uow:
        await uow.offers.add_offer_set(offer_set)
        await uow.commit()

    async with uow_factory() as uow:
        accepted = await uow.offers.set_status(chosen.offer_id, OfferStatus.ACCEPTED)
        assert await uow.offers.set_status("no-such-offer", OfferStatus.ACCEPTED) is None
        await uow.commit()

    assert accepted == chosen.with_status(OfferStatus.ACCEPTED)
    async with uow_factory() as uow:
        assert await uow.offers.get(chosen.offer_id) == accepted
        assert await uow.offers.get(other.offer_id) == other
        assert await uow.offers.get("no-such-offer") is None


async def test_status_changed_at_moves_only_on_a_change(
        uow_factory: SqlUnitOfWorkFactory, sql_engine: AsyncEngine,
        make_offer_set: OfferSetFactory) -> None:
    offer_set = make_offer_set()
    offer = offer_set.offers[0]
    async with uow_factory() as uow:
        await uow.offers.add_offer_set(offer_set)
        await uow.commit()

    async def changed_at() -> object:
        async with sql_engine.connect() as connection:
            table = OfferRow.__table__
            return (await connection.execute(select(table.c.status_changed_at).where(
                table.c.offer_id == offer.offer_id))).scalar_one()

    assert await changed_at() == offer.created_at
    async with uow_factory() as uow:
        await uow.offers.set_status(offer.offer_id, OfferStatus.ACTIVE)
        await uow.commit()
    assert await changed_at() == offer.created_at
    async with uow_factory() as uow:
        await uow.offers.set_status(offer.offer_id, OfferStatus.WITHDRAWN)
        await uow.commit()
    moved = await changed_at()
    assert moved > offer.created_at and moved.tzinfo == UTC  # type: ignore[operator, attr-defined]


def _other(applicant: Applicant) -> Applicant:
    return replace(applicant, user_id="user-someone-else")
