"""Offer events over Redis pub/sub: a subscriber on any server process hears of changes made on
any other.

**A channel per user** (``loan-offers:offer-events:{user_id}``), and one listening connection per
process (not one per subscriber) subscribed to the channels of the users that have a subscriber
in that process: the listener hands each message to the process's :class:`InProcessEventBus`,
which fans it out to that user's local subscribers. A process receives only the events it has
a subscriber for (with one channel for everything, every process received and parsed every
offer event: ten messages per ``loanOffers`` answer on two workers, nearly all unwatched).
The listener's base subscription, ``loan-offers:offer-events``, keeps the connection subscribed
while no user is watched; messages there (one event each, as versions before per-user channels
published them) are still delivered, so a rolling upgrade loses only the events the old
processes' subscribers would have heard from new processes.

A subscription **begins** once Redis confirmed the listener's ``SUBSCRIBE`` to its user's channel
(or ``timeout_s`` passed while Redis does not answer; the subscription then begins with its
queue already taking this process's events, and the listener subscribes the channel when it
reconnects). Its queue is attached before, so nothing the listener receives after the
confirmation is lost; the iterator yields nothing before it begins. When a process's last
subscriber of a user leaves, the listener unsubscribes that channel.

Publishing is off the request path: :meth:`RedisEventBus.publish` appends the event to a
bounded in-process queue and returns at once; a background task drains the queue in order, up
to ``BATCH_MAX`` events at a time. For each batch it asks Redis which of the batch's users have
a subscriber anywhere (``PUBSUB NUMSUB``, one command), then publishes, in one pipelined round
trip, one message per such user holding that user's events in order (a ``loanOffers`` answer's
five offers are one message). Events of users nobody subscribed to are neither encoded nor sent
(``stats.unheard``); a subscriber of this process whose subscription had not begun yet still
gets them (delivered locally, so never twice).

Delivery is at most once, as pub/sub always was, and these are the ways an event can miss the
*other* processes (this process's own subscribers still get it, delivered locally):

* the queue is full (``queue_max`` events waiting: Redis is slower than the event rate): the new
  event is delivered locally only and counted in ``stats.dropped``;
* Redis failed (error or ``timeout_s``): the batch is delivered locally and counted in
  ``stats.publish_errors``; for the next ``retry_after_s`` events skip Redis (``stats.skipped``;
  a circuit breaker: a black-holed Redis would otherwise cost a timeout per batch), then Redis is
  tried again. If Redis took part of a failed batch, this process's subscribers may see those
  events twice;
* a subscription that had not begun when Redis answered the batch's ``NUMSUB`` (its
  ``SUBSCRIBE`` still on its way) misses the batch's events of its user published by others;
* the process stops: :meth:`stop` sends what is queued for up to ``drain_timeout_s``, then
  drops the rest (counted in ``stats.dropped``);
* the process crashes: whatever is still queued (milliseconds' worth) is lost.

No request ever waits for Redis to publish. Events keep their order per user and process except
during a Redis failure (events then delivered locally may overtake queued ones). The listener
reconnects with capped backoff and subscribes again to every watched user's channel; events
published while it was disconnected are not replayed (pub/sub is fire-and-forget; a client that
must not miss a change re-reads ``offer``/``offerHistory`` after reconnecting).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson
from redis.asyncio.client import PubSub

from adapters.codecs import event_from_dict, event_to_dict
from adapters.events.in_process import InProcessEventBus
from adapters.redis_pool import redis_client
from application.events import OfferEvent

log = logging.getLogger("loan_offers.events")

CHANNEL = "loan-offers:offer-events"
#: Events per batch of the publishing task.
BATCH_MAX = 256


def user_channel(user_id: str, base: str = CHANNEL) -> str:
    """The channel carrying ``user_id``'s events."""
    return f"{base}:{user_id}"


