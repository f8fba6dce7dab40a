"""A local production-shaped cluster without Docker: PostgreSQL, Redis, N replicas, nginx.

``make cluster`` runs ``python -m deploy.cluster start`` and ``make cluster-stop`` runs
``python -m deploy.cluster stop``. Everything listens on 127.0.0.1 and lives under one directory
(``var/cluster`` by default): data, logs, pid files, the generated nginx configuration and
``cluster.json``, which records ports and process ids so ``stop`` (another process) can end
exactly what ``start`` began. Data survive a stop: a second ``start`` reuses the database.

Each replica is an independent ``loan-offers serve`` process (its own event loop, pool and
in-process cache) named by ``LOAN_OFFERS_INSTANCE_ID``; they share PostgreSQL (offers,
applicants, policies), Redis (cache, events) and nothing else. nginx balances them round robin,
with passive health checks and retries of requests no replica has received
(``deploy/nginx/loan-offers.conf.template`` explains the retry policy).

PostgreSQL and Redis get random passwords (kept in ``secrets.json``, mode 0600) even on
loopback, and PostgreSQL has the roles of a deployment: ``loan_offers_owner`` owns the schema and
runs migrations, the replicas connect as ``loan_offers_app``, which can read and write rows and
create nothing. As root, PostgreSQL runs as the
``postgres`` system user (it refuses to run as root) and nginx workers as ``nobody``.

The tests (``tests/cluster``) drive the same class on free ports in a temporary directory.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
NGINX_TEMPLATE = PROJECT_ROOT / "deploy" / "nginx" / "loan-offers.conf.template"
DEFAULT_DIR = PROJECT_ROOT / "var" / "cluster"
PG_GLOBS = ("/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin")
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0

DATABASE = "loan_offers"
ADMIN_ROLE, OWNER_ROLE, APP_ROLE = "cluster_admin", "loan_offers_owner", "loan_offers_app"

#: Passive health check: this many failed attempts within FAIL_TIMEOUT_S take a replica out for
#: FAIL_TIMEOUT_S; then one live request tries it again.
MAX_FAILS = 2
FAIL_TIMEOUT_S = 3


class ClusterError(RuntimeError):
    pass


@dataclass
class Replica:
    name: str
    port: int
    pid: int | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class State:
    """What ``start`` wrote to ``cluster.json``: enough for ``stop`` and for clients."""

    nginx_port: int
    postgres_port: int
    redis_port: int
    replicas: list[Replica] = field(default_factory=list)
    redis_pid: int | None = None
    nginx_pid: int | None = None

    @classmethod
    def load(cls, path: Path) -> State:
        raw = json.loads(path.read_text())
        raw["replicas"] = [Replica(**r) for r in raw["replicas"]]
        return cls(**raw)

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2) + "\n")
        tmp.replace(path)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
        return True
    return False


def render_nginx_server(template: str, values: Mapping[str, str]) -> str:
    """Fill ``${NAME}`` placeholders (and only those: nginx's own ``$name`` variables stay), the
    way the nginx image's envsubst step does for docker compose. A missing value is an error."""

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise ClusterError(f"nginx template needs a value for ${{{name}}}")
        return values[name]

    return re.sub(r"\$\{([A-Z_]+)\}", fill, template)


def upstream_servers(addresses: list[str]) -> str:
    return "\n    ".join(f"server {a} max_fails={MAX_FAILS} fail_timeout={FAIL_TIMEOUT_S}s;"
                         for a in addresses)


class Cluster:
    """Start, inspect and stop the processes of one cluster directory."""

    def __init__(self, base: Path = DEFAULT_DIR, *, nginx_port: int = 8080, replicas: int = 2,
                 seed: int = 10_000, env: Mapping[str, str] | None = None) -> None:
        self.base = base.resolve()
        self.requested_nginx_port = nginx_port
        self.replica_count = replicas
        self.seed_count = seed
        self.extra_env = dict(env or {})
        self.state_file = self.base / "cluster.json"
        self.logs = self.base / "logs"
        self.state: State | None = State.load(self.state_file) if self.state_file.exists() else None

    # --- public -------------------------------------------------------------------------------

    def start(self) -> State:
        if self.state is not None and self.running():
            raise ClusterError(f"a cluster is already running from {self.base} "
                               f"(nginx on port {self.state.nginx_port}); stop it first")
        self.base.mkdir(parents=True, exist_ok=True)
        self.base.chmod(0o755)  # the postgres and nginx worker users must reach their files
        self.logs.mkdir(exist_ok=True)
        self.state = State(nginx_port=self.requested_nginx_port or free_port(),
                           postgres_port=free_port(), redis_port=free_port(),
                           replicas=[Replica(f"replica-{chr(ord('a') + i)}", free_port())
                                     for i in range(self.replica_count)])
        if port_open(self.state.nginx_port):
            raise ClusterError(f"port {self.state.nginx_port} is taken; pass --port")
        self.state.save(self.state_file)
        try:
            self._start_postgres()
            self._start_redis()
            self._migrate_and_seed()
            for replica in self.state.replicas:
                self.start_replica(replica.name)
            self._start_nginx()
        except BaseException:
            self.stop()
            raise
        return self.state

    def stop(self) -> None:
        """Stop whatever of this directory's cluster is running; data stay."""
        if self.state is None:
            return
        if self.state.nginx_pid:
            self._terminate(self.state.nginx_pid, "nginx")
        for replica in self.state.replicas:
            self.stop_replica(replica.name)
        if self.state.redis_pid:
            self._terminate(self.state.redis_pid, "redis-server")
        self._stop_postgres()
        self.state.nginx_pid = self.state.redis_pid = None
        self.state.save(self.state_file)

    def running(self) -> bool:
        state = self.state
        return state is not None and any(
            _alive(pid) for pid in [state.nginx_pid, state.redis_pid,
                                    *(r.pid for r in state.replicas)] if pid)

    def replica(self, name: str) -> Replica:
        assert self.state is not None
        for replica in self.state.replicas:
            if replica.name == name:
                return replica
        raise ClusterError(f"no replica named {name}")

    def start_replica(self, name: str) -> Replica:
        replica = self.replica(name)
        log = (self.logs / f"{name}.log").open("ab")
        process = subprocess.Popen(
            [str(_venv_bin("loan-offers")), "serve", "--host", "127.0.0.1",
             "--port", str(replica.port)],
            env=self.app_env(LOAN_OFFERS_INSTANCE_ID=name), cwd=self.base,
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)  # its own process group: Ctrl-C on `make` does not reach it
        log.close()
        replica.pid = process.pid
        assert self.state is not None
        self.state.save(self.state_file)
        _wait_ready(f"{replica.url}/readyz", process, self.logs / f"{name}.log")
        return replica

    def stop_replica(self, name: str, sig: signal.Signals = signal.SIGTERM) -> None:
        """SIGTERM drains in-flight requests (uvicorn's graceful shutdown); SIGKILL is a crash."""
        replica = self.replica(name)
        if replica.pid:
            self._terminate(replica.pid, "loan-offers", sig)
        replica.pid = None
        assert self.state is not None
        self.state.save(self.state_file)

    def app_env(self, **overrides: str) -> dict[str, str]:
        """The environment of every app process: the caller's, the shared URLs, overrides."""
        assert self.state is not None
        env = {**os.environ, **self.extra_env,
               "LOAN_OFFERS_DATABASE_URL": self.database_url,
               "LOAN_OFFERS_REDIS_URL": self.redis_url,
               "PYTHONUNBUFFERED": "1"}
        env.update(overrides)
        return env

    @property
    def database_url(self) -> str:
        """The replicas' URL: role ``loan_offers_app``, data access only (no DDL)."""
        return self._pg_url(APP_ROLE)

    @property
    def migration_database_url(self) -> str:
        """``loan-offers migrate``'s URL: role ``loan_offers_owner``, which owns the schema."""
        return self._pg_url(OWNER_ROLE)

    def _pg_url(self, role: str) -> str:
        assert self.state is not None
        return (f"postgresql+asyncpg://{role}:{self._secret(role)}"
                f"@127.0.0.1:{self.state.postgres_port}/{DATABASE}")

    @property
    def redis_url(self) -> str:
        assert self.state is not None
        return f"redis://:{self._secret('redis')}@127.0.0.1:{self.state.redis_port}/0"

    @property
    def graphql_url(self) -> str:
        assert self.state is not None
        return f"http://127.0.0.1:{self.state.nginx_port}/graphql"

    def describe(self) -> str:
        assert self.state is not None
        rows = [(f"GraphQL (nginx, {len(self.state.replicas)} replicas)", self.graphql_url),
                ("WebSocket subscriptions", self.graphql_url.replace("http://", "ws://"))]
        rows += [(f"{r.name} (direct)", f"{r.url}/graphql  pid {r.pid}")
                 for r in self.state.replicas]
        rows += [("PostgreSQL (app role)", self.database_url),
                 ("PostgreSQL (schema owner)", self.migration_database_url),
                 ("Redis", self.redis_url), ("logs", str(self.logs)),
                 ("stop", "make cluster-stop")]
        width = max(len(label) for label, _ in rows) + 1
        return "\n".join(f"{label + ':':<{width}} {value}" for label, value in rows)

    # --- PostgreSQL ---------------------------------------------------------------------------

    @property
    def _pg_data(self) -> Path:
        return self.base / "postgres" / "data"

    def _pg_command(self, *argv: str | Path) -> list[str]:
        args = [str(a) for a in argv]
        if os.geteuid() != 0:
            return args
        runuser = shutil.which("runuser", path=f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin")
        if runuser is None:
            raise ClusterError("running as root, but `runuser` (util-linux) is missing")
        return [runuser, "-u", "postgres", "--", *args]

    def _start_postgres(self) -> None:
        assert self.state is not None
        pg_bin = _postgres_bin()
        pg_home = self.base / "postgres"
        pg_home.mkdir(exist_ok=True)
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(pg_home, user.pw_uid, user.pw_gid)
        if not (self._pg_data / "PG_VERSION").exists():
            self._initdb(pg_bin, pg_home)
        options = (f"-p {self.state.postgres_port} -k {pg_home} -c listen_addresses=127.0.0.1 "
                   "-c max_connections=200 -c shared_buffers=128MB")
        _run(self._pg_command(pg_bin / "pg_ctl", "-D", self._pg_data, "-l",
                              pg_home / "postgres.log", "-o", options, "-w", "-t", "60", "start"))

    def _initdb(self, pg_bin: Path, pg_home: Path) -> None:
        """A cluster with password (SCRAM) authentication; its superuser ``cluster_admin`` is
        for set-up and tests only."""
        password_file = pg_home / "pwfile"
        password_file.write_text(self._secret(ADMIN_ROLE) + "\n")
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(password_file, user.pw_uid, user.pw_gid)
        password_file.chmod(0o600)
        try:
            _run(self._pg_command(pg_bin / "initdb", "-D", self._pg_data, "-U", ADMIN_ROLE,
                                  f"--pwfile={password_file}", "--auth=scram-sha-256",
                                  "--encoding=UTF8", "--no-locale"))
        finally:
            password_file.unlink(missing_ok=True)
        with (self._pg_data / "postgresql.conf").open("a") as conf:
            conf.write("\n# loan-offers local cluster\nlog_min_duration_statement = 500\n")

    def _create_database(self) -> None:
        """Least privilege, as docs/DEPLOYMENT.md recommends: ``loan_offers_owner`` owns the
        database and runs migrations; ``loan_offers_app`` (the replicas) may read and write rows
        of the tables the owner creates, and create nothing."""
        if self.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'",
                     database="postgres") == "1":
            return
        owner, app = OWNER_ROLE, APP_ROLE
        self.psql(f"CREATE ROLE {owner} LOGIN PASSWORD '{self._secret(owner)}'",
                  database="postgres")
        self.psql(f"CREATE ROLE {app} LOGIN PASSWORD '{self._secret(app)}'", database="postgres")
        self.psql(f"CREATE DATABASE {DATABASE} OWNER {owner}", database="postgres")
        for statement in (
                f"REVOKE ALL ON DATABASE {DATABASE} FROM PUBLIC",
                f"GRANT CONNECT, TEMPORARY ON DATABASE {DATABASE} TO {app}",
                f"ALTER SCHEMA public OWNER TO {owner}",
                "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
                f"GRANT USAGE ON SCHEMA public TO {app}",
                f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public "
                f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {app}",
                f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public "
                f"GRANT USAGE, SELECT ON SEQUENCES TO {app}"):
            self.psql(statement)

    def psql(self, sql: str, database: str = DATABASE) -> str:
        """Run SQL as the cluster's superuser (set-up, tests); returns unaligned rows."""
        assert self.state is not None
        result = subprocess.run(
            [str(_postgres_bin() / "psql"), "-h", "127.0.0.1", "-p", str(self.state.postgres_port),
             "-U", ADMIN_ROLE, "-d", database, "-v", "ON_ERROR_STOP=1", "-tAc", sql],
            env={**os.environ, "PGPASSWORD": self._secret(ADMIN_ROLE)},
            capture_output=True, text=True, timeout=30, check=False)
        if result.returncode != 0:
            raise ClusterError(f"psql failed: {result.stderr}")
        return result.stdout.strip()

    def _stop_postgres(self) -> None:
        if (self._pg_data / "postmaster.pid").exists():
            with contextlib.suppress(ClusterError):
                _run(self._pg_command(_postgres_bin() / "pg_ctl", "-D", self._pg_data,
                                      "-m", "fast", "-w", "stop"))

    # --- Redis --------------------------------------------------------------------------------

    def _start_redis(self) -> None:
        assert self.state is not None
        redis_dir = self.base / "redis"
        redis_dir.mkdir(exist_ok=True)
        conf = redis_dir / "redis.conf"
        # A cache: no persistence; evict least recently used keys rather than refuse writes.
        conf.write_text(f"port {self.state.redis_port}\nbind 127.0.0.1\n"
                        f"requirepass {self._secret('redis')}\nsave \"\"\nappendonly no\n"
                        f"dir {redis_dir}\nlogfile {self.logs / 'redis.log'}\n"
                        "maxmemory 256mb\nmaxmemory-policy allkeys-lru\n")
        conf.chmod(0o600)
        binary = shutil.which("redis-server")
        if binary is None:
            raise ClusterError("redis-server is not installed (apt-get install redis-server)")
        process = subprocess.Popen([binary, str(conf)], stdin=subprocess.DEVNULL,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   start_new_session=True)
        self.state.redis_pid = process.pid
        self.state.save(self.state_file)
        _wait_port(self.state.redis_port, process, self.logs / "redis.log")

    # --- the application ----------------------------------------------------------------------

    def _migrate_and_seed(self) -> None:
        self._create_database()
        cli = str(_venv_bin("loan-offers"))
        _run([cli, "migrate"], env=self.app_env(LOAN_OFFERS_DATABASE_URL=self.migration_database_url),
             cwd=self.base)
        _run([cli, "seed", "--count", str(self.seed_count)], env=self.app_env(), cwd=self.base)

    # --- nginx --------------------------------------------------------------------------------

    def _start_nginx(self) -> None:
        assert self.state is not None
        binary = shutil.which("nginx", path=f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin")
        if binary is None:
            raise ClusterError("nginx is not installed (apt-get install nginx)")
        conf = self._write_nginx_conf()
        _run([binary, "-t", "-q", "-p", str(self.base / "nginx"), "-e",
              str(self.logs / "nginx-error.log"), "-c", str(conf)])
        _run([binary, "-p", str(self.base / "nginx"), "-e", str(self.logs / "nginx-error.log"),
              "-c", str(conf)])  # daemonises; the master writes its pid file
        pid_file = self.base / "nginx" / "nginx.pid"
        deadline = time.monotonic() + 10
        while not pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.state.nginx_pid = int(pid_file.read_text())
        self.state.save(self.state_file)
        _wait_ready(f"http://127.0.0.1:{self.state.nginx_port}/livez", None,
                    self.logs / "nginx-error.log")

    def _write_nginx_conf(self) -> Path:
        assert self.state is not None
        home = self.base / "nginx"
        home.mkdir(exist_ok=True)
        server = render_nginx_server(NGINX_TEMPLATE.read_text(), {
            "LISTEN_PORT": f"127.0.0.1:{self.state.nginx_port}",
            "UPSTREAM_SERVERS": upstream_servers(
                [f"127.0.0.1:{r.port}" for r in self.state.replicas]),
            "ACCESS_LOG": str(self.logs / "nginx-access.log"),
        })
        (home / "loan-offers.conf").write_text(server)
        main = home / "nginx.conf"
        main.write_text(
            "# generated by deploy/cluster.py\n"
            "worker_processes 1;\n"
            f"pid {home / 'nginx.pid'};\n"
            f"error_log {self.logs / 'nginx-error.log'} warn;\n"
            "events { worker_connections 4096; }\n"
            "http {\n"
            f"    client_body_temp_path {home / 'client_body'};\n"
            f"    proxy_temp_path {home / 'proxy'};\n"
            f"    fastcgi_temp_path {home / 'fastcgi'};\n"
            f"    uwsgi_temp_path {home / 'uwsgi'};\n"
            f"    scgi_temp_path {home / 'scgi'};\n"
            "    default_type application/octet-stream;\n"
            f"    include {home / 'loan-offers.conf'};\n"
            "}\n")
        return main

    # --- helpers ------------------------------------------------------------------------------

    def _secret(self, name: str) -> str:
        """A random password per service, created once and kept (0600) with the data."""
        path = self.base / "secrets.json"
        known = json.loads(path.read_text()) if path.exists() else {}
        if name not in known:
            known[name] = secrets.token_urlsafe(24)
            path.touch(mode=0o600)
            path.write_text(json.dumps(known))
        return known[name]

    def _terminate(self, pid: int, expected: str, sig: signal.Signals = signal.SIGTERM) -> None:
        """Signal ``pid`` only if it is still the process we started (pids get reused)."""
        if not _alive(pid) or expected not in _cmdline(pid):
            return
        os.kill(pid, sig)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while _alive(pid):
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                deadline = time.monotonic() + STOP_TIMEOUT_S
            time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (our own exited child not yet reaped) is not alive.
    with contextlib.suppress(OSError):
        status = Path(f"/proc/{pid}/stat").read_text()
        if status.rsplit(")", 1)[1].split()[0] == "Z":
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            return False
    return True


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _venv_bin(name: str) -> Path:
    return Path(sys.executable).parent / name


def _postgres_bin() -> Path:
    import glob

    candidates = sorted((Path(p) for g in PG_GLOBS for p in glob.glob(g)), reverse=True)
    for directory in candidates:
        if (directory / "initdb").is_file() and (directory / "pg_ctl").is_file():
            return directory
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent
    raise ClusterError("PostgreSQL server binaries (initdb, pg_ctl) not found")


def _run(argv: list[str], env: Mapping[str, str] | None = None, cwd: Path | None = None) -> None:
    result = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True,
                            timeout=300, check=False)
    if result.returncode != 0:
        raise ClusterError(f"{Path(argv[0]).name} {' '.join(argv[1:3])} failed "
                           f"({result.returncode}):\n{result.stdout}{result.stderr}")


def _wait_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while not port_open(port):
        if process.poll() is not None or time.monotonic() > deadline:
            raise ClusterError(f"nothing listening on {port}; see {log}:\n{_tail(log)}")
        time.sleep(0.05)


def _wait_ready(url: str, process: subprocess.Popen[bytes] | None, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        with (contextlib.suppress(OSError, urllib.error.URLError),
              urllib.request.urlopen(url, timeout=2) as response):
            if response.status == 200:
                return
        if (process is not None and process.poll() is not None) or time.monotonic() > deadline:
            raise ClusterError(f"{url} not ready; see {log}:\n{_tail(log)}")
        time.sleep(0.1)


def _tail(path: Path, lines: int = 25) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.cluster", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["start", "stop", "status"])
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="state directory")
    parser.add_argument("--port", type=int, default=int(os.environ.get("CLUSTER_PORT", 8080)),
                        help="nginx port (0: any free one)")
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--seed", type=int, default=10_000, help="demo applicants to load")
    args = parser.parse_args(argv)
    cluster = Cluster(args.dir, nginx_port=args.port, replicas=args.replicas, seed=args.seed)
    try:
        if args.command == "start":
            cluster.start()
            print(cluster.describe())
        elif args.command == "stop":
            cluster.stop()
            print(f"cluster in {cluster.base} stopped (data kept; delete the directory to reset)")
        else:
            if not cluster.running():
                print("not running")
                return 1
            print(cluster.describe())
    except ClusterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
