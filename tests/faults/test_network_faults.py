"""The fault proxy between the service and its dependencies: slow, dropped and reset
connections degrade latency (or give typed, retryable errors), never correctness; and a
graceful shutdown drains in-flight requests and closes WebSockets cleanly."""

from __future__ import annotations

import asyncio
import json
import signal

import httpx
import websockets

from tests.faults.conftest import CLIENT_TIMEOUT_S, OFFER, Stack, Stream, post, stream
from tests.faults.test_dependency_outages import check_nothing_lost, stored_offer_ids

FIELDS = ("offerId", "rank", "amount", "tenure", "roi", "apr", "emi", "processingFee")


async def read_back(url: str, result: Stream) -> list[tuple[dict, dict | None]]:
    """Every offer of every successful answer, next to what ``offer(offerId)`` returns now."""
    pairs = []
    reads = Stream()
    async with httpx.AsyncClient(base_url=url, timeout=CLIENT_TIMEOUT_S) as client:
        for outcome in result.outcomes:
            if not outcome.ok or "loanOffers" not in outcome.body:
                continue
            for offer in outcome.body["loanOffers"]["offers"]:
                read = await post(client, reads, OFFER, {"id": offer["offerId"]})
                pairs.append((offer, read.body["offer"] if read.ok else None))
    return pairs


async def test_slow_dependencies_degrade_latency_not_correctness(stack: Stack,
                                                                 record_property) -> None:
    url = stack.server.url
    baseline = await stream(url, duration_s=3, users=20)
    with stack.redis_proxy.faults(latency_s=0.05), stack.pg_proxy.faults(latency_s=0.02):
        slow = await stream(url, duration_s=4, users=20)
        pairs = await read_back(url, slow)
    # Redis slower than the cache timeout (0.25 s): the cache gives up, the database answers.
    with stack.redis_proxy.faults(latency_s=0.4):
        slower_than_cache_timeout = await stream(url, duration_s=3, users=20)
    for name, result in (("no faults", baseline), ("Redis +50 ms, PostgreSQL +20 ms", slow),
                         ("Redis +400 ms (past the cache timeout)", slower_than_cache_timeout)):
        print(f"\n{name}: {result.summary()}")
        record_property(name, result.summary())
    for result in (baseline, slow, slower_than_cache_timeout):
        assert result.outcomes and result.failed == [], result.summary()
    assert pairs
    for generated, read in pairs:
        assert read is not None and {k: read[k] for k in FIELDS} == {
            k: generated[k] for k in FIELDS}


async def test_dropped_and_reset_connections(stack: Stack, record_property) -> None:
    url = stack.server.url

    async def black_hole_redis(s: Stream) -> None:
        await asyncio.sleep(1)
        stack.redis_proxy.drop = True
        stack.redis_proxy.reset()  # pooled connections go too: new ones lead nowhere
        await asyncio.sleep(3)
        stack.redis_proxy.heal()

    redis_dropped = await stream(url, duration_s=6, users=20, during=black_hole_redis)

    async def reset_and_drop_postgres(s: Stream) -> None:
        for _ in range(3):
            await asyncio.sleep(1)
            stack.pg_proxy.reset()
        await asyncio.sleep(1)
        stack.pg_proxy.drop = True  # a black hole: only the timeouts end the wait
        # Longer than the client-side backstop (statement timeout 2 s + 1 s slack): a black hole
        # never reaches the server, so only that backstop can end a statement's wait.
        await asyncio.sleep(4.0)
        stack.pg_proxy.heal()
        stack.pg_proxy.reset()  # connections that lived through the black hole are stale

    pg_faults = await stream(url, duration_s=14, users=20, during=reset_and_drop_postgres)
    print(f"\nRedis black hole: {redis_dropped.summary()}")
    print(f"PostgreSQL resets and black hole: {pg_faults.summary()}")
    record_property("redis_black_hole", redis_dropped.summary())
    record_property("postgres_resets_black_hole", pg_faults.summary())

    assert redis_dropped.outcomes and redis_dropped.failed == [], redis_dropped.summary()
    assert pg_faults.failed, "no fault was seen: the test proves nothing"
    for outcome in pg_faults.failed:
        assert outcome.status == 200 and set(outcome.codes) == {"UNAVAILABLE"}, outcome
        assert outcome.latency < CLIENT_TIMEOUT_S
    assert pg_faults.outcomes[-1].ok  # serving again at the end, without a restart
    await check_nothing_lost(stack, pg_faults)


async def test_graceful_shutdown_drains_requests_and_closes_websockets(stack: Stack) -> None:
    server = stack.new_server(LOAN_OFFERS_SHUTDOWN_GRACE_S="8", LOAN_OFFERS_LOG_LEVEL="INFO")
    server.start()
    try:
        ws = await websockets.connect(server.url.replace("http", "ws") + "/graphql",
                                      subprotocols=["graphql-transport-ws"], open_timeout=5)
        await ws.send(json.dumps({"type": "connection_init"}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "connection_ack"
        with stack.pg_proxy.faults(latency_s=0.05):  # each database round trip +0.1 s
            async with httpx.AsyncClient(base_url=server.url, timeout=CLIENT_TIMEOUT_S) as client:
                in_flight = asyncio.create_task(post(client, Stream(), """query Offers($u: ID!) {
                    loanOffers(request: {userId: $u}) { decision offers { offerId } } }""",
                                                      {"u": "user-000123"}))
                await asyncio.sleep(0.3)
                assert not in_flight.done()  # SIGTERM arrives mid-request
                code = asyncio.create_task(asyncio.to_thread(server.stop, signal.SIGTERM))
                outcome = await in_flight
        assert outcome.ok, outcome  # drained, not cut off
        try:
            await asyncio.wait_for(ws.recv(), 10)
        except websockets.ConnectionClosed as closed:
            assert closed.rcvd is not None and closed.rcvd.code == 1012  # "service restart"
        else:
            raise AssertionError("the WebSocket was not closed by the shutdown")
        # uvicorn re-raises the SIGTERM it handled once it has shut down, so a process manager
        # sees the signal; the lifespan shutdown (pool disposed) ran before that.
        assert await code in (0, -signal.SIGTERM), server.log_tail()
        assert "Application shutdown complete" in server.log.read_text()
        ids = {o["offerId"] for o in outcome.body["loanOffers"]["offers"]}
        assert await stored_offer_ids(stack.direct_database_url, ids) == ids
    finally:
        server.close()


async def test_a_sigterm_during_an_expiry_sweep_stops_the_process_within_the_grace(
        stack: Stack) -> None:
    """The sweeper is cancelled mid-statement (every database round trip is slow, and it sweeps
    all the time). The cancellation used to come back as "database unavailable": the sweeper
    logged a failed sweep, slept and swept again, and the shutdown waited on it until killed."""
    server = stack.new_server(LOAN_OFFERS_EXPIRY_SWEEP_INTERVAL_S="0.05",
                              LOAN_OFFERS_SHUTDOWN_GRACE_S="3", LOAN_OFFERS_LOG_LEVEL="INFO")
    server.start()
    try:
        with stack.pg_proxy.faults(latency_s=0.2):
            await asyncio.sleep(1.5)  # sweeping, each statement 0.4 s or more
            code = await asyncio.to_thread(server.stop, signal.SIGTERM, 15.0)
        assert code in (0, -signal.SIGTERM), server.log_tail()
        log = server.log.read_text()
        assert "Application shutdown complete" in log
        assert "offer expiry sweep failed" not in log, server.log_tail()
    finally:
        server.close()
