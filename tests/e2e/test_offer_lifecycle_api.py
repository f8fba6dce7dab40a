"""End to end through the ASGI app: acceptOffer, declineOffer, recordBehaviorEvent, offer,
pricingPolicy, publishPricingPolicy, and the HTTP hardening of the endpoint."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from adapters.demo.portfolio import generate_applicants
from adapters.sql.migrate import upgrade_to_head
from config.asgi import create_app
from config.container import build_container
from config.settings import Settings
from tests.e2e.conftest import gql

OFFERS = """
query($userId: ID!) { loanOffers(request: {userId: $userId}) {
  decision policyVersion behavior { sensitivityScore priceSensitivity }
  offers { offerId rank roi status policyVersion } } }
"""
ACCEPT = """
mutation($id: ID!, $key: String) { acceptOffer(offerId: $id, idempotencyKey: $key) {
  offer { offerId status } withdrawnOffers { offerId status } acceptedAt replayed } }
"""
DECLINE = """
mutation($id: ID!) { declineOffer(offerId: $id) { offer { offerId status } replayed } }
"""
OFFER = "query($id: ID!) { offer(offerId: $id) { offerId status policyVersion replacedBy roi } }"
EVENT = """
mutation($e: BehaviorEventInput!) { recordBehaviorEvent(event: $e) {
  eventId userId type occurredAt duplicate } }
"""
POLICY = "query($v: Int) { pricingPolicy(version: $v) { version name active publishedAt source } }"
PUBLISH = """
mutation($source: String!, $mode: OpenOfferAction! = REPRICE) {
  publishPricingPolicy(source: $source, openOffers: $mode) {
    policy { version active } previousVersion repricedOffers withdrawnOffers generatedOffers } }
