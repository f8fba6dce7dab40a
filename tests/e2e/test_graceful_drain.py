"""SIGTERM drains keep-alive connections before the shutdown (config/graceful_drain.py).

A proxy holding an idle keep-alive connection to a replica may send a request on it just as the
replica stops. Without the drain uvicorn closes idle connections at once and that request meets
a reset (a 502 the proxy may not retry, for a POST). With it, new connections are refused at
once (safe to retry elsewhere) and a request on a connection that was already open is answered,
with ``Connection: close``. Real ``loan-offers serve`` processes, raw sockets.
"""

from __future__ import annotations

import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import UvicornServer, run_cli

pytestmark = pytest.mark.slow

DRAIN_S = 6.0
LIVEZ = b"GET /livez HTTP/1.1\r\nHost: test\r\n\r\n"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    metrics = tmp_path / "metrics"
    metrics.mkdir()
    env = {"LOAN_OFFERS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'drain.db'}",
            "LOAN_OFFERS_PROFILE": "dev", "LOAN_OFFERS_LOG_LEVEL": "INFO",
            "LOAN_OFFERS_SHUTDOWN_DRAIN_S": str(DRAIN_S),
            "LOAN_OFFERS_EXPIRY_SWEEP_INTERVAL_S": "0",
            "PROMETHEUS_MULTIPROC_DIR": str(metrics)}
    run_cli(env, "migrate")
    return env


def served(workers: int, env: dict[str, str]) -> Iterator[UvicornServer]:
    server = UvicornServer(env, workers=workers)
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def one_worker(env: dict[str, str]) -> Iterator[UvicornServer]:
    yield from served(1, env)


@pytest.fixture
def two_workers(env: dict[str, str]) -> Iterator[UvicornServer]:
    yield from served(2, env)


def keep_alive(port: int) -> socket.socket:
    """A connection answered once and left open, idle (as a proxy's pooled connection is)."""
    conn = socket.create_connection(("127.0.0.1", port), timeout=10)
    assert exchange(conn).startswith(b"HTTP/1.1 200")
    return conn


def exchange(conn: socket.socket) -> bytes:
    conn.sendall(LIVEZ)
    answer = b""
    while b"\r\n\r\n" not in answer or not answer.endswith(b"ok"):
        chunk = conn.recv(4096)
        if not chunk:
            break
        answer += chunk
    return answer


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def test_an_idle_keep_alive_connection_is_answered_after_sigterm(one_worker: UvicornServer
                                                                  ) -> None:
    server = one_worker
    conn = keep_alive(server.port)
    assert server.pid is not None
    started = time.monotonic()
    server._process.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
    time.sleep(0.5)  # the drain has begun (the watcher looks every 50 ms)

    assert refused(server.port)  # new connections: refused, so a proxy re-sends elsewhere
    answer = exchange(conn)  # the open one: answered, and closed after the answer
    assert answer.startswith(b"HTTP/1.1 200"), server.log_tail()
    assert b"connection: close" in answer.lower()
    assert conn.recv(4096) == b""  # the server closed it
    conn.close()

    # No HTTP connection left: the drain ends early, then the usual graceful shutdown.
    assert server.stop(timeout=DRAIN_S + 10) in (0, -signal.SIGTERM)
    assert time.monotonic() - started < DRAIN_S
    log = server.log.read_text()
    assert "draining 1 open HTTP connection" in log, server.log_tail()
    assert "Application shutdown complete" in log


def test_with_several_workers_new_connections_are_refused_while_draining(
        two_workers: UvicornServer) -> None:
    """The supervisor holds every worker's listening socket (to hand it to a replacement):
    on SIGTERM it lets go of them, so once the workers close theirs nothing accepts."""
    server = two_workers
    held = [keep_alive(server.port) for _ in range(8)]  # the kernel spreads them: both drain
    server._process.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
    time.sleep(1.0)

    assert refused(server.port)
    for conn in held:
        answer = exchange(conn)
        assert answer.startswith(b"HTTP/1.1 200") and b"connection: close" in answer.lower()
        conn.close()
    assert server.stop(timeout=DRAIN_S + 10) in (0, -signal.SIGTERM)
