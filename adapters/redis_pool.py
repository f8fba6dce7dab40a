"""The Redis connection pool of a worker's request path: capped, waiting at the cap, warmed.

redis-py's asyncio ``ConnectionPool`` (8.x) caps itself at 100 connections by default and raises
``MaxConnectionsError("Too many connections")`` when a command finds them all in use; its
``BlockingConnectionPool`` waits instead, but every command then pays for an
``asyncio.Condition`` and a timeout timer (about 9 us more per command here, measured: 29 to
38 us per ``GET`` at 32 in flight), even when a connection is free. :class:`WaitingConnectionPool`
takes the plain pool's path while a connection is free or can still be made, and waits (in
order, at most ``wait_timeout`` seconds, then redis-py's ``ConnectionError``) only at the cap.

:func:`warm` opens connections before the worker serves: the first wave of requests then finds
them ready instead of opening tens of connections at once on a busy event loop, where the
short connect timeout fires and the callers fall back (the rate limiter to memory for seconds).

``connects`` counts the sockets the pool opened (first connections and reconnections after a
connection was dropped): steady load on a warm pool opens none.

:data:`NO_MAINTENANCE_NOTIFICATIONS` is every client's setting (the pool's default here): redis-py
8.1 turns Redis Enterprise's maintenance notifications on ("auto") for RESP3 connections, and
while they are on its pool no longer replaces a pooled connection the server has closed
(redis-py issues #4128 and #4260). After a Redis restart every idle connection then failed its
next command, "Connection closed by server", once each: the rate limiter fell back to memory
and the cache skipped Redis, again and again, for as long as stale connections were left, and
``/readyz`` reported the cache down. Off, the pool reconnects them at checkout as before. The
open-source Redis this is run against rejects the notifications anyway (one wasted round trip
per connection).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any

from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import MaxConnectionsError
from redis.maint_notifications import MaintNotificationsConfig

log = logging.getLogger(__name__)

#: Pass as ``maint_notifications_config`` to every redis-py client and pool (see above);
#: :func:`redis_client` and :class:`WaitingConnectionPool` do.
NO_MAINTENANCE_NOTIFICATIONS = MaintNotificationsConfig(enabled=False)


def redis_client(url: str, **options: Any) -> Redis:
    """``Redis.from_url`` with a pool of its own that replaces connections a restarted Redis
    closed (see above)."""
    return Redis.from_url(url, maint_notifications_config=NO_MAINTENANCE_NOTIFICATIONS,
                          **options)


class WaitingConnectionPool(ConnectionPool):
    """A ``ConnectionPool`` that waits up to ``wait_timeout`` seconds for a free connection at
    ``max_connections`` instead of failing at once. Waiters are woken in order as connections
    come back; a caller arriving while a connection is free takes it without waiting."""

    def __init__(self, *, wait_timeout: float = 2.0, **kwargs: Any) -> None:
        kwargs.setdefault("maint_notifications_config", NO_MAINTENANCE_NOTIFICATIONS)
        super().__init__(**kwargs)
        self.wait_timeout = wait_timeout
        self._waiters: deque[asyncio.Future[None]] = deque()
        self.connects = 0
        self.waits = 0  # commands that found every connection in use

    async def get_connection(self, *args: Any, **kwargs: Any) -> AbstractConnection:
        deadline: float | None = None
        while True:
            if self.can_get_connection():
                try:
                    return await super().get_connection()
                except MaxConnectionsError:  # taken meanwhile: wait for the next one
                    pass
            woken_before = deadline is not None
            if deadline is None:
                self.waits += 1
                deadline = asyncio.get_running_loop().time() + self.wait_timeout
            await self._wait(deadline, first=woken_before)

    async def _wait(self, deadline: float, first: bool) -> None:
        """Until a connection comes back (``first``: a waiter that was woken but overtaken
        keeps its place at the front)."""
        waiter = asyncio.get_running_loop().create_future()
        if first:
            self._waiters.appendleft(waiter)
        else:
            self._waiters.append(waiter)
        try:
            async with asyncio.timeout_at(deadline):
                await waiter
        except BaseException as exc:
            if waiter.done() and not waiter.cancelled():
                # Woken just as it gave up (timeout or cancellation): a connection is free,
                # and the next waiter must hear of it.
                self._wake_next()
            if isinstance(exc, TimeoutError):
                raise RedisConnectionError("No Redis connection available: the pool's "
                                           f"{self.max_connections} are in use") from None
            raise
        finally:
            if not waiter.done():
                self._waiters.remove(waiter)

    async def release(self, connection: AbstractConnection) -> None:
        await super().release(connection)
        self._wake_next()

    def _wake_next(self) -> None:
        # Waiters that gave up are cancelled futures left in the queue: skipped here.
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                break

    async def ensure_connection(self, connection: AbstractConnection) -> None:
        if not connection.is_connected:
            self.connects += 1
        await super().ensure_connection(connection)

    @property
    def size(self) -> int:
        """Connections the pool holds now (free and in use)."""
        return len(self._available_connections) + len(self._in_use_connections)


async def warm(pool: ConnectionPool, count: int, batch: int = 16) -> int:
    """Open ``count`` of ``pool``'s connections (``batch`` connects at a time, all held until
    the end so none is counted twice) and put them back; returns how many opened. Never raises:
    with Redis away the pool connects on demand, as before, and the callers' fallbacks apply."""
    held: list[AbstractConnection] = []
    try:
        for start in range(0, count, batch):
            results = await asyncio.gather(*(pool.get_connection()
                                             for _ in range(min(batch, count - start))),
                                           return_exceptions=True)
            held += [r for r in results if isinstance(r, AbstractConnection)]
            failure = next((r for r in results if not isinstance(r, AbstractConnection)), None)
            if failure is not None:
                log.warning("Redis pool warm-up stopped after %d connection(s): %r",
                            len(held), failure)
                break
    finally:
        for connection in held:
            await pool.release(connection)
    return len(held)
