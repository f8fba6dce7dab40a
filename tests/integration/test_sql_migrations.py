"""Alembic is the schema: up, down and up again on SQLite and PostgreSQL, matching the tables."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from uuid import uuid4

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sql.database import create_engine
from adapters.sql.migrate import (
    MIGRATIONS_DIR,
    current_revision,
    downgrade_to_base,
    head_revision,
    is_up_to_date,
    upgrade_to_head,
)
from adapters.sql.tables import metadata

TABLES = {"applicants", "applicant_behavior", "offer_decisions", "offers", "pricing_policies"}


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
    assert head_revision() == "0001"


def test_migrations_run_from_any_working_directory(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    url = f"sqlite+aiosqlite:///{tmp_path / 'elsewhere.db'}"
    upgrade_to_head(url)
    assert current_revision(url) == head_revision()
