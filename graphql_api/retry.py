"""Retries for read-only operations, and only for them.

A read that met an unavailable database (a restart, a failover, a dropped pooled connection) is
safe to try again: it changes nothing. Writes are never retried here: a commit whose
acknowledgement was lost may have happened, and only an idempotency key makes repeating it safe.
Backoff is exponential with jitter (50 ms, 100 ms, ... capped at 500 ms) so replicas do not
retry in lockstep; the total stays well under the client's patience.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
    wait_random,
)

from application.errors import Unavailable

T = TypeVar("T")


async def retry_read(read: Callable[[], Awaitable[T]], attempts: int = 3) -> T:
    """Await ``read()``, calling it again on ``Unavailable`` up to ``attempts`` times in all;
    the last failure is raised as it was."""
    retrying = AsyncRetrying(
        retry=retry_if_exception_type(Unavailable),
        stop=stop_after_attempt(attempts),
        wait=wait_exponential(multiplier=0.05, max=0.5) + wait_random(0, 0.05),
        reraise=True,
    )
    async for attempt in retrying:
        with attempt:
            return await read()
    raise AssertionError("unreachable: tenacity either returned or raised")
