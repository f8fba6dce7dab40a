"""End to end through nginx: two replicas sharing PostgreSQL and Redis (``make cluster``'s code).

Bounded: every stream of requests stops after a few seconds or a fixed count, whichever first.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import time
from collections import Counter
from dataclasses import dataclass
from itertools import count

import httpx
import pytest
import redis
import websockets

from deploy.cluster import Cluster
from tests.cluster.conftest import SEEDED

OFFERS = """query($u: ID!) { loanOffers(request: {userId: $u}) {
  userId decision risk { riskScore riskBand } offers { offerId rank roi } } }"""

STREAM_CONCURRENCY = 4
STREAM_MAX_REQUESTS = 3000
#: Streams use the first users; the tests that watch one user's cache entries or events use
#: users above this, which no stream touches.
STREAM_USERS = SEEDED - 50


@dataclass(frozen=True)
class Outcome:
    started: float
    ended: float
    status: int
    instance: str | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.error is None


def _user(n: int) -> str:
    return f"user-{(n % STREAM_USERS) + 1:06d}"


async def _offers(client: httpx.AsyncClient, url: str, user: str) -> Outcome:
    started = time.monotonic()
    try:
        response = await client.post(url, json={"query": OFFERS, "variables": {"u": user}})
    except httpx.HTTPError as exc:
        return Outcome(started, time.monotonic(), 0, None, f"{type(exc).__name__}: {exc}")
    ended = time.monotonic()
    error = None
    if response.status_code != 200:
        error = f"HTTP {response.status_code}: {response.text[:200]}"
    else:
        body = response.json()
        if body.get("errors") or body["data"]["loanOffers"]["userId"] != user:
            error = json.dumps(body)[:300]
    return Outcome(started, ended, response.status_code, response.headers.get("x-instance-id"),
                   error)


def _cut_short(outcome: Outcome) -> bool:
    return outcome.status == 0 and (outcome.error or "").startswith(
        "RemoteProtocolError: peer closed connection without sending complete message body")


async def _stream(client: httpx.AsyncClient, url: str, seconds: float) -> list[Outcome]:
    """``STREAM_CONCURRENCY`` clients sending loanOffers back to back for ``seconds``."""
    deadline = time.monotonic() + seconds
    numbers = count()
    outcomes: list[Outcome] = []

    async def worker() -> None:
        while time.monotonic() < deadline and len(outcomes) < STREAM_MAX_REQUESTS:
            outcomes.append(await _offers(client, url, _user(next(numbers))))

    await asyncio.gather(*(worker() for _ in range(STREAM_CONCURRENCY)))
    return outcomes


async def _until_served_by(client: httpx.AsyncClient, cluster: Cluster, name: str,
                           timeout: float = 20.0) -> int:
    """Send queries through nginx until ``name`` answers one; returns how many it took."""
    deadline = time.monotonic() + timeout
    for n in count(1):
        outcome = await _offers(client, cluster.graphql_url, _user(n))
        assert outcome.ok, outcome.error
        if outcome.instance == name:
            return n
        if time.monotonic() > deadline:
            pytest.fail(f"{name} did not rejoin within {timeout}s")
        await asyncio.sleep(0.05)
    raise AssertionError("unreachable")


async def test_load_through_nginx_is_spread_over_both_replicas(both_replicas: Cluster) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        outcomes = [await _offers(client, both_replicas.graphql_url, _user(n)) for n in range(40)]
    assert all(o.ok for o in outcomes), [o.error for o in outcomes if not o.ok]
    served = Counter(o.instance for o in outcomes)
    assert set(served) == {"replica-a", "replica-b"}, served
    assert min(served.values()) >= 10, served  # round robin: about 20 each


async def test_the_cache_is_shared_between_replicas(both_replicas: Cluster) -> None:
    cluster, user = both_replicas, f"user-{STREAM_USERS + 10:06d}"
    a, b = (f"{cluster.replica(n).url}/graphql" for n in ("replica-a", "replica-b"))
    store = redis.Redis.from_url(cluster.redis_url)
    store.delete(*store.keys(f"*applicant:{user}") or ["-"])
    async with httpx.AsyncClient(timeout=10) as client:
        first = await _offers_json(client, a, user)
        assert store.keys(f"*applicant:{user}"), "replica A did not fill the shared cache"

        # Change the applicant behind the cache's back: a replica that read the database now
        # would score differently, so B answering with A's score read A's Redis entry.
        cluster.psql("UPDATE applicants SET delinquencies_24m = delinquencies_24m + 4, "
                     f"enquiries_6m = enquiries_6m + 6 WHERE user_id = '{user}'")
        hits_before = store.info("stats")["keyspace_hits"]
        from_b = await _offers_json(client, b, user)
        assert store.info("stats")["keyspace_hits"] > hits_before
        assert from_b["risk"] == first["risk"]

        # Control: without the shared entry (and past B's 1 s in-process level) B reads the
        # changed row and the score moves, so the equality above was not a coincidence.
        store.delete(*store.keys(f"*applicant:{user}"))
        await asyncio.sleep(1.2)
        fresh = await _offers_json(client, b, user)
        assert fresh["risk"]["riskScore"] < first["risk"]["riskScore"]


async def _offers_json(client: httpx.AsyncClient, url: str, user: str) -> dict:
    response = await client.post(url, json={"query": OFFERS, "variables": {"u": user}})
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body["data"]["loanOffers"]


async def test_websocket_upgrade_is_proxied(both_replicas: Cluster) -> None:
    url = both_replicas.graphql_url.replace("http://", "ws://")
    async with websockets.connect(url, subprotocols=["graphql-transport-ws"],
                                  open_timeout=5) as ws:
        assert ws.subprotocol == "graphql-transport-ws"
        assert ws.response.headers["x-instance-id"] in {"replica-a", "replica-b"}
        await ws.send(json.dumps({"type": "connection_init"}))
        ack = json.loads(await asyncio.wait_for(ws.recv(), 5))
    assert ack["type"] == "connection_ack"


async def test_a_replica_stopped_during_a_stream_fails_no_query(both_replicas: Cluster) -> None:
    """SIGTERM (what Kubernetes and systemd send): the replica stops accepting and drains; nginx
    sends new requests to the other. Then it restarts and nginx uses it again."""
    cluster = both_replicas
    async with httpx.AsyncClient(timeout=15) as client:
        stream = asyncio.create_task(_stream(client, cluster.graphql_url, seconds=5.0))
        await asyncio.sleep(1.0)
        await asyncio.to_thread(cluster.stop_replica, "replica-b", signal.SIGTERM)
        stopped_at = time.monotonic()
        outcomes = await stream

        failed = [o.error for o in outcomes if not o.ok]
        assert not failed, failed
        assert _retried_by_nginx(cluster) > 0  # some reached the stopped one and were re-sent
        before = Counter(o.instance for o in outcomes if o.ended < stopped_at - 0.5)
        after = Counter(o.instance for o in outcomes if o.started > stopped_at)
        assert before["replica-b"] > 0 and before["replica-a"] > 0, before
        assert set(after) == {"replica-a"} and after["replica-a"] >= 5, after

        await asyncio.to_thread(cluster.start_replica, "replica-b")
        await _until_served_by(client, cluster, "replica-b")


async def test_a_replica_crashing_fails_only_the_queries_it_was_running(
        both_replicas: Cluster) -> None:
    """SIGKILL: queries in flight on the dying replica may fail (nginx must not re-send a POST
    that may have committed); every query sent after it died succeeds on the other."""
    cluster = both_replicas
    victim = cluster.replica("replica-b")
    async with httpx.AsyncClient(timeout=15) as client:
        stream = asyncio.create_task(_stream(client, cluster.graphql_url, seconds=4.0))
        await asyncio.sleep(1.0)
        await asyncio.to_thread(cluster.stop_replica, "replica-b", signal.SIGKILL)
        dead_at = time.monotonic()
        outcomes = await stream

        late_failures = [o for o in outcomes if not o.ok and o.started > dead_at + 0.2]
        assert not late_failures, [o.error for o in late_failures]
        early_failures = [o for o in outcomes if not o.ok]
        assert len(early_failures) <= STREAM_CONCURRENCY
        # Killed mid-answer: nginx's 502 when the replica had sent nothing yet, or the answer cut
        # short when its headers had already gone out (nginx then closes the client connection).
        assert all(o.status == 502 or _cut_short(o) for o in early_failures), \
            [o.error for o in early_failures]
        assert sum(1 for o in outcomes if o.ok and o.started > dead_at) >= 5
        assert victim.pid is None

        await asyncio.to_thread(cluster.start_replica, "replica-b")
        await _until_served_by(client, cluster, "replica-b")


def _retried_by_nginx(cluster: Cluster) -> int:
    """Requests nginx sent to a second replica and answered 200 (its access log lists every
    upstream it tried: ``upstream=127.0.0.1:A, 127.0.0.1:B ustatus=502, 200``)."""
    log = (cluster.logs / "nginx-access.log").read_text()
    return len(re.findall(r'" 200 .* upstream=\S+, \S+ ', log))


async def test_a_subscriber_on_one_replica_receives_events_caused_on_the_other(
        both_replicas: Cluster) -> None:
    """Subscribed on A, offers generated and accepted on B: A's subscriber sees both events
    (through Redis pub/sub)."""
    cluster, user = both_replicas, f"user-{STREAM_USERS + 20:06d}"  # approved by the default policy
    a_ws = f"{cluster.replica('replica-a').url.replace('http://', 'ws://')}/graphql"
    b_http = f"{cluster.replica('replica-b').url}/graphql"
    async with websockets.connect(a_ws, subprotocols=["graphql-transport-ws"],
                                  open_timeout=5) as ws, httpx.AsyncClient(timeout=10) as client:
        assert ws.response.headers["x-instance-id"] == "replica-a"
        await ws.send(json.dumps({"type": "connection_init"}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "connection_ack"
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {
            "query": "subscription($u: ID!) { offerUpdates(userId: $u) "
                     "{ type offer { offerId status } } }", "variables": {"u": user}}}))
        await asyncio.sleep(0.5)  # the subscription is registered before the events happen

        offers = await _offers_json(client, b_http, user)
        offer_id = offers["offers"][0]["offerId"]
        accepted = await client.post(b_http, json={
            "query": "mutation($o: ID!) { acceptOffer(offerId: $o, idempotencyKey: \"k-cluster-1\") "
                     "{ offer { offerId status } } }", "variables": {"o": offer_id}})
        assert accepted.headers["x-instance-id"] == "replica-b"
        assert "errors" not in accepted.json(), accepted.text

        seen: list[tuple[str, str]] = []
        deadline = time.monotonic() + 5
        while ("ACCEPTED", offer_id) not in seen and time.monotonic() < deadline:
            message = json.loads(await asyncio.wait_for(ws.recv(), deadline - time.monotonic()))
            assert message["type"] == "next", message
            update = message["payload"]["data"]["offerUpdates"]
            seen.append((update["type"], update["offer"]["offerId"]))
    assert ("GENERATED", offer_id) in seen
    assert ("ACCEPTED", offer_id) in seen


async def test_replicas_run_as_a_role_that_cannot_change_the_schema(both_replicas: Cluster) -> None:
    """The replicas serve (every other test here) as ``loan_offers_app``, which may not create or
    drop tables: only the migration role can."""
    import asyncpg

    dsn = both_replicas.database_url.replace("postgresql+asyncpg://", "postgresql://")
    connection = await asyncpg.connect(dsn)
    try:
        assert await connection.fetchval("SELECT current_user") == "loan_offers_app"
        assert await connection.fetchval("SELECT count(*) FROM applicants") == SEEDED
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await connection.execute("CREATE TABLE intruder (id int)")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await connection.execute("DROP TABLE applicants")
    finally:
        await connection.close()
