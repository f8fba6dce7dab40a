"""Moving-window rate budgets on real Redis (shared by replicas) and in memory (fallback)."""

from __future__ import annotations

import uuid

from adapters.ratelimit.limits_limiter import LimitsRateLimiter


def key() -> str:
    return f"user-{uuid.uuid4().hex[:8]}"


async def test_memory_budget_refuses_once_spent_with_a_retry_after() -> None:
    limiter = LimitsRateLimiter("10/minute", "2/minute")
    caller, other = key(), key()
    for _ in range(3):
        assert (await limiter.charge(caller, 3, 0)).allowed
    refused = await limiter.charge(caller, 3, 0)
    assert not refused.allowed and 1 <= refused.retry_after_s <= 60
    assert (await limiter.charge(caller, 1, 0)).allowed          # exactly what is left
    assert (await limiter.charge(other, 3, 0)).allowed           # budgets are per caller


async def test_mutations_have_their_own_smaller_budget() -> None:
    limiter = LimitsRateLimiter("100/minute", "2/minute")
    caller = key()
    assert (await limiter.charge(caller, 1, 1)).allowed
    assert (await limiter.charge(caller, 1, 1)).allowed
    assert not (await limiter.charge(caller, 1, 1)).allowed
    assert (await limiter.charge(caller, 1, 0)).allowed          # queries still run


async def test_an_operation_costlier_than_the_budget_still_runs_on_a_fresh_budget() -> None:
    limiter = LimitsRateLimiter("5/minute", "1/minute")
    assert (await limiter.charge(key(), 50, 0)).allowed


async def test_replicas_sharing_redis_share_the_budget(redis_url: str) -> None:
    replica_a = LimitsRateLimiter("6/minute", "2/minute", redis_url)
    replica_b = LimitsRateLimiter("6/minute", "2/minute", redis_url)
    caller = key()
    assert (await replica_a.charge(caller, 4, 0)).allowed
    assert (await replica_b.charge(caller, 2, 0)).allowed
    refused = await replica_a.charge(caller, 1, 0)
    assert not refused.allowed and refused.retry_after_s >= 1
    assert replica_a.using_shared and replica_a.fallbacks == 0


async def test_redis_outage_falls_back_to_memory_and_recovers(redis_server) -> None:
    limiter = LimitsRateLimiter("3/minute", "1/minute", redis_server.url, timeout_s=0.2,
                                retry_after_s=0.0)
    caller = key()
    assert (await limiter.charge(caller, 1, 0)).allowed
    redis_server.stop()
    try:
        for _ in range(3):                                        # never raises
            assert (await limiter.charge(caller, 1, 0)).allowed
        assert not (await limiter.charge(caller, 1, 0)).allowed   # memory still enforces
        assert limiter.fallbacks >= 1
    finally:
        redis_server.start()
    fresh = key()
    assert (await limiter.charge(fresh, 3, 0)).allowed            # back on Redis
    assert not (await limiter.charge(fresh, 1, 0)).allowed
