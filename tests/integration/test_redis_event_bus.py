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
    await one.flush()
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


async def test_publish_only_queues_and_a_background_task_sends_batches_in_order(
        buses, make_offer_set: OfferSetFactory) -> None:
    one, two = buses
    offers = make_offer_set()
    user = offers.offers[0].user_id
    sent = [OfferEvent(OfferEventType.GENERATED, user, offers.offers[0], NOW,
                       previous_offer_id=f"old-{i}") for i in range(90)]  # under a subscriber queue
    async with collecting(two, user) as received:
        for e in sent:  # no await yields to the publisher: every event is only queued
            await one.publish(e)
        assert one.stats.published == 0
        got = [await asyncio.wait_for(received.get(), 5.0) for _ in sent]
    assert got == sent  # all of them, in publication order
    await one.flush()
    assert one.stats.published == 90
    assert one.stats.batches < 90  # pipelined: several events per Redis round trip


async def test_a_full_queue_delivers_locally_and_counts_the_drop(
        redis_url: str, make_offer_set: OfferSetFactory) -> None:
    bus = RedisEventBus(redis_url, queue_max=2)
    await bus.start()
    assert await bus.wait_until_listening(5.0)
    sent = [event(make_offer_set()) for _ in range(5)]
    try:
        async with collecting(bus, sent[0].user_id) as received:
            for e in sent:
                await bus.publish(e)
            assert bus.stats.dropped == 3  # over the bound: this process's subscribers only
            got = [await asyncio.wait_for(received.get(), 2.0) for _ in sent]
            # the three dropped ones were delivered at once, the two queued ones via Redis
            assert got[:3] == sent[2:] and got[3:] == sent[:2]
    finally:
        await bus.stop()
    assert bus.stats.published == 2


async def test_stop_sends_what_is_still_queued(
        buses, make_offer_set: OfferSetFactory) -> None:
    one, two = buses
    sent = event(make_offer_set())
    async with collecting(two, sent.user_id) as received:
        await one.publish(sent)
        await one.stop()  # the fixture's second stop is harmless
        assert await asyncio.wait_for(received.get(), 2.0) == sent
    assert one.stats.published == 1 and one.stats.dropped == 0


async def test_events_for_users_without_a_subscriber_here_are_not_decoded(
        buses, make_offer_set: OfferSetFactory) -> None:
    one, two = buses
    watched, unwatched = event(make_offer_set()), event(make_offer_set())
    unwatched = OfferEvent(unwatched.type, "nobody-here", unwatched.offer, NOW)
    async with collecting(two, watched.user_id) as received:
        await one.publish(unwatched)
        await one.publish(watched)
        assert await asyncio.wait_for(received.get(), 2.0) == watched
    assert two.stats.unwatched >= 1 and two.stats.malformed == 0
