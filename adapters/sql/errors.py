"""Database failures the caller can do nothing about, as the application's ``Unavailable``.

A stopped, restarting or unreachable server, a connection dropped mid-transaction, a pool with
no free connection in time, a statement cancelled by its timeout: all of these become
``Unavailable`` (GraphQL ``UNAVAILABLE``, safe to retry later) instead of a masked internal
error. Programming errors (bad SQL, constraint violations other than unique keys) stay as they
are and are masked and logged as bugs.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import event
from sqlalchemy import exc as sa
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.ext.asyncio import AsyncEngine

from application.errors import Unavailable

# asyncpg and PostgreSQL conditions that mean "the server is not serving us right now".
_DRIVER_UNAVAILABLE = frozenset({
    "CannotConnectNowError", "ConnectionDoesNotExistError", "ConnectionFailureError",
    "AdminShutdownError", "CrashShutdownError", "QueryCanceledError", "InterfaceError",
    "InternalClientError", "TooManyConnectionsError", "ConnectionRejectionError",
})


def is_unavailable(exc: BaseException) -> bool:
    """True when ``exc``, or what it wraps (``orig``, ``__cause__``), says the server is not
    serving: SQLAlchemy wraps asyncpg's errors in its own, sometimes twice."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen or len(seen) > 10:
            continue
        seen.add(id(current))
        if _unavailable_itself(current):
            return True
        pending += [getattr(current, "orig", None), current.__cause__]
    return False


def _unavailable_itself(exc: BaseException) -> bool:
    if isinstance(exc, sa.TimeoutError | sa.OperationalError | sa.InterfaceError
                  | asyncio.TimeoutError | OSError):
        return True
    if isinstance(exc, sa.DBAPIError) and exc.connection_invalidated:
        return True
    return bool({cls.__name__ for cls in type(exc).__mro__} & _DRIVER_UNAVAILABLE)


def as_unavailable(exc: BaseException) -> Unavailable:
    return Unavailable("the database is unavailable; try again shortly",
                       reason=type(_root_cause(exc)).__name__)


def _root_cause(exc: BaseException) -> BaseException:
    """The driver's own exception under SQLAlchemy's wrappers (``QueryCanceledError``, not
    ``DBAPIError``): what an operator needs in the log line."""
    for _ in range(10):
        inner = getattr(exc, "orig", None) or exc.__cause__
        if inner is None or inner is exc:
            break
        exc = inner
    return exc


def translate_unavailable(engine: AsyncEngine) -> None:
    """Raise ``Unavailable`` for every statement, transaction or connect failure of ``engine``
    that means the server is not serving, whichever adapter used it (units of work, stores with
    their own sessions, probes). Pre-ping failures are left alone: the pool replaces that
    connection and carries on, which is the recovery we want. So are cancellations (and the
    other exit exceptions): SQLAlchemy reports a task cancelled mid-statement as a disconnect,
    and as ``Unavailable`` it was no longer a cancellation, so whoever cancelled (a shutdown
    stopping a background task, a timeout) waited on a task that carried on."""

    @event.listens_for(engine.sync_engine, "handle_error")
    def _translate(context: ExceptionContext) -> None:
        original = context.original_exception
        if context.is_pre_ping or not isinstance(original, Exception):
            return
        if context.is_disconnect or is_unavailable(original):
            raise as_unavailable(original) from context.sqlalchemy_exception or original

    # Connect failures (refused, reset, timed out) reach the caller raw, as OSError or
    # TimeoutError, without passing ``handle_error``: wrap the connect itself.
    @event.listens_for(engine.sync_engine, "do_connect")
    def _connect(dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        try:
            return dialect.connect(*cargs, **cparams)
        except Exception as exc:
            if is_unavailable(exc):
                raise as_unavailable(exc) from exc
            raise
