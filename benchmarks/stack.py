"""The production-like stack on loopback: PostgreSQL (durable), Redis, and server processes.

PostgreSQL runs with its production defaults for durability (``fsync=on``,
``synchronous_commit=on``: an acknowledged response's offers survive a crash), unlike the test
servers which turn both off for speed. The servers are started exactly as in production:
``loan-offers serve`` (``LOAN_OFFERS_PROFILE=prod``, N workers), and the baseline through
``python -m benchmarks.serve`` with the same ``LOAN_OFFERS_*`` server settings.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from adapters.crypto.keys import generate_index_key, generate_key_entry
from tests.servers import PostgresServer, RedisServer, find_postgres_bin, free_port

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


class DurablePostgres(PostgresServer):
    """A private cluster with PostgreSQL's durable defaults and room for every worker's pool."""

    def start(self) -> None:
        options = (f"-p {self.port} -k {self.base} -c listen_addresses={self.host} "
                   "-c fsync=on -c synchronous_commit=on -c max_connections=300 "
                   "-c shared_buffers=256MB")
        self._run(self.bin_dir / "pg_ctl", "-D", self.data, "-l", self.log, "-o", options,
                  "-w", "-t", "60", "start")


class Stack:
    """``with Stack(users=N) as stack``: PostgreSQL and Redis running, schema migrated, N demo
    applicants and the default policy seeded. ``stack.server(...)`` starts an app."""

    def __init__(self, users: int, env: dict[str, str] | None = None) -> None:
        self.users = users
        # The prod profile seals personal data: fresh keys for this stack's own database.
        self.extra_env = {"LOAN_OFFERS_PII_KEYS": generate_key_entry("bench"),
                          "LOAN_OFFERS_PII_INDEX_KEY": generate_index_key(), **(env or {})}
        self.postgres: DurablePostgres | None = None
        self.redis: RedisServer | None = None
        self.database_url = ""
        self.identity = None
        self.log_dir = Path(tempfile.mkdtemp(prefix="loan-offers-bench-"))

    def __enter__(self) -> Stack:
        bin_dir = find_postgres_bin()
        if bin_dir is None:
            raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
        redis_binary = _which("redis-server")
        self.postgres = DurablePostgres(bin_dir)
        self.postgres.start()
        self.database_url = self.postgres.create_database("loan_offers_bench")
        self.redis = RedisServer(redis_binary)
        self.redis.start()
        self.identity = _identity(self.log_dir)
        if self.identity is not None:
            self.extra_env.update(self.identity.settings())
        env = self.service_env()
        for command in (["migrate"], ["seed", "--count", str(self.users)]):
            subprocess.run([str(BIN / "loan-offers"), *command], env=env, check=True, cwd=ROOT,
                           stdout=subprocess.DEVNULL)
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.redis is not None:
            self.redis.close()
        if self.postgres is not None:
            self.postgres.close()

    def postgres_pids(self) -> list[int]:
        """The postmaster and its children (backends, WAL writer, ...): read again per phase,
        since backends come and go with the pools."""
        if self.postgres is None:
            return []
        with contextlib.suppress(OSError, ValueError, IndexError):
            postmaster = int((self.postgres.data / "postmaster.pid").read_text().split()[0])
            return [postmaster, *_children(postmaster)]
        return []

    def redis_pids(self) -> list[int]:
        process = getattr(self.redis, "_process", None)
        return [process.pid] if process is not None else []

    def env(self, **overrides: str) -> dict[str, str]:
        assert self.redis is not None
        # LOAN_OFFERS_* settings from the caller's environment pass through (pool sizes, event
        # loop, ...); the stack's own addresses and the prod profile win.
        env = dict(os.environ)
        env.update({
            "LOAN_OFFERS_PROFILE": "prod",
            "LOAN_OFFERS_DATABASE_URL": self.database_url,
            "LOAN_OFFERS_REDIS_URL": self.redis.url,
            "LOAN_OFFERS_HOST": "127.0.0.1",
        })
        env.update(self.extra_env)
        env.update(overrides)
        return env

    def service_env(self, **overrides: str) -> dict[str, str]:
        """:meth:`env` for the service's own commands (migrate, seed, serve). ``BENCH_APP_PATH``
        names another checkout of the project to measure instead (``git worktree add
        /tmp/before <commit>``): it goes first on ``PYTHONPATH``, so a before/after comparison
        runs the same harness against both."""
        env = self.env(**overrides)
        other = os.environ.get("BENCH_APP_PATH")
        if other:
            env["PYTHONPATH"] = os.pathsep.join(p for p in (other, env.get("PYTHONPATH")) if p)
        return env

    @contextlib.contextmanager
    def server(self, app: str, workers: int, **settings: str) -> Iterator[Server]:
        """``app`` is ``"service"`` (``loan-offers serve``) or ``"baseline"``."""
        port = free_port()
        make_env = self.service_env if app == "service" else self.env
        env = make_env(LOAN_OFFERS_PORT=str(port), LOAN_OFFERS_WORKERS=str(workers), **settings)
        command = ([str(BIN / "loan-offers"), "serve"] if app == "service"
                   else [sys.executable, "-m", "benchmarks.serve"])
        log = self.log_dir / f"{app}-{port}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=out, stderr=out,
                                       start_new_session=True)
        server = Server(app, port, workers, process, log)
        try:
            server.wait_ready()
            yield server
        finally:
            server.stop()


class Server:
    def __init__(self, app: str, port: int, workers: int, process: subprocess.Popen[bytes],
                 log: Path) -> None:
        self.app, self.port, self.workers, self.process, self.log = app, port, workers, process, log

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.app} server exited:\n{self.log_tail()}")
            url = f"http://127.0.0.1:{self.port}/livez"
            with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    time.sleep(0.5 * self.workers)  # let every worker finish its start-up
                    return
            time.sleep(0.2)
        raise TimeoutError(f"{self.app} server not ready after {timeout_s}s:\n{self.log_tail()}")

    def worker_pids(self) -> list[int]:
        children = _children(self.process.pid)
        # With one worker uvicorn serves in the supervisor process itself (plus, maybe, the
        # multiprocessing resource tracker): the serving processes are those holding the socket.
        return [p for p in children if _is_python(p)] or [self.process.pid]

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)

    def log_tail(self, lines: int = 40) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""


def _identity(directory: Path):
    """The benchmark's identity provider when the service verifies bearer tokens (and its
    token module is there: ``BENCH_APP_PATH`` may point at a checkout from before it)."""
    try:
        from benchmarks.identity import BenchIdentity
    except ImportError:
        return None
    return BenchIdentity(directory)


def _children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False)
    return [int(p) for p in out.stdout.split()]


def _is_python(pid: int) -> bool:
    with contextlib.suppress(OSError):
        return "multiprocessing.resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_text()
    return False


def _which(name: str) -> str:
    import shutil

    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} is not installed")
    return found


def main() -> None:
    """``python -m benchmarks.stack [workers]``: the stack and the service, until Ctrl-C (for
    profiling by hand: ``py-spy top --pid WORKER``)."""
    workers = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    with Stack(users=int(os.environ.get("BENCH_USERS", 10_000))) as stack, \
            stack.server("service", workers) as server:
        print(f"service on http://127.0.0.1:{server.port}/graphql, workers "
              f"{server.worker_pids()}, database {stack.database_url}, log {server.log}",
              flush=True)
        stop = {signal.SIGINT, signal.SIGTERM}
        signal.pthread_sigmask(signal.SIG_BLOCK, stop)   # sigwait needs them blocked
        signal.sigwait(stop)


if __name__ == "__main__":
    main()
