"""Offer events over Redis pub/sub: every server process sharing the Redis sees every event.

One channel for all users and one listening connection per process (not one per subscriber):
the listener hands each message to the process's :class:`InProcessEventBus`, which fans it out
to that user's local subscribers. Every process receives every event; at the event rates of a
loan book (a few per customer per day) that costs less than a Redis subscription per WebSocket.

Failure behaviour: publishing never raises. If Redis cannot take an event, it is still handed to
this process's subscribers (so a single-replica deployment loses nothing) and counted in
``stats.publish_errors``. After a failed publish, Redis is skipped for ``retry_after_s`` (a circuit
breaker: a black-holed Redis would otherwise cost a timeout per event, and a ``loanOffers``
answer publishes one event per offer), then tried again. The listener reconnects with capped
backoff; events published while it was disconnected are not replayed (pub/sub is
fire-and-forget; a client that must not miss a change re-reads ``offer``/``offerHistory`` after
reconnecting).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from redis.asyncio import Redis

from adapters.codecs import event_from_dict, event_to_dict
from adapters.events.in_process import InProcessEventBus
from application.events import OfferEvent

log = logging.getLogger("loan_offers.events")

CHANNEL = "loan-offers:offer-events"


@dataclass
class EventBusStats:
    published: int = 0
    publish_errors: int = 0
    received: int = 0
    malformed: int = 0
    reconnects: int = 0
    skipped: int = 0  # publishes not tried because Redis failed moments ago


class RedisEventBus:
    def __init__(self, url: str, channel: str = CHANNEL, timeout_s: float = 1.0,
                 max_backoff_s: float = 5.0, local: InProcessEventBus | None = None,
                 retry_after_s: float = 1.0) -> None:
        # Publishing: short timeouts, a slow Redis must not hold a mutation's response.
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

    async def publish(self, event: OfferEvent) -> None:
        if time.monotonic() < self._down_until:
            self.stats.skipped += 1
            await self._local.publish(event)
            return
        try:
            await self._publisher.publish(self._channel, json.dumps(event_to_dict(event)))
            self.stats.published += 1
        except Exception:  # an outage must not fail the mutation that caused the event
            self._down_until = time.monotonic() + self._retry_after
            self.stats.publish_errors += 1
            log.warning("could not publish a %s event to Redis; delivering it locally only",
                        event.type, exc_info=True)
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
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
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
        try:
            event = event_from_dict(json.loads(data))
        except (ValueError, KeyError, TypeError):
            self.stats.malformed += 1
            log.warning("ignored a malformed message on %s", self._channel)
            return
        self.stats.received += 1
        await self._local.publish(event)
