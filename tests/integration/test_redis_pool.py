"""The request path's Redis pool (``adapters/redis_pool.py``, ``config/redis_clients.py``) on a
real Redis: commands wait at the cap instead of failing, a warm pool opens no connection under
load, and a worker's first wave of requests on a busy event loop does not knock the rate
limiter over to memory."""

from __future__ import annotations

import asyncio
import time

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from adapters.redis_pool import WaitingConnectionPool, warm
from config.container import build_container, shutdown
from config.redis_clients import pool_size, warm_pool
from config.settings import Settings

pytestmark = pytest.mark.services


class ConnectionCount:
    """Connections Redis accepted since it was made (``INFO stats``), over one connection of
    its own (made first, so not counted)."""

    def __init__(self, redis_url: str) -> None:
        import redis

        self._client = redis.Redis.from_url(redis_url)
        self._start = self._total()

    def _total(self) -> int:
        return int(self._client.info("stats")["total_connections_received"])

    def new(self) -> int:
        return self._total() - self._start


def burn(seconds: float) -> None:
    """CPU work on the event loop's thread, as a request's pricing and serialising do."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


async def answer(container, i: int) -> None:
    """A ``loanOffers`` answer's Redis work on the request path: the rate limit's charge and
    the combined cache read."""
    await container.rate_limiter().charge(f"caller-{i % 50}", 10, 0)
    await container.applicant_history_cache().read(f"user-{i % 200:06d}")


def settings(redis_url: str, **overrides) -> Settings:
    return Settings(redis_url=redis_url, rate_limit_enabled=True, cache_l1_ttl_s=0,
                    **overrides)


async def test_the_pool_follows_the_admission_bound(redis_url: str) -> None:
    assert pool_size(Settings(max_in_flight=64, write_batch_in_flight=2)) == 74
    assert pool_size(Settings(max_in_flight=300)) == 310          # > redis-py's 100
    assert pool_size(Settings(max_in_flight=0)) == 100            # admission off: waits beyond
    assert pool_size(Settings(max_in_flight=64, redis_max_connections=20)) == 20
    container = build_container(settings(redis_url, max_in_flight=300))
    try:
        pool = container.redis_pool()
        assert pool.max_connections == 310
        assert container.l2_cache().client.connection_pool is pool  # one pool for all three
        assert container.history_cache().client.connection_pool is pool
        limiter_client = container.rate_limiter()._shared.storage.bridge.storage
        assert limiter_client.connection_pool is pool
    finally:
        await shutdown(container)


async def test_admission_off_many_concurrent_answers_never_see_too_many_connections(
        redis_url: str) -> None:
    """With ``max_in_flight`` 0 a worker may run hundreds of requests at once; redis-py's pool
    (capped at 100) failed the excess with "Too many connections": cache errors, and the rate
    limiter counting in memory. Now they wait for a connection."""
    config = settings(redis_url, max_in_flight=0)
    container = build_container(config)
    try:
        await warm_pool(container.redis_pool(), config)  # as the lifespan does
        await asyncio.gather(*(answer(container, i) for i in range(400)))
        assert container.rate_limiter().fallbacks == 0
        assert container.applicant_cache().stats.errors == 0
        assert container.redis_pool().waits > 0  # the cap was reached, and waited at
    finally:
        await shutdown(container)


async def test_at_the_cap_a_command_waits_for_a_released_connection(redis_url: str) -> None:
    pool = WaitingConnectionPool.from_url(redis_url, max_connections=2, wait_timeout=5.0)
    client = Redis(connection_pool=pool)
    try:
        results = await asyncio.gather(*(client.incr("n") for _ in range(50)))
        assert sorted(results) == list(range(1, 51))
        assert pool.size <= 2
    finally:
        await client.aclose()
        await pool.aclose()


async def test_waiting_gives_up_after_the_timeout(redis_url: str) -> None:
    pool = WaitingConnectionPool.from_url(redis_url, max_connections=1, wait_timeout=0.05)
    held = await pool.get_connection()
    try:
        started = time.monotonic()
        with pytest.raises(RedisConnectionError, match="No Redis connection available"):
            await pool.get_connection()
        assert 0.04 <= time.monotonic() - started < 1.0
    finally:
        await pool.release(held)
    again = await pool.get_connection()  # the waiter left no trace behind
    await pool.release(again)
    await pool.aclose()


async def test_a_waiter_woken_as_it_times_out_hands_the_connection_on(redis_url: str) -> None:
    """The released connection's wake-up reaches a waiter whose timeout fires in the same
    pass of the loop: it gives up, and the next waiter must get the connection at once rather
    than at the next release (or its own timeout)."""
    pool = WaitingConnectionPool.from_url(redis_url, max_connections=1, wait_timeout=5.0)
    held = await pool.get_connection()
    pool.wait_timeout = 0.05
    impatient = asyncio.ensure_future(pool.get_connection())
    await asyncio.sleep(0)
    pool.wait_timeout = 5.0
    patient = asyncio.ensure_future(pool.get_connection())
    await asyncio.sleep(0.01)
    burn(0.1)                    # the impatient waiter's deadline passes meanwhile
    await asyncio.sleep(0)       # its timeout is due in this pass, after this task's step
    await pool.release(held)     # wakes the impatient waiter; the timeout then cancels it
    with pytest.raises(RedisConnectionError):
        await impatient
    connection = await asyncio.wait_for(patient, 1.0)
    await pool.release(connection)
    await pool.aclose()


async def test_warm_opens_the_connections_once(redis_url: str) -> None:
    pool = WaitingConnectionPool.from_url(redis_url, max_connections=40)
    try:
        count = ConnectionCount(redis_url)
        assert await warm(pool, 40) == 40
        assert pool.size == 40 and pool.connects == 40
        assert count.new() == 40
    finally:
        await pool.aclose()


async def test_warm_without_redis_gives_up_quietly() -> None:
    pool = WaitingConnectionPool.from_url("redis://127.0.0.1:1/0", max_connections=8,
                                          socket_connect_timeout=0.2)
    assert await warm(pool, 8) == 0
    await pool.aclose()


async def test_steady_load_on_a_warm_worker_opens_no_connection(redis_url: str) -> None:
    """The worker's lifespan warms the pool; from its first request on, the answers' Redis work
    (64 in flight, as admitted) reuses those connections: Redis sees no new one."""
    config = settings(redis_url, max_in_flight=64)
    container = build_container(config)
    try:
        await warm_pool(container.redis_pool(), config)
        count = ConnectionCount(redis_url)
        slots = asyncio.Semaphore(config.max_in_flight)

        async def admitted(i: int) -> None:
            async with slots:
                await answer(container, i)

        for _ in range(3):
            await asyncio.gather(*(admitted(i) for i in range(500)))
        assert count.new() == 0
        assert container.rate_limiter().fallbacks == 0
    finally:
        await shutdown(container)


async def test_first_requests_on_a_busy_loop_keep_the_rate_limiter_on_redis(
        redis_url: str) -> None:
    """A worker's first wave: 64 requests at once, each with a few milliseconds of CPU work.
    On a cold pool each opens a connection while the others hold the loop, the 0.25 s connect
    timeout fires, and the limiter counts in memory for 5 s. The lifespan's warm-up opens them
    before any request."""
    config = settings(redis_url, max_in_flight=64)
    container = build_container(config)
    try:
        await warm_pool(container.redis_pool(), config)

        async def request(i: int) -> None:
            burn(0.008)
            await container.rate_limiter().charge(f"caller-{i}", 10, 0)

        await asyncio.gather(*(request(i) for i in range(64)))
        assert container.rate_limiter().fallbacks == 0
    finally:
        await shutdown(container)


async def test_an_invalidation_against_a_silent_redis_gives_up_at_the_pools_timeouts() -> None:
    """A Redis that accepts connections and never answers (black-holed): the invalidation's
    broadcast went over the subscription's client, without a read timeout, and held the
    request (an accept, an upsert) for 5 s; it now publishes on the pool (0.25 s)."""
    async def silent(_reader: asyncio.StreamReader, _writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(60)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    container = build_container(Settings(redis_url=f"redis://127.0.0.1:{port}/0"))
    try:
        started = time.monotonic()
        await container.applicant_cache().invalidate("user-000001")  # fails open
        assert time.monotonic() - started < 2.0
    finally:
        server.close()
        await shutdown(container)


async def test_after_a_redis_restart_no_command_fails_on_a_connection_pooled_before(
        redis_server) -> None:
    """A restart closes every connection the pool holds. Each must be replaced as it is taken
    (redis-py 8.1 skips that check while maintenance notifications are on, its default: then
    each stale connection failed one command, and each failure sent the rate limiter to memory
    and the cache past Redis)."""
    config = settings(redis_server.url, max_in_flight=32)
    container = build_container(config)
    try:
        pool = container.redis_pool()
        await warm_pool(pool, config)
        await asyncio.gather(*(answer(container, i) for i in range(64)))
        pooled = pool.size
        stats, limiter = container.cache_stats(), container.rate_limiter()
        errors, fallbacks = stats.errors, limiter.fallbacks

        await asyncio.to_thread(redis_server.restart)  # the event loop sees the sockets close

        await asyncio.gather(*(answer(container, i) for i in range(64)))
        probes = await asyncio.gather(*(container.applicant_cache().health()
                                        for _ in range(pooled)))
        assert (stats.errors - errors, limiter.fallbacks - fallbacks) == (0, 0)
        assert set(probes) == {"ok"}
    finally:
        await shutdown(container)
