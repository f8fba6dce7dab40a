"""Throwaway PostgreSQL and Redis servers for tests, from the machine's installed binaries.

Each runs in its own temporary directory on a free loopback port and is stopped (and its
directory removed) afterwards. As root, PostgreSQL runs as the ``postgres`` system user (initdb
and postgres refuse to run as root). Tests that need a server are marked ``services``: without
the binary they are skipped, unless ``REQUIRE_SERVICES=1`` (CI), where they fail instead.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn
from urllib.parse import quote

import pytest

_PROJECT_ROOT = Path(__file__).resolve().parents[1]
PG_GLOBS = ("/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin", "/opt/homebrew/opt/postgresql*/bin")
START_TIMEOUT_S = 30.0


def services_required() -> bool:
    return os.environ.get("REQUIRE_SERVICES", "") not in ("", "0", "false", "no")


def unavailable(reason: str) -> NoReturn:
    """Skip the test (``pytest.skip``), or fail it when ``REQUIRE_SERVICES=1``."""
    if services_required():
        pytest.fail(f"{reason} (REQUIRE_SERVICES=1)", pytrace=False)
    pytest.skip(reason)


def exit_cleanly_on_sigterm() -> None:
    """Turn SIGTERM (a CI timeout, ``kill``) into ``SystemExit`` so fixture finalizers and
    ``atexit`` stop the servers instead of leaving them running. Only replaces the default."""
    if (threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL):
        signal.signal(signal.SIGTERM, _exit_on_signal)


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = START_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")
        time.sleep(0.02)


def find_postgres_bin() -> Path | None:
    """The newest directory holding both ``initdb`` and ``pg_ctl`` (distribution layouts first,
    then ``PATH``)."""
    candidates = sorted((Path(p) for pattern in PG_GLOBS for p in glob.glob(pattern)),
                        key=lambda p: _version_key(p.parent.name), reverse=True)
    for directory in candidates:
        if (directory / "initdb").is_file() and (directory / "pg_ctl").is_file():
            return directory
    initdb = shutil.which("initdb")
    if initdb is not None and shutil.which("pg_ctl") is not None:
        return Path(initdb).resolve().parent
    return None


def _version_key(name: str) -> tuple[int, ...]:
    digits = "".join(c if c.isdigit() else " " for c in name).split()
    return tuple(int(d) for d in digits) or (0,)


class PostgresServer:
    """A private PostgreSQL cluster: ``trust`` auth, user ``postgres``, fsync off.

    ``durable_commits=True`` keeps ``synchronous_commit`` on, so every acknowledged commit
    survives ``stop()`` (an immediate shutdown, like a crash of the server process): the fault
    tests need that to prove nothing acknowledged is lost. Off by default (faster).

    ``tls=True`` serves TLS only (``ssl=on``, ``hostssl`` lines in pg_hba.conf: a client without
    TLS is refused) with a certificate for 127.0.0.1 signed by a throwaway CA (``self.tls.ca``);
    database ``MTLS_DATABASE`` also requires a client certificate from that CA.

    ``start()``/``stop()`` may be called repeatedly (same port, same data); ``close()`` stops it
    and deletes its directory.
    """

    MTLS_DATABASE = "loan_offers_mtls"

    def __init__(self, bin_dir: Path, port: int | None = None,
                 durable_commits: bool = False, tls: bool = False) -> None:
        self.bin_dir = bin_dir
        self.durable_commits = durable_commits
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self.user = "postgres"
        self._run_as = _postgres_user_if_root()
        self._runuser = _runuser() if self._run_as is not None else None
        self.base = Path(tempfile.mkdtemp(prefix="loan-offers-pg-"))
        self.data = self.base / "data"
        self.log = self.base / "postgres.log"
        try:
            if self._run_as is not None:
                os.chown(self.base, self._run_as.pw_uid, self._run_as.pw_gid)
            self._initdb()
            self.tls = self._require_tls() if tls else None
        except BaseException:
            shutil.rmtree(self.base, ignore_errors=True)
            raise
        atexit.register(self.close)
        exit_cleanly_on_sigterm()

    def _command(self, *args: str | Path) -> list[str]:
        argv = [str(a) for a in args]
        if self._run_as is None or self._runuser is None:
            return argv
        return [self._runuser, "-u", self._run_as.pw_name, "--", *argv]

    def _run(self, *args: str | Path) -> None:
        result = subprocess.run(self._command(*args), capture_output=True, text=True,
                                timeout=START_TIMEOUT_S, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"{args[0]} failed ({result.returncode}):\n{result.stdout}"
                               f"{result.stderr}\n{self.log_tail()}")

    def _initdb(self) -> None:
        self._run(self.bin_dir / "initdb", "-D", self.data, "--auth=trust", "-U", self.user,
                  "--encoding=UTF8", "--no-locale", "--no-sync")

    def _require_tls(self) -> TlsFiles:
        files = make_tls_files(self.base / "tls", owner=self._run_as)
        # Written in place: the file keeps its owner (the postgres user).
        (self.data / "pg_hba.conf").write_text(
            "local all all trust\n"
            f"hostssl {self.MTLS_DATABASE} all 127.0.0.1/32 trust clientcert=verify-ca\n"
            "hostssl all all 127.0.0.1/32 trust\n"
            "hostssl all all ::1/128 trust\n")
        return files

    def start(self) -> None:
        options = (f"-p {self.port} -k {self.base} -c listen_addresses={self.host} "
                   "-c fsync=off -c full_page_writes=off "
                   f"-c synchronous_commit={'on' if self.durable_commits else 'off'} "
                   "-c max_connections=200")
        if self.tls is not None:
            options += (f" -c ssl=on -c ssl_cert_file={self.tls.cert} "
                        f"-c ssl_key_file={self.tls.key} -c ssl_ca_file={self.tls.ca}")
        self._run(self.bin_dir / "pg_ctl", "-D", self.data, "-l", self.log, "-o", options,
                  "-w", "-t", str(int(START_TIMEOUT_S)), "start")

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run(self.bin_dir / "pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.stop()
        shutil.rmtree(self.base, ignore_errors=True)
        atexit.unregister(self.close)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+asyncpg://{self.user}@{self.host}:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """Create database ``name``; returns its ``postgresql+asyncpg://`` URL."""
        result = subprocess.run(
            [str(self.bin_dir / "createdb"), "-h", self.host, "-p", str(self.port),
             "-U", self.user, name],
            capture_output=True, text=True, timeout=START_TIMEOUT_S, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"createdb {name} failed: {result.stderr}")
        return self.url(name)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _postgres_user_if_root() -> pwd.struct_passwd | None:
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError as exc:
        raise RuntimeError("running as root, but there is no `postgres` user to run "
                           "PostgreSQL as") from exc


