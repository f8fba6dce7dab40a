"""Wall and CPU time of the batch simulation: ``simulate_batch`` over 100,000 applicants.

What is measured
    ``--count`` (default 100,000) deterministic synthetic applicants
    (``adapters.demo.portfolio``, generated in memory, outside the timed region) are turned into
    columns (timed separately) and decided and priced by :func:`domain.simulation.batch.
    simulate_batch` with the default policy (no requested terms: the full offer grid), in
    ``--rounds`` (default 3) rounds; then the report (:func:`domain.simulation.report.
    summarise`). Wall-clock (``perf_counter``) and CPU (``process_time``) seconds.

Target
    The issue's: 100,000 applicants in under 10 s on this machine (2 shared cores), wall clock,
    simulation plus report. ``meets_target`` in ``benchmarks/results/simulation.json`` says
    whether the best round met it; ``simulation.png`` there shows the per-round times.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

from adapters.demo.portfolio import DEMO_SEED, generate_applicants
from benchmarks.domain_bench import load_policy, machine_info
from domain.simulation.batch import simulate_batch
from domain.simulation.columns import ApplicantColumns
from domain.simulation.report import summarise

NAME = "simulation"
TARGET_SECONDS = 10.0
DEFAULT_COUNT = 100_000
DEFAULT_ROUNDS = 3
ON = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
RESULTS_DIR = Path(__file__).resolve().parent / "results"


def _chart(rounds: list[dict[str, float]], count: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    x = range(1, len(rounds) + 1)
    ax.bar([i - 0.2 for i in x], [r["wall_s"] for r in rounds], 0.4, label="wall")
    ax.bar([i + 0.2 for i in x], [r["cpu_s"] for r in rounds], 0.4, label="CPU")
    ax.axhline(TARGET_SECONDS, color="red", linestyle="--", label="target")
    ax.set_xlabel("round")
    ax.set_ylabel("seconds")
    ax.set_title(f"simulate_batch + report, {count:,} applicants")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def run(count: int = DEFAULT_COUNT, rounds: int = DEFAULT_ROUNDS, with_profile: bool = False,
        output: Path | None = None) -> dict:
    policy = load_policy()
    started = time.perf_counter()
    applicants = list(generate_applicants(count, DEMO_SEED))
    generated = time.perf_counter() - started
    started = time.perf_counter()
    cols = ApplicantColumns.from_applicants(applicants)
    to_columns = time.perf_counter() - started
    figures = []
    for _ in range(rounds):
        wall, cpu = time.perf_counter(), time.process_time()
        outcome = simulate_batch(policy, cols, ON)
        summary = summarise(outcome, policy, cols)
        figures.append({"wall_s": round(time.perf_counter() - wall, 3),
                        "cpu_s": round(time.process_time() - cpu, 3)})
    if with_profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.runcall(simulate_batch, policy, cols, ON)
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(15)
    best = min(r["wall_s"] for r in figures)
    report = {
        "benchmark": NAME, "function": "domain.simulation.batch.simulate_batch + report.summarise",
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": machine_info(),
        "config": {"applicants": count, "rounds": rounds, "seed": DEMO_SEED,
                   "policy": "config/policies/default.toml", "request": "none (full grid)"},
        "generate_applicants_s": round(generated, 3), "to_columns_s": round(to_columns, 3),
        "rounds": figures, "best_wall_s": best,
        "target": {"wall_s": TARGET_SECONDS}, "meets_target": best < TARGET_SECONDS,
        "approval_rate": summary.approval_rate, "mean_roi": summary.mean_roi,
    }
    destination = output or RESULTS_DIR / f"{NAME}.json"
    destination.parent.mkdir(parents=True, exist_ok=True)
    destination.write_text(json.dumps(report, indent=2) + "\n")
    _chart(figures, count, destination.with_suffix(".png"))
    print(f"simulation of {count:,} applicants (columns built in {to_columns:.2f} s): "
          + ", ".join(f"{r['wall_s']:.2f} s wall / {r['cpu_s']:.2f} s CPU" for r in figures))
    print(f"best {best:.2f} s; target {TARGET_SECONDS:.0f} s: "
          f"{'met' if best < TARGET_SECONDS else 'NOT met'}; written to {destination}")
    return report
