"""``loan-offers serve --workers 2``: one SO_REUSEPORT socket per worker, connections spread
over both, and a worker that dies is replaced on its own socket (no connection left waiting in
an orphaned accept queue)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.servers import UvicornServer, run_cli

pytestmark = pytest.mark.slow
CONNECTIONS = 64


def ss(*args: str) -> str:
    return subprocess.run(["ss", "-tnH", *args], capture_output=True, text=True, timeout=10,
                          check=True).stdout


def listening_sockets(port: int) -> int:
    return len(ss("-l", f"sport = :{port}").splitlines())


def open_connections(port: int, count: int) -> list[socket.socket]:
    """``count`` keep-alive connections, each answered once (so each was accepted)."""
    connections = []
    for _ in range(count):
        conn = socket.create_connection(("127.0.0.1", port), timeout=10)
        conn.sendall(b"GET /livez HTTP/1.1\r\nHost: test\r\n\r\n")
        assert conn.recv(4096).startswith(b"HTTP/1.1 200"), "a connection was not served"
        connections.append(conn)
    return connections


def per_worker(port: int) -> dict[str, int]:
    counts: dict[str, int] = {}
    for pid in re.findall(r"pid=(\d+)", ss("-p", "state", "established", f"( sport = :{port} )")):
        counts[pid] = counts.get(pid, 0) + 1
    return counts


def workers_of(supervisor: int) -> set[int]:
    out = subprocess.run(["ps", "-ww", "-o", "pid=,args=", "--ppid", str(supervisor)],
                         capture_output=True, text=True, check=True).stdout
    return {int(line.split()[0]) for line in out.splitlines() if "spawn_main" in line}


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    metrics = tmp_path / "metrics"  # emptied of *.db files at start: not the database's
    metrics.mkdir()
    env = {"LOAN_OFFERS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'rp.db'}",
           "PROMETHEUS_MULTIPROC_DIR": str(metrics)}
    run_cli(env, "migrate")
    return env


def test_each_worker_has_its_own_socket_and_connections_spread(env: dict[str, str]) -> None:
    server = UvicornServer(env, workers=2)
    try:
        server.start()
        assert listening_sockets(server.port) == 2
        connections = open_connections(server.port, CONNECTIONS)
        spread = per_worker(server.port)
        for conn in connections:
            conn.close()
    finally:
        server.close()
    assert len(spread) == 2 and sum(spread.values()) == CONNECTIONS
    # The kernel hashes each connection to a socket: far from all on one worker (which a shared
    # socket allowed). Under 16 of 64 on one side has a probability near 1e-5.
    assert min(spread.values()) >= 16, spread


def test_a_dead_worker_is_replaced_on_its_own_socket(env: dict[str, str]) -> None:
    server = UvicornServer(env, workers=2)
    try:
        server.start()
        assert server.pid is not None
        before = workers_of(server.pid)
        assert len(before) == 2
        victim = min(before)
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while len(workers_of(server.pid) - before) < 1:
            assert time.monotonic() < deadline, "the worker was not replaced"
            time.sleep(0.2)
        # Every new connection is served, including those hashed to the dead worker's socket,
        # once the replacement is up (it took that socket, not the other one).
        connections = open_connections(server.port, CONNECTIONS)
        spread = per_worker(server.port)
        for conn in connections:
            conn.close()
        assert listening_sockets(server.port) == 2
    finally:
        server.close()
    assert str(victim) not in spread and len(spread) == 2, spread


def test_reuse_port_off_shares_one_socket(env: dict[str, str]) -> None:
    server = UvicornServer({**env, "LOAN_OFFERS_REUSE_PORT": "false"}, workers=2)
    try:
        server.start()
        assert listening_sockets(server.port) == 1
        for conn in open_connections(server.port, 4):
            conn.close()
    finally:
        server.close()
