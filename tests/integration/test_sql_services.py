"""The real-server fixtures themselves: PostgreSQL answers, Redis can go down and come back."""

from __future__ import annotations

import pytest
import redis
from sqlalchemy import text

from adapters.sql.database import create_engine
from tests.servers import PostgresServer, RedisServer, unavailable


async def test_postgres_fixture_serves_a_database(postgres_server: PostgresServer,
                                                  postgres_url: str) -> None:
    assert postgres_url == postgres_server.url("loan_offers_test")
    assert postgres_url.startswith("postgresql+asyncpg://postgres@127.0.0.1:")
    engine = create_engine(postgres_url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as connection:
            version = (await connection.execute(text("SHOW server_version_num"))).scalar_one()
            assert int(version) >= 150000
            assert (await connection.execute(text("SHOW fsync"))).scalar_one() == "off"
    finally:
        await engine.dispose()


def test_redis_can_be_stopped_and_started_on_the_same_port(redis_server: RedisServer,
                                                           redis_url: str) -> None:
    assert redis_url == f"redis://127.0.0.1:{redis_server.port}/0"
    with redis.Redis.from_url(redis_url, socket_timeout=1) as client:
        client.set("k", "v")
        assert client.get("k") == b"v"

    redis_server.stop()
    assert not redis_server.running
    with redis.Redis.from_url(redis_url, socket_timeout=1) as client, \
            pytest.raises(redis.ConnectionError):
        client.ping()

    redis_server.start()
    with redis.Redis.from_url(redis_url, socket_timeout=1) as client:
        assert client.ping()
        assert client.get("k") is None  # no persistence: a restart is a cold cache


def test_redis_is_flushed_and_running_for_each_test(redis_server: RedisServer) -> None:
    assert redis_server.running
    redis_server.stop()  # the fixture brings it back for the next test


def test_redis_is_back_after_a_test_stopped_it(redis_url: str) -> None:
    with redis.Redis.from_url(redis_url, socket_timeout=1) as client:
        assert client.ping()
        assert client.dbsize() == 0


@pytest.mark.parametrize(("required", "outcome"), [
    ("", pytest.skip.Exception), ("0", pytest.skip.Exception), ("1", pytest.fail.Exception),
])
def test_a_missing_server_skips_unless_services_are_required(
        monkeypatch: pytest.MonkeyPatch, required: str, outcome: type[BaseException]) -> None:
    monkeypatch.setenv("REQUIRE_SERVICES", required)
    with pytest.raises(outcome, match="not installed"):
        unavailable("redis-server not installed")
