"""Client CPU of the Redis work of one ``loanOffers`` answer, in process against a real Redis.

What is measured
    ``time.process_time`` of this process while it does, per simulated answer, what a worker
    does with Redis for one ``loanOffers`` request: the rate limiter's charge (cost 10, the
    operation's), the combined read of applicant and offer-history aggregate (one ``MGET``; the
    applicant's sealed entry opened), the offer-set writer's store of the new aggregate (one
    pipelined script call for a group of four answers, a quarter of it per answer), and five
    offer events published, with ``--listeners`` other event buses listening as the other
    workers of the server do (none of them has a subscriber: the benchmark's load). Every
    adapter is the container's own, built from ``Settings(redis_url=...)``; the Redis server's
    CPU is not counted (another process). ``concurrency`` answers are in flight at once, as in
    a worker under load. One process, one core: far steadier than the HTTP benchmark.

What is reported
    Median over ``--rounds`` of the mean client CPU microseconds per answer, and per part
    (each part measured alone the same way); JSON in ``benchmarks/results/redis.json``.
    To compare two trees, run the module from each (it imports the adapters of the tree it runs
    in: copy it into the other one).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from adapters.demo.portfolio import generate_applicants
from application.events import OfferEvent, OfferEventType
from application.ports import HistorySnapshot
from benchmarks.domain_bench import RESULTS_DIR, load_policy, machine_info
from config.container import build_container, shutdown
from config.settings import Settings
from domain.applicant import LoanRequest
from domain.behavior.history import OfferHistorySummary
from domain.offer_engine import generate_offer_set
from tests.servers import running_redis

NOW = datetime(2026, 1, 5, 10, tzinfo=UTC)
DEFAULT_COUNT = 2000  # answers per round
DEFAULT_ROUNDS = 5
LISTENERS = 1  # the other workers of a 2-worker server
CONCURRENCY = 32
GROUP = 4  # answers per write group (the batching writer groups concurrent commits)

Step = Callable[[int], Awaitable[Any]]


async def _cpu_us(step: Step, count: int, rounds: int, settle: Callable[[], Awaitable[Any]]
                  ) -> float:
    """Median over rounds of the CPU microseconds per call of ``step``, ``CONCURRENCY`` calls
    in flight; ``settle`` waits for the background work the calls started."""
    results = []
    sem = asyncio.Semaphore(CONCURRENCY)

    async def one(i: int) -> None:
        async with sem:
            await step(i)

    for _ in range(rounds):
        start = time.process_time()
        await asyncio.gather(*(one(i) for i in range(count)))
        await settle()
        results.append((time.process_time() - start) / count * 1e6)
    return statistics.median(results)


async def _connections_received(container: Any) -> int:
    """Redis's ``total_connections_received``, asked over a connection of its own (counted
    too)."""
    from redis.asyncio import Redis

    client = Redis.from_url(container.settings().redis_url)
    try:
        return int((await client.info("stats"))["total_connections_received"])
    finally:
        await client.aclose()


async def _measure(redis_url: str, count: int, rounds: int, listeners: int) -> dict[str, Any]:
    # L1 off: every read goes to Redis, as for a user this worker has not seen in 5 s.
    settings = Settings(redis_url=redis_url, rate_limit_enabled=True, cache_l1_ttl_s=0)
    worker = build_container(settings)
    others = [build_container(settings) for _ in range(listeners)]
    buses = [c.events() for c in (worker, *others)]
    for bus in buses:
        await bus.start()
        await bus.wait_until_listening(5.0)
    applicants = list(generate_applicants(200))
    ids = (f"offer-{n}" for n in itertools.count())
    policy = load_policy()
    offers = next(s.offers for s in (generate_offer_set(policy, a, LoanRequest(), NOW,
                                                        lambda: next(ids)) for a in applicants)
                  if len(s.offers) >= 5)[:5]
    events = [OfferEvent(OfferEventType.GENERATED, o.user_id, o, NOW) for o in offers]
    cache, history = worker.applicant_cache(), worker.history_cache()
    both, limiter = worker.applicant_history_cache(), worker.rate_limiter()
    snapshot = HistorySnapshot(OfferHistorySummary(offers_seen=5, answers=1), None)
    for applicant in applicants:
        await cache.put(applicant)
    bus = buses[0]

    def user(i: int) -> str:
        return applicants[i % len(applicants)].user_id

    async def charge(i: int) -> None:
        await limiter.charge(f"bench:{i % 1000}", 10, 0)

    async def read(i: int) -> None:
        await both.read(user(i))

    async def write(i: int) -> None:
        if i % GROUP == 0:
            await history.written([(user(i + k), snapshot, None) for k in range(GROUP)], NOW)

    async def publish(i: int) -> None:
        for event in events:
            await bus.publish(event)

    async def answer(i: int) -> None:
        await charge(i)
        await read(i)
        await write(i)
        await publish(i)

    async def settle() -> None:
        await bus.flush()
        await asyncio.sleep(0.2)  # the listeners take what Redis sent them

    parts: dict[str, Step] = {"rate_limit_charge": charge, "applicant_history_read": read,
                              "history_written": write, "five_events": publish,
                              "answer": answer}
    try:
        for step in parts.values():  # warm up: connections, scripts, caches
            await _cpu_us(step, 200, 1, settle)
        opened_before = await _connections_received(worker)
        figures = {name: round(await _cpu_us(step, count, rounds, settle), 1)
                   for name, step in parts.items()}
        # Connections Redis accepted during the measured rounds (minus this count's own):
        # a warm worker under steady load opens none.
        figures["connections_opened"] = await _connections_received(worker) - opened_before - 1
        return figures
    finally:
        for bus in buses:
            await bus.stop()
        for container in (worker, *others):
            await shutdown(container)


def run(count: int = DEFAULT_COUNT, rounds: int = DEFAULT_ROUNDS, with_profile: bool = False,
        listeners: int = LISTENERS) -> dict[str, Any]:
    import uvloop

    with running_redis() as server:
        figures = uvloop.run(_measure(server.url, count, rounds, listeners))
    out = {"benchmark": "redis", "unit": "client CPU microseconds per answer (median of rounds)",
           "count": count, "rounds": rounds, "listeners": listeners,
           "concurrency": CONCURRENCY, "figures": figures, "machine": machine_info()}
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / "redis.json").write_text(json.dumps(out, indent=2) + "\n")
    print(f"redis: client CPU per loanOffers answer's Redis work ({rounds} rounds x {count}, "
          f"{listeners} other listening worker(s))")
    for name, value in figures.items():
        unit = "" if name == "connections_opened" else " us"
        print(f"  {name:24s} {value:8.1f}{unit}")
    return out
