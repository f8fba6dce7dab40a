"""RedisEventBus against a real Redis: fan-out across bus instances (as across processes),
per-user delivery, no failure when Redis is down, and recovery when it returns."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from adapters.events.redis_bus import RedisEventBus
from application.events import OfferEvent, OfferEventType
from domain.offers import OfferSet
from tests.integration.conftest import NOW, OfferSetFactory
from tests.servers import RedisServer


@pytest.fixture
async def buses(redis_url: str) -> AsyncIterator[tuple[RedisEventBus, RedisEventBus]]:
    one, two = RedisEventBus(redis_url), RedisEventBus(redis_url)
    for bus in (one, two):
        await bus.start()
        assert await bus.wait_until_listening(5.0)
    yield one, two
    for bus in (one, two):
        await bus.stop()


def event(offer_set: OfferSet, kind: OfferEventType = OfferEventType.ACCEPTED) -> OfferEvent:
    offer = offer_set.offers[0]
    return OfferEvent(kind, offer.user_id, offer, NOW, previous_offer_id="old-1")


@contextlib.asynccontextmanager
async def collecting(bus: RedisEventBus, user_id: str) -> AsyncIterator[asyncio.Queue]:
    received: asyncio.Queue[OfferEvent] = asyncio.Queue()
    started = asyncio.Event()

    async def consume() -> None:
        stream = bus.subscribe(user_id)
        first = asyncio.ensure_future(stream.__anext__())
        started.set()
        await received.put(await first)
        async for e in stream:
            await received.put(e)

    task = asyncio.create_task(consume())
    await started.wait()
    await asyncio.sleep(0.05)  # the generator has registered its queue
    try:
        yield received
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_an_event_published_on_one_bus_reaches_subscribers_of_the_other(
        buses, make_offer_set: OfferSetFactory) -> None:
    one, two = buses
    offers = make_offer_set()
    sent = event(offers)
    async with collecting(two, sent.user_id) as received, \
            collecting(two, "someone-else") as others:
        await one.publish(sent)
        got = await asyncio.wait_for(received.get(), 2.0)
        assert got == sent  # every field, the offer included, survives the JSON round trip
        assert others.empty()
    assert one.stats.published == 1 and two.stats.received >= 1


async def test_publishing_while_redis_is_down_never_raises_and_delivers_locally(
        buses, redis_server: RedisServer, make_offer_set: OfferSetFactory) -> None:
    one, _ = buses
    sent = event(make_offer_set(), OfferEventType.WITHDRAWN)
    async with collecting(one, sent.user_id) as received:
        redis_server.stop()
        await one.publish(sent)
        assert await asyncio.wait_for(received.get(), 2.0) == sent
        # Redis failed moments ago: the next event skips it (no second timeout) and is still
        # delivered here.
        await one.publish(sent)
        assert await asyncio.wait_for(received.get(), 2.0) == sent
    assert one.stats.publish_errors == 1 and one.stats.skipped == 1


async def test_the_listener_reconnects_after_a_redis_restart(
        buses, redis_server: RedisServer, make_offer_set: OfferSetFactory) -> None:
    one, two = buses
    redis_server.restart()
    sent = event(make_offer_set())
    async with collecting(two, sent.user_id) as received:
        for _ in range(100):  # the listener backs off, then subscribes again
            await one.publish(sent)
            with contextlib.suppress(TimeoutError):
                assert await asyncio.wait_for(received.get(), 0.1) == sent
                break
        else:
            pytest.fail("no event crossed after the restart")
    assert two.stats.reconnects >= 1
