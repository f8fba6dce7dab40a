"""Integration fixtures: real PostgreSQL and Redis servers, migrated databases, units of work.

Servers (session scoped, started on first use, see ``tests/servers.py``):

* ``postgres_server``: a :class:`~tests.servers.PostgresServer` (``url(db)``,
  ``create_database(name)``, ``stop()``/``start()``).
* ``postgres_url``: ``postgresql+asyncpg://postgres@127.0.0.1:PORT/loan_offers_test`` (empty).
* ``redis_server``: a running :class:`~tests.servers.RedisServer` (``url``, ``port``, ``stop()``,
  ``start()``, ``restart()``), flushed before each test and running again after it.
* ``redis_url``: ``redis://127.0.0.1:PORT/0`` of that server; ``l2``: the applicant cache's
  Redis level (aiocache) on it.

Databases: ``database_url`` is parametrised over ``sqlite`` (a temp file) and ``postgresql``,
migrated to head once per session; ``sql_engine`` is an engine on it; ``uow_factory`` a
:class:`~adapters.sql.unit_of_work.SqlUnitOfWorkFactory` over emptied tables.

Tests that use a server are marked ``services`` automatically.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

PROJECT_ROOT = Path(__file__).resolve().parents[2]
if str(PROJECT_ROOT) not in sys.path:  # `tests.servers` also under a bare `pytest` run
    sys.path.insert(0, str(PROJECT_ROOT))

from adapters.demo.portfolio import generate_applicants  # noqa: E402
from adapters.sql.database import create_engine, session_factory  # noqa: E402
from adapters.sql.migrate import upgrade_to_head  # noqa: E402
from adapters.sql.tables import metadata  # noqa: E402
from adapters.sql.unit_of_work import SqlUnitOfWorkFactory  # noqa: E402
from domain.applicant import Applicant, LoanRequest  # noqa: E402
from domain.offer_engine import generate_offer_set  # noqa: E402
from domain.offers import OfferSet  # noqa: E402
from domain.policy.model import PricingPolicy  # noqa: E402
from domain.policy.parsing import parse_policy_toml  # noqa: E402
from tests.pii import dev_pii  # noqa: E402
from tests.servers import (  # noqa: E402
    PostgresServer,
    RedisServer,
    running_postgres,
    running_redis,
)

SERVICE_FIXTURES = {"postgres_server", "postgres_url", "redis_server", "redis_url",
                    "_redis_process"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SERVICE_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.services)


# --- servers ------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    with running_postgres() as server:
        yield server


@pytest.fixture(scope="session")
def postgres_url(postgres_server: PostgresServer) -> str:
    return postgres_server.create_database("loan_offers_test")


@pytest.fixture(scope="session")
def _redis_process() -> Iterator[RedisServer]:
    with running_redis() as server:
        yield server


@pytest.fixture
def redis_server(_redis_process: RedisServer) -> Iterator[RedisServer]:
    import redis

    _redis_process.start()
    with redis.Redis.from_url(_redis_process.url) as client:
        client.flushall()
    yield _redis_process
    _redis_process.start()  # a test that took Redis down leaves it up for the next one


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    return redis_server.url


@pytest.fixture
async def l2(redis_url: str) -> AsyncIterator:
    """The applicant cache's Redis level as the container builds it (aiocache ``RedisCache``)."""
    from config.container import _redis_cache
    from config.settings import Settings

    cache = _redis_cache(Settings(redis_url=redis_url, cache_timeout_s=0.5))
    yield cache
    await cache.close()


# --- databases ----------------------------------------------------------------------------------

@pytest.fixture(scope="session", params=["sqlite", pytest.param("postgresql",
                                                                 marks=pytest.mark.services)])
async def database_url(request: pytest.FixtureRequest,
                       tmp_path_factory: pytest.TempPathFactory) -> str:
    """A database migrated to head: a SQLite file, or a PostgreSQL database on the test server."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('sqlite') / 'loan_offers.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    await asyncio.to_thread(upgrade_to_head, url)
    return url


@pytest.fixture(scope="session")
async def sql_engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url, pool_size=5, max_overflow=5)
    yield engine
    await engine.dispose()


@pytest.fixture
async def uow_factory(sql_engine: AsyncEngine) -> SqlUnitOfWorkFactory:
    """Units of work on emptied tables."""
    async with sql_engine.begin() as connection:
        for table in reversed(metadata.sorted_tables):
            if not table.info.get("append_only"):  # the audit trail refuses DELETE
                await connection.execute(table.delete())
    return SqlUnitOfWorkFactory(session_factory(sql_engine), pii=dev_pii())


# --- domain objects -----------------------------------------------------------------------------

POLICY_FILE = PROJECT_ROOT / "config" / "policies" / "default.toml"

#: A Monday morning, so every offer's validity window is fixed.
NOW = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def policy_toml() -> str:
    return POLICY_FILE.read_text()


@pytest.fixture(scope="session")
def policy(policy_toml: str) -> PricingPolicy:
    return parse_policy_toml(policy_toml)


@pytest.fixture(scope="session")
def applicant() -> Applicant:
    return next(iter(generate_applicants(1, start=42)))


OfferSetFactory = Callable[..., OfferSet]


@pytest.fixture(scope="session")
def make_offer_set(policy: PricingPolicy, applicant: Applicant) -> OfferSetFactory:
    """``make_offer_set(now=NOW, who=applicant, request=LoanRequest())``: a real engine answer
    with fresh, unique offer ids."""

    def make(now: datetime = NOW, who: Applicant = applicant,
             request: LoanRequest | None = None) -> OfferSet:
        return generate_offer_set(policy, who, request or LoanRequest(), now,
                                  lambda: uuid4().hex)

    return make
