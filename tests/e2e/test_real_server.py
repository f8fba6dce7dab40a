"""End to end against real ``loan-offers serve`` processes with the Python ``gql`` client:
queries and mutations over HTTP, the offerUpdates subscription over both WebSocket protocols,
and two processes sharing Redis, where a subscriber on one hears of an acceptance on the other.

Both servers share one SQLite file (WAL) and one Redis. Marked ``slow``; without
``redis-server`` the module is skipped (failed under ``REQUIRE_SERVICES=1``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import websockets
from gql import Client, GraphQLRequest, gql
from gql.transport.exceptions import TransportQueryError
from gql.transport.httpx import HTTPXAsyncTransport
from gql.transport.websockets import WebsocketsTransport

from tests.servers import RedisServer, UvicornServer, running_redis

pytestmark = pytest.mark.slow

SEEDED = 150
ALLOWED_ORIGIN = "https://app.example.com"
PROTOCOLS = ("graphql-transport-ws", "graphql-ws")

OFFERS = gql("""
query($u: ID!) { loanOffers(request: {userId: $u}) { decision offers { offerId rank status } } }
""")
ACCEPT = gql("""
mutation($o: ID!, $k: String) { acceptOffer(offerId: $o, idempotencyKey: $k) {
  offer { offerId status } withdrawnOffers { offerId } acceptedAt replayed } }
""")
DECLINE = gql("mutation($o: ID!) { declineOffer(offerId: $o) { offer { offerId status } } }")
UPDATES = gql("""
subscription($u: ID!) { offerUpdates(userId: $u) {
  type userId occurredAt previousOfferId offer { offerId status policyVersion } } }
""")


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    with running_redis() as server:
        yield server


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer
            ) -> Iterator[tuple[UvicornServer, UvicornServer]]:
    """Processes A and B: one database, one Redis."""
    db = tmp_path_factory.mktemp("real-server") / "offers.db"
    env = {
        "LOAN_OFFERS_PROFILE": "dev",
        "LOAN_OFFERS_DATABASE_URL": f"sqlite+aiosqlite:///{db}",
        "LOAN_OFFERS_REDIS_URL": redis_server.url,
        "LOAN_OFFERS_WS_ALLOWED_ORIGINS": ALLOWED_ORIGIN,
        "LOAN_OFFERS_EXPIRY_SWEEP_INTERVAL_S": "0",
    }
    cli = str(Path(sys.executable).with_name("loan-offers"))
    for args in (["migrate"], ["seed", "--count", str(SEEDED)]):
        subprocess.run([cli, *args], env={**os.environ, **env}, check=True,
                       capture_output=True, timeout=180)
    a, b = UvicornServer(env), UvicornServer(env)
    try:
        a.start()
        b.start()
        yield a, b
    finally:
        a.close()
        b.close()


async def run(session, document, **variables) -> dict:
    return await session.execute(GraphQLRequest(document, variable_values=variables))


def http_client(server: UvicornServer) -> Client:
    return Client(transport=HTTPXAsyncTransport(url=f"{server.url}/graphql", timeout=30),
                  execute_timeout=30)


def ws_client(server: UvicornServer, protocol: str) -> Client:
    url = f"{server.url.replace('http://', 'ws://')}/graphql"
    return Client(transport=WebsocketsTransport(url=url, subprotocols=[protocol]),
                  execute_timeout=30)


async def approved_offers(session, first_user: int) -> tuple[str, list[dict]]:
    for n in range(first_user, SEEDED + 1):
        user = f"user-{n:06d}"
        answer = (await run(session, OFFERS, u=user))["loanOffers"]
        if len(answer["offers"]) >= 2:
            return user, answer["offers"]
    raise AssertionError("no approved user")


@contextlib.asynccontextmanager
async def subscribed(server: UvicornServer, protocol: str, user: str
                     ) -> AsyncIterator[asyncio.Queue[dict]]:
    """A running offerUpdates subscription; its updates arrive in the queue."""
    updates: asyncio.Queue[dict] = asyncio.Queue()

    async def consume() -> None:
        async with ws_client(server, protocol) as session:
            assert session.transport.subprotocol == protocol
            async for result in session.subscribe(GraphQLRequest(UPDATES, variable_values={"u": user})):
                await updates.put(result["offerUpdates"])

    task = asyncio.create_task(consume())
    try:
        yield updates
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def until(updates: asyncio.Queue[dict], kind: str, offer_id: str | None,
                deadline: float) -> dict:
    """The first update of ``kind`` (for ``offer_id`` when given) before ``deadline``
    (``time.monotonic()``); other updates are skipped."""
    while True:
        update = await asyncio.wait_for(updates.get(), max(0.0, deadline - time.monotonic()))
        if update["type"] == kind and (offer_id is None or update["offer"]["offerId"] == offer_id):
            return update


async def warm_up(updates: asyncio.Queue[dict], server: UvicornServer, user: str) -> None:
    """Generate offers until the subscription reports them: it is registered from then on."""
    deadline = time.monotonic() + 20
    async with http_client(server) as session:
        while True:
            await run(session, OFFERS, u=user)
            with contextlib.suppress(TimeoutError):
                await until(updates, "GENERATED", None, time.monotonic() + 0.5)
                return
            assert time.monotonic() < deadline, "the subscription never became active"


async def test_queries_and_mutations_over_http(servers) -> None:
    a, _ = servers
    async with http_client(a) as session:
        _, offers = await approved_offers(session, 5)
        chosen = offers[0]["offerId"]
        first = (await run(session, ACCEPT, o=chosen, k="gql-1"))
        again = (await run(session, ACCEPT, o=chosen, k="gql-1"))
        assert first["acceptOffer"]["offer"] == {"offerId": chosen, "status": "ACCEPTED"}
        assert again["acceptOffer"] == {**first["acceptOffer"], "replayed": True}
        with pytest.raises(TransportQueryError) as caught:
            await run(session, ACCEPT, o=offers[1]["offerId"])
        (error,) = caught.value.errors
        assert error["extensions"]["code"] == "CONFLICT"
        assert error["extensions"]["reason"] == "OFFER_WITHDRAWN"


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_subscription_over_each_protocol(servers, protocol: str) -> None:
    a, _ = servers
    start = 40 if protocol == PROTOCOLS[0] else 80
    async with http_client(a) as session:
        user, _ = await approved_offers(session, start)
        async with subscribed(a, protocol, user) as updates:
            await warm_up(updates, a, user)
            offers = (await run(session, OFFERS, u=user))["loanOffers"]
            declined = offers["offers"][0]["offerId"]
            await run(session, DECLINE, o=declined)
            update = await until(updates, "DECLINED", declined, time.monotonic() + 10)
    assert update["userId"] == user
    assert update["offer"] == {"offerId": declined, "status": "DECLINED", "policyVersion": 1}


async def test_a_subscriber_on_a_hears_of_an_acceptance_on_b_within_a_second(servers) -> None:
    a, b = servers
    async with http_client(b) as session_b:
        user, _ = await approved_offers(session_b, 110)
        async with subscribed(a, "graphql-transport-ws", user) as updates:
            await warm_up(updates, b, user)  # B's GENERATED events already cross over to A
            offers = (await run(session_b, OFFERS, u=user))["loanOffers"]
            chosen = offers["offers"][0]["offerId"]
            sent = time.monotonic()
            await run(session_b, ACCEPT, o=chosen, k="cross-1")
            update = await until(updates, "ACCEPTED", chosen, sent + 1.0)
            withdrawn = await until(updates, "WITHDRAWN", offers["offers"][1]["offerId"],
                                    time.monotonic() + 5)
    assert update["offer"]["status"] == "ACCEPTED"
    assert withdrawn["offer"]["status"] == "WITHDRAWN"


async def test_websocket_origins_are_checked(servers) -> None:
    a, _ = servers
    url = f"{a.url.replace('http://', 'ws://')}/graphql"
    with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
        async with websockets.connect(url, origin="https://evil.example",
                                      subprotocols=["graphql-transport-ws"]):
            pass
    assert refused.value.response.status_code == 403
    async with websockets.connect(url, origin=ALLOWED_ORIGIN,
                                  subprotocols=["graphql-transport-ws"]) as ws:
        assert ws.subprotocol == "graphql-transport-ws"


PUBLISH = gql("""
mutation($s: String!) { publishPricingPolicy(source: $s) {
  policy { version } repricedOffers withdrawnOffers } }
