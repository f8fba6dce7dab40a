"""The latency chart: percentile spectrum per scenario, and answers per second over time.

The x axis of the left plot is "nines" (90%, 99%, 99.9%, ...), as HdrHistogram plots are read:
a flat line is a well-behaved server, a hockey stick on the right is queueing or stalls.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.loadgen import Results


def _median_run(raws: list[dict[str, Results]], scenario: str) -> Results | None:
    candidates = [r[scenario] for r in raws if scenario in r]
    if not candidates:
        return None
    candidates.sort(key=lambda r: int(sum(r.ok)))
    return candidates[len(candidates) // 2]


def latency_chart(raws: list[dict[str, Results]], median: dict[str, Any], destination: Path,
                  title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (spectrum, timeline) = plt.subplots(1, 2, figsize=(13, 5))
    quantiles = 1 - np.logspace(0, -4, 200)                  # 0 .. 0.9999
    nines = -np.log10(1 - quantiles)
    for scenario in ("baseline", "loanOffers", "loanOffers_rate", "mix"):
        results = _median_run(raws, scenario)
        if results is None or not results.latencies:
            continue
        latencies = np.frombuffer(results.latencies, dtype=np.float64) * 1000.0
        m = median.get(scenario, {})
        label = f"{scenario}: {m.get('throughput_rps', 0):.0f} rps, p99 {m.get('p99_ms', 0):.0f} ms"
        spectrum.plot(nines, np.quantile(latencies, quantiles), label=label)
        done = np.frombuffer(results.completed_at, dtype=np.float64)
        seconds = np.floor(done - done.min()).astype(int)
        timeline.plot(np.bincount(seconds), label=scenario)
    for limit, text in ((500, "p99 target 500 ms"), (2000, "2 s")):
        spectrum.axhline(limit, color="grey", linestyle="--", linewidth=0.8)
        spectrum.text(0.02, limit, text, va="bottom", fontsize=8, color="grey")
    spectrum.set_xticks([0, 1, 2, 3, 4], ["0%", "90%", "99%", "99.9%", "99.99%"])
    spectrum.set_yscale("log")
    spectrum.set_xlabel("percentile")
    spectrum.set_ylabel("latency, ms (log)")
    spectrum.set_title("latency by percentile (median run)")
    spectrum.legend(fontsize=8)
    timeline.set_xlabel("second of the measured phase")
    timeline.set_ylabel("answers per second")
    timeline.set_title("throughput over time (median run)")
    timeline.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(destination, dpi=100)
    plt.close(fig)
