"""Requests per second through nginx with two replicas, and requests per app CPU-second.

What is measured
    ``deploy.cluster.Cluster`` (what ``make cluster`` starts) in a temporary directory: PostgreSQL,
    Redis, two ``loan-offers serve`` replicas (prod profile unless ``LOAN_OFFERS_PROFILE`` says
    otherwise; with the benchmark's identity provider and its own PII keys, each request
    carrying a real bearer token) and nginx, all on loopback. A closed-loop load generator keeps
    ``--concurrency`` keep-alive connections to nginx busy with ``loanOffers`` (the README's field
    set, users rotated over the seeded portfolio: every request prices, persists an offer set
    and publishes an event) for ``--seconds``, ``--rounds`` times after a warm-up.

    The generator is a minimal HTTP/1.1 client on asyncio streams (not httpx) so that it takes
    as little of the machine's CPU from the replicas as possible; it checks every response
    (status 200, ``data`` present, no ``errors``) and counts which replica answered
    (``X-Instance-ID``).

What is reported
    Per round: completed requests/s, errors, p50/p90/p99 latency, each replica's share, and the
    CPU seconds (user + system, from /proc) used by the two replicas, nginx, PostgreSQL, Redis
    and the load generator. Requests per app CPU-second (requests / CPU seconds of the two
    replica processes) is the sizing figure: it does not depend on how much CPU the load
    generator and the databases took from the replicas on a small machine. The summary is the
    median of the rounds. JSON in ``benchmarks/results/cluster.json``.

Caveat
    The figures come from whatever machine runs this. The JSON records the load average before
    and after: on a machine shared with other work, requests/s is a floor, requests per app
    CPU-second the steadier figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from adapters.crypto.keys import generate_index_key, generate_key_entry  # noqa: E402
from benchmarks.identity import BenchIdentity  # noqa: E402
from deploy.cluster import Cluster  # noqa: E402

RESULTS = PROJECT_ROOT / "benchmarks" / "results" / "cluster.json"
SEEDED = 2000
DEFAULT_ROUNDS = 3
DEFAULT_SECONDS = 8.0
DEFAULT_CONCURRENCY = 32
WARMUP_SECONDS = 3.0
TICKS = os.sysconf("SC_CLK_TCK")

QUERY = """query($u: ID!) { loanOffers(request: {userId: $u, requestedAmount: 300000,
  requestedTenure: 36}) {
  decision policyVersion
  risk { riskScore riskBand minRoi maxRoi reasonCodes { code } }
  behavior { priceSensitivity }
  offers { rank amount tenure roi emi apr processingFee conversionProbability
    explanation { summary breakEvenRoi unconstrainedOptimalRoi adjustments { rule deltaBps }
      bindingConstraints fallbackApplied } } } }"""


@dataclass
class Round:
    seconds: float
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    served_by: Counter[str] = field(default_factory=Counter)
    cpu: dict[str, float] = field(default_factory=dict)
    replica_rss_mb: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        done = len(self.latencies)
        app_cpu = self.cpu.get("replicas", 0.0)
        ordered = sorted(self.latencies)

        def pct(p: float) -> float | None:
            return round(ordered[min(done - 1, int(p * done))] * 1000, 2) if done else None

        return {
            "requests": done, "errors": self.errors, "error_samples": self.error_samples[:3],
            "requests_per_s": round(done / self.seconds, 1),
            "latency_ms": {"p50": pct(0.50), "p90": pct(0.90), "p99": pct(0.99)},
            "served_by": dict(self.served_by),
            "cpu_seconds": {k: round(v, 2) for k, v in self.cpu.items()},
            "requests_per_app_cpu_second": round(done / app_cpu, 1) if app_cpu else None,
            "replica_rss_mb": self.replica_rss_mb,
        }


def _body(user: str) -> bytes:
    return json.dumps({"query": QUERY, "variables": {"u": user}}).encode()


async def _connection(port: int, deadline: float, users: list[str], offset: int,
                      result: Round, identity: BenchIdentity) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    n = offset
    try:
        while time.monotonic() < deadline:
            user = users[n % len(users)]
            body = _body(user)
            n += 7
            request = (b"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                       b"Content-Type: application/json\r\n"
                       + f"Authorization: {identity.headers(user)['Authorization']}\r\n"
                         f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
            started = time.monotonic()
            writer.write(request)
            status, headers, payload = await _response(reader)
            elapsed = time.monotonic() - started
            if status == 200 and b'"data"' in payload and b'"errors"' not in payload:
                result.latencies.append(elapsed)
                result.served_by[headers.get("x-instance-id", "?")] += 1
            else:
                result.errors += 1
                result.error_samples.append(f"{status}: {payload[:160]!r}")
            if headers.get("connection", "").lower() == "close":
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
    finally:
        writer.close()


async def _response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        return status, headers, await reader.readexactly(int(headers["content-length"]))
    chunks = []  # chunked transfer encoding
    while True:
        size = int((await reader.readuntil(b"\r\n")).strip(), 16)
        chunk = await reader.readexactly(size + 2)
        if size == 0:
            return status, headers, b"".join(chunks)
        chunks.append(chunk[:-2])


def _cpu_seconds(pids: list[int]) -> float:
    """CPU of each process tree: every live member's user + system time, plus the root's
    children-reaped times (PostgreSQL backends that ended during the round)."""
    total = 0
    for pid in pids:
        for task in _process_tree(pid):
            try:
                fields = Path(f"/proc/{task}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime
            if task == pid:
                total += int(fields[13]) + int(fields[14])  # cutime, cstime
    return total / TICKS


def _process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (nginx workers, PostgreSQL backends)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def _postgres_pid(cluster: Cluster) -> int | None:
    pid_file = cluster.base / "postgres" / "data" / "postmaster.pid"
    return int(pid_file.read_text().split()[0]) if pid_file.exists() else None


async def _round(cluster: Cluster, identity: BenchIdentity, seconds: float,
                 concurrency: int) -> Round:
    state = cluster.state
    assert state is not None
    groups = {"replicas": [r.pid for r in state.replicas if r.pid],
              "nginx": [state.nginx_pid] if state.nginx_pid else [],
              "postgres": [p for p in [_postgres_pid(cluster)] if p],
              "redis": [state.redis_pid] if state.redis_pid else []}
    before = {k: _cpu_seconds(v) for k, v in groups.items()}
    load_before = time.process_time()
    result = Round(seconds)
    users = [f"user-{i:06d}" for i in range(1, SEEDED + 1)]
    started = time.monotonic()
    deadline = started + seconds
    await asyncio.gather(*(_connection(state.nginx_port, deadline, users, i, result, identity)
                           for i in range(concurrency)))
    result.seconds = time.monotonic() - started
    result.cpu = {k: _cpu_seconds(v) - before[k] for k, v in groups.items()}
    result.cpu["load_generator"] = time.process_time() - load_before
    result.replica_rss_mb = [_rss_mb(pid) for pid in groups["replicas"]]
    return result


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def run(rounds: int = DEFAULT_ROUNDS, seconds: float = DEFAULT_SECONDS,
        concurrency: int = DEFAULT_CONCURRENCY, output: Path = RESULTS, **_: Any) -> dict:
    base = Path(tempfile.mkdtemp(prefix="loan-offers-bench-"))
    # The prod profile verifies bearer tokens and seals personal data: the cluster gets the
    # benchmark's identity provider (a token per customer) and fresh PII keys of its own.
    identity = BenchIdentity(base)
    cluster = Cluster(base, nginx_port=0, replicas=2, seed=SEEDED,
                      env={"LOAN_OFFERS_PROFILE": os.environ.get("LOAN_OFFERS_PROFILE", "prod"),
                           "LOAN_OFFERS_LOG_LEVEL": "WARNING",
                           "LOAN_OFFERS_PII_KEYS": generate_key_entry("bench"),
                           "LOAN_OFFERS_PII_INDEX_KEY": generate_index_key(),
                           **identity.settings()})
    load_before = os.getloadavg()
    try:
        print(f"starting the cluster in {base} ...", flush=True)
        cluster.start()
        asyncio.run(_round(cluster, identity, WARMUP_SECONDS, concurrency))
        results = []
        for index in range(rounds):
            summary = asyncio.run(_round(cluster, identity, seconds, concurrency)).summary()
            results.append(summary)
            print(f"round {index + 1}: {summary['requests_per_s']} req/s, "
                  f"{summary['requests_per_app_cpu_second']} req per app CPU-s, "
                  f"p99 {summary['latency_ms']['p99']} ms, errors {summary['errors']}, "
                  f"{summary['served_by']}, RSS {summary['replica_rss_mb']} MB", flush=True)
    finally:
        cluster.stop()
        shutil.rmtree(base, ignore_errors=True)
    report = {
        "benchmark": "cluster",
        "description": "loanOffers through nginx to 2 replicas (PostgreSQL, Redis), closed loop",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "settings": {"rounds": rounds, "seconds": seconds, "concurrency": concurrency,
                     "seeded_applicants": SEEDED, "warmup_seconds": WARMUP_SECONDS,
                     "profile": cluster.extra_env["LOAN_OFFERS_PROFILE"]},
        "median": {
            "requests_per_s": statistics.median(r["requests_per_s"] for r in results),
            "requests_per_app_cpu_second": statistics.median(
                r["requests_per_app_cpu_second"] or 0 for r in results),
            "p99_ms": statistics.median(r["latency_ms"]["p99"] or 0 for r in results),
            "errors": sum(r["errors"] for r in results),
        },
        "rounds": results,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform(),
                    "load_average_before": [round(x, 2) for x in load_before],
                    "load_average_after": [round(x, 2) for x in os.getloadavg()],
                    "note": "load generator, nginx, PostgreSQL, Redis and both replicas share "
                            "this machine's cores (and any other work running on it)"},
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2) + "\n")
    median = report["median"]
    print(f"median of {rounds}: {median['requests_per_s']} req/s through nginx, "
          f"{median['requests_per_app_cpu_second']} requests per app CPU-second, "
          f"p99 {median['p99_ms']} ms, {median['errors']} errors -> {output}")
    return report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS)
    parser.add_argument("--seconds", type=float, default=DEFAULT_SECONDS)
    parser.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY)
    parser.add_argument("--output", type=Path, default=RESULTS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cluster_bench",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    args = parser.parse_args(argv)
    run(rounds=args.rounds, seconds=args.seconds, concurrency=args.concurrency,
        output=args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
