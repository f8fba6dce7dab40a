"""End-to-end through the ASGI app: Query.offerHistory, Query.applicant, Mutation.upsertApplicant,
and offer history moving the price."""

from __future__ import annotations

import pytest

from domain.offers import OfferStatus
from tests.e2e.conftest import gql

OFFERS = """query($userId: ID!) { loanOffers(request: {userId: $userId}) {
  offers { offerId } behavior { priceSensitivity sensitivityScore } } }"""

HISTORY = """query($userId: ID!, $first: Int, $after: String) {
  offerHistory(userId: $userId, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { offerId userId rank status policyVersion createdAt } }
  } }"""

APPLICANT = """query($userId: ID!) { applicant(userId: $userId) {
  userId personal { fullName dateOfBirth pan }
  credit { monthlyIncome existingEmi employmentType employerCategory bureauScore hasWriteOff }
  behavior { offersViewed90d rateComparisons90d loansRepaid }
  historySummary { offersSeen answers accepted declined lapsed lastAcceptedAt } } }"""

UPSERT = """mutation($input: ApplicantInput!) { upsertApplicant(input: $input) {
  userId credit { monthlyIncome bureauScore employerCategory }
  behavior { rateComparisons90d loansRepaid } } }"""

NEW_APPLICANT = {
    "userId": "lender-7731", "fullName": "Kavya Menon", "dateOfBirth": "1990-04-12",
    "monthlyIncome": 95000.5, "existingEmi": 12000, "employmentType": "SALARIED",
    "employerCategory": "CAT_A", "monthsInCurrentJob": 40, "creditHistoryMonths": 96,
    "bureauScore": 782, "delinquencies24m": 0, "enquiries6m": 1, "creditUtilisation": 0.22,
    "pan": "ABCPM1234K", "gender": "FEMALE",
    "behavior": {"rateComparisons90d": 1, "loansRepaid": 2},
}


def codes(body: dict) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors", [])]


