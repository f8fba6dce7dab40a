"""The worker's Redis clients on the request path: one pool shared by the rate limiter and the
caches, sized from the admission bound, and warmed before the worker serves.

Why one pool: a request uses these clients one after the other (the rate limit's charge, then
the combined cache read), never at once, so ``max_in_flight`` requests need ``max_in_flight``
connections in all, not that many per client (two pools of 64 before, 128 connections a
worker). Cache-invalidation broadcasts are published on it too (short timeouts: they are on
the request path). The pub/sub listeners keep their own connections (they block without a read
timeout), and so does the offer-event publisher (one background task, a longer timeout).
"""

from __future__ import annotations

from typing import Any

from redis.asyncio.connection import parse_url

from adapters.cache.applicant_cache import REDIS_NAMESPACE
from adapters.redis_pool import WaitingConnectionPool, warm
from config.settings import Settings

#: Connections beyond the requests' own: readiness probes, invalidations, the cache's SCAN.
HEADROOM = 8
#: The size with admission off (redis-py's own default cap): beyond it commands wait.
UNBOUNDED_ADMISSION_SIZE = 100


def pool_size(settings: Settings) -> int:
    """``redis_max_connections``, else one connection per admitted request plus the offer-set
    writers' (each in-flight group stores its users' history aggregates) plus headroom."""
    if settings.redis_max_connections:
        return settings.redis_max_connections
    if settings.max_in_flight == 0:
        return UNBOUNDED_ADMISSION_SIZE
    return settings.max_in_flight + settings.write_batch_in_flight + HEADROOM


def shared_pool(settings: Settings) -> WaitingConnectionPool | None:
    """The request path's pool (``None`` without ``redis_url``). redis-py's URL parsing, as
    for the other clients: ``rediss://`` is TLS, and query parameters such as
    ``ssl_ca_certs`` reach the connections. Bytes replies (aiocache and the history cache
    decode themselves)."""
    if settings.redis_url is None:
        return None
    return WaitingConnectionPool.from_url(
        settings.redis_url, max_connections=pool_size(settings),
        wait_timeout=settings.redis_pool_timeout_s,
        socket_timeout=settings.cache_timeout_s,
        socket_connect_timeout=settings.cache_timeout_s)


def redis_cache(settings: Settings, pool: WaitingConnectionPool | None = None) -> Any:
    """The applicant cache's Redis level (aiocache ``RedisCache``) on ``pool`` (a pool of its
    own when none is given: tests and benchmarks that build the cache alone)."""
    if settings.redis_url is None:
        return None
    from aiocache import RedisCache
    from aiocache.serializers import StringSerializer

    pool = pool or shared_pool(settings)
    options: dict[str, Any] = parse_url(settings.redis_url)
    return RedisCache(
        endpoint=options.get("host", "127.0.0.1"), port=options.get("port", 6379),
        timeout=settings.cache_timeout_s, namespace=REDIS_NAMESPACE,
        # The adapter writes JSON text; the default JsonSerializer would encode it twice.
        serializer=StringSerializer(),
        # aiocache builds its client on the pool this returns: the shared one.
        connection_pool_class=lambda **_ignored: pool,
    )


async def warm_pool(pool: WaitingConnectionPool | None, settings: Settings) -> int:
    """Open the connections the first wave of requests will use (``max_in_flight`` of them, or
    the whole pool with admission off) before the worker accepts any."""
    if pool is None:
        return 0
    wanted = settings.max_in_flight or pool.max_connections
    return await warm(pool, min(wanted, pool.max_connections))
