"""Alembic environment: async engines (asyncpg, aiosqlite), one schema for both databases.

The database URL comes from ``config.attributes["database_url"]`` (set by
:mod:`adapters.sql.migrate`), else ``sqlalchemy.url``, else ``LOAN_OFFERS_DATABASE_URL``. A caller
may also hand over an open sync connection as ``config.attributes["connection"]``.

Batch mode lets the same migration scripts alter tables on SQLite (copy-and-move) and on
PostgreSQL (plain ``ALTER TABLE``). Migrations run without the app engine's SQLite
``foreign_keys=ON``: a batch table copy must not cascade deletes.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from adapters.sql.database import tls_connect_args
from adapters.sql.migrate import MIGRATION_LOCK_KEY
from adapters.sql.tables import UtcDateTime, metadata

config = context.config


def _database_url() -> str:
    url = (config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url")
           or os.environ.get("LOAN_OFFERS_DATABASE_URL"))
    if not url:
        raise RuntimeError("no database URL: set LOAN_OFFERS_DATABASE_URL")
    return url


def _render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | bool:
    """Render our column types as plain SQLAlchemy types, so revisions never import the app."""
    if type_ == "type" and isinstance(obj, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _configure(**options: Any) -> None:
    context.configure(target_metadata=metadata, render_as_batch=True, compare_type=True,
                      render_item=_render_item, **options)


def _run(connection: Connection) -> None:
    _configure(connection=connection)
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":  # replicas migrating at start-up queue up
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                               {"key": MIGRATION_LOCK_KEY})
        context.run_migrations()


async def _run_async(url: str) -> None:
    url, tls = tls_connect_args(url)  # libpq's sslmode, sslrootcert... as asyncpg arguments
    engine = create_async_engine(url, poolclass=NullPool, connect_args=tls)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    _configure(url=_database_url(), literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()
elif (connection := config.attributes.get("connection")) is not None:
    _run(connection)
else:
    asyncio.run(_run_async(_database_url()))
