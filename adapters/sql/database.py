"""Async engines and sessions for PostgreSQL (asyncpg) and SQLite (aiosqlite).

PostgreSQL over TLS: libpq's URL parameters work (``sslmode``, ``sslrootcert``, ``sslcert``,
``sslkey``...; see :func:`tls_connect_args`), as does asyncpg's own ``ssl=``.

PostgreSQL: a bounded pool whose connections are pinged at checkout when they have been idle
for ``ping_after_idle_s`` (connections dropped by a failover or an idle timeout are replaced, not
handed to a request), a connect timeout, and a server-side statement timeout
backed by asyncpg's client-side command timeout. A server that is down, restarting or too slow
raises the application's ``Unavailable`` from any session (``adapters.sql.errors``).

SQLite: WAL (readers never block the writer), a busy timeout instead of immediate "database is
locked" errors, and enforced foreign keys. An in-memory database is one shared connection.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.pool import StaticPool
from sqlmodel.ext.asyncio.session import AsyncSession

from adapters.sql.errors import translate_unavailable

_ASYNC_DRIVERS = {"postgres": "postgresql+asyncpg", "postgresql": "postgresql+asyncpg",
                  "sqlite": "sqlite+aiosqlite"}


def async_url(url: str) -> str:
    """``postgres://``/``postgresql://`` -> ``postgresql+asyncpg://``, ``sqlite://`` ->
    ``sqlite+aiosqlite://``; URLs naming a driver are returned unchanged."""
    scheme, sep, rest = url.partition("://")
    return f"{_ASYNC_DRIVERS.get(scheme, scheme)}{sep}{rest}"


# libpq's TLS parameters (``?sslmode=verify-full&sslrootcert=/etc/ca.pem``). SQLAlchemy hands URL
# query parameters to ``asyncpg.connect()`` as keywords, where asyncpg takes only its own ``ssl``;
# these names asyncpg reads from a DSN, applying them as libpq does (modes, CA, client
# certificate, CRL, TLS versions).
LIBPQ_TLS_PARAMETERS = frozenset({
    "sslmode", "sslrootcert", "sslcert", "sslkey", "sslpassword", "sslcrl", "sslnegotiation",
    "ssl_min_protocol_version", "ssl_max_protocol_version",
})


def tls_connect_args(url: str) -> tuple[str, dict[str, Any]]:
    """``url`` without libpq's TLS parameters, and the asyncpg arguments that carry them: a DSN
    naming no host, user or database (those still come from the URL). Other URLs unchanged."""
    parsed = make_url(url)
    tls = {name: value for name, value in parsed.query.items() if name in LIBPQ_TLS_PARAMETERS}
    if not tls or parsed.get_backend_name() != "postgresql":
        return url, {}
    rest = parsed.difference_update_query(tls).render_as_string(hide_password=False)
    return rest, {"dsn": "postgresql://?" + urlencode(tls, doseq=True)}


COMMAND_TIMEOUT_MARGIN_S = 1.0


def create_engine(
    url: str,
    *,
    pool_size: int = 10,
    max_overflow: int = 20,
    pool_timeout: float = 5,
    statement_timeout_ms: int = 5000,
    connect_timeout_s: float = 5,
    echo: bool = False,
    ping_after_idle_s: float = 1.0,
) -> AsyncEngine:
    """An ``AsyncEngine`` for ``postgresql+asyncpg://`` or ``sqlite+aiosqlite://`` URLs (see
    :func:`async_url` for the driverless spellings)."""
    url = async_url(url)
    driver = make_url(url).drivername
    if driver == "postgresql+asyncpg":
        url, tls = tls_connect_args(url)
        engine = create_async_engine(
            url,
            echo=echo,
            # PostgreSQL's default, pinned: the fast paths' reads outside a transaction
            # (``adapters/sql/pg_fast.py``) see what they would inside one only at this level.
            isolation_level="READ COMMITTED",
            pool_size=pool_size,
            # The connection returned last is handed out first: below full load the same few
            # stay busy (no ping, see ``ping_after_idle``) and the rest sit idle, instead of
            # every checkout taking the longest-idle one, pinged first once it idled a second.
            pool_use_lifo=True,
            max_overflow=max_overflow,
            pool_timeout=pool_timeout,
            connect_args={
                "timeout": connect_timeout_s,
                # A backstop for a server that stops answering: a little later than the
                # server's own statement timeout, so a slow statement fails with PostgreSQL's
                # clear "canceling statement due to statement timeout" (equal values raced).
                "command_timeout": statement_timeout_ms / 1000 + COMMAND_TIMEOUT_MARGIN_S,
                "server_settings": {"statement_timeout": str(statement_timeout_ms)},
                **tls,
            },
        )
        translate_unavailable(engine)
        ping_after_idle(engine, ping_after_idle_s)
        return engine
    if driver == "sqlite+aiosqlite":
        return _sqlite_engine(url, pool_size=pool_size, max_overflow=max_overflow,
                              pool_timeout=pool_timeout, busy_timeout_ms=statement_timeout_ms,
                              echo=echo)
    raise ValueError(f"unsupported database URL {make_url(url).render_as_string()!r}: "
                     "use postgresql+asyncpg:// or sqlite+aiosqlite://")


def ping_after_idle(engine: AsyncEngine, idle_s: float,
                    monotonic: Callable[[], float] = time.monotonic) -> None:
    """Ping a pooled connection at checkout only when it sat idle for ``idle_s`` or more.

    SQLAlchemy's ``pool_pre_ping`` pings at every checkout: with asyncpg that is three round
    trips (``BEGIN``, an empty query, ``ROLLBACK``) in front of every unit of work, about 3% of
    a ``loanOffers`` answer's CPU under load, where connections go back and forth within
    milliseconds. A connection that has just been used works (or its failure is a disconnect
    error that makes SQLAlchemy discard the whole pool's connections, so the next checkouts
    reconnect); one that sat idle may have been dropped by a failover, a proxy or an idle
    timeout meanwhile, and is pinged (a failed ping: discarded and replaced, the request never
    sees it). ``idle_s`` 0 pings every checkout, like ``pool_pre_ping``."""
    pool = engine.sync_engine.pool

    @event.listens_for(pool, "checkin")
    def _returned(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = monotonic()

    @event.listens_for(pool, "checkout")
    def _handed_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.pop("idle_since", None)
        if idle_since is None or monotonic() - idle_since < idle_s:
            return  # new, or used moments ago
        try:
            dbapi_connection.ping()
        except Exception as exc:  # the pool replaces the connection and tries another
            raise DisconnectionError(f"idle connection failed its ping: {exc!r}") from exc


def is_memory_sqlite(url: str) -> bool:
    u = make_url(url)
    return u.get_backend_name() == "sqlite" and (
        u.database in (None, "", ":memory:") or u.query.get("mode") == "memory")


def _sqlite_engine(url: str, *, pool_size: int, max_overflow: int, pool_timeout: float,
                   busy_timeout_ms: int, echo: bool) -> AsyncEngine:
    memory = is_memory_sqlite(url)
    pool: dict[str, Any] = (
        {"poolclass": StaticPool} if memory
        else {"pool_size": pool_size, "max_overflow": max_overflow, "pool_timeout": pool_timeout}
    )
    engine = create_async_engine(url, echo=echo, **pool)

    @event.listens_for(engine.sync_engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            if not memory:
                cursor.execute("PRAGMA journal_mode=WAL")
                # Survives application crashes; a power cut may lose the last commits (SQLite
                # serves development and tests, production runs PostgreSQL).
                cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    return engine


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions for units of work. Objects stay readable after commit (no expiry)."""
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)
