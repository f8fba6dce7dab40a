"""Cross-process invalidation of the in-process cache level, over Redis pub/sub.

An invalidation reaches the shared Redis level directly, but every *other* process keeps its own
in-process copy for up to the L1 TTL. So each invalidation is also published on
``loan-offers:cache-invalidate``; every process listens and drops those keys from its L1 (its
own messages are recognised by origin and ignored). Delivery is best effort, like the cache:
when the subscription breaks (Redis down or restarting) the listener reconnects with a pause,
and on re-subscribing clears its whole L1, because invalidations published meanwhile were lost.
The L1 TTL stays the bound for anything that slips through.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from uuid import uuid4

from redis.asyncio import Redis

log = logging.getLogger(__name__)

CHANNEL = "loan-offers:cache-invalidate"

#: ``keys`` to drop from this process' L1, or ``None`` for all of it.
DropLocal = Callable[[Sequence[str] | None], Awaitable[None]]


class RedisInvalidationBus:
    def __init__(self, client: Redis, retry_after: float = 1.0,
                 publisher: Redis | None = None) -> None:
        """``client`` holds the subscription (no read timeout: it waits for messages);
        ``publisher``, when given, sends the invalidations: a client with short timeouts, as
        a publish is on the request path (on ``client`` a Redis that stopped answering held
        each invalidation for seconds)."""
        self._client = client
        self._publisher = publisher or client
        self._retry_after = retry_after
        self.origin = uuid4().hex
        self._task: asyncio.Task[None] | None = None
        self.subscribed = asyncio.Event()
        self.received = 0

    async def publish(self, keys: Sequence[str] | None) -> None:
        """Tell the other processes to drop ``keys`` (``None``: everything). Raises on a Redis
        error (the cache counts it and carries on)."""
        message = {"origin": self.origin, "keys": None if keys is None else list(keys)}
        await self._publisher.publish(CHANNEL, json.dumps(message, separators=(",", ":")))

    def start(self, drop_local: DropLocal) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._listen(drop_local),
                                                                name="cache-invalidation")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._client.aclose()

    async def _listen(self, drop_local: DropLocal) -> None:
        first = True
        while True:
            try:
                async with self._client.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(CHANNEL)
                    if not first:  # messages published while we were away are lost
                        await drop_local(None)
                    first = False
                    self.subscribed.set()
                    async for message in pubsub.listen():
                        await self._handle(message, drop_local)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis down or restarting: retry, never give up
                self.subscribed.clear()
                first = False
                log.warning("cache invalidation subscription lost, retrying: %r", exc)
                await asyncio.sleep(self._retry_after)

    async def _handle(self, message: dict, drop_local: DropLocal) -> None:
        try:
            body = json.loads(message["data"])
            if body["origin"] == self.origin:
                return
            keys = body["keys"]
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring a malformed cache invalidation message")
            return
        self.received += 1
        await drop_local(keys)
