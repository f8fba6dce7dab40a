"""Offer events over Redis pub/sub: every server process sharing the Redis sees every event.

One channel for all users and one listening connection per process (not one per subscriber):
the listener hands each message to the process's :class:`InProcessEventBus`, which fans it out
to that user's local subscribers. Every process receives every event; at the event rates of a
loan book (a few per customer per day) that costs less than a Redis subscription per WebSocket.

Publishing is off the request path: :meth:`RedisEventBus.publish` appends the event to a
bounded in-process queue and returns at once; a background task drains the queue in order,
up to ``BATCH_MAX`` events per Redis round trip (one pipelined ``PUBLISH`` per event). A
``loanOffers`` answer publishes one event per offer, so a request used to wait for several Redis
round trips after its commit; now it waits for none.

Delivery is at most once, as pub/sub always was, and these are the ways an event can miss the
*other* processes (this process's own subscribers still get it, delivered locally):

* the queue is full (``queue_max`` events waiting: Redis is slower than the event rate): the new
  event is delivered locally only and counted in ``stats.dropped``;
* Redis failed (error or ``timeout_s``): the batch is delivered locally and counted in
  ``stats.publish_errors``; for the next ``retry_after_s`` events skip Redis (``stats.skipped``;
  a circuit breaker: a black-holed Redis would otherwise cost a timeout per batch), then Redis is
  tried again. If Redis took part of a failed batch, this process's subscribers may see those
  events twice;
* the process stops: :meth:`stop` sends what is queued for up to ``drain_timeout_s``, then
  drops the rest (counted in ``stats.dropped``);
* the process crashes: whatever is still queued (milliseconds' worth) is lost.

No request ever waits for Redis to publish. Events keep their order per process except during a
Redis failure (events then delivered locally may overtake queued ones). The listener reconnects
with capped backoff; events published while it was disconnected are not replayed (pub/sub is
fire-and-forget; a client that must not miss a change re-reads ``offer``/``offerHistory`` after
reconnecting).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass

import orjson
from redis.asyncio import Redis

from adapters.codecs import event_from_dict, event_to_dict
from adapters.events.in_process import InProcessEventBus
from application.events import OfferEvent

log = logging.getLogger("loan_offers.events")

CHANNEL = "loan-offers:offer-events"
#: Events per pipelined Redis call of the publishing task.
BATCH_MAX = 256


@dataclass
class EventBusStats:
    published: int = 0
    publish_errors: int = 0
    received: int = 0
    malformed: int = 0
    reconnects: int = 0
    skipped: int = 0  # publishes not tried because Redis failed moments ago
    dropped: int = 0  # not sent to Redis: the queue was full, or still queued at shutdown
    batches: int = 0  # pipelined Redis calls that succeeded
    unwatched: int = 0  # received for users without a subscriber here (not decoded)


class RedisEventBus:
    def __init__(self, url: str, channel: str = CHANNEL, timeout_s: float = 1.0,
                 max_backoff_s: float = 5.0, local: InProcessEventBus | None = None,
                 retry_after_s: float = 1.0, queue_max: int = 10_000,
                 drain_timeout_s: float = 2.0) -> None:
        # Publishing: short timeouts, a slow Redis must not stall the queue for long.
        self._publisher = Redis.from_url(url, socket_timeout=timeout_s,
                                         socket_connect_timeout=timeout_s)
        # Listening: the read blocks until a message comes, so no socket timeout; health
        # checks (PING) find a dead connection instead.
        self._listener = Redis.from_url(url, socket_timeout=None,
                                        socket_connect_timeout=timeout_s,
                                        health_check_interval=15)
        self._channel = channel
        self._max_backoff = max_backoff_s
        self._local = local or InProcessEventBus()
        self._task: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        self.stats = EventBusStats()
        self._retry_after = retry_after_s
        self._down_until = 0.0
        self._queue: deque[OfferEvent] = deque()
        self._queue_max = queue_max
        self._drain_timeout = drain_timeout_s
        self._queued = asyncio.Event()  # set while the queue holds events
        self._sender: asyncio.Task[None] | None = None
        self._sending = False

    async def publish(self, event: OfferEvent) -> None:
        """Queue ``event`` for Redis and return at once (never raises, never waits)."""
        if time.monotonic() < self._down_until:
            self.stats.skipped += 1
            await self._local.publish(event)
            return
        if len(self._queue) >= self._queue_max:
            self.stats.dropped += 1
            log.warning("offer event queue full (%d); delivering a %s event locally only",
                        self._queue_max, event.type)
            await self._local.publish(event)
            return
        self._queue.append(event)
        self._queued.set()
        if self._sender is None or self._sender.done():
            self._sender = asyncio.get_running_loop().create_task(
                self._send_forever(), name="redis-event-publisher")

    async def flush(self) -> None:
        """Wait until every event queued so far has been sent (or failed over locally)."""
        while self._queue or self._sending:
            await asyncio.sleep(0.001)

    async def _send_forever(self) -> None:
        while True:
            await self._queued.wait()
            batch = [self._queue.popleft() for _ in range(min(len(self._queue), BATCH_MAX))]
            if not self._queue:
                self._queued.clear()
            self._sending = True
            try:
                await self._send(batch)
            finally:
                self._sending = False

    async def _send(self, batch: list[OfferEvent]) -> None:
        if time.monotonic() < self._down_until:  # failed while these waited in the queue
            self.stats.skipped += len(batch)
            await self._deliver_locally(batch)
            return
        try:
            async with self._publisher.pipeline(transaction=False) as pipe:
                for event in batch:
                    pipe.publish(self._channel, orjson.dumps(event_to_dict(event)))
                await pipe.execute()
        except Exception:  # an outage must not lose the events for this process
            self._down_until = time.monotonic() + self._retry_after
            self.stats.publish_errors += len(batch)
            log.warning("could not publish %d event(s) to Redis; delivering them locally only",
                        len(batch), exc_info=True)
            await self._deliver_locally(batch)
            return
        self.stats.published += len(batch)
        self.stats.batches += 1

    async def _deliver_locally(self, batch: list[OfferEvent]) -> None:
        for event in batch:
            await self._local.publish(event)

    def subscribe(self, user_id: str) -> AsyncIterator[OfferEvent]:
        return self._local.subscribe(user_id)

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._listen(), name="redis-event-listener")

    async def wait_until_listening(self, timeout_s: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._subscribed.wait(), timeout_s)
        return self._subscribed.is_set()

    async def stop(self) -> None:
        """Send what is queued (for up to ``drain_timeout_s``), then close the connections."""
        if self._queue or self._sending:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.flush(), self._drain_timeout)
        if self._queue:
            self.stats.dropped += len(self._queue)
            log.warning("dropped %d queued offer event(s) at shutdown", len(self._queue))
            self._queue.clear()
        for task in (self._task, self._sender):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = self._sender = None
        await self._publisher.aclose()
        await self._listener.aclose()

    async def _listen(self) -> None:
        backoff = 0.1
        while True:
            pubsub = self._listener.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self._channel)
                self._subscribed.set()
                backoff = 0.1
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        await self._deliver(message["data"])
            except asyncio.CancelledError:
                raise
            except Exception:
                self._subscribed.clear()
                self.stats.reconnects += 1
                log.warning("Redis event listener lost its connection; retrying in %.1fs",
                            backoff, exc_info=True)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._max_backoff)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    async def _deliver(self, data: bytes | str) -> None:
        # Every process receives every event; most have no subscriber here for that user, and
        # building the event (its offer, Decimals, dates) is most of a message's cost.
        try:
            message = orjson.loads(data)
            if not self._local.subscriber_count(message["user_id"]):
                self.stats.received += 1
                self.stats.unwatched += 1
                return
            event = event_from_dict(message)
        except (ValueError, KeyError, TypeError):
            self.stats.malformed += 1
            log.warning("ignored a malformed message on %s", self._channel)
            return
        self.stats.received += 1
        await self._local.publish(event)
