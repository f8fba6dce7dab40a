"""Moving-window rate budgets with the ``limits`` library: Redis shared by every replica, or
per-process memory when Redis is not configured or not answering.

Two budgets per caller key: operations (charged the operation's cost units) and mutations (one
unit per mutation field). A Redis failure never fails a request: the charge falls back to the
process's own memory budget (each replica then enforces the full budget on its own share of the
traffic, more lenient but still bounded) and Redis is tried again after ``retry_after_s``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from redis.asyncio import ConnectionPool

from adapters.redis_pool import NO_MAINTENANCE_NOTIFICATIONS
from application.security import RateDecision

log = logging.getLogger("loan_offers.ratelimit")

OPERATIONS, MUTATIONS = "operations", "mutations"


def limits_redis_uri(redis_url: str) -> str:
    """``redis://`` / ``rediss://`` (TLS) as the ``limits`` async scheme."""
    return redis_url if redis_url.startswith("async+") else f"async+{redis_url}"


class LimitsRateLimiter:
    def __init__(self, operations: str, mutations: str, redis_url: str | None = None,
                 timeout_s: float = 0.25, retry_after_s: float = 5.0,
                 clock: Callable[[], float] = time.monotonic,
                 connection_pool: ConnectionPool | None = None) -> None:
        """``connection_pool``: a redis-py asyncio pool to run on (the worker's shared one,
        warmed before serving, its timeouts its own); without one ``limits`` builds a client
        and pool of its own from ``redis_url`` with ``timeout_s``."""
        self._operations: RateLimitItem = parse(operations)
        self._mutations: RateLimitItem = parse(mutations)
        self._memory = MovingWindowRateLimiter(MemoryStorage())
        self._shared = None
        if redis_url:
            options: dict[str, Any] = (
                {"connection_pool": connection_pool} if connection_pool is not None
                else {"socket_timeout": timeout_s, "socket_connect_timeout": timeout_s,
                      "maint_notifications_config": NO_MAINTENANCE_NOTIFICATIONS})
            storage = RedisStorage(limits_redis_uri(redis_url), implementation="redispy",
                                   wrap_exceptions=True, key_prefix="loan-offers:rl", **options)
            self._shared = MovingWindowRateLimiter(storage)
        self._retry_after_s = retry_after_s
        self._clock = clock
        self._shared_down_until = float("-inf")
        self.fallbacks = 0

    @property
    def using_shared(self) -> bool:
        return self._shared is not None and self._clock() >= self._shared_down_until

    async def charge(self, key: str, cost: int, mutations: int) -> RateDecision:
        if self.using_shared:
            try:
                return await self._charge(self._shared, key, cost, mutations)
            except Exception as exc:  # any backend failure: fall back, never fail the request
                self.fallbacks += 1
                self._shared_down_until = self._clock() + self._retry_after_s
                log.warning("rate limits: Redis unavailable (%r); counting in memory for %.0f s",
                            exc.__cause__ or exc, self._retry_after_s)
        return await self._charge(self._memory, key, cost, mutations)

    async def _charge(self, limiter: MovingWindowRateLimiter, key: str, cost: int,
                      mutations: int) -> RateDecision:
        cost = max(1, min(cost, self._operations.amount))
        if mutations:
            mutations = min(mutations, self._mutations.amount)
            if not await limiter.test(self._mutations, key, MUTATIONS, cost=mutations):
                return await self._refused(limiter, self._mutations, key, MUTATIONS)
        if not await limiter.hit(self._operations, key, OPERATIONS, cost=cost):
            return await self._refused(limiter, self._operations, key, OPERATIONS)
        if mutations and not await limiter.hit(self._mutations, key, MUTATIONS, cost=mutations):
            return await self._refused(limiter, self._mutations, key, MUTATIONS)
        return RateDecision(True)

    async def _refused(self, limiter: MovingWindowRateLimiter, item: RateLimitItem, key: str,
                       budget: str) -> RateDecision:
        stats = await limiter.get_window_stats(item, key, budget)
        wait = max(1, math.ceil(stats.reset_time - time.time()))
        return RateDecision(False, retry_after_s=min(wait, item.get_expiry()), remaining=0)
