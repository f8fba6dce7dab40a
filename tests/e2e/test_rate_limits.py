"""Rate limits through the real prod-profile app: RATE_LIMITED, HTTP 429 and Retry-After."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from config.asgi import create_app
from config.container import build_container
from config.settings import Settings
from tests.tokens import IdentityProvider

OFFERS = '{ loanOffers(request: {userId: "user-000042"}) { decision } }'  # cost 10
STAFF_OFFERS = '{ loanOffers(request: {userId: "user-000043"}) { decision } }'
EVENT = """mutation { recordBehaviorEvent(event: {userId: "user-000042", type: APP_SESSION})
  { duplicate } }"""  # cost 2, one mutation


@pytest.fixture
async def limited(prod_app_env: dict) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(**{**prod_app_env["settings"].model_dump(),
                           "rate_limit_operations": "25/minute",
                           "rate_limit_mutations": "2/minute"})
    container = build_container(settings)
    transport = httpx.ASGITransport(app=create_app(container=container))
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
        yield client
    await container.engine().dispose()


async def test_budget_spent_is_429_with_retry_after(limited: httpx.AsyncClient,
                                                   identity_provider: IdentityProvider) -> None:
    customer = identity_provider.headers("user-000042", "CUSTOMER")
    for _ in range(2):
        ok = await limited.post("/graphql", json={"query": OFFERS}, headers=customer)
        assert ok.status_code == 200 and "errors" not in ok.json()
    refused = await limited.post("/graphql", json={"query": OFFERS}, headers=customer)
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    error = refused.json()["errors"][0]
    assert error["extensions"]["code"] == "RATE_LIMITED"
    assert error["extensions"]["retryAfter"] == int(refused.headers["retry-after"])
    # another caller has their own budget
    agent = identity_provider.headers("agent-1", "AGENT")
    other = await limited.post("/graphql", json={"query": STAFF_OFFERS}, headers=agent)
    assert other.status_code == 200 and "errors" not in other.json()


async def test_mutations_have_a_separate_budget(limited: httpx.AsyncClient,
                                                identity_provider: IdentityProvider) -> None:
    agent = identity_provider.headers("agent-2", "AGENT")
    for _ in range(2):
        ok = await limited.post("/graphql", json={"query": EVENT}, headers=agent)
        assert "errors" not in ok.json(), ok.json()
    refused = await limited.post("/graphql", json={"query": EVENT}, headers=agent)
    assert refused.status_code == 429
    assert refused.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    query = await limited.post("/graphql", json={"query": STAFF_OFFERS}, headers=agent)
    assert query.status_code == 200 and "errors" not in query.json()
