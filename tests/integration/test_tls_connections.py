"""PostgreSQL and Redis over TLS through the service's own settings.

A PostgreSQL cluster that accepts TLS only (``ssl=on``, ``hostssl`` in pg_hba.conf) and a Redis
with only a ``--tls-port``, both with certificates from a throwaway CA: the database URL's libpq
parameters (``sslmode``, ``sslrootcert``) and ``rediss://...?ssl_ca_certs=`` reach every client
(engine, migrations, cache, event bus, invalidation bus, rate limiter); without TLS, or with a CA
that did not sign the server's certificate, nothing connects.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy import text

from adapters.ratelimit.limits_limiter import LimitsRateLimiter
from adapters.sql.database import create_engine, tls_connect_args
from adapters.sql.migrate import current_revision
from application.errors import Unavailable
from config.container import build_container, shutdown
from config.settings import Settings
from tests.servers import (
    PostgresServer,
    RedisServer,
    TlsFiles,
    make_tls_files,
    running_postgres,
    running_redis,
)

pytestmark = [pytest.mark.slow, pytest.mark.services]

SSL_OF_THIS_SESSION = "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()"


@pytest.fixture(scope="module")
def postgres_tls() -> Iterator[PostgresServer]:
    with running_postgres(tls=True) as server:
        yield server


@pytest.fixture(scope="module")
def database(postgres_tls: PostgresServer) -> str:
    return postgres_tls.create_database("loan_offers_tls")


@pytest.fixture(scope="module")
def other_ca(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A CA that did not sign the servers' certificates."""
    return make_tls_files(tmp_path_factory.mktemp("other-ca"))


def with_tls(url: str, mode: str, ca: Path | None = None) -> str:
    return f"{url}?sslmode={mode}" + (f"&sslrootcert={quote(str(ca))}" if ca else "")


async def session_tls(url: str) -> tuple[bool, str]:
    engine = create_engine(url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as connection:
            row = (await connection.execute(text(SSL_OF_THIS_SESSION))).one()
            return row.ssl, row.version
    finally:
        await engine.dispose()


def test_libpq_tls_parameters_become_asyncpg_arguments() -> None:
    url, args = tls_connect_args("postgresql+asyncpg://app:pw@db:5432/offers"
                                 "?sslmode=verify-full&sslrootcert=/etc/ca.pem&application_name=x")
    assert url == "postgresql+asyncpg://app:pw@db:5432/offers?application_name=x"
    assert args == {"dsn": "postgresql://?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem"}
    sqlite = "sqlite+aiosqlite:///offers.db"
    assert tls_connect_args(sqlite) == (sqlite, {})


async def test_verify_full_migrates_and_serves_over_tls(postgres_tls: PostgresServer,
                                                        database: str, tmp_path: Path) -> None:
    url = with_tls(database, "verify-full", postgres_tls.tls.ca)
    # The command a deployment runs, with the URL from its settings.
    env = {**os.environ, "LOAN_OFFERS_DATABASE_URL": url}
    migrate = subprocess.run([str(Path(sys.executable).with_name("loan-offers")), "migrate"],
                             env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert migrate.returncode == 0, migrate.stderr
    assert await asyncio.to_thread(current_revision, url) is not None
    container = build_container(Settings(database_url=url, redis_url=None))
    try:
        async with container.engine().connect() as connection:
            row = (await connection.execute(text(SSL_OF_THIS_SESSION))).one()
        assert row.ssl is True and row.version in ("TLSv1.2", "TLSv1.3")
        report = await container.api_services().readiness()
        assert report["checks"]["database"] == "ok", report
    finally:
        await container.engine().dispose()


async def test_require_encrypts_without_a_ca(database: str) -> None:
    assert (await session_tls(with_tls(database, "require")))[0] is True


async def test_without_tls_the_server_refuses(database: str) -> None:
    with pytest.raises(Exception, match="no encryption"):
        await session_tls(with_tls(database, "disable"))


async def test_verify_full_refuses_a_certificate_from_another_ca(database: str,
                                                                 other_ca: TlsFiles) -> None:
    with pytest.raises(Unavailable) as refused:  # the service's typed error, for a client
        await session_tls(with_tls(database, "verify-full", other_ca.ca))
    assert isinstance(refused.value.__cause__, ssl.SSLCertVerificationError)


# --- Redis ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def redis_tls() -> Iterator[RedisServer]:
    with running_redis(tls=True) as server:
        yield server


async def test_every_redis_client_works_over_rediss(redis_tls: RedisServer, tmp_path: Path) -> None:
    assert redis_tls.url.startswith("rediss://")
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'x.db'}",
                        redis_url=redis_tls.url, rate_limit_enabled=True)
    container = build_container(settings)
    try:
        cache = container.applicant_cache()
        assert await cache.health() == "ok"
        l2 = container.l2_cache()
        await l2.set("tls-probe", "over TLS")
        assert await l2.get("tls-probe") == "over TLS"
        events = container.events()
        await events.start()
        try:
            assert await events.wait_until_listening(timeout_s=10)
        finally:
            await events.stop()
        await cache.start()  # the invalidation bus subscribes over TLS
        limiter = LimitsRateLimiter("10/minute", "5/minute", redis_tls.url, timeout_s=2)
        assert (await limiter.charge("tls-user", 1, 0)).allowed
        assert limiter.fallbacks == 0 and limiter.using_shared
    finally:
        await shutdown(container)


async def test_rediss_without_the_ca_and_plain_redis_are_refused(redis_tls: RedisServer,
                                                                 other_ca: TlsFiles) -> None:
    plain = f"redis://127.0.0.1:{redis_tls.port}/0"
    wrong_ca = f"rediss://127.0.0.1:{redis_tls.port}/0?ssl_ca_certs={quote(str(other_ca.ca))}"
    for url in (plain, wrong_ca):
        client = Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        try:
            with pytest.raises(RedisConnectionError):  # a reset, or a verification error
                await client.ping()
        finally:
            await client.aclose()


# --- client certificates (mutual TLS) ------------------------------------------------------------

async def test_a_client_certificate_from_the_url_satisfies_a_server_that_requires_one(
        postgres_tls: PostgresServer) -> None:
    database = postgres_tls.create_database(PostgresServer.MTLS_DATABASE)
    files = postgres_tls.tls
    with pytest.raises(Exception, match="requires a valid client certificate"):
        await session_tls(with_tls(database, "verify-full", files.ca))
    with_certificate = (with_tls(database, "verify-full", files.ca)
                        + f"&sslcert={quote(str(files.client_cert))}"
                        + f"&sslkey={quote(str(files.client_key))}")
    assert (await session_tls(with_certificate))[0] is True


async def test_rediss_with_a_client_certificate(tmp_path: Path) -> None:
    with running_redis(client_certificates=True) as server:
        assert "ssl_certfile=" in server.url
        container = build_container(Settings(
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", redis_url=server.url))
        try:
            assert await container.applicant_cache().health() == "ok"
        finally:
            await shutdown(container)
        without = server.url.split("&ssl_certfile=")[0]  # the CA only: Redis refuses
        client = Redis.from_url(without, socket_timeout=2, socket_connect_timeout=2)
        try:
            with pytest.raises(RedisConnectionError):
                await client.ping()
        finally:
            await client.aclose()