async def test_offer_history_pages_through_every_offer_once(client) -> None:
    user = "user-000011"
    generated = []
    for _ in range(2):
        body = await gql(client, OFFERS, userId=user)
        generated += [o["offerId"] for o in body["data"]["loanOffers"]["offers"]]
    assert len(generated) >= 4

    seen, after, pages = [], None, 0
    while True:
        body = await gql(client, HISTORY, userId=user, first=3, after=after)
        assert "errors" not in body, body
        connection = body["data"]["offerHistory"]
        pages += 1
        assert connection["totalCount"] == len(generated)
        edges = connection["edges"]
        assert 1 <= len(edges) <= 3
        info = connection["pageInfo"]
        assert info["startCursor"] == edges[0]["cursor"]
        assert info["endCursor"] == edges[-1]["cursor"]
        assert info["hasPreviousPage"] is False
        for edge in edges:
            assert edge["node"]["userId"] == user and edge["node"]["status"] == "ACTIVE"
            seen.append(edge["node"]["offerId"])
        if not info["hasNextPage"]:
            break
        after = info["endCursor"]
    assert sorted(seen) == sorted(generated) and len(set(seen)) == len(seen)
    assert pages == -(-len(generated) // 3)
    # newest answer first: the second request's offers lead
    assert set(seen[:len(generated) // 2]) == set(generated[len(generated) // 2:])


@pytest.mark.parametrize(("first", "after", "field"), [
    (0, None, "first"), (101, None, "first"), (-1, None, "first"),
    (5, "bm90IGEgY3Vyc29y", "after"), (5, "", "after"), (5, "%%%", "after"),
])
async def test_bad_paging_arguments_are_typed_errors(client, first, after, field) -> None:
    body = await gql(client, HISTORY, userId="user-000011", first=first, after=after)
    assert codes(body) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["extensions"]["field"] == field
    assert body["data"] is None


async def test_history_of_an_unknown_user_is_not_found(client) -> None:
    body = await gql(client, HISTORY, userId="nobody-here", first=5)
    assert codes(body) == ["NOT_FOUND"]


async def test_applicant_shows_the_record_and_history(client) -> None:
    user = "user-000012"
    body = await gql(client, OFFERS, userId=user)
    shown = len(body["data"]["loanOffers"]["offers"])
    body = await gql(client, APPLICANT, userId=user)
    assert "errors" not in body, body
    a = body["data"]["applicant"]
    assert a["userId"] == user and a["personal"]["fullName"]
    assert a["credit"]["employmentType"] in ("SALARIED", "SELF_EMPLOYED")
    assert a["historySummary"]["offersSeen"] == shown
    assert a["historySummary"]["answers"] == 1
    assert codes(await gql(client, APPLICANT, userId="nobody-here")) == ["NOT_FOUND"]


async def test_upsert_creates_then_replaces_and_the_next_read_sees_it(client) -> None:
    body = await gql(client, UPSERT, input=NEW_APPLICANT)
    assert "errors" not in body, body
    created = body["data"]["upsertApplicant"]
    assert created["credit"] == {"monthlyIncome": 95000.5, "bureauScore": 782,
                                 "employerCategory": "CAT_A"}
    assert created["behavior"] == {"rateComparisons90d": 1, "loansRepaid": 2}
    offers = await gql(client, OFFERS, userId="lender-7731")  # now priceable, and cached
    assert offers["data"]["loanOffers"]["offers"]

    changed = {**NEW_APPLICANT, "monthlyIncome": 120000, "bureauScore": None,
               "behavior": {"rateComparisons90d": 9}}
    body = await gql(client, UPSERT, input=changed)
    assert body["data"]["upsertApplicant"]["credit"]["bureauScore"] is None
    # counters left out keep their stored value
    assert body["data"]["upsertApplicant"]["behavior"] == {"rateComparisons90d": 9,
                                                           "loansRepaid": 2}
    read = (await gql(client, APPLICANT, userId="lender-7731"))["data"]["applicant"]
    assert read["credit"]["monthlyIncome"] == 120000.0 and read["credit"]["bureauScore"] is None
    again = await gql(client, OFFERS, userId="lender-7731")
    assert again["data"]["loanOffers"]["behavior"]["sensitivityScore"] > \
        offers["data"]["loanOffers"]["behavior"]["sensitivityScore"]


async def test_an_invalid_record_names_every_bad_field_and_stores_nothing(client) -> None:
    bad = {**NEW_APPLICANT, "userId": "lender-bad-1", "pan": "12345", "monthlyIncome": -5,
           "existingEmi": 10.001, "bureauScore": 950}
    body = await gql(client, UPSERT, input=bad)
    assert codes(body) == ["BAD_USER_INPUT"]
    message = body["errors"][0]["message"]
    for name in ("pan", "monthly_income", "existing_emi", "bureau_score"):
        assert name in message
    assert codes(await gql(client, APPLICANT, userId="lender-bad-1")) == ["NOT_FOUND"]


async def test_declined_answers_raise_the_price_sensitivity(client, app_env) -> None:
    user = "user-000013"
    first = (await gql(client, OFFERS, userId=user))["data"]["loanOffers"]
    container = app_env["container"]
    for _ in range(3):  # the customer declines three answers in a row
        answer = (await gql(client, OFFERS, userId=user))["data"]["loanOffers"]
        async with container.uow_factory()() as uow:
            await uow.offers.set_status(answer["offers"][0]["offerId"], OfferStatus.DECLINED)
            await uow.commit()
        await container.applicant_cache().invalidate(user)  # what the decline mutation does
    after = (await gql(client, OFFERS, userId=user))["data"]["loanOffers"]
    # 3 declined answers: + 0.20 (policy weight declined_offers)
    assert after["behavior"]["sensitivityScore"] == pytest.approx(
        first["behavior"]["sensitivityScore"] + 0.20, abs=1e-4) or \
        after["behavior"]["sensitivityScore"] == 1.0
    history = (await gql(client, APPLICANT, userId=user))["data"]["applicant"]["historySummary"]
    assert history["declined"] == 3 and history["answers"] == 5


EVENT = """mutation($e: BehaviorEventInput!) { recordBehaviorEvent(event: $e) { __typename } }"""


async def test_an_upsert_neither_loses_nor_doubles_recorded_behaviour_events(client) -> None:
    user = "lender-events-1"
    record = {**NEW_APPLICANT, "userId": user,
              "behavior": {"rateComparisons90d": 2, "loansRepaid": 1}}
    assert "errors" not in await gql(client, UPSERT, input=record)
    for _ in range(3):
        body = await gql(client, EVENT, e={"userId": user, "type": "RATE_COMPARED"})
        assert "errors" not in body, body

    async def comparisons() -> int:
        body = await gql(client, APPLICANT, userId=user)
        return body["data"]["applicant"]["behavior"]["rateComparisons90d"]

    assert await comparisons() == 5
    # a credit-data refresh that leaves the counters out keeps them, events included, once
    refresh = {k: v for k, v in {**record, "monthlyIncome": 99000}.items() if k != "behavior"}
    body = await gql(client, UPSERT, input=refresh)
    assert body["data"]["upsertApplicant"]["behavior"]["rateComparisons90d"] == 5
    assert await comparisons() == 5
    # a record that sets the counter sets the lender's base; recorded events still count on top
    body = await gql(client, UPSERT, input={**refresh, "behavior": {"rateComparisons90d": 0}})
    assert await comparisons() == 3
