"""AiocacheApplicantCache with a real Redis: keys and values, TTLs, invalidation, failing open."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import redis
from aiocache import SimpleMemoryCache

from adapters.cache.applicant_cache import AiocacheApplicantCache
from adapters.cache.history_cache import EPOCH_KEY, RedisHistoryCache
from adapters.demo.portfolio import generate_applicants
from application.ports import HistorySnapshot
from domain.behavior.history import OfferHistorySummary
from tests.pii import dev_pii
from tests.servers import RedisServer

APPLICANTS = list(generate_applicants(3))
NOW = datetime(2026, 1, 5, 10, tzinfo=UTC)
HISTORY = HistorySnapshot(OfferHistorySummary(offers_seen=10, answers=2, accepted=1, declined=1,
                                              last_accepted_at=NOW), None)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def raw(redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_url)


def two_level(l2, l1_ttl: float = 5.0, clock: Clock | None = None) -> AiocacheApplicantCache:
    return AiocacheApplicantCache(SimpleMemoryCache(), l1_ttl, l2, l2_ttl=300,
                                  retry_after=1.0, monotonic=clock or Clock(),
                                  history=RedisHistoryCache(l2.client, 300),
                                  cipher=dev_pii().cipher)


async def test_values_are_plain_json_objects_under_the_prefix(l2, raw: redis.Redis) -> None:
    cache = two_level(l2)
    a = APPLICANTS[0]
    await cache.put(a)

    assert sorted(raw.keys()) == [f"loan-offers:applicant:{a.user_id}".encode()]
    stored = json.loads(raw.get(f"loan-offers:applicant:{a.user_id}"))
    assert isinstance(stored, dict), "double-encoded: a JSON string holding JSON"
    assert stored["user_id"] == a.user_id
    assert 295 < raw.ttl(f"loan-offers:applicant:{a.user_id}") <= 300


def _personal_values(a) -> list[str]:
    p, pr = a.personal, a.protected
    return [v for v in (p.full_name, p.date_of_birth.isoformat(), p.phone, p.email, p.pan,
                        p.address, pr.religion, pr.caste) if v]


async def test_neither_level_holds_personal_data_in_plaintext(l2, raw: redis.Redis) -> None:
    cache = two_level(l2)
    a = APPLICANTS[0]
    await cache.put(a)

    stored = raw.get(f"loan-offers:applicant:{a.user_id}").decode()
    held = repr(await cache._l1.get(cache.key(a.user_id)))
    for value in _personal_values(a):
        assert value not in stored and value not in held, value
    assert json.loads(stored)["personal_sealed"].startswith("v1.dev.")
    assert await two_level(l2).get(a.user_id) == a          # and it opens again, from Redis


async def test_an_entry_moved_to_another_user_or_sealed_by_a_retired_key_is_a_miss(
        l2, raw: redis.Redis) -> None:
    from adapters.crypto.keys import generate_key_entry, parse_keyring

    a, b = APPLICANTS[0], APPLICANTS[1]
    await two_level(l2).put(a)
    raw.set(f"loan-offers:applicant:{b.user_id}", raw.get(f"loan-offers:applicant:{a.user_id}"))
    reader = two_level(l2)
    assert await reader.get(b.user_id) is None              # bound to a's user id: no swap
    assert reader.stats.errors == 1

    other_keys = AiocacheApplicantCache(SimpleMemoryCache(), 5.0, l2,
                                        cipher=parse_keyring(generate_key_entry("k2")))
    assert await other_keys.get(a.user_id) is None          # kid "dev" not in its keyring


async def test_reads_come_from_l1_then_redis_then_miss(l2) -> None:
    writer, reader = two_level(l2), two_level(l2)
    a = APPLICANTS[0]
    await writer.put(a)

    assert await reader.get(a.user_id) == a                 # another process: from Redis
    assert await reader.get(a.user_id) == a                 # now from its L1
    assert reader.stats.hits == {"l1": 1, "l2": 1}
    assert await reader.get("nobody") is None and reader.stats.misses == 1


async def test_l1_ttl_zero_turns_l1_off(l2, raw: redis.Redis) -> None:
    cache = two_level(l2, l1_ttl=0)
    a = APPLICANTS[0]
    await cache.put(a)
    raw.delete(f"loan-offers:applicant:{a.user_id}")
    assert await cache.get(a.user_id) is None  # nothing kept in-process (aiocache: 0 = forever)


async def test_invalidate_drops_a_user_on_both_levels_and_their_history(l2, raw: redis.Redis
                                                                         ) -> None:
    cache = two_level(l2)
    history = RedisHistoryCache(l2.client, 300)
    for a in APPLICANTS:
        await cache.put(a)
        await history.fill(a.user_id, HISTORY, (await history.read(a.user_id))[1], NOW)

    await cache.invalidate(APPLICANTS[0].user_id)
    assert await cache.get(APPLICANTS[0].user_id) is None
    assert (await history.read(APPLICANTS[0].user_id))[0] is None
    assert (await history.read(APPLICANTS[1].user_id))[0] == HISTORY.summary
    assert len(raw.keys("loan-offers:applicant:*")) == 2

    await cache.invalidate_many(a.user_id for a in APPLICANTS[1:])
    assert raw.keys("loan-offers:applicant:*") == raw.keys("loan-offers:history:*") == []
    assert [await cache.get(a.user_id) for a in APPLICANTS] == [None] * 3
    assert [(await history.read(a.user_id))[0] for a in APPLICANTS] == [None] * 3


async def test_invalidate_all_leaves_other_keys_alone(l2, raw: redis.Redis) -> None:
    cache = two_level(l2)
    for a in APPLICANTS:
        await cache.put(a)
    raw.set("someone-elses-key", "1")
    await cache.invalidate_all()
    # the history epoch survives (it is what makes older history entries stale)
    assert sorted(raw.keys()) == [EPOCH_KEY.encode(), b"someone-elses-key"]
    assert await cache.get(APPLICANTS[0].user_id) is None


async def test_a_foreign_value_is_a_miss(l2, raw: redis.Redis) -> None:
    cache = two_level(l2, l1_ttl=0)
    raw.set(f"loan-offers:applicant:{APPLICANTS[0].user_id}", '"{\\"double\\": 1}"')
    assert await cache.get(APPLICANTS[0].user_id) is None
    assert cache.stats.errors == 1


async def test_redis_down_fails_open_and_comes_back(l2, redis_server: RedisServer,
                                                    raw: redis.Redis) -> None:
    clock = Clock()
    cache = two_level(l2, l1_ttl=0, clock=clock)
    a = APPLICANTS[0]
    await cache.put(a)
    redis_server.stop()

    assert await cache.get(a.user_id) is None          # an error, treated as a miss
    assert cache.stats.errors == 1
    await cache.put(a)                                  # skipped: Redis failed just now
    assert await cache.get(a.user_id) is None
    assert cache.stats.skipped == 2 and cache.stats.errors == 1
    await cache.invalidate(a.user_id)                   # invalidations always try
    assert cache.stats.errors == 2

    redis_server.start()                                # a restarted, empty Redis
    assert await cache.get(a.user_id) is None           # still inside retry_after: skipped
    clock.now += 1.5
    await cache.put(a)                                  # probes, works, cache is back
    assert await cache.get(a.user_id) == a
    assert raw.exists(f"loan-offers:applicant:{a.user_id}")
    assert cache.stats.hits["l2"] == 1


# --- other processes' in-process level ---------------------------------------------------------

def with_bus(l2, redis_url: str) -> AiocacheApplicantCache:
    from redis.asyncio import Redis

    from adapters.cache.invalidation_bus import RedisInvalidationBus

    bus = RedisInvalidationBus(Redis.from_url(redis_url), retry_after=0.1)
    return AiocacheApplicantCache(SimpleMemoryCache(), 60, l2, l2_ttl=300, retry_after=0.1,
                                  bus=bus, cipher=dev_pii().cipher)


async def eventually(condition, timeout: float = 5.0) -> None:
    import asyncio

    deadline = asyncio.get_running_loop().time() + timeout
    while not await condition():
        assert asyncio.get_running_loop().time() < deadline, "condition never held"
        await asyncio.sleep(0.02)


async def test_an_invalidation_reaches_the_other_processes_l1(l2, redis_url: str) -> None:
    here, there = with_bus(l2, redis_url), with_bus(l2, redis_url)
    await here.start()
    await there.start()
    try:
        await here._bus.subscribed.wait()
        await there._bus.subscribed.wait()
        a, b = APPLICANTS[0], APPLICANTS[1]
        await here.put(a)
        await here.put(b)
        assert await there.get(a.user_id) == a and await there.get(b.user_id) == b  # in its L1
        await l2.set(here.key(a.user_id), "stale-but-unread")  # proves L1 serves the next read

        await here.invalidate(a.user_id)

        async def dropped() -> bool:
            return await there._l1.get(there.key(a.user_id)) is None

        await eventually(dropped)
        assert (await there._l1.get(there.key(b.user_id))).applicant.user_id == b.user_id  # only
        assert await there.get(b.user_id) == b                  # that user, from L1
        assert here._bus.received == 0                          # its own message is ignored

        await here.invalidate_all()

        async def all_dropped() -> bool:
            return await there._l1.get(there.key(b.user_id)) is None

        await eventually(all_dropped)
    finally:
        await here.stop()
        await there.stop()


async def test_the_listener_survives_a_redis_restart_and_clears_l1(
        l2, redis_url: str, redis_server: RedisServer) -> None:
    here, there = with_bus(l2, redis_url), with_bus(l2, redis_url)
    await there.start()
    try:
        await there._bus.subscribed.wait()
        a = APPLICANTS[0]
        await there.put(a)
        redis_server.stop()
        redis_server.start()

        async def resubscribed_and_cleared() -> bool:
            return (there._bus.subscribed.is_set()
                    and await there._l1.get(there.key(a.user_id)) is None)

        await eventually(resubscribed_and_cleared)
        await there.put(a)  # Redis is back: fills work again
        await here.invalidate(a.user_id)

        async def dropped() -> bool:
            return await there._l1.get(there.key(a.user_id)) is None

        await eventually(dropped)
    finally:
        await here.stop()
        await there.stop()
