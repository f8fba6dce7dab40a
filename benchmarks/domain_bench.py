"""CPU cost of the pricing core: ``generate_offer_set`` per applicant.

What is measured
    CPU time (``time.process_time_ns``: this process, user + system, all threads) of one
    ``generate_offer_set(policy, applicant, request, now, new_id)`` call, for each of the first
    ``--count`` (default 2,000) deterministic demo applicants (``adapters.demo.portfolio``),
    repeated in ``--rounds`` (default 5) rounds after a short warm-up. Two workloads:

    * ``grid``: no request, so the engine prices the full policy grid (amount x tenure, plus
      the affordable maximum per tenure) for every eligible applicant - the heaviest case;
    * ``request``: a request with an amount (10 x monthly income, within policy limits) and a
      36-month tenure - the requested terms, nearby alternatives and, when they do not fit,
      the fallback families.

    Generating applicants and parsing the policy are outside the timed region; building the
    Key Facts (exact EMI, schedule, APR) of every returned offer is inside it.

What is reported
    Median, p90 and p99 CPU milliseconds per applicant over all rounds, also split by
    decision (APPROVED / COUNTER_OFFER / DECLINED), plus each round's median; as a table on
    stdout and as JSON in ``benchmarks/results/domain.json`` with machine information.

Target
    Under 0.3 ms CPU median per applicant for the full-grid workload (single core, no request;
    issue 8).
    The JSON's ``meets_target`` says whether this run met it. Timings are never asserted in
    tests: CI machines differ.

``--profile`` also runs cProfile over 300 applicants (grid workload) and prints the top 15
entries by cumulative time.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import itertools
import json
import os
import platform
import pstats
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from adapters.demo.portfolio import DEMO_SEED, generate_applicants
from domain.applicant import Applicant, LoanRequest
from domain.offer_engine import generate_offer_set
from domain.policy.model import PricingPolicy
from domain.policy.parsing import parse_policy_toml

NAME = "domain"
TARGET_MEDIAN_MS = 0.3
DEFAULT_COUNT = 2_000
DEFAULT_ROUNDS = 5
WARM_UP = 50
PROFILE_COUNT = 300
PROFILE_TOP = 15
NOW = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[1]
POLICY_FILE = ROOT / "config" / "policies" / "default.toml"
RESULTS_DIR = Path(__file__).resolve().parent / "results"


def load_policy() -> PricingPolicy:
    return parse_policy_toml(POLICY_FILE.read_text())


def request_with_amount(applicant: Applicant, policy: PricingPolicy) -> LoanRequest:
    """10 x monthly income over 36 months, clipped to the policy's amount limits."""
    limits = policy.amounts
    amount = min(max(applicant.credit.monthly_income * 10, limits.minimum), limits.maximum)
    return LoanRequest(amount.quantize(Decimal("1000")), 36)


def _id_source() -> Callable[[], str]:
    counter = itertools.count(1)
    return lambda: f"bench-{next(counter)}"


def time_workload(policy: PricingPolicy, applicants: Sequence[Applicant],
                  requests: Sequence[LoanRequest], rounds: int
                  ) -> tuple[list[list[int]], list[str]]:
    """CPU ns per applicant per round, and each applicant's decision."""
    new_id = _id_source()
    for applicant, request in zip(applicants[:WARM_UP], requests[:WARM_UP], strict=True):
        generate_offer_set(policy, applicant, request, NOW, new_id)
    clock = time.process_time_ns
    per_round: list[list[int]] = []
    decisions: list[str] = []
    for round_index in range(rounds):
        gc.collect()
        samples: list[int] = []
        for applicant, request in zip(applicants, requests, strict=True):
            start = clock()
            result = generate_offer_set(policy, applicant, request, NOW, new_id)
            samples.append(clock() - start)
            if round_index == 0:
                decisions.append(result.decision.value)
        per_round.append(samples)
    return per_round, decisions


def _stats_ms(samples_ns: Sequence[int] | np.ndarray) -> dict[str, float | int]:
    ms = np.asarray(samples_ns, dtype=np.float64) / 1e6
    if ms.size == 0:
        return {"samples": 0}
    p50, p90, p99 = np.percentile(ms, [50, 90, 99])
    return {"samples": int(ms.size), "median_ms": round(float(p50), 4),
            "p90_ms": round(float(p90), 4), "p99_ms": round(float(p99), 4),
            "mean_ms": round(float(ms.mean()), 4), "max_ms": round(float(ms.max()), 4)}


