"""Engine settings actually reach the database."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import event, text

from adapters.sql.database import async_url, create_engine, is_memory_sqlite
from application.errors import Unavailable
from config.settings import Settings


async def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'pragmas.db'}",
                           statement_timeout_ms=1234)
    try:
        async with engine.connect() as connection:
            assert (await connection.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
            assert (await connection.execute(text("PRAGMA foreign_keys"))).scalar() == 1
            assert (await connection.execute(text("PRAGMA busy_timeout"))).scalar() == 1234
    finally:
        await engine.dispose()


async def test_in_memory_sqlite_is_one_shared_database() -> None:
    url = "sqlite+aiosqlite:///:memory:"
    assert is_memory_sqlite(url) and not is_memory_sqlite("sqlite+aiosqlite:///x.db")
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE t (x INTEGER)"))
        async with engine.connect() as connection:
            assert (await connection.execute(text("SELECT count(*) FROM t"))).scalar() == 0
    finally:
        await engine.dispose()


@pytest.mark.services
async def test_postgresql_statements_time_out(postgres_url: str) -> None:
    engine = create_engine(postgres_url, statement_timeout_ms=300, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as connection:
            assert (await connection.execute(text("SHOW statement_timeout"))).scalar() == "300ms"
            # A statement timeout means "not serving now": the application's Unavailable,
            # caused by PostgreSQL's own cancellation.
            with pytest.raises(Unavailable) as raised:
                await connection.execute(text("SELECT pg_sleep(5)"))
            assert "statement timeout" in str(raised.value.__cause__)
            assert raised.value.details["reason"] == "QueryCanceledError"
    finally:
        await engine.dispose()


def test_other_databases_are_refused() -> None:
    with pytest.raises(ValueError, match="unsupported database URL") as raised:
        create_engine("mysql+aiomysql://user:secret@db/x")
    assert "secret" not in str(raised.value)


@pytest.mark.parametrize(("given", "expected"), [
    ("postgresql://u:p@h:5432/db", "postgresql+asyncpg://u:p@h:5432/db"),
    ("postgres://u@h/db", "postgresql+asyncpg://u@h/db"),
    ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg://u@h/db"),
    ("sqlite:///./x.db", "sqlite+aiosqlite:///./x.db"),
    ("sqlite+aiosqlite:///:memory:", "sqlite+aiosqlite:///:memory:"),
])
def test_driverless_urls_get_the_async_driver(given: str, expected: str) -> None:
    assert async_url(given) == expected


def test_sync_drivers_are_refused() -> None:
    with pytest.raises(ValueError, match="unsupported database URL"):
        create_engine("postgresql+psycopg2://u@h/db")


async def _backend_pid(engine) -> int:
    async with engine.connect() as connection:
        return (await connection.execute(text("SELECT pg_backend_pid()"))).scalar()


async def _terminate(postgres_url: str, pid: int) -> None:
    other = create_engine(postgres_url, pool_size=1, max_overflow=0)
    try:
        async with other.connect() as connection:
            await connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        await other.dispose()


@pytest.mark.services
async def test_an_idle_connection_dropped_by_the_server_is_replaced_unseen(
        postgres_url: str) -> None:
    """Idle past ``ping_after_idle_s``: pinged at checkout, and a dead one replaced."""
    engine = create_engine(postgres_url, pool_size=1, max_overflow=0, ping_after_idle_s=0)
    try:
        first = await _backend_pid(engine)
        await _terminate(postgres_url, first)  # a failover, or an idle timeout of a proxy
        assert await _backend_pid(engine) != first  # no error: the ping found it dead
    finally:
        await engine.dispose()


@pytest.mark.services
async def test_a_connection_used_moments_ago_is_not_pinged(postgres_url: str) -> None:
    """The other side of the trade: within ``ping_after_idle_s`` there is no ping, so a
    connection killed meanwhile fails its statement (as a typed ``Unavailable``), and the pool
    drops it so the next checkout reconnects."""
    engine = create_engine(postgres_url, pool_size=1, max_overflow=0, ping_after_idle_s=3600)
    try:
        first = await _backend_pid(engine)
        await _terminate(postgres_url, first)
        with pytest.raises(Unavailable):
            await _backend_pid(engine)
        assert await _backend_pid(engine) != first
    finally:
        await engine.dispose()


@pytest.mark.services
async def test_the_default_pool_keeps_its_connections_through_a_burst(postgres_url: str) -> None:
    """More units of work at once than the pool holds: with the default settings they wait for
    a kept connection; none is opened beyond ``db_pool_size`` and none is closed on return
    (overflow connections were opened and closed again every few requests under load)."""
    settings = Settings(database_url=postgres_url)
    engine = create_engine(postgres_url, pool_size=settings.db_pool_size,
                           max_overflow=settings.db_max_overflow,
                           pool_timeout=settings.db_pool_timeout_s)
    opened, closed = [], []
    event.listen(engine.sync_engine.pool, "connect", lambda *_: opened.append(1))
    event.listen(engine.sync_engine.pool, "close", lambda *_: closed.append(1))

    async def unit() -> int:
        async with engine.connect() as connection:
            return (await connection.execute(text("SELECT 1 FROM pg_sleep(0.01)"))).scalar_one()

    try:
        for _ in range(2):
            results = await asyncio.gather(*(unit() for _ in range(3 * settings.db_pool_size)))
            assert results == [1] * (3 * settings.db_pool_size)
        assert 0 < len(opened) <= settings.db_pool_size
        assert closed == []
    finally:
        await engine.dispose()


@pytest.mark.services
async def test_the_connection_returned_last_is_handed_out_first(postgres_url: str) -> None:
    """Below full load the same connection serves unit after unit (it was used moments ago:
    no ping); the others stay idle instead of each being taken in turn after idling."""
    engine = create_engine(postgres_url, pool_size=3, max_overflow=0)

    async def pid_while_others_run(pause: float) -> int:
        async with engine.connect() as connection:
            return (await connection.execute(
                text("SELECT pg_backend_pid() FROM pg_sleep(:s)"), {"s": pause})).scalar_one()

    try:
        opened = set(await asyncio.gather(*(pid_while_others_run(0.05) for _ in range(3))))
        assert len(opened) == 3
        one_after_another = {await pid_while_others_run(0) for _ in range(6)}
        assert len(one_after_another) == 1
    finally:
        await engine.dispose()


@pytest.mark.services
async def test_a_cancelled_statement_is_a_cancellation_not_an_outage(postgres_url: str) -> None:
    """Cancelling the task that awaits a statement (a shutdown stopping a background task, a
    timeout around it) must cancel it: read as "database unavailable", the cancellation was
    swallowed, and the expiry sweeper carried on past a SIGTERM, holding the shutdown."""
    engine = create_engine(postgres_url, pool_size=1, max_overflow=0)
    try:
        async def sleep_in_the_database() -> None:
            async with engine.connect() as connection:
                await connection.execute(text("SELECT pg_sleep(5)"))

        task = asyncio.create_task(sleep_in_the_database())
        await asyncio.sleep(0.3)  # the statement is running
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        async with engine.connect() as connection:  # and the pool still serves
            assert (await connection.execute(text("SELECT 1"))).scalar_one() == 1
    finally:
        await engine.dispose()
