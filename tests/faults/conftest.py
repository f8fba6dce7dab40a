"""The real service under faults: PostgreSQL and Redis behind fault proxies, a uvicorn process.

``stack`` (module scoped) starts PostgreSQL (``synchronous_commit=on``: an acknowledged commit
survives an immediate stop), Redis, a :class:`~tests.fault_proxy.FaultProxy` in front of each,
migrates and seeds the database, and serves the app with ``loan-offers serve`` through the
proxies. Settings make faults visible quickly: the in-process cache level is off (every read
goes to Redis), short connect and statement timeouts.

Streams of requests are bounded by time and count (:func:`stream`). Every test here is marked
``slow`` and ``services``.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.fault_proxy import FaultProxy
from tests.servers import (
    PostgresServer,
    RedisServer,
    UvicornServer,
    find_postgres_bin,
    unavailable,
)

SEEDED = 200
DATABASE = "loan_offers_faults"
CLIENT_TIMEOUT_S = 15.0
SETTINGS = {
    "LOAN_OFFERS_PROFILE": "dev",
    "LOAN_OFFERS_CACHE_L1_TTL_S": "0",
    "LOAN_OFFERS_CACHE_TIMEOUT_S": "0.25",
    "LOAN_OFFERS_CACHE_RETRY_AFTER_S": "0.5",
    "LOAN_OFFERS_DB_CONNECT_TIMEOUT_S": "1",
    "LOAN_OFFERS_DB_STATEMENT_TIMEOUT_MS": "2000",
    "LOAN_OFFERS_DB_POOL_TIMEOUT_S": "2",
    "LOAN_OFFERS_READINESS_TIMEOUT_S": "1",
    "LOAN_OFFERS_SHUTDOWN_GRACE_S": "5",
    "LOAN_OFFERS_POLICY_REFRESH_S": "1",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = str(Path(__file__).parent)
    for item in items:
        if str(item.path).startswith(here):
            item.add_marker(pytest.mark.services)
            item.add_marker(pytest.mark.slow)


@dataclass
class Stack:
    postgres: PostgresServer
    redis: RedisServer
    pg_proxy: FaultProxy
    redis_proxy: FaultProxy
    env: dict[str, str]
    server: UvicornServer
    direct_database_url: str

    def new_server(self, **extra: str) -> UvicornServer:
        return UvicornServer({**self.env, **extra})


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    bin_dir = find_postgres_bin()
    if bin_dir is None:
        unavailable("PostgreSQL server binaries (initdb, pg_ctl) not installed")
    redis_binary = shutil.which("redis-server")
    if redis_binary is None:
        unavailable("redis-server not installed (apt-get install -y redis-server)")
    postgres = PostgresServer(bin_dir, durable_commits=True)
    redis = RedisServer(redis_binary)
    proxies: list[FaultProxy] = []
    server: UvicornServer | None = None
    try:
        postgres.start()
        redis.start()
        direct = postgres.create_database(DATABASE)
        pg_proxy = FaultProxy(postgres.port).start()
        redis_proxy = FaultProxy(redis.port).start()
        proxies += [pg_proxy, redis_proxy]
        env = {**SETTINGS,
               "LOAN_OFFERS_DATABASE_URL": direct.replace(f":{postgres.port}/",
                                                          f":{pg_proxy.port}/"),
               "LOAN_OFFERS_REDIS_URL": f"redis://127.0.0.1:{redis_proxy.port}/0"}
        _cli({**env, "LOAN_OFFERS_DATABASE_URL": direct}, "migrate")
        _cli({**env, "LOAN_OFFERS_DATABASE_URL": direct}, "seed", "--count", str(SEEDED))
        server = UvicornServer(env)
        server.start()
        yield Stack(postgres, redis, pg_proxy, redis_proxy, env, server, direct)
    finally:
        if server is not None:
            server.close()
        for proxy in proxies:
            proxy.close()
        redis.close()
        postgres.close()


def _cli(env: dict[str, str], *args: str) -> None:
    binary = str(Path(sys.executable).with_name("loan-offers"))
    result = subprocess.run([binary, *args], env={**os.environ, **env}, capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


# --- request streams ----------------------------------------------------------------------------

OFFERS = """query Offers($u: ID!) { loanOffers(request: {userId: $u}) {
  userId decision offers { offerId rank amount tenure roi apr emi processingFee } } }"""
ACCEPT = """mutation Accept($id: ID!, $key: String!) {
  acceptOffer(offerId: $id, idempotencyKey: $key) { offer { offerId status } } }"""
OFFER = """query Offer($id: ID!) { offer(offerId: $id) {
  offerId rank amount tenure roi apr emi processingFee } }"""


@dataclass(frozen=True)
class Outcome:
    started: float       # seconds since the stream began
    ended: float
    status: int          # HTTP status, 0 when the client gave up (timeout, connection error)
    codes: tuple[str, ...]
    body: dict | None
    failure: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200 and not self.codes and self.body is not None

    @property
    def latency(self) -> float:
        return self.ended - self.started


@dataclass
class Stream:
    outcomes: list[Outcome] = field(default_factory=list)
    t0: float = field(default_factory=time.monotonic)
    accepted: set[str] = field(default_factory=set)   # acknowledged acceptOffer answers
    attempted: set[str] = field(default_factory=set)  # users whose offer we tried to accept

    def now(self) -> float:
        return time.monotonic() - self.t0

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]

    def offer_ids(self) -> set[str]:
        return {offer["offerId"] for o in self.outcomes if o.ok
                for offer in ((o.body or {}).get("loanOffers") or {}).get("offers", [])}

    def summary(self) -> str:
        latencies = sorted(o.latency for o in self.outcomes) or [0.0]
        codes: dict[str, int] = {}
        for o in self.failed:
            for code in o.codes or (o.failure or f"HTTP {o.status}",):
                codes[code] = codes.get(code, 0) + 1
        return (f"{len(self.outcomes)} requests, {len(self.failed)} failed {codes}, "
                f"p50 {latencies[len(latencies) // 2] * 1000:.0f} ms, "
                f"max {latencies[-1] * 1000:.0f} ms")


async def post(client: httpx.AsyncClient, stream: Stream, query: str,
               variables: dict) -> Outcome:
    started = stream.now()
    try:
        response = await client.post("/graphql", json={"query": query, "variables": variables})
    except httpx.HTTPError as exc:
        outcome = Outcome(started, stream.now(), 0, (), None, type(exc).__name__)
    else:
        payload = response.json() if response.headers.get("content-type", "").startswith(
            "application/json") else {}
        errors = payload.get("errors") or []
        codes = tuple((e.get("extensions") or {}).get("code", "NO_CODE") for e in errors)
        outcome = Outcome(started, stream.now(), response.status_code, codes,
                          payload.get("data") if not errors else None)
    stream.outcomes.append(outcome)
    return outcome


async def stream(url: str, duration_s: float, concurrency: int = 4, max_requests: int = 4000,
                 during: Callable[[Stream], Awaitable[None]] | None = None,
                 users: int = SEEDED, accept: bool = True, accept_rounds: int = 6) -> Stream:
    """``loanOffers`` for users 1..``users`` in turn from ``concurrency`` clients until
    ``duration_s`` or ``max_requests``; with ``accept``, one answer with offers per user is
    followed by ``acceptOffer`` of its best offer (once per user, with an idempotency key: a
    customer accepting twice would rightly be a conflict), user ``u`` from round
    ``u % accept_rounds`` of the stream on, so acceptances are spread before, during and after
    the faults. ``during(stream)`` runs alongside (the fault script)."""
    result = Stream()
    counter = iter(range(max_requests))

    async def client_loop(client: httpx.AsyncClient) -> None:
        for n in counter:
            if result.now() > duration_s:
                return
            user = f"user-{n % users + 1:06d}"
            outcome = await post(client, result, OFFERS, {"u": user})
            offers = ((outcome.body or {}).get("loanOffers") or {}).get("offers") or []
            due = n // users >= (n % users) % accept_rounds
            if accept and due and offers and user not in result.attempted:
                result.attempted.add(user)
                offer_id = offers[0]["offerId"]
                answer = await post(client, result, ACCEPT,
                                    {"id": offer_id, "key": f"accept-{offer_id}"})
                if answer.ok and answer.body["acceptOffer"]["offer"]["status"] == "ACCEPTED":
                    result.accepted.add(offer_id)

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=CLIENT_TIMEOUT_S, limits=limits) as client:
        tasks = [asyncio.create_task(client_loop(client)) for _ in range(concurrency)]
        if during is not None:
            await during(result)
        await asyncio.gather(*tasks)
    return result
