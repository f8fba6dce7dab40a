"""RedisEventBus against a real Redis: fan-out across bus instances (as across processes),
per-user channels (a process receives only the users it has subscribers for), no failure when
Redis is down, and recovery when it returns."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import orjson
import pytest
import redis

from adapters.codecs import event_to_dict
from adapters.events.redis_bus import CHANNEL, RedisEventBus, user_channel
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
    for _ in range(100):  # and, with a listener, Redis confirmed its subscription
        if bus.has_begun(user_id) or bus._task is None:
            break
        await asyncio.sleep(0.05)
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


@pytest.fixture
def raw(redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_url)


def subscribers(raw: redis.Redis, user_id: str) -> int:
    return dict(raw.pubsub_numsub(user_channel(user_id)))[user_channel(user_id).encode()]


async def test_a_process_receives_only_the_users_it_has_subscribers_for(
        buses, redis_url: str, raw: redis.Redis, make_offer_set: OfferSetFactory) -> None:
    one, two = buses
    idle = RedisEventBus(redis_url)  # a third process, without subscribers
    await idle.start()
    assert await idle.wait_until_listening(5.0)
    watched, unwatched = event(make_offer_set()), event(make_offer_set())
    unwatched = OfferEvent(unwatched.type, "nobody-here", unwatched.offer, NOW)
    try:
        async with collecting(two, watched.user_id) as received:
            assert subscribers(raw, watched.user_id) == 1  # the subscription has begun
            await one.publish(unwatched)
            await one.publish(watched)
            assert await asyncio.wait_for(received.get(), 2.0) == watched
            await one.flush()
        await asyncio.sleep(0.1)
        assert idle.stats.received == 0 and two.stats.received == 1
        assert (one.stats.published, one.stats.unheard) == (1, 1)  # nobody-here: not sent
        assert subscribers(raw, watched.user_id) == 0  # the last subscriber left
    finally:
        await idle.stop()


async def test_a_users_events_of_one_batch_travel_as_one_message_in_order(
        buses, raw: redis.Redis, make_offer_set: OfferSetFactory) -> None:
    one, two = buses
    offers = make_offer_set()
    sent = [OfferEvent(OfferEventType.GENERATED, o.user_id, o, NOW) for o in offers.offers]
    assert len(sent) >= 2
    before = raw.info("commandstats").get("cmdstat_publish", {}).get("calls", 0)
    async with collecting(two, sent[0].user_id) as received:
        for e in sent:  # one answer's offers: queued together, sent as one batch
            await one.publish(e)
        assert [await asyncio.wait_for(received.get(), 2.0) for _ in sent] == sent
    assert raw.info("commandstats")["cmdstat_publish"]["calls"] - before == 1


async def test_subscriptions_survive_a_redis_restart(
        buses, redis_server: RedisServer, make_offer_set: OfferSetFactory) -> None:
    """A subscriber that was listening before Redis restarted hears events again once the
    listener reconnected: it subscribes every watched user's channel anew."""
    one, two = buses
    sent = event(make_offer_set())
    async with collecting(two, sent.user_id) as received:
        redis_server.restart()
        for _ in range(100):
            await one.publish(sent)
            with contextlib.suppress(TimeoutError):
                assert await asyncio.wait_for(received.get(), 0.1) == sent
                if two.stats.received:  # through Redis, not this test's local failover
                    break
        else:
            pytest.fail("no event crossed after the restart")
    assert two.stats.reconnects >= 1


async def test_a_subscriber_whose_subscription_has_not_begun_gets_its_processs_events(
        redis_url: str, make_offer_set: OfferSetFactory) -> None:
    """The listener is not connected yet, so the subscription waits for its confirmation (up to
    ``timeout_s``); meanwhile nobody is subscribed on Redis, and this process's event for the
    user is delivered to it locally, once."""
    bus = RedisEventBus(redis_url, timeout_s=0.5)  # not started: no listener
    sent = event(make_offer_set())
    try:
        async with collecting(bus, sent.user_id) as received:
            await bus.publish(sent)
            assert await asyncio.wait_for(received.get(), 2.0) == sent
            await bus.flush()
            await asyncio.sleep(0.1)
            assert received.empty()
        assert (bus.stats.unheard, bus.stats.published) == (1, 0)
    finally:
        await bus.stop()


async def test_events_of_the_shared_channel_are_still_delivered(
        buses, raw: redis.Redis, make_offer_set: OfferSetFactory) -> None:
    """Versions before per-user channels published every event on ``loan-offers:offer-events``:
    during a rolling upgrade their events still reach this version's subscribers."""
    _, two = buses
    watched, unwatched = event(make_offer_set()), event(make_offer_set())
    unwatched = OfferEvent(unwatched.type, "nobody-here", unwatched.offer, NOW)
    async with collecting(two, watched.user_id) as received:
        raw.publish(CHANNEL, orjson.dumps(event_to_dict(unwatched)))
        raw.publish(CHANNEL, orjson.dumps(event_to_dict(watched)))
        raw.publish(CHANNEL, b"not json")
        assert await asyncio.wait_for(received.get(), 2.0) == watched
        await asyncio.sleep(0.1)
    assert (two.stats.unwatched, two.stats.malformed) == (1, 1)


async def test_the_first_publish_after_a_redis_restart_goes_through(
        buses, redis_server: RedisServer, make_offer_set: OfferSetFactory) -> None:
    """The publisher's connection from before the restart is closed: it is replaced, not used
    (one failure would send the events of the next ``retry_after_s`` past Redis)."""
    one, _ = buses
    sent = event(make_offer_set())
    await one.publish(sent)
    await one.flush()
    await asyncio.to_thread(redis_server.restart)
    await one.publish(sent)
    await one.flush()
    assert (one.stats.publish_errors, one.stats.skipped) == (0, 0)
