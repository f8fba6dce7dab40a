"""Shared set-up of the PostgreSQL fast-path tests: a migrated database emptied of every table
but the append-only ones, units of work on it, and the repositories' portable statements on demand."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sql.database import create_engine, session_factory
from adapters.sql.migrate import upgrade_to_head
from adapters.sql.tables import metadata
from adapters.sql.unit_of_work import SqlUnitOfWorkFactory
from tests.integration.conftest import NOW
from tests.pii import dev_pii


async def emptied_engine(postgres_url: str, **options: Any) -> AsyncEngine:
    """An engine (``create_engine`` options) on the migrated database, its tables emptied."""
    await asyncio.to_thread(upgrade_to_head, postgres_url)
    engine = create_engine(postgres_url, **options)
    async with engine.begin() as connection:
        for table in reversed(metadata.sorted_tables):
            if not table.info.get("append_only"):
                await connection.execute(table.delete())
    return engine


def portable_statements(monkeypatch: pytest.MonkeyPatch, *modules: ModuleType
                        ) -> Callable[[], Any]:
    """``with use():`` runs the portable statements of ``modules`` on PostgreSQL."""

    @contextlib.contextmanager
    def use() -> Iterator[None]:
        with monkeypatch.context() as patch:
            for module in modules:
                patch.setattr(module, "is_asyncpg", lambda _session: False)
            yield

    return use


def units_of_work(engine: AsyncEngine) -> SqlUnitOfWorkFactory:
    """Units of work on ``engine`` at the tests' fixed ``NOW`` with the development PII keys."""
    return SqlUnitOfWorkFactory(session_factory(engine), now=lambda: NOW, pii=dev_pii())
