"""The applicant and history caches read in one Redis round trip (``combined_read``) return what
the two reads one after the other return, on a real Redis: hits, misses, invalidations, sealed
entries, tokens usable for fills, and failing open."""

from __future__ import annotations

import redis
from aiocache import SimpleMemoryCache

from adapters.cache.applicant_cache import AiocacheApplicantCache
from adapters.cache.combined_read import CombinedApplicantHistoryRead
from adapters.cache.history_cache import InProcessHistoryCache, RedisHistoryCache
from application.ports import HistorySnapshot
from domain.behavior.history import OfferHistorySummary
from tests.integration.test_applicant_cache import APPLICANTS, NOW, Clock
from tests.pii import dev_pii
from tests.servers import RedisServer

HISTORY = HistorySnapshot(OfferHistorySummary(offers_seen=4, answers=2, accepted=1, declined=1,
                                              last_accepted_at=NOW), None)


class Process:
    """One server process's caches (its own L1), sharing nothing with another but Redis."""

    def __init__(self, l2, l1_ttl: float = 5.0, clock: Clock | None = None) -> None:
        clock = clock or Clock()
        self.history = RedisHistoryCache(l2.client, 300, retry_after=1.0, monotonic=clock)
        self.applicants = AiocacheApplicantCache(
            SimpleMemoryCache(), l1_ttl, l2, l2_ttl=300, retry_after=1.0, monotonic=clock,
            history=self.history, cipher=dev_pii().cipher)
        self.both = CombinedApplicantHistoryRead(self.applicants, self.history)

    async def one_after_the_other(self, user_id: str):
        return (await self.applicants.get(user_id), *(await self.history.read(user_id)))


async def fill(p: Process, user_id: str) -> None:
    await p.history.fill(user_id, HISTORY, (await p.history.read(user_id))[1], NOW)


def round_trips(raw: redis.Redis) -> dict[str, int]:
    stats = raw.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()
            if not name.startswith(("cmdstat_config", "cmdstat_info"))}


async def test_same_as_two_reads_on_hits_misses_and_invalidations(l2, redis_url: str) -> None:
    raw = redis.Redis.from_url(redis_url)
    writer = Process(l2)
    a, b = APPLICANTS[0], APPLICANTS[1]
    await writer.applicants.put(a)
    await fill(writer, a.user_id)
    await fill(writer, b.user_id)  # history only: the applicant misses, the history hits

    for user_id, expected in [(a.user_id, (a, HISTORY.summary)), (b.user_id, (None, HISTORY.summary)),
                              (APPLICANTS[2].user_id, (None, None))]:
        combined, sequential = Process(l2, l1_ttl=0), Process(l2, l1_ttl=0)
        raw.config_resetstat()
        got = await combined.both.read(user_id)
        assert round_trips(raw) == {"mget": 1}             # one round trip for both
        assert got == await sequential.one_after_the_other(user_id)
        assert got[:2] == expected and got[2] is not None  # a token even on a miss
        assert combined.applicants.stats.hits == sequential.applicants.stats.hits
        assert combined.applicants.stats.misses == sequential.applicants.stats.misses
        assert (combined.history.hits, combined.history.misses) == (
            sequential.history.hits, sequential.history.misses)

    reader = Process(l2)
    assert (await reader.both.read(a.user_id))[:2] == (a, HISTORY.summary)
    await writer.applicants.invalidate(a.user_id)      # another process: Redis entries dropped
    await reader.applicants.invalidate(a.user_id)      # (the bus drops L1; done directly here)
    got = await reader.both.read(a.user_id)
    assert got[:2] == (None, None)
    assert got == await Process(l2).one_after_the_other(a.user_id)


async def test_an_l1_hit_still_reads_the_history_from_redis(l2) -> None:
    p, other = Process(l2), Process(l2)
    a = APPLICANTS[0]
    await p.applicants.put(a)                            # now in p's L1 and in Redis
    assert (await p.both.read(a.user_id))[:2] == (a, None)
    await fill(other, a.user_id)                         # another process fills the history
    assert (await p.both.read(a.user_id))[:2] == (a, HISTORY.summary)
    assert p.applicants.stats.hits == {"l1": 2, "l2": 0}
    await other.history.invalidate_many([a.user_id])     # an accept on the other process
    assert (await p.both.read(a.user_id))[:2] == (a, None)  # seen at once


async def test_the_token_refuses_a_fill_after_a_write(l2) -> None:
    p, other = Process(l2), Process(l2)
    user = APPLICANTS[0].user_id
    _, _, token = await p.both.read(user)              # miss: p goes to the database
    await other.history.invalidate_many([user])        # meanwhile a write commits
    await p.history.fill(user, HISTORY, token, NOW)    # p's stale value is refused
    assert p.history.refused == 1
    _, _, token = await p.both.read(user)
    await p.history.fill(user, HISTORY, token, NOW)    # a current token fills
    assert (await other.both.read(user))[1] == HISTORY.summary


async def test_entries_stay_sealed_and_one_moved_to_another_user_is_a_miss(
        l2, redis_url: str) -> None:
    p = Process(l2, l1_ttl=0)
    a, b = APPLICANTS[0], APPLICANTS[1]
    await p.applicants.put(a)
    raw = redis.Redis.from_url(redis_url)
    text = raw.get(f"loan-offers:applicant:{a.user_id}")
    assert a.personal.full_name.encode() not in text
    raw.set(f"loan-offers:applicant:{b.user_id}", text)
    assert (await p.both.read(b.user_id))[0] is None
    assert p.applicants.stats.errors == 1
    assert (await p.both.read(a.user_id))[0] == a


async def test_redis_down_is_a_miss_for_both_and_comes_back(l2, redis_server: RedisServer) -> None:
    clock = Clock()
    p = Process(l2, l1_ttl=0, clock=clock)
    a = APPLICANTS[0]
    await p.applicants.put(a)
    redis_server.stop()
    assert await p.both.read(a.user_id) == (None, None, None)
    assert p.applicants.stats.errors == 1 and p.history.errors == 1
    assert await p.both.read(a.user_id) == (None, None, None)   # both skip Redis for a while
    assert p.applicants.stats.skipped == 1 and p.history.errors == 1

    redis_server.start()                                          # restarted, empty
    clock.now += 1.5
    await p.applicants.put(a)
    applicant, history, token = await p.both.read(a.user_id)
    assert (applicant, history) == (a, None) and token is not None


async def test_without_redis_the_two_caches_are_read_in_process() -> None:
    history = InProcessHistoryCache(300)
    applicants = AiocacheApplicantCache(SimpleMemoryCache(), 5.0, None, history=history,
                                        cipher=dev_pii().cipher)
    both = CombinedApplicantHistoryRead(applicants, history)
    a = APPLICANTS[0]
    await applicants.put(a)
    _, _, token = await both.read(a.user_id)
    await history.fill(a.user_id, HISTORY, token, NOW)
    assert await both.read(a.user_id) == (a, HISTORY.summary, token)
