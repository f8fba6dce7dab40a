"""RedisHistoryCache with a real Redis: entries kept until the next write for their user, never a
stale fill whatever the interleaving, seen at once by another process (another client), expiry
when the aggregate changes by itself, failing open."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import redis
from redis.asyncio import Redis

from adapters.cache.history_cache import EPOCH_KEY, InProcessHistoryCache, RedisHistoryCache
from application.ports import HistorySnapshot
from domain.behavior.history import OfferHistorySummary
from tests.servers import RedisServer

NOW = datetime(2026, 1, 5, 10, tzinfo=UTC)
OLD = HistorySnapshot(OfferHistorySummary(offers_seen=3, answers=1), None)
NEW = HistorySnapshot(OfferHistorySummary(offers_seen=3, answers=1, accepted=1,
                                          last_accepted_at=NOW), None)
USER = "user-000001"


@pytest.fixture
async def clients(redis_url: str) -> AsyncIterator[tuple[Redis, Redis]]:
    one, two = Redis.from_url(redis_url), Redis.from_url(redis_url)
    yield one, two
    await one.aclose()
    await two.aclose()


@pytest.fixture
def raw(redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_url)


def caches(clients: tuple[Redis, Redis]) -> tuple[RedisHistoryCache, RedisHistoryCache]:
    """Two processes' caches: separate clients, nothing shared but Redis."""
    return RedisHistoryCache(clients[0], 300), RedisHistoryCache(clients[1], 300)


async def test_a_fill_is_read_back_by_another_process(clients) -> None:
    a, b = caches(clients)
    assert (await a.read(USER))[0] is None
    _, token = await a.read(USER)
    await a.fill(USER, OLD, token, NOW)
    assert (await b.read(USER))[0] == OLD.summary
    assert (b.hits, a.misses) == (1, 2)


async def test_an_invalidation_on_one_process_is_seen_by_the_next_read_on_another(clients) -> None:
    a, b = caches(clients)
    _, token = await b.read(USER)
    await b.fill(USER, OLD, token, NOW)
    assert (await b.read(USER))[0] == OLD.summary
    await a.invalidate_many([USER])           # e.g. an acceptance answered by process A
    assert (await b.read(USER))[0] is None    # no in-process copy, no wait for a broadcast


async def test_a_fill_started_before_a_write_is_refused(clients) -> None:
    """The race a plain cache-aside loses: read the database, a write commits and invalidates,
    then the stale value is stored. The token taken before the read refuses it."""
    a, b = caches(clients)
    _, token = await a.read(USER)             # A misses and goes to the database (sees OLD)
    await b.invalidate_many([USER])           # meanwhile B commits an acceptance
    await a.fill(USER, OLD, token, NOW)       # A's stale value must not be stored
    assert (await a.read(USER))[0] is None and a.refused == 1


async def test_written_makes_the_writers_aggregate_current_and_older_tokens_stale(clients) -> None:
    a, b = caches(clients)
    _, old_token = await b.read(USER)
    await b.fill(USER, OLD, old_token, NOW)
    _, token = await a.read(USER)
    await a.written([(USER, NEW, token)], NOW)   # after A's commit: A's transaction's view
    assert (await b.read(USER))[0] == NEW.summary
    await b.fill(USER, OLD, old_token, NOW)      # a fill from before A's write: refused
    assert (await b.read(USER))[0] == NEW.summary


async def test_written_with_a_stale_token_drops_the_entry(clients) -> None:
    """Another write committed after this writer's read: its aggregate may lack it."""
    a, b = caches(clients)
    _, token = await a.read(USER)
    await b.written([(USER, OLD, (await b.read(USER))[1])], NOW)
    await a.written([(USER, NEW, token)], NOW)
    assert (await a.read(USER))[0] is None


async def test_written_is_one_round_trip_and_survives_a_script_flush(clients, raw) -> None:
    """The writers' pipeline runs the script by its hash without asking ``SCRIPT EXISTS``
    first; when Redis forgot it (restart, ``SCRIPT FLUSH``) the calls it refused run again."""
    a, b = caches(clients)
    users = [USER, "user-000002"]
    tokens = [(await a.read(u))[1] for u in users]
    before = raw.info("commandstats")
    await a.written([(u, NEW, t) for u, t in zip(users, tokens, strict=True)], NOW)
    after = raw.info("commandstats")
    assert "cmdstat_script|exists" not in after or (
        after["cmdstat_script|exists"] == before.get("cmdstat_script|exists"))
    assert [(await b.read(u))[0] for u in users] == [NEW.summary, NEW.summary]

    raw.script_flush()
    tokens = [(await a.read(u))[1] for u in users]
    await a.written([(u, OLD, t) for u, t in zip(users, tokens, strict=True)], NOW)
    assert [(await b.read(u))[0] for u in users] == [OLD.summary, OLD.summary]
    assert raw.get(RedisHistoryCache.generation_key(USER)) == b"2"  # each bumped exactly once
    assert a.errors == 0


async def test_invalidate_all_bumps_the_epoch(clients, raw: redis.Redis) -> None:
    a, b = caches(clients)
    _, token = await a.read(USER)
    await a.fill(USER, OLD, token, NOW)
    await b.invalidate_all()                     # a new policy, published on B
    assert (await a.read(USER))[0] is None
    await a.fill(USER, OLD, token, NOW)          # computed before the policy: refused
    assert (await a.read(USER))[0] is None
    assert raw.get(EPOCH_KEY) == b"1"


async def test_an_entry_expires_when_the_aggregate_changes_by_itself(clients, raw) -> None:
    a, _ = caches(clients)
    lapses = HistorySnapshot(OLD.summary, NOW + timedelta(seconds=30))
    await a.invalidate_many([USER])  # the user has a generation (a write happened)
    _, token = await a.read(USER)
    await a.fill(USER, lapses, token, NOW)
    assert 25_000 < raw.pttl(RedisHistoryCache.entry_key(USER)) <= 30_000
    _, token = await a.read("user-000002")
    await a.fill("user-000002", HistorySnapshot(OLD.summary, NOW), token, NOW)  # due: not kept
    assert (await a.read("user-000002"))[0] is None
    assert raw.pttl(RedisHistoryCache.generation_key(USER)) > 300_000  # outlives its entries


async def test_redis_down_fails_open(redis_url: str, redis_server: RedisServer) -> None:
    client = Redis.from_url(redis_url, socket_timeout=0.5, socket_connect_timeout=0.5)
    cache = RedisHistoryCache(client, 300, retry_after=60)
    try:
        redis_server.stop()
        assert await cache.read(USER) == (None, None)   # an error: a miss without a token
        await cache.fill(USER, OLD, ("0", "0"), NOW)    # skipped: Redis failed just now
        await cache.invalidate_many([USER])             # invalidations always try,
        await cache.written([(USER, OLD, None)], NOW)   # and so do writers (they invalidate)
        assert cache.errors == 3
    finally:
        redis_server.start()
        await client.aclose()


async def test_the_in_process_cache_keeps_the_same_contract() -> None:
    cache = InProcessHistoryCache(300)
    _, token = await cache.read(USER)
    await cache.invalidate_many([USER])
    await cache.fill(USER, OLD, token, NOW)
    assert (await cache.read(USER))[0] is None
    _, token = await cache.read(USER)
    await cache.written([(USER, NEW, token)], NOW)
    assert (await cache.read(USER))[0] == NEW.summary
    await cache.invalidate_all()
    assert (await cache.read(USER))[0] is None