""")
ACTIVE_POLICY = gql("{ pricingPolicy { version source } }")


async def test_publishing_a_policy_on_b_reprices_offers_seen_on_a(servers) -> None:
    """Last in the module: it changes the active policy of both servers."""
    a, b = servers
    async with http_client(b) as session_b:
        user, _ = await approved_offers(session_b, 130)
        async with subscribed(a, "graphql-ws", user) as updates:
            await warm_up(updates, b, user)
            offers = (await run(session_b, OFFERS, u=user))["loanOffers"]["offers"]
            source = (await run(session_b, ACTIVE_POLICY))["pricingPolicy"]["source"]
            report = (await run(session_b, PUBLISH, s=source.replace(
                "version = 1\n", "version = 2\n", 1)))["publishPricingPolicy"]
            assert report["policy"] == {"version": 2}
            assert report["repricedOffers"] + report["withdrawnOffers"] >= len(offers)
            first = offers[0]["offerId"]
            deadline = time.monotonic() + 10
            while True:  # the REPRICED event that names this offer as the one replaced
                update = await until(updates, "REPRICED", None, deadline)
                if update["previousOfferId"] == first:
                    break
    assert update["offer"]["policyVersion"] == 2 and update["offer"]["status"] == "ACTIVE"
    assert update["offer"]["offerId"] != first


def test_hsts_follows_the_scheme_a_trusted_proxy_reports(servers) -> None:
    """uvicorn trusts X-Forwarded-Proto from 127.0.0.1 (its FORWARDED_ALLOW_IPS default): a
    request the proxy received over TLS gets HSTS, plain HTTP does not; both get the rest."""
    a, _ = servers
    body = {"query": "{ __typename }"}
    over_tls = httpx.post(f"{a.url}/graphql", json=body, trust_env=False, timeout=30,
                          headers={"x-forwarded-proto": "https"})
    plain = httpx.post(f"{a.url}/graphql", json=body, trust_env=False, timeout=30)
    assert over_tls.status_code == plain.status_code == 200
    assert over_tls.headers["strict-transport-security"].startswith("max-age=31536000")
    assert "strict-transport-security" not in plain.headers
    assert plain.headers["x-content-type-options"] == "nosniff"
    assert plain.headers["x-frame-options"] == "DENY"
