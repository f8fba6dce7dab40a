"""Database failures the caller can do nothing about, as the application's ``Unavailable``.

A stopped, restarting or unreachable server, a connection dropped mid-transaction, a pool with
no free connection in time, a statement cancelled by its timeout: all of these become
``Unavailable`` (GraphQL ``UNAVAILABLE``, safe to retry later) instead of a masked internal
error. Programming errors (bad SQL, constraint violations other than unique keys) stay as they
are and are masked and logged as bugs.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import exc as sa

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
                       reason=type(exc).__name__)