"""


@pytest.fixture(scope="module")
async def client(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[httpx.AsyncClient]:
    """A private app and database: publishing a policy here must not reach other modules."""
    db = Path(tmp_path_factory.mktemp("lifecycle")) / "lifecycle.db"
    settings = Settings(database_url=f"sqlite+aiosqlite:///{db}", profile="dev",
                        expiry_sweep_interval_s=0, max_policy_source_bytes=100_000,
                        max_page_size=10)
    await asyncio.to_thread(upgrade_to_head, settings.database_url)
    container = build_container(settings)
    await container.bootstrap_policy().execute(settings.policy_file.read_text())
    await container.seed_applicants().execute(generate_applicants(120))
    app = create_app(container=container)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c
    await container.engine().dispose()


async def offers_for(client: httpx.AsyncClient, user: str) -> list[dict]:
    body = await gql(client, OFFERS, userId=user)
    assert "errors" not in body, body
    return body["data"]["loanOffers"]["offers"]


def error_of(body: dict) -> dict:
    assert body.get("data") is None or None in body["data"].values(), body
    (error,) = body["errors"]
    return error


async def approved_user(client: httpx.AsyncClient, start: int) -> tuple[str, list[dict]]:
    for n in range(start, start + 40):
        user = f"user-{n:06d}"
        offers = await offers_for(client, user)
        if len(offers) >= 2:
            return user, offers
    raise AssertionError("no approved user in range")


async def test_accept_is_idempotent_and_withdraws_the_other_offers(client) -> None:
    _, offers = await approved_user(client, 10)
    chosen, other = offers[1]["offerId"], offers[0]["offerId"]
    first = await gql(client, ACCEPT, id=chosen, key="accept-e2e-1")
    again = await gql(client, ACCEPT, id=chosen, key="accept-e2e-1")

    accepted = first["data"]["acceptOffer"]
    assert accepted["offer"] == {"offerId": chosen, "status": "ACCEPTED"}
    assert not accepted["replayed"]
    assert {o["offerId"] for o in accepted["withdrawnOffers"]} >= {other}
    assert {o["status"] for o in accepted["withdrawnOffers"]} == {"WITHDRAWN"}
    assert again["data"]["acceptOffer"] == {**accepted, "replayed": True}

    conflict = error_of(await gql(client, ACCEPT, id=other, key="accept-e2e-2"))
    assert conflict["extensions"]["code"] == "CONFLICT"
    assert conflict["extensions"]["reason"] == "OFFER_WITHDRAWN"
    reused = error_of(await gql(client, ACCEPT, id=other, key="accept-e2e-1"))
    assert reused["extensions"]["reason"] == "IDEMPOTENCY_KEY_REUSED"
    twice = error_of(await gql(client, ACCEPT, id=chosen))
    assert twice["extensions"]["reason"] == "OFFER_ALREADY_ACCEPTED"

    shown = await gql(client, OFFER, id=chosen)
    assert shown["data"]["offer"]["status"] == "ACCEPTED"
    missing = error_of(await gql(client, ACCEPT, id="no-such-offer"))
    assert missing["extensions"]["code"] == "NOT_FOUND"
    bad_key = error_of(await gql(client, ACCEPT, id=chosen, key="has spaces"))
    assert bad_key["extensions"]["code"] == "BAD_USER_INPUT"


async def test_decline_leaves_the_rest_open(client) -> None:
    _, offers = await approved_user(client, 50)
    body = await gql(client, DECLINE, id=offers[0]["offerId"])
    assert body["data"]["declineOffer"] == {
        "offer": {"offerId": offers[0]["offerId"], "status": "DECLINED"}, "replayed": False}
    rest = await gql(client, OFFER, id=offers[1]["offerId"])
    assert rest["data"]["offer"]["status"] == "ACTIVE"


async def test_behaviour_events_move_the_next_analysis(client) -> None:
    user, _ = await approved_user(client, 70)
    before = (await gql(client, OFFERS, userId=user))["data"]["loanOffers"]["behavior"]
    for i in range(10):
        body = await gql(client, EVENT, e={"userId": user, "type": "RATE_COMPARED",
                                            "eventId": f"cmp-{i}"})
        assert body["data"]["recordBehaviorEvent"]["duplicate"] is False, body
    repeat = await gql(client, EVENT, e={"userId": user, "type": "RATE_COMPARED",
                                          "eventId": "cmp-0"})
    assert repeat["data"]["recordBehaviorEvent"]["duplicate"] is True
    after = (await gql(client, OFFERS, userId=user))["data"]["loanOffers"]["behavior"]
    assert after["sensitivityScore"] > before["sensitivityScore"]

    unknown = error_of(await gql(client, EVENT, e={"userId": "user-999999",
                                                    "type": "APP_SESSION"}))
    assert unknown["extensions"]["code"] == "NOT_FOUND"
    future = error_of(await gql(client, EVENT, e={"userId": user, "type": "APP_SESSION",
                                                   "occurredAt": "2999-01-01T00:00:00Z"}))
    assert future["extensions"] == {"code": "BAD_USER_INPUT", "field": "occurredAt"}


async def test_publishing_a_policy_reprices_open_offers(client) -> None:
    active = (await gql(client, POLICY))["data"]["pricingPolicy"]
    assert active["version"] == 1 and active["active"] and "version = 1" in active["source"]
    user, offers = await approved_user(client, 90)
    source = active["source"].replace("version = 1\n", "version = 2\n", 1).replace(
        "cost_of_funds = 0.080", "cost_of_funds = 0.090", 1)
    assert source.count("cost_of_funds = 0.090") == 1

    report = (await gql(client, PUBLISH, source=source))["data"]["publishPricingPolicy"]
    assert report["policy"] == {"version": 2, "active": True}
    assert report["previousVersion"] == 1
    assert report["repricedOffers"] + report["withdrawnOffers"] >= len(offers)

    old = (await gql(client, OFFER, id=offers[0]["offerId"]))["data"]["offer"]
    assert old["status"] in ("REPRICED", "WITHDRAWN")
    if old["status"] == "REPRICED":
        new = (await gql(client, OFFER, id=old["replacedBy"]))["data"]["offer"]
        assert new["status"] == "ACTIVE" and new["policyVersion"] == 2
    fresh = await offers_for(client, user)
    assert {o["policyVersion"] for o in fresh} == {2}
    assert (await gql(client, POLICY, v=1))["data"]["pricingPolicy"]["active"] is False

    again = error_of(await gql(client, PUBLISH, source=source))
    assert again["extensions"]["code"] == "CONFLICT"
    assert again["extensions"]["reason"] == "POLICY_ALREADY_ACTIVE"
    changed_v1 = active["source"].replace("cost_of_funds = 0.080", "cost_of_funds = 0.085", 1)
    exists = error_of(await gql(client, PUBLISH, source=changed_v1))
    assert exists["extensions"]["reason"] == "POLICY_VERSION_EXISTS"
    invalid = error_of(await gql(client, PUBLISH, source="version = 3\nname = 'x'\n"))
    assert invalid["extensions"]["code"] == "BAD_USER_INPUT"
    assert invalid["extensions"]["errors"]
    huge = error_of(await gql(client, PUBLISH, source="#" * 100_001))
    assert huge["extensions"]["code"] == "BAD_USER_INPUT"
    missing = error_of(await gql(client, POLICY, v=99))
    assert missing["extensions"]["code"] == "NOT_FOUND"


async def test_operations_over_get_are_refused_with_405(client) -> None:
    for document in ("mutation { declineOffer(offerId: \"x\") { replayed } }",
                     "{ pricingPolicy { version } }"):
        response = await client.get("/graphql", params={"query": document})
        assert response.status_code == 405
        assert response.headers["allow"] == "POST"
        (error,) = response.json()["errors"]
        assert error["extensions"]["code"] == "METHOD_NOT_ALLOWED"
        assert error["extensions"]["requestId"] == response.headers["x-request-id"]
    assert (await client.put("/graphql", json={"query": "{ __typename }"})).status_code == 405


async def test_batching_and_form_posts_are_refused(client) -> None:
    batch = [{"query": "{ __typename }"}, {"query": "{ __typename }"}]
    response = await client.post("/graphql", json=batch)
    assert response.status_code == 400
    form = await client.post("/graphql", data={"query": "{ __typename }"})
    assert form.status_code == 415  # any non-JSON body (CSRF): tests/e2e/test_hardening.py
    assert form.json()["errors"][0]["extensions"]["code"] == "UNSUPPORTED_MEDIA_TYPE"


async def test_list_sizes_are_bounded_by_the_page_size_setting(client) -> None:
    history = "query($u: ID!, $n: Int) { offerHistory(userId: $u, first: $n) { totalCount } }"
    ok = await gql(client, history, u="user-000001", n=10)
    assert "errors" not in ok, ok
    too_many = error_of(await gql(client, history, u="user-000001", n=11))
    assert too_many["extensions"]["code"] == "BAD_USER_INPUT"
    assert too_many["extensions"]["field"] == "first" and too_many["extensions"]["max"] == 10
