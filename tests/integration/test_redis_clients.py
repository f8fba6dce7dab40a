"""The service's cache clients as the container sets them up: every Redis client parses replies
with hiredis (C), not redis-py's pure-Python parser (the ``redis[hiredis]`` pin must reach them
all), and the in-process level runs its operations without aiocache's timeout wrapper."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from config.container import build_container, shutdown
from config.settings import Settings

pytestmark = pytest.mark.services


async def parser_of(client: Redis) -> str:
    connection = await client.connection_pool.get_connection()
    try:
        return type(connection._parser).__name__
    finally:
        await client.connection_pool.release(connection)


async def test_every_redis_client_of_the_container_parses_with_hiredis(redis_url: str) -> None:
    container = build_container(Settings(redis_url=redis_url))
    try:
        clients = {"cache": container.l2_cache().client,
                   "history": container.history_cache().client,
                   "invalidation": container.invalidation_bus()._client,
                   "events": container.events()._publisher,
                   "event listener": container.events()._listener}
        parsers = {name: await parser_of(client) for name, client in clients.items()}
        assert parsers == dict.fromkeys(clients, "_AsyncHiredisParser")
    finally:
        await container.events().stop()
        await shutdown(container)


async def test_the_in_process_level_runs_without_a_timeout_task() -> None:
    """aiocache wraps each operation of a cache that has a timeout in ``asyncio.wait_for``: a
    task and a pass of the event loop per get or set, for a dict lookup that cannot hang."""
    container = build_container(Settings())
    l1 = container.l1_cache()
    await l1.set("k", 1)
    get = asyncio.ensure_future(l1.get("k"))
    await asyncio.sleep(0)  # one pass: enough unless the get waits for a task of its own
    assert get.done() and await get == 1
