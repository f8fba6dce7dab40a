"""A real ``uvicorn`` process serving the app over a migrated, seeded SQLite database.

Started through the same commands a user runs (``loan-offers migrate``, ``seed``, uvicorn on the
ASGI factory) on a free loopback port, stopped (SIGTERM, then SIGKILL) when the block ends.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.servers import free_port

BIN = Path(sys.executable).parent
START_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class LiveServer:
    base_url: str
    log_file: Path

    @property
    def graphql_url(self) -> str:
        return f"{self.base_url}/graphql"

    def log(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""


def _env(workdir: Path, settings: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOAN_OFFERS_")}
    env.update({"LOAN_OFFERS_DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'live.db'}",
                **settings})
    return env


@contextlib.contextmanager
def live_server(workdir: Path, *, seed: int = 100, **settings: str) -> Iterator[LiveServer]:
    env = _env(workdir, {f"LOAN_OFFERS_{k.upper()}": v for k, v in settings.items()})
    for command in (["migrate"], ["seed", "--count", str(seed)]):
        subprocess.run([str(BIN / "loan-offers"), *command], env=env, cwd=workdir, check=True,
                       capture_output=True, timeout=120)
    port = free_port()
    log_file = workdir / "uvicorn.log"
    with log_file.open("wb") as log:
        process = subprocess.Popen(
            [str(BIN / "python"), "-m", "uvicorn", "config.asgi:create_app", "--factory",
             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
            env=env, cwd=Path(__file__).resolve().parents[2], stdout=log,
            stderr=subprocess.STDOUT)
    server = LiveServer(f"http://127.0.0.1:{port}", log_file)
    try:
        _wait_until_ready(server, process)
        yield server
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_ready(server: LiveServer, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"uvicorn exited with {process.returncode}:\n{server.log()}")
        with contextlib.suppress(httpx.HTTPError):
            ready = httpx.get(f"{server.base_url}/readyz", timeout=2, trust_env=False)
            if ready.status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"uvicorn not ready within {START_TIMEOUT_S}s:\n{server.log()}")