def summarise(per_round: list[list[int]], decisions: list[str]) -> dict[str, Any]:
    matrix = np.asarray(per_round, dtype=np.int64)          # rounds x applicants
    labels = np.asarray(decisions)
    by_decision = {
        decision: dict(_stats_ms(matrix[:, labels == decision].ravel()),
                       applicants=int((labels == decision).sum()))
        for decision in sorted(set(decisions))
    }
    return {
        "all": _stats_ms(matrix.ravel()),
        "by_decision": by_decision,
        "round_medians_ms": [round(float(np.median(row)) / 1e6, 4) for row in matrix],
        "round_totals_cpu_s": [round(float(row.sum()) / 1e9, 4) for row in matrix],
    }


def machine_info() -> dict[str, Any]:
    import scipy

    return {
        "cpu_count": os.cpu_count(),
        "python_version": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
    }


def profile(policy: PricingPolicy, applicants: Sequence[Applicant], top: int = PROFILE_TOP
            ) -> str:
    new_id = _id_source()
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    for applicant in applicants:
        generate_offer_set(policy, applicant, LoanRequest(), NOW, new_id)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(top)
    return out.getvalue()


def _table(report: dict[str, Any]) -> str:
    rows = [("workload", "decision", "applicants", "median ms", "p90 ms", "p99 ms")]
    for workload in ("grid", "request"):
        part = report[workload]
        everything = part["all"]
        rows.append((workload, "ALL", str(report["config"]["applicants"]),
                     f"{everything['median_ms']:.3f}", f"{everything['p90_ms']:.3f}",
                     f"{everything['p99_ms']:.3f}"))
        for decision, s in part["by_decision"].items():
            rows.append((workload, decision, str(s["applicants"]), f"{s['median_ms']:.3f}",
                         f"{s['p90_ms']:.3f}", f"{s['p99_ms']:.3f}"))
    widths = [max(len(r[k]) for r in rows) for k in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) if k < 2 else cell.rjust(w)
                       for k, (cell, w) in enumerate(zip(row, widths, strict=True)))
             for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def run(count: int = DEFAULT_COUNT, rounds: int = DEFAULT_ROUNDS, with_profile: bool = False,
        output: Path | None = None) -> dict[str, Any]:
    policy = load_policy()
    applicants = list(generate_applicants(count, seed=DEMO_SEED))
    no_request = [LoanRequest()] * len(applicants)
    with_amount = [request_with_amount(a, policy) for a in applicants]

    grid_times, grid_decisions = time_workload(policy, applicants, no_request, rounds)
    request_times, request_decisions = time_workload(policy, applicants, with_amount, rounds)

    grid = summarise(grid_times, grid_decisions)
    report: dict[str, Any] = {
        "benchmark": NAME,
        "function": "domain.offer_engine.generate_offer_set",
        "clock": "time.process_time_ns (CPU time of this process)",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "config": {"applicants": len(applicants), "rounds": rounds, "warm_up": WARM_UP,
                   "seed": DEMO_SEED, "policy": str(POLICY_FILE.relative_to(ROOT)),
                   "request_case": "amount = 10 x monthly income (policy limits), 36 months"},
        "target": {"median_cpu_ms_per_applicant": TARGET_MEDIAN_MS, "workload": "grid"},
        "meets_target": grid["all"]["median_ms"] < TARGET_MEDIAN_MS,
        "grid": grid,
        "request": summarise(request_times, request_decisions),
    }
    destination = output or RESULTS_DIR / f"{NAME}.json"
    destination.parent.mkdir(parents=True, exist_ok=True)
    temporary = destination.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(report, indent=2) + "\n")
    temporary.replace(destination)

    print(f"domain: generate_offer_set, {len(applicants)} demo applicants x {rounds} rounds "
          f"(CPU time per applicant)")
    print(_table(report))
    verdict = "meets" if report["meets_target"] else "MISSES"
    print(f"target: median < {TARGET_MEDIAN_MS:.1f} ms CPU per applicant (grid): {verdict}")
    print(f"written: {destination}")
    if with_profile:
        print(f"\ncProfile, {PROFILE_COUNT} applicants, grid workload, top {PROFILE_TOP} "
              "by cumulative time:")
        print(profile(policy, applicants[:PROFILE_COUNT]))
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks domain",
                                     description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    run(args.count, args.rounds, args.profile, args.output)
    return 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--count", type=int, default=DEFAULT_COUNT,
                        help=f"demo applicants (default {DEFAULT_COUNT})")
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS,
                        help=f"timed rounds (default {DEFAULT_ROUNDS})")
    parser.add_argument("--profile", action="store_true",
                        help=f"also cProfile {PROFILE_COUNT} applicants, top {PROFILE_TOP}")
    parser.add_argument("--output", type=Path, default=None,
                        help="JSON destination (default benchmarks/results/domain.json)")


if __name__ == "__main__":
    sys.exit(main())
