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
    if isinstance(exc, sa.TimeoutError | sa.OperationalError | sa.InterfaceError
                  | asyncio.TimeoutError | OSError):
        return True
    if isinstance(exc, sa.DBAPIError):
        if exc.connection_invalidated:
            return True
        exc = exc.orig or exc
    names = {cls.__name__ for cls in type(exc).__mro__}
    return bool(names & _DRIVER_UNAVAILABLE)


def as_unavailable(exc: BaseException) -> Unavailable:
    return Unavailable("the database is unavailable; try again shortly",
                       reason=type(exc).__name__)
