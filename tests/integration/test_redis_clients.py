"""The service's Redis clients parse replies with hiredis (C), not redis-py's pure-Python parser:
the ``redis[hiredis]`` pin must reach every client the container builds."""

from __future__ import annotations

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
