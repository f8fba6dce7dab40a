"""One listening socket per worker (``SO_REUSEPORT``), so the kernel spreads connections evenly.

With ``workers > 1`` uvicorn binds one socket and every worker accepts from it: whichever worker
wakes first takes a burst of connections, and with keep-alive that imbalance lasts as long as
the connections do (measured in docs/PERFORMANCE.md: one worker saturated while another idles).
With ``SO_REUSEPORT`` each worker has its own socket bound to the same address and the kernel
hashes each new connection to one of them.

uvicorn's supervisor (``Multiprocess``: health checks, restarting a dead worker, signals) stays
as it is: it hands the same socket list to every worker it starts, so the list given to it is a
:class:`PerWorkerSockets`, which, when a new worker process unpickles it, claims one socket slot
by locking that slot's lock file (``flock``, released by the kernel when the worker dies, so its
replacement takes the same socket) and closes the other sockets. The supervisor keeps every
socket open, so a connection hashed to the socket of a worker that died waits in that socket's
queue until the replacement accepts it. More workers than sockets (uvicorn's ``SIGTTIN``):
the extra ones share the first socket.
"""

from __future__ import annotations

import fcntl
import os
import socket
import tempfile
from pathlib import Path
from typing import Any

LOCK_NAME = "worker-{}.lock"


def bind_reuse_port(host: str, port: int, backlog: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    sock.set_inheritable(True)
    return sock


class PerWorkerSockets(list):
    """``count`` sockets on ``host:port``; a worker process that unpickles the list gets one."""

    def __init__(self, host: str, port: int, count: int, backlog: int) -> None:
        first = bind_reuse_port(host, port, backlog)
        port = first.getsockname()[1]  # port 0: the others join the port the first one got
        super().__init__([first, *(bind_reuse_port(host, port, backlog)
                                   for _ in range(count - 1))])
        self.lock_dir = tempfile.mkdtemp(prefix="loan-offers-sockets-")

    def __reduce__(self) -> tuple[Any, ...]:
        return claim_socket, (self.lock_dir, list(self))


#: The lock file this process holds (open for the process's lifetime: closing it releases it).
_claimed: list[Any] = []


def claim_socket(lock_dir: str, sockets: list[socket.socket]) -> list[socket.socket]:
    """In a new worker: lock the first free slot, keep its socket, close the others."""
    chosen = 0
    for index in range(len(sockets)):
        handle = open(Path(lock_dir) / LOCK_NAME.format(index), "a")  # noqa: SIM115 (held)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            continue
        _claimed.append(handle)
        chosen = index
        break
    for index, sock in enumerate(sockets):
        if index != chosen:
            sock.close()
    os.environ["LOAN_OFFERS_WORKER_SOCKET"] = str(chosen)  # for logs and tests
    return [sockets[chosen]]
