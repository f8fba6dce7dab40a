"""Schema migrations (Alembic), configured in code: works from an installed package and from any
working directory. Alembic is the only source of the schema, on SQLite and PostgreSQL alike.

The sync functions drive async engines with ``asyncio.run``; called from inside a running event
loop they run on a helper thread instead (blocking the caller until done), so they are safe from
both a CLI and async code (prefer ``await asyncio.to_thread(upgrade_to_head, url)`` there).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from adapters.sql.database import async_url, tls_connect_args
from application.pii import PiiProtection

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

#: PostgreSQL advisory lock held (for the transaction) while migrating: replicas that all run
#: ``migrate`` at start-up queue up instead of racing to create the same tables; the later ones
#: then find the database at head.
MIGRATION_LOCK_KEY = 0x6C6F616E5F6F6666  # "loan_off"

T = TypeVar("T")


def alembic_config(database_url: str | None = None, pii: PiiProtection | None = None
                   ) -> Config:
    """``pii``: the keys revisions that seal or open personal data need (0005); without them such
    a revision refuses to run on a database holding applicants."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    config.set_main_option("path_separator", "os")
    if database_url is not None:
        # Passed as an attribute, not an ini option: no %-interpolation of passwords.
        config.attributes["database_url"] = async_url(database_url)
    if pii is not None:
        config.attributes["pii_protection"] = pii
    return config


#: Alembic keeps the running migration in module globals (``alembic.context``, ``alembic.op``):
#: one command at a time per process. Across processes, env.py takes a PostgreSQL advisory lock.
_ALEMBIC_LOCK = threading.Lock()


def _outside_event_loop(function: Callable[[], T]) -> T:
    def locked() -> T:
        with _ALEMBIC_LOCK:
            return function()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return locked()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="alembic") as pool:
        return pool.submit(locked).result()


def _run_async(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return _outside_event_loop(lambda: asyncio.run(make()))


def upgrade_to_head(database_url: str, pii: PiiProtection | None = None) -> None:
    upgrade_to(database_url, "head", pii)


def upgrade_to(database_url: str, revision: str, pii: PiiProtection | None = None) -> None:
    _outside_event_loop(lambda: command.upgrade(alembic_config(database_url, pii), revision))


def downgrade_to_base(database_url: str, pii: PiiProtection | None = None) -> None:
    _outside_event_loop(lambda: command.downgrade(alembic_config(database_url, pii), "base"))


def current_revision(database_url: str) -> str | None:
    """The database's revision; ``None`` for a database never migrated."""

    async def read() -> str | None:
        url, tls = tls_connect_args(async_url(database_url))
        engine = create_async_engine(url, poolclass=NullPool, connect_args=tls)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(_current_revision)
        finally:
            await engine.dispose()

    return _run_async(read)


@lru_cache(maxsize=1)
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    head = _scripts().get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations in {MIGRATIONS_DIR}")
    return head


async def is_up_to_date(engine: AsyncEngine) -> bool:
    """Whether the database is at the head revision (a readiness check: one tiny query)."""
    async with engine.connect() as connection:
        heads = await connection.run_sync(_current_heads)
    return set(heads) == set(_scripts().get_heads())


def _current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _current_heads(connection: Connection) -> tuple[str, ...]:
    return MigrationContext.configure(connection).get_current_heads()
