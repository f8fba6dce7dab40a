"""In-process offer event bus: fan-out to subscribers of this process only.

Used when no Redis is configured, and by the Redis bus for this process's subscribers. Each
subscriber gets a bounded queue; a subscriber that falls more than ``max_queue`` events behind
loses the oldest (a slow mobile client must not grow the server's memory without bound).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator

from application.events import OfferEvent


class InProcessEventBus:
    def __init__(self, max_queue: int = 100) -> None:
        self._subscribers: dict[str, set[asyncio.Queue[OfferEvent]]] = defaultdict(set)
        self._max_queue = max_queue

    async def publish(self, event: OfferEvent) -> None:
        for queue in list(self._subscribers.get(event.user_id, ())):
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(event)

    async def subscribe(self, user_id: str) -> AsyncIterator[OfferEvent]:
        queue = self.attach(user_id)
        try:
            while True:
                yield await queue.get()
        finally:
            self.detach(user_id, queue)

    def attach(self, user_id: str) -> asyncio.Queue[OfferEvent]:
        """A new subscriber's queue: from now on it receives the user's events."""
        queue: asyncio.Queue[OfferEvent] = asyncio.Queue(self._max_queue)
        self._subscribers[user_id].add(queue)
        return queue

    def detach(self, user_id: str, queue: asyncio.Queue[OfferEvent]) -> None:
        self._subscribers[user_id].discard(queue)
        if not self._subscribers[user_id]:
            del self._subscribers[user_id]

    def subscriber_count(self, user_id: str) -> int:
        return len(self._subscribers.get(user_id, ()))
