"""Alembic is the schema: up, down and up again on SQLite and PostgreSQL, matching the tables."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from uuid import uuid4

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sql.database import create_engine
from adapters.sql.migrate import (
    MIGRATION_LOCK_KEY,
    MIGRATIONS_DIR,
    current_revision,
    downgrade_to_base,
    head_revision,
    is_up_to_date,
    upgrade_to_head,
)
from adapters.sql.tables import metadata
from tests.servers import PostgresServer

# Every table the models declare (each migration adds its own); the schema comparison below
# checks their columns, types and indexes.
TABLES = set(metadata.tables)
assert {"applicants", "offers", "pricing_policies", "idempotency_keys"} <= TABLES


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def empty_database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
                       ) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('migrations') / 'm.db'}"
    server = request.getfixturevalue("postgres_server")
    return server.create_database(f"migrations_{uuid4().hex[:12]}")


@pytest.fixture
async def engine(empty_database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(empty_database_url)
    yield engine
    await engine.dispose()


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


def _schema_differences(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


async def test_up_down_up(empty_database_url: str, engine: AsyncEngine) -> None:
    url = empty_database_url
    assert current_revision(url) is None
    assert not await is_up_to_date(engine)

    await asyncio.to_thread(upgrade_to_head, url)
    assert current_revision(url) == head_revision()
    assert await is_up_to_date(engine)
    async with engine.connect() as connection:
        assert await connection.run_sync(_tables) == {*TABLES, "alembic_version"}
        assert await connection.run_sync(_schema_differences) == []

    await asyncio.to_thread(downgrade_to_base, url)
    assert current_revision(url) is None
    assert not await is_up_to_date(engine)
    async with engine.connect() as connection:
        assert await connection.run_sync(_tables) == {"alembic_version"}

    upgrade_to_head(url)  # also callable from inside a running event loop
    assert current_revision(url) == head_revision()
    async with engine.connect() as connection:
        assert await connection.run_sync(_schema_differences) == []
    upgrade_to_head(url)  # idempotent
    assert await is_up_to_date(engine)


def test_the_migrations_ship_inside_the_package() -> None:
    assert (MIGRATIONS_DIR / "env.py").is_file()
    assert (MIGRATIONS_DIR / "script.py.mako").is_file()
    assert "import sqlmodel" in (MIGRATIONS_DIR / "script.py.mako").read_text()
    # The chain is linear and numbered: the head is the highest-numbered file.
    numbers = [p.name[:4] for p in (MIGRATIONS_DIR / "versions").glob("[0-9][0-9][0-9][0-9]_*.py")]
    assert head_revision() == max(numbers)


def test_migrations_run_from_any_working_directory(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    url = f"sqlite+aiosqlite:///{tmp_path / 'elsewhere.db'}"
    upgrade_to_head(url)
    assert current_revision(url) == head_revision()


@pytest.mark.services
async def test_a_migration_waits_for_the_migration_lock(postgres_server: PostgresServer) -> None:
    """Replicas migrating at start-up queue up on a PostgreSQL advisory lock."""
    url = postgres_server.create_database(f"migrations_{uuid4().hex[:12]}")
    engine = create_engine(url, pool_size=1, max_overflow=0)
    code = ("import sys; from adapters.sql.migrate import upgrade_to_head; "
            "upgrade_to_head(sys.argv[1])")
    try:
        async with engine.connect() as holder:
            await holder.execute(text("SELECT pg_advisory_lock(:key)"),
                                 {"key": MIGRATION_LOCK_KEY})
            replica = subprocess.Popen([sys.executable, "-c", code, url], stderr=subprocess.PIPE)
            waiting = 0
            for _ in range(600):
                waiting = (await holder.execute(text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                ))).scalar_one()
                if waiting or replica.poll() is not None:
                    break
                await asyncio.sleep(0.05)
            assert waiting == 1, "the migration did not wait for the lock"
            assert current_revision(url) is None
            await holder.execute(text("SELECT pg_advisory_unlock(:key)"),
                                 {"key": MIGRATION_LOCK_KEY})
            await holder.commit()
        _, stderr = await asyncio.to_thread(replica.communicate, timeout=60)
        assert replica.returncode == 0, stderr.decode()
        assert current_revision(url) == head_revision()
    finally:
        await engine.dispose()


async def test_threads_migrating_at_once_take_turns(empty_database_url: str) -> None:
    await asyncio.gather(*(asyncio.to_thread(upgrade_to_head, empty_database_url)
                           for _ in range(3)))
    assert current_revision(empty_database_url) == head_revision()