def _runuser() -> str:
    found = shutil.which("runuser", path=f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin")
    if found is None:
        raise RuntimeError("running as root, but `runuser` (util-linux) is not installed")
    return found


class RedisServer:
    """``redis-server`` without persistence, as a child process on a fixed port.

    ``stop()`` kills it (SIGKILL: an outage, not a shutdown), ``start()`` brings it back on the
    same port (empty), ``close()`` stops it for good. ``tls=True``: TLS only (``--tls-port``, no
    plain port), a certificate from a throwaway CA; ``url`` is then ``rediss://`` naming the CA
    (and, with ``client_certificates=True``, which makes Redis require one, the client's).
    """

    def __init__(self, binary: str, port: int | None = None, tls: bool = False,
                 client_certificates: bool = False) -> None:
        self.binary = binary
        self.port = port or free_port()
        self.base = Path(tempfile.mkdtemp(prefix="loan-offers-redis-"))
        self.tls = make_tls_files(self.base / "tls") if tls or client_certificates else None
        self.client_certificates = client_certificates
        self._process: subprocess.Popen[bytes] | None = None
        atexit.register(self.close)
        exit_cleanly_on_sigterm()

    @property
    def url(self) -> str:
        if self.tls is not None:
            url = f"rediss://127.0.0.1:{self.port}/0?ssl_ca_certs={quote(str(self.tls.ca))}"
            if self.client_certificates:
                url += (f"&ssl_certfile={quote(str(self.tls.client_cert))}"
                        f"&ssl_keyfile={quote(str(self.tls.client_key))}")
            return url
        return f"redis://127.0.0.1:{self.port}/0"

    def _listen_arguments(self) -> list[str]:
        if self.tls is None:
            return ["--port", str(self.port)]
        return ["--port", "0", "--tls-port", str(self.port), "--tls-cert-file", str(self.tls.cert),
                "--tls-key-file", str(self.tls.key), "--tls-ca-cert-file", str(self.tls.ca),
                "--tls-auth-clients", "yes" if self.client_certificates else "no"]

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        if self.running:
            return
        self._process = subprocess.Popen(
            [self.binary, *self._listen_arguments(), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--daemonize", "no", "--dir", str(self.base),
             "--logfile", str(self.base / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for_port(self.port)
        except TimeoutError:
            self.stop()
            raise

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(timeout=10)

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)
        atexit.unregister(self.close)


@dataclass(frozen=True)
class TlsFiles:
    """A throwaway CA (``ca``: its certificate, PEM), a server certificate it signed for
    ``127.0.0.1`` and ``localhost`` (``cert``: the chain, ``key``: the private key, PEM) and a
    client certificate it signed (``client_cert``, ``client_key``), for mutual TLS."""

    ca: Path
    cert: Path
    key: Path
    client_cert: Path
    client_key: Path

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts only this CA (and checks the host name)."""
        return ssl.create_default_context(cafile=str(self.ca))


def make_tls_files(directory: Path, owner: pwd.struct_passwd | None = None) -> TlsFiles:
    """Write a new CA and server certificate under ``directory`` (trustme). ``owner``: the
    system user that must own the key (PostgreSQL refuses a key others can read)."""
    import trustme

    directory.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    client = ca.issue_cert("loan-offers-client")
    files = TlsFiles(*(directory / name for name in ("ca.pem", "server.pem", "server.key",
                                                      "client.pem", "client.key")))
    ca.cert_pem.write_to_path(str(files.ca))
    for blob, path in ((b"".join(b.bytes() for b in server.cert_chain_pems), files.cert),
                       (server.private_key_pem.bytes(), files.key)):
        path.write_bytes(blob)
        path.chmod(0o600)
        if owner is not None:
            os.chown(path, owner.pw_uid, owner.pw_gid)
    client.cert_chain_pems[0].write_to_path(str(files.client_cert))
    client.private_key_pem.write_to_path(str(files.client_key))
    files.client_key.chmod(0o600)
    files.ca.chmod(0o644)
    return files


def run_cli(env: dict[str, str], *args: str) -> None:
    """``loan-offers ARGS`` with ``env`` added to the environment (e.g. ``migrate`` before a
    server starts); fails the test with the command's output unless it exits 0."""
    binary = str(Path(sys.executable).with_name("loan-offers"))
    result = subprocess.run([binary, *args], env={**os.environ, **env}, capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the process group ``process`` leads (it was started with a new session)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


class UvicornServer:
    """The real service as ``loan-offers serve`` in a child process, on a free loopback port.

    ``env`` adds ``LOAN_OFFERS_*`` settings to the environment; ``tls`` serves HTTPS with
    ``--ssl-certfile``/``--ssl-keyfile`` (``url`` is then ``https://``). ``start()`` returns once
    ``/livez`` answers; ``stop(sig)`` sends SIGTERM (a graceful shutdown: uvicorn drains
    in-flight requests for ``LOAN_OFFERS_SHUTDOWN_GRACE_S``) or SIGKILL (a crash) and returns
    the exit code; ``close()`` stops it for good. The server's log is ``log`` (``log_tail()``).
    """

    def __init__(self, env: dict[str, str] | None = None, port: int | None = None,
                 workers: int = 1, tls: TlsFiles | None = None) -> None:
        self.port = port or free_port()
        self.workers = workers
        self.tls = tls
        self.env = {**os.environ, "LOAN_OFFERS_LOG_LEVEL": "WARNING", **(env or {})}
        self.base = Path(tempfile.mkdtemp(prefix="loan-offers-uvicorn-"))
        self.log = self.base / "server.log"
        self._process: subprocess.Popen[bytes] | None = None
        atexit.register(self.close)
        exit_cleanly_on_sigterm()

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self, timeout: float = START_TIMEOUT_S) -> None:
        if self.running:
            return
        command = [str(Path(sys.executable).with_name("loan-offers")), "serve", "--host",
                   "127.0.0.1", "--port", str(self.port), "--workers", str(self.workers)]
        if self.tls is not None:
            command += ["--ssl-certfile", str(self.tls.cert), "--ssl-keyfile", str(self.tls.key)]
        with self.log.open("ab") as log:
            # Its own process group: a SIGKILL reaches uvicorn's worker processes too (killed
            # alone, the supervisor left its workers running, orphaned, after every test run).
            self._process = subprocess.Popen(command, env=self.env, stdout=log,
                                             stderr=subprocess.STDOUT, cwd=_PROJECT_ROOT,
                                             start_new_session=True)
        deadline = time.monotonic() + timeout
        while not self._answers("/livez"):
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop(signal.SIGKILL)
                raise RuntimeError(f"the server did not start:\n{self.log_tail()}")
            time.sleep(0.05)

    def _answers(self, path: str) -> bool:
        import urllib.request

        context = self.tls.client_context() if self.tls else None
        with (contextlib.suppress(OSError),
              urllib.request.urlopen(self.url + path, timeout=1, context=context) as response):
            return response.status == 200
        return False

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 30.0) -> int | None:
        process, self._process = self._process, None
        if process is None:
            return None
        if process.poll() is None:
            if sig == signal.SIGKILL:
                _kill_group(process)
            else:
                process.send_signal(sig)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _kill_group(process)
                process.wait(timeout=10)
        _kill_group(process)  # workers a crashed or killed supervisor left behind
        return process.returncode

    def close(self) -> None:
        self.stop(signal.SIGKILL)
        shutil.rmtree(self.base, ignore_errors=True)
        atexit.unregister(self.close)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@contextlib.contextmanager
def running_postgres(*, tls: bool = False) -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL cluster on a free loopback port for the block (skipped, or failed
    under ``REQUIRE_SERVICES=1``, when the server binaries are missing); ``tls``: see
    PostgresServer."""
    bin_dir = find_postgres_bin()
    if bin_dir is None:
        unavailable("PostgreSQL server binaries (initdb, pg_ctl) not installed")
    server = PostgresServer(bin_dir, tls=tls)
    try:
        server.start()
        yield server
    finally:
        server.close()


@contextlib.contextmanager
def running_redis(tls: bool = False, client_certificates: bool = False
                  ) -> Iterator[RedisServer]:
    """A throwaway ``redis-server`` on a free loopback port for the block (skipped, or failed
    under ``REQUIRE_SERVICES=1``, when Redis is not installed); ``tls``, ``client_certificates``:
    see RedisServer."""
    binary = shutil.which("redis-server")
    if binary is None:
        unavailable("redis-server not installed (apt-get install -y redis-server)")
    server = RedisServer(binary, tls=tls, client_certificates=client_certificates)
    try:
        server.start()
        yield server
    finally:
        server.close()
