"""The service under load: 1,000 connections on the production-like stack, against a baseline.

``python -m benchmarks http`` (or ``make bench``). Settings from the environment:

=====================  =======  ==========================================================
``BENCH_DURATION``     30       seconds measured per scenario
``BENCH_WARMUP``       10       seconds of load before measuring (JIT-free Python still
                                needs caches, pools and the kernel's buffers warm)
``BENCH_RUNS``         3        runs; the report gives the median of each figure
``BENCH_CONNECTIONS``  1000     concurrent keep-alive connections
``BENCH_WORKERS``      2        server worker processes (``LOAN_OFFERS_WORKERS``)
``BENCH_RATE``         1500     offered rate (requests/s) of the open-loop scenario
``BENCH_USERS``        10000    demo applicants seeded and asked for
``BENCH_TIMEOUT``      10       seconds before a request counts as timed out
``BENCH_SCENARIOS``    all      comma list of: baseline, loanOffers, loanOffers_rate, mix
``BENCH_APQ``          1        clients send persisted-query hashes, not documents (the
                                documents are registered during the warm-up)
``BENCH_APP_PATH``     unset    measure another checkout of the service (before/after)
``BENCH_AUTHORIZATION`` unset   ``Authorization`` header of every service request, e.g.
                                ``Bearer <token>`` once the prod profile requires tokens
=====================  =======  ==========================================================

Any ``LOAN_OFFERS_*`` setting (pool sizes, ``LOAN_OFFERS_EVENT_LOOP``, ...) passes through to
the servers. Scenarios (each on a freshly warmed server, the baseline on its own server with
the same uvicorn settings):

* ``baseline``: a trivial Strawberry query returning five constant objects, closed loop;
* ``loanOffers``: the full field set, closed loop: capacity, and latency at saturation;
* ``loanOffers_rate``: the same at a fixed offered rate (open loop, ``BENCH_RATE``): latency
  at the target throughput, measured from each request's scheduled time;
* ``mix``: ``loanOffers``, ``offer``, ``offerHistory``, ``acceptOffer`` (the ones the server
  has), closed loop.

Writes ``benchmarks/results/http.json`` and ``benchmarks/results/http_latency.png`` and prints
a summary table. ``--profile`` also records a py-spy flame graph of one worker during the first
``loanOffers`` phase (``benchmarks/results/http_profile.svg``; needs ptrace rights, e.g. root).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks import loadgen
from benchmarks.stack import Server, Stack
from benchmarks.workload import Workload, baseline_request, check_baseline

NAME = "http"
RESULTS_DIR = Path(__file__).resolve().parent / "results"
SCENARIOS = ("baseline", "loanOffers", "loanOffers_rate", "mix")
TARGETS = {"throughput_rps": 1500, "p99_ms": 500, "p99_9_ms": 2000, "errors": 0, "over_2s": 0,
           "baseline_ratio": 0.40}


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def config_from_env() -> dict[str, Any]:
    scenarios = [s.strip() for s in os.environ.get("BENCH_SCENARIOS", ",".join(SCENARIOS))
                 .split(",") if s.strip()]
    unknown = set(scenarios) - set(SCENARIOS)
    if unknown:
        raise SystemExit(f"BENCH_SCENARIOS: unknown {sorted(unknown)}; known {SCENARIOS}")
    return {
        "duration_s": float(os.environ.get("BENCH_DURATION", 30)),
        "warmup_s": float(os.environ.get("BENCH_WARMUP", 10)),
        "runs": _env_int("BENCH_RUNS", 3),
        "connections": _env_int("BENCH_CONNECTIONS", 1000),
        "workers": _env_int("BENCH_WORKERS", 2),
        "rate": float(os.environ.get("BENCH_RATE", 1500)),
        "users": _env_int("BENCH_USERS", 10_000),
        "timeout_s": float(os.environ.get("BENCH_TIMEOUT", 10)),
        "apq": os.environ.get("BENCH_APQ", "1") not in ("0", "false", "no"),
        "app_path": os.environ.get("BENCH_APP_PATH"),
        "authorization": ("BENCH_AUTHORIZATION" if os.environ.get("BENCH_AUTHORIZATION")
                          else "an AGENT+ANALYST bearer token per user (RS256, JWKS file)"),
        "scenarios": scenarios,
        "server_settings": {k: v for k, v in sorted(os.environ.items())
                            if k.startswith("LOAN_OFFERS_")},
    }


# --- observation while the load runs ------------------------------------------------------------

class ListenQueueWatch:
    """Samples ``ss -ltn`` every 0.25 s: the accept-queue length (Recv-Q of the listening
    socket) is where requests wait unseen when workers accept slowly; plus the kernel's
    listen-overflow counters (SYNs dropped because that queue was full)."""

    def __init__(self, port: int, spread_after_s: float) -> None:
        self.port = port
        self.samples: list[int] = []
        self.spread: dict[str, int] = {}
        self._spread_at = time.monotonic() + spread_after_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._overflows_before = _listen_overflows()

    def __enter__(self) -> ListenQueueWatch:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.overflows = {k: v - self._overflows_before.get(k, 0)
                          for k, v in _listen_overflows().items()}

    def _run(self) -> None:
        while not self._stop.wait(0.25):
            lines = subprocess.run(["ss", "-ltnH", f"sport = :{self.port}"],
                                   capture_output=True, text=True, check=False).stdout
            # One line per listening socket (several with per-worker SO_REUSEPORT sockets).
            queued = [int(f[1]) for f in map(str.split, lines.splitlines())
                      if len(f) >= 2 and f[1].isdigit()]
            if queued:
                self.samples.append(sum(queued))
            if not self.spread and time.monotonic() >= self._spread_at:
                self.spread = connections_per_worker(self.port)

    def summary(self) -> dict[str, Any]:
        s = self.samples or [0]
        return {"max": max(s), "mean": round(statistics.fmean(s), 1), "samples": len(self.samples),
                "connections_per_worker": self.spread,
                "kernel_listen_overflows": self.overflows.get("ListenOverflows", 0),
                "kernel_listen_drops": self.overflows.get("ListenDrops", 0)}


def _listen_overflows() -> dict[str, int]:
    with contextlib.suppress(OSError):
        lines = Path("/proc/net/netstat").read_text().splitlines()
        for names, values in zip(lines[::2], lines[1::2], strict=False):
            if names.startswith("TcpExt:"):
                table = dict(zip(names.split()[1:], map(int, values.split()[1:]), strict=False))
                return {k: table.get(k, 0) for k in ("ListenOverflows", "ListenDrops")}
    return {}


def _cpu_seconds(pids: list[int]) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def connections_per_worker(port: int) -> dict[str, int]:
    """Established server-side connections per worker pid (how evenly the workers accepted)."""
    out = subprocess.run(["ss", "-tnpH", "state", "established", f"( sport = :{port} )"],
                         capture_output=True, text=True, check=False).stdout
    counts: dict[str, int] = {}
    for pid in re.findall(r"pid=(\d+)", out):
        counts[pid] = counts.get(pid, 0) + 1
    return dict(sorted(counts.items()))


def machine_load() -> dict[str, Any]:
    one, five, fifteen = os.getloadavg()
    return {"loadavg_1m": round(one, 2), "loadavg_5m": round(five, 2),
            "loadavg_15m": round(fifteen, 2), "cpu_count": os.cpu_count()}


# --- one phase ----------------------------------------------------------------------------------

def run_phase(server: Server, next_request: Callable, check: Callable, cfg: dict[str, Any], *,
              duration_s: float, rate: float | None, seed: int,
              other_pids: dict[str, Callable[[], list[int]]]
              ) -> tuple[dict[str, Any], loadgen.Results]:
    workers = server.worker_pids()
    others = {k: find() for k, find in other_pids.items()}
    cpu_before = {"server": _cpu_seconds(workers),
                  **{k: _cpu_seconds(v) for k, v in others.items()}}
    wall = time.monotonic()
    with ListenQueueWatch(server.port, spread_after_s=duration_s / 2) as watch:
        loop = loadgen.new_event_loop()
        try:
            results = loop.run_until_complete(loadgen.run_load(
                "127.0.0.1", server.port, next_request, check,
                connections=cfg["connections"], duration_s=duration_s, rate=rate,
                timeout_s=cfg["timeout_s"], seed=seed))
        finally:
            loop.close()
    wall = time.monotonic() - wall
    summary = loadgen.summarise(results)
    cpu = {"server": _cpu_seconds(workers) - cpu_before["server"],
           **{k: _cpu_seconds(v) - cpu_before[k] for k, v in others.items()},
           "load_generator": results.client_cpu_s}
    summary["cpu_cores_used"] = {k: round(v / wall, 2) for k, v in cpu.items()}
    # CPU per answered request: the figure that survives a noisy, shared machine best.
    answered = max(summary["ok"], 1)
    summary["cpu_ms_per_request"] = {k: round(1000 * v / answered, 2) for k, v in cpu.items()}
    summary["listen_queue"] = watch.summary()
    summary["offered_rate_rps"] = rate
    return summary, results


def wait_until_idle(server: Server, timeout_s: float = 60.0) -> float:
    """Wait until the workers are idle and nobody waits to be accepted: requests whose clients
    timed out in a saturated phase are still being worked off, and would slow the next phase.
    Returns the seconds waited (reported; the limit keeps a stuck server from hanging us)."""
    started = time.monotonic()
    workers = server.worker_pids()
    while time.monotonic() - started < timeout_s:
        before = _cpu_seconds(workers)
        time.sleep(1.0)
        busy = _cpu_seconds(workers) - before
        out = subprocess.run(["ss", "-ltnH", f"sport = :{server.port}"], capture_output=True,
                             text=True, check=False).stdout.split()
        queued = int(out[1]) if len(out) >= 2 and out[1].isdigit() else 0
        if busy < 0.1 * max(len(workers), 1) and queued == 0:
            break
    return round(time.monotonic() - started, 1)


def probe_operations(port: int, workload: Workload) -> dict[str, str]:
    """Which mix operations the server has: one request each, before the measured phases."""
    import random

    rng = random.Random(7)
    status: dict[str, str] = {}
    for name, build in workload.builders().items():
        op, payload = build(rng)
        if op != name:
            status[name] = "no offers seen yet"
            continue
        head, body = payload.split(b"\r\n\r\n", 1)
        headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n")[1:])
        request = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", data=body,
                                         headers=headers, method="POST")
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = response.read()
        error = workload.check(name, answer)
        status[name] = "ok" if error is None else error
    return status


def _available(status: dict[str, str]) -> list[str]:
    return [n for n, s in status.items() if "GRAPHQL_VALIDATION_FAILED" not in s
            and s != "no offers seen yet"]


# --- the whole benchmark ------------------------------------------------------------------------

def one_run(stack: Stack, cfg: dict[str, Any], index: int, profile: bool
            ) -> tuple[dict[str, Any], dict[str, loadgen.Results]]:
    out: dict[str, Any] = {"run": index + 1, "started": datetime.now(UTC).isoformat(timespec="seconds"),
                           "machine_load_before": machine_load()}
    raw: dict[str, loadgen.Results] = {}
    seed = 1000 * (index + 1)
    others = {"postgresql": stack.postgres_pids, "redis": stack.redis_pids}
    if "baseline" in cfg["scenarios"]:
        with stack.server("baseline", cfg["workers"]) as server:
            request, check = baseline_request("127.0.0.1", server.port), check_baseline
            run_phase(server, request, check, cfg, duration_s=cfg["warmup_s"], rate=None,
                      seed=seed, other_pids={})
            wait_until_idle(server)
            out["baseline"], raw["baseline"] = run_phase(
                server, request, check, cfg, duration_s=cfg["duration_s"], rate=None,
                seed=seed + 1, other_pids=others)
    service_scenarios = [s for s in cfg["scenarios"] if s != "baseline"]
    if not service_scenarios:
        return out, raw
    with stack.server("service", cfg["workers"]) as server:
        auth = os.environ.get("BENCH_AUTHORIZATION")
        headers = {"Authorization": auth} if auth else {}
        # A bearer token per customer (prod profile), unless one is given.
        headers_for = (stack.identity.headers if stack.identity is not None and not auth
                       else lambda _user: headers)
        workload = Workload("127.0.0.1", server.port, cfg["users"], apq=cfg["apq"],
                            headers_for=headers_for)
        warm = workload.builders()["loanOffers"]
        run_phase(server, warm, workload.check, cfg, duration_s=cfg["warmup_s"], rate=None,
                  seed=seed + 2, other_pids={})
        # The warm-up leaves up to a connection's worth of answers queued in the server: the
        # probe (one request per operation) waits for them to drain, or its timeout would fire.
        wait_until_idle(server)
        out["operations"] = probe_operations(server.port, workload)
        if "mix" in service_scenarios:  # the mix's documents reach every worker (APQ)
            run_phase(server, workload.mix(_available(out["operations"])), workload.check, cfg,
                      duration_s=min(cfg["warmup_s"], 3.0), rate=None, seed=seed + 9,
                      other_pids={})
        workload.register = False  # from here on, hashes only (when BENCH_APQ is on)
        for offset, scenario in enumerate(service_scenarios, start=3):
            request = workload.mix(_available(out["operations"])) if scenario == "mix" else warm
            rate = cfg["rate"] if scenario == "loanOffers_rate" else None
            idle_wait = wait_until_idle(server)
            with _py_spy(server, cfg, enabled=profile and index == 0 and scenario == "loanOffers"):
                out[scenario], raw[scenario] = run_phase(
                    server, request, workload.check, cfg, duration_s=cfg["duration_s"],
                    rate=rate, seed=seed + offset, other_pids=others)
            out[scenario]["idle_wait_before_s"] = idle_wait
    return out, raw


@contextlib.contextmanager
def _py_spy(server: Server, cfg: dict[str, Any], enabled: bool):
    if not enabled:
        yield
        return
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    target = server.worker_pids()[0]
    destination = RESULTS_DIR / "http_profile.svg"
    collapsed = RESULTS_DIR / "http_profile.txt"  # the same samples as text (grep, diff)
    processes = [
        subprocess.Popen([spy, "record", "--pid", str(target), "--rate", "50",
                          "--duration", str(int(cfg["duration_s"])), "--nonblocking",
                          "--format", fmt, "--output", str(path)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for fmt, path in (("flamegraph", destination), ("raw", collapsed))]
    try:
        yield
    finally:
        for process in processes:
            process.wait(timeout=cfg["duration_s"] + 60)
        print(f"py-spy flame graph of worker {target}: {destination} (collapsed: {collapsed})")


METRICS = ("throughput_rps", "p50_ms", "p90_ms", "p99_ms", "p99_9_ms", "max_ms", "errors",
           "timeouts", "over_2s", "connect_errors", "unsent_at_end")


def aggregate(runs: list[dict[str, Any]], scenarios: list[str]) -> dict[str, Any]:
    """Median of each figure over the runs (each figure separately)."""
    out: dict[str, Any] = {}
    for scenario in scenarios:
        rows = [r[scenario] for r in runs if scenario in r]
        if not rows:
            continue
        figures = {m: statistics.median(r.get(m, 0) for r in rows) for m in METRICS}
        figures["listen_queue_max"] = statistics.median(r["listen_queue"]["max"] for r in rows)
        figures["kernel_listen_overflows"] = sum(r["listen_queue"]["kernel_listen_overflows"]
                                                 for r in rows)
        figures["runs"] = len(rows)
        out[scenario] = figures
    ratios = [r["loanOffers"]["throughput_rps"] / r["baseline"]["throughput_rps"]
              for r in runs if "loanOffers" in r and "baseline" in r
              and r["baseline"]["throughput_rps"]]
    if ratios:
        out["baseline_ratio"] = round(statistics.median(ratios), 3)
    return out


def verdict(median: dict[str, Any]) -> dict[str, Any]:
    checks: dict[str, Any] = {}
    for scenario in ("loanOffers", "loanOffers_rate"):
        m = median.get(scenario)
        if not m:
            continue
        checks[scenario] = {
            "throughput_rps": m["throughput_rps"] >= TARGETS["throughput_rps"],
            "p99_ms": m["p99_ms"] < TARGETS["p99_ms"],
            "p99_9_ms": m["p99_9_ms"] < TARGETS["p99_9_ms"],
            "errors": m["errors"] + m["timeouts"] + m["unsent_at_end"] == 0,
            "over_2s": m["over_2s"] == 0,
        }
    if "baseline_ratio" in median:
        checks["baseline_ratio"] = median["baseline_ratio"] >= TARGETS["baseline_ratio"]
    return checks


def table(median: dict[str, Any]) -> str:
    header = ("scenario", "rps", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "errors", "timeouts",
              ">2s", "unsent", "listenQ")
    rows = [header]
    for scenario in SCENARIOS:
        m = median.get(scenario)
        if m is None:
            continue
        rows.append((scenario, f"{m['throughput_rps']:.0f}", f"{m['p50_ms']:.0f}",
                     f"{m['p90_ms']:.0f}", f"{m['p99_ms']:.0f}", f"{m['p99_9_ms']:.0f}",
                     f"{m['errors']:.0f}", f"{m['timeouts']:.0f}", f"{m['over_2s']:.0f}",
                     f"{m['unsent_at_end']:.0f}", f"{m['listen_queue_max']:.0f}"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                       for i, (c, w) in enumerate(zip(r, widths, strict=True))) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def run(with_profile: bool = False, output: Path | None = None) -> dict[str, Any]:
    cfg = config_from_env()
    print(f"http: {cfg['connections']} connections, {cfg['workers']} workers, "
          f"{cfg['runs']} run(s) x {cfg['duration_s']:.0f} s per scenario "
          f"(+{cfg['warmup_s']:.0f} s warm-up): {', '.join(cfg['scenarios'])}", flush=True)
    runs: list[dict[str, Any]] = []
    raws: list[dict[str, loadgen.Results]] = []
    with Stack(users=cfg["users"]) as stack:
        for index in range(cfg["runs"]):
            result, raw = one_run(stack, cfg, index, with_profile)
            runs.append(result)
            raws.append(raw)
            brief = ", ".join(f"{s} {result[s]['throughput_rps']:.0f} rps p99 "
                              f"{result[s].get('p99_ms', 0):.0f} ms"
                              for s in cfg["scenarios"] if s in result)
            print(f"  run {index + 1}: {brief}", flush=True)
    median = aggregate(runs, cfg["scenarios"])
    report = {
        "benchmark": NAME,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    **machine_load()},
        "config": cfg,
        "load_generator": "benchmarks/loadgen.py (asyncio + uvloop, HTTP/1.1 keep-alive; closed "
                          "loop, or open loop with latency from the scheduled time)",
        "targets": TARGETS,
        "median": median,
        "meets_targets": verdict(median),
        "runs": runs,
    }
    destination = output or RESULTS_DIR / f"{NAME}.json"
    destination.parent.mkdir(parents=True, exist_ok=True)
    destination.write_text(json.dumps(report, indent=2) + "\n")
    chart = destination.with_name(f"{NAME}_latency.png")
    with contextlib.suppress(ImportError):
        from benchmarks.chart import latency_chart

        latency_chart(raws, median, chart, title=f"{cfg['connections']} connections, "
                      f"{cfg['workers']} workers, {report['date']}")
    print(f"\nhttp: median of {cfg['runs']} run(s)")
    print(table(median))
    if "baseline_ratio" in median:
        print(f"loanOffers / baseline throughput: {median['baseline_ratio']:.1%} "
              f"(target >= {TARGETS['baseline_ratio']:.0%})")
    print(f"targets: {json.dumps(report['meets_targets'])}")
    print(f"written: {destination}, {chart}")
    return report


def main(argv: list[str] | None = None) -> int:
    run(with_profile="--profile" in (argv or sys.argv[1:]))
    return 0


if __name__ == "__main__":
    asyncio.set_event_loop_policy(None)
    sys.exit(main())
