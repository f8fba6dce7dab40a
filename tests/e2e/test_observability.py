"""Probes, metrics, request ids and structured logs through the real ASGI app."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from config.asgi import create_app
from config.settings import Settings
from graphql_api.metrics import MAX_OPERATION_NAMES
from graphql_api.observability import PUBLIC_PATHS
from tests.e2e.conftest import gql
from tests.servers import free_port

OFFERS = """query Offers($userId: ID!) { loanOffers(request: {userId: $userId}) {
  decision offers { roi } } }"""


async def samples(client: httpx.AsyncClient) -> dict[tuple[str, tuple], float]:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    found = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found: dict, name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def total(found: dict, name: str, **labels: str) -> float:
    """Sum over every series of ``name`` whose labels include ``labels``."""
    return sum(v for (n, lab), v in found.items()
               if n == name and set(labels.items()) <= set(lab))


async def test_livez_answers_without_dependencies(client: httpx.AsyncClient) -> None:
    response = await client.get("/livez")
    assert response.status_code == 200 and response.text == "ok"


async def test_readyz_reports_database_and_cache(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body == {"status": "ready", "ready": True,
                    "checks": {"database": "ok", "cache": "disabled"}}


def test_public_paths_are_the_probes_and_the_scrape() -> None:
    assert frozenset({"/livez", "/readyz", "/metrics"}) == PUBLIC_PATHS


async def test_http_graphql_and_business_metrics_move(client: httpx.AsyncClient) -> None:
    before = await samples(client)
    answer = await gql(client, OFFERS, userId="user-000042")
    assert answer["data"]["loanOffers"]["offers"]
    missing = await gql(client, OFFERS, userId="nobody")
    assert missing["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    broken = await client.post("/graphql", json={"query": "query Broken { loanOffers("})
    assert broken.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
    after = await samples(client)

    def moved(name: str, **labels: str) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    assert moved("loan_offers_http_requests_total", route="/graphql", method="POST",
                 status="200") == 3
    assert moved("loan_offers_http_request_duration_seconds_count", route="/graphql") == 3
    assert moved("loan_offers_graphql_operations_total", operation="Offers", type="query",
                 outcome="success") == 1
    assert moved("loan_offers_graphql_operations_total", operation="Offers", type="query",
                 outcome="error") == 1
    assert moved("loan_offers_graphql_operations_total", operation="anonymous",
                 type="unknown", outcome="error") == 1
    assert moved("loan_offers_graphql_errors_total", code="NOT_FOUND") == 1
    assert moved("loan_offers_graphql_errors_total", code="GRAPHQL_PARSE_FAILED") == 1
    offers = len(answer["data"]["loanOffers"]["offers"])
    decision = answer["data"]["loanOffers"]["decision"]
    assert moved("loan_offers_decisions_total", decision=decision) == 1
    assert moved("loan_offers_offers_generated_total", decision=decision) == offers
    assert moved("loan_offers_offer_roi_percent_count") == offers
    assert moved("loan_offers_offer_apr_percent_count") == offers
    assert moved("loan_offers_offer_predicted_conversion_ratio_count") == offers
    assert moved("loan_offers_cache_requests_total") >= 1
    assert total(after, "loan_offers_http_requests_in_flight") >= 1  # the scrape itself
    assert total(after, "loan_offers_db_pool_capacity_connections") > 0


async def test_no_user_ids_in_metric_labels(client: httpx.AsyncClient) -> None:
    await gql(client, OFFERS, userId="user-000007")
    text = (await client.get("/metrics")).text
    assert "user-0000" not in text


async def test_operation_name_labels_are_bounded(client: httpx.AsyncClient) -> None:
    for i in range(MAX_OPERATION_NAMES + 5):
        await client.post("/graphql", json={"query": f"query Op{i} {{ __typename }}"})
    found = await samples(client)
    names = {dict(labels).get("operation") for (name, labels) in found
             if name == "loan_offers_graphql_operations_total"}
    assert "other" in names
    assert len(names) <= MAX_OPERATION_NAMES + 3  # + anonymous, other, unknown-type names


async def test_request_id_is_echoed_and_logged(client: httpx.AsyncClient,
                                               caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="loan_offers.access"):
        response = await client.post("/graphql", json={"query": "{ __typename }"},
                                     headers={"X-Request-ID": "trace-abc-123"})
    assert response.headers["x-request-id"] == "trace-abc-123"
    lines = [r.msg for r in caplog.records if r.name == "loan_offers.access"]
    assert any(isinstance(m, dict) and m.get("request_id") == "trace-abc-123"
               and m.get("status") == 200 and m.get("path") == "/graphql" for m in lines)


async def test_unsafe_request_id_is_replaced(client: httpx.AsyncClient) -> None:
    response = await client.get("/livez", headers={"X-Request-ID": "bad id\twith spaces"})
    assert response.headers["x-request-id"] != "bad id\twith spaces"
    assert len(response.headers["x-request-id"]) == 32


async def _probe(settings: Settings) -> httpx.Response:
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            return await c.get("/readyz")
    finally:
        await app.state.container.engine().dispose()


async def test_readyz_is_503_when_the_database_is_unreachable() -> None:
    dead = free_port()  # nothing listens there
    settings = Settings(database_url=f"postgresql+asyncpg://postgres@127.0.0.1:{dead}/x",
                        db_connect_timeout_s=1.0, readiness_timeout_s=1.5)
    response = await asyncio.wait_for(_probe(settings), 5)
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable" and body["ready"] is False
    assert body["checks"]["database"].startswith("unreachable")


async def test_readyz_is_degraded_but_ready_when_redis_is_down(app_env: dict) -> None:
    dead = free_port()
    settings = Settings(database_url=app_env["settings"].database_url,
                        redis_url=f"redis://127.0.0.1:{dead}/0", cache_timeout_s=0.2)
    response = await asyncio.wait_for(_probe(settings), 5)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded" and body["ready"] is True
    assert body["checks"] == {"database": "ok", "cache": "down"}
    assert "Redis" in body["degraded"][0]


async def test_acceptances_are_counted_once(client: httpx.AsyncClient) -> None:
    answer = await gql(client, OFFERS.replace("offers { roi }", "offers { offerId roi }"),
                       userId="user-000031")
    offer_id = answer["data"]["loanOffers"]["offers"][0]["offerId"]
    accept = """mutation Accept($id: ID!, $key: String!) {
      acceptOffer(offerId: $id, idempotencyKey: $key) { offer { status } } }"""
    before = await samples(client)
    first = await gql(client, accept, id=offer_id, key="metrics-test-1")
    assert first["data"]["acceptOffer"]["offer"]["status"] == "ACCEPTED"
    replay = await gql(client, accept, id=offer_id, key="metrics-test-1")
    assert replay["data"] == first["data"]  # the same answer, not a second acceptance
    after = await samples(client)
    assert (total(after, "loan_offers_offers_accepted_total")
            - total(before, "loan_offers_offers_accepted_total")) == 1
    assert (total(after, "loan_offers_accepted_offer_roi_percent_count")
            - total(before, "loan_offers_accepted_offer_roi_percent_count")) == 1