@dataclass
class EventBusStats:
    published: int = 0
    publish_errors: int = 0
    received: int = 0
    malformed: int = 0
    reconnects: int = 0
    skipped: int = 0  # publishes not tried because Redis failed moments ago
    dropped: int = 0  # not sent to Redis: the queue was full, or still queued at shutdown
    batches: int = 0  # batches Redis answered
    unwatched: int = 0  # received for users without a subscriber here (not decoded)
    unheard: int = 0  # not sent: no process had a subscriber for the user


class RedisEventBus:
    def __init__(self, url: str, channel: str = CHANNEL, timeout_s: float = 1.0,
                 max_backoff_s: float = 5.0, local: InProcessEventBus | None = None,
                 retry_after_s: float = 1.0, queue_max: int = 10_000,
                 drain_timeout_s: float = 2.0) -> None:
        # Publishing: short timeouts, a slow Redis must not stall the queue for long.
        self._publisher = redis_client(url, socket_timeout=timeout_s,
                                       socket_connect_timeout=timeout_s)
        # Listening: the read blocks until a message comes, so no socket timeout; health
        # checks (PING) find a dead connection instead.
        self._listener = redis_client(url, socket_timeout=None,
                                      socket_connect_timeout=timeout_s,
                                      health_check_interval=15)
        self._channel = channel
        self._timeout = timeout_s
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
        # The listener's side: its live connection, the watched users' channels (local
        # subscribers each), those Redis confirmed on that connection, and the subscriptions
        # waiting for a confirmation.
        self._pubsub: PubSub | None = None
        self._watchers: dict[str, int] = {}
        self._confirmed: set[str] = set()
        self._waiting: dict[str, list[asyncio.Future[None]]] = {}
        self._commands = asyncio.Lock()  # one SUBSCRIBE/UNSUBSCRIBE at a time, in order
        self._unsubscribing: set[asyncio.Task[None]] = set()

    # --- publishing -------------------------------------------------------------------------

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
        by_user: dict[str, list[OfferEvent]] = {}
        for event in batch:
            by_user.setdefault(event.user_id, []).append(event)
        try:
            heard = await self._heard(by_user)
            if heard:
                async with self._publisher.pipeline(transaction=False) as pipe:
                    for user_id in heard:
                        events = by_user.pop(user_id)
                        pipe.publish(user_channel(user_id, self._channel),
                                     orjson.dumps([event_to_dict(e) for e in events]))
                    await pipe.execute()
        except Exception:  # an outage must not lose the events for this process
            self._down_until = time.monotonic() + self._retry_after
            self.stats.publish_errors += len(batch)
            log.warning("could not publish %d event(s) to Redis; delivering them locally only",
                        len(batch), exc_info=True)
            await self._deliver_locally(batch)
            return
        unheard = [event for events in by_user.values() for event in events]
        self.stats.published += len(batch) - len(unheard)
        self.stats.unheard += len(unheard)
        self.stats.batches += 1
        # No process subscribed, so Redis would deliver none of these; a subscriber here whose
        # SUBSCRIBE is still on its way gets them this way (and only this way).
        await self._deliver_locally(unheard)

    async def _heard(self, by_user: dict[str, list[OfferEvent]]) -> list[str]:
        """The users among ``by_user``'s with a subscriber on some process (``NUMSUB``)."""
        counts = await self._publisher.pubsub_numsub(
            *(user_channel(user_id, self._channel) for user_id in by_user))
        return [user_id for user_id, (_, count) in zip(by_user, counts, strict=True) if count]

    async def _deliver_locally(self, batch: list[OfferEvent]) -> None:
        for event in batch:
            await self._local.publish(event)

    # --- subscribing ------------------------------------------------------------------------

    def subscribe(self, user_id: str) -> AsyncIterator[OfferEvent]:
        return self._subscription(user_id)

    def has_begun(self, user_id: str) -> bool:
        """Whether Redis confirmed this process's subscription to ``user_id``'s events."""
        return user_channel(user_id, self._channel) in self._confirmed

    async def _subscription(self, user_id: str) -> AsyncIterator[OfferEvent]:
        queue = self._local.attach(user_id)  # first: whatever arrives from now on is kept
        channel = user_channel(user_id, self._channel)
        try:
            await self._watch(channel)
            while True:
                yield await queue.get()
        finally:
            self._local.detach(user_id, queue)
            self._unwatch(channel)

    async def _watch(self, channel: str) -> None:
        """Count a subscriber of ``channel``; wait (at most ``timeout_s``) until Redis
        confirmed the listener's subscription to it."""
        self._watchers[channel] = self._watchers.get(channel, 0) + 1
        if channel in self._confirmed:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(channel, []).append(waiter)
        try:
            if self._watchers[channel] == 1:  # else a SUBSCRIBE is on its way already
                await self._command(channel)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter, self._timeout)
        finally:
            waiters = self._waiting.get(channel, [])
            if waiter in waiters:
                waiters.remove(waiter)
                if not waiters:
                    del self._waiting[channel]

    def _unwatch(self, channel: str) -> None:
        left = self._watchers.get(channel, 1) - 1
        if left:
            self._watchers[channel] = left
            return
        self._watchers.pop(channel, None)
        self._confirmed.discard(channel)
        with contextlib.suppress(RuntimeError):  # no loop left (interpreter shutdown)
            task = asyncio.get_running_loop().create_task(self._command(channel))
            self._unsubscribing.add(task)
            task.add_done_callback(self._unsubscribing.discard)

    async def _command(self, channel: str) -> None:
        """Bring the listener's subscription to ``channel`` in line with its watchers: a
        ``SUBSCRIBE`` when watched, an ``UNSUBSCRIBE`` when not. Without a live connection
        nothing is sent: the listener subscribes every watched channel when it connects."""
        async with self._commands:
            pubsub = self._pubsub
            if pubsub is None:
                return
            try:
                if self._watchers.get(channel):
                    await pubsub.subscribe(channel)
                else:
                    await pubsub.unsubscribe(channel)
            except Exception as exc:  # the listener sees the broken connection and reconnects
                log.debug("offer event subscription change for %s failed: %r", channel, exc)

    # --- the listener -----------------------------------------------------------------------

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
        for task in (self._task, self._sender, *self._unsubscribing):
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
            pubsub = self._listener.pubsub()
            try:
                async with self._commands:  # a watcher arriving now is in this SUBSCRIBE
                    self._pubsub = pubsub
                    await pubsub.subscribe(self._channel, *self._watchers)
                backoff = 0.1
                async for message in pubsub.listen():
                    await self._handle(message)
            except asyncio.CancelledError:
                raise
            except Exception:
                self.stats.reconnects += 1
                log.warning("Redis event listener lost its connection; retrying in %.1fs",
                            backoff, exc_info=True)
                self._disconnected()  # now: watchers must not send on the dead connection
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._max_backoff)
            finally:
                self._disconnected()
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    def _disconnected(self) -> None:
        self._pubsub = None
        self._subscribed.clear()
        self._confirmed.clear()

    async def _handle(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "message":
            await self._deliver(message["data"])
        elif kind == "subscribe":
            channel = message["channel"]
            channel = channel.decode() if isinstance(channel, bytes) else channel
            if channel == self._channel:
                self._subscribed.set()
            elif channel in self._watchers:
                self._confirmed.add(channel)
            for waiter in self._waiting.pop(channel, ()):
                if not waiter.done():
                    waiter.set_result(None)

    async def _deliver(self, data: bytes | str) -> None:
        try:
            message = orjson.loads(data)
        except ValueError:
            self.stats.malformed += 1
            log.warning("ignored a malformed message on %s", self._channel)
            return
        for item in message if isinstance(message, list) else [message]:
            await self._deliver_one(item)

    async def _deliver_one(self, item: Any) -> None:
        # A subscriber may have left since: decoding the event (its offer, Decimals, dates) is
        # most of a message's cost, so check first.
        try:
            if not self._local.subscriber_count(item["user_id"]):
                self.stats.received += 1
                self.stats.unwatched += 1
                return
            event = event_from_dict(item)
        except (ValueError, KeyError, TypeError):
            self.stats.malformed += 1
            log.warning("ignored a malformed message on %s", self._channel)
            return
        self.stats.received += 1
        await self._local.publish(event)
