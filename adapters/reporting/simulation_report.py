"""A simulation report as a text table and a PNG chart (matplotlib, headless Agg backend)."""

from __future__ import annotations

from pathlib import Path

from domain.simulation.report import PolicyOutcome, SimulationReport


def _pct(value: float | None, places: int = 2) -> str:
    return "-" if value is None else f"{value:.{places}f}"


def _share(value: float) -> str:
    return f"{value * 100:.1f}%"


def report_table(report: SimulationReport) -> str:
    """Live vs draft, one figure a line; then rates by band and the fairness check."""
    live, draft = report.live, report.draft
    rows = [
        ("policy", f"v{live.policy_version} {live.policy_name}",
         f"v{draft.policy_version} {draft.policy_name}"),
        ("applicants", str(live.applicants), str(draft.applicants)),
        ("approval rate", _share(live.approval_rate), _share(draft.approval_rate)),
        ("counter-offer rate", _share(live.counter_offer_rate), _share(draft.counter_offer_rate)),
        ("decline rate", _share(live.decline_rate), _share(draft.decline_rate)),
        ("mean conversion", _pct(live.mean_conversion, 4), _pct(draft.mean_conversion, 4)),
        ("expected booked volume INR", f"{live.expected_booked_volume:,.2f}",
         f"{draft.expected_booked_volume:,.2f}"),
        ("expected profit INR", f"{live.expected_profit:,.2f}", f"{draft.expected_profit:,.2f}"),
        ("mean ROI %", _pct(live.mean_roi), _pct(draft.mean_roi)),
        ("mean APR %", _pct(live.mean_apr), _pct(draft.mean_apr)),
    ]
    for lb, db in zip(live.bands, draft.bands, strict=False):
        rows.append((f"band {lb.band} approved", f"{lb.approved}/{lb.applicants}",
                     f"{db.approved}/{db.applicants}"))
        rows.append((f"band {lb.band} ROI % / APR %", f"{_pct(lb.mean_roi)} / {_pct(lb.mean_apr)}",
                     f"{_pct(db.mean_roi)} / {_pct(db.mean_apr)}"))
    live_fb = {c.name: c.count for c in live.fallbacks}
    draft_fb = {c.name: c.count for c in draft.fallbacks}
    for name in sorted(set(live_fb) | set(draft_fb)):
        rows.append((f"fallback {name}", str(live_fb.get(name, 0)), str(draft_fb.get(name, 0))))
    for lf, df in zip(live.fairness, draft.fairness, strict=False):
        rows.append((f"fairness {lf.attribute} (AIR)", _fairness(lf.adverse_impact_ratio, lf.passes),
                     _fairness(df.adverse_impact_ratio, df.passes)))
    width = max(len(r[0]) for r in rows)
    col = max(len(r[1]) for r in rows)
    lines = [f"{'':<{width}}  {'live':>{col}}  draft", "-" * (width + col + 12)]
    lines += [f"{name:<{width}}  {a:>{col}}  {b}" for name, a, b in rows]
    lines.append(f"sample {report.sample_size} (seed {report.seed}); decisions changed: "
                 f"{report.changed_decisions}; prices changed: {report.changed_prices}; "
                 f"mean ROI change: {_pct(report.mean_roi_change, 3)} points")
    volume = report.volume_target
    if volume is not None:
        lines.append(
            f"volume target {volume.target_take_up:.3f}: take-up {volume.current_take_up:.4f} -> "
            f"{volume.planned_take_up:.4f}, expected profit INR {volume.current_profit:,.0f} -> "
            f"{volume.planned_profit:,.0f}"
            + ("" if volume.feasible else " (out of reach within the rate bands)"))
        lines.extend(f"  band {b.band}: ROI {_pct(b.current_roi)}% -> {_pct(b.planned_roi)}%"
                     for b in volume.bands)
    return "\n".join(lines) + "\n"


def _fairness(ratio: float | None, passes: bool) -> str:
    return "-" if ratio is None else f"{ratio:.3f} {'ok' if passes else 'BELOW 0.8'}"


def write_chart(report: SimulationReport, path: Path) -> Path:
    """Three panels: decision mix, mean ROI by band, mean APR by band (live vs draft)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    live, draft = report.live, report.draft
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    labels = ["approved", "counter-offer", "declined"]

    def mix(o: PolicyOutcome) -> list[float]:
        return [o.approval_rate * 100, o.counter_offer_rate * 100, o.decline_rate * 100]

    x = np.arange(len(labels))
    axes[0].bar(x - 0.2, mix(live), 0.4, label=f"live v{live.policy_version}")
    axes[0].bar(x + 0.2, mix(draft), 0.4, label=f"draft v{draft.policy_version}")
    axes[0].set_xticks(x, labels)
    axes[0].set_ylabel("% of applicants")
    axes[0].set_title("Decisions")
    axes[0].legend()
    bands = [b.band for b in live.bands]
    xb = np.arange(len(bands))
    for ax, field, title in ((axes[1], "mean_roi", "Mean rank-1 ROI by band"),
                             (axes[2], "mean_apr", "Mean rank-1 APR by band")):
        for offset, outcome in ((-0.2, live), (0.2, draft)):
            values = [getattr(b, field) or 0.0 for b in outcome.bands]
            ax.bar(xb + offset, values, 0.4)
        ax.set_xticks(xb, bands)
        ax.set_ylabel("% a year")
        ax.set_title(title)
    fig.suptitle(f"Policy simulation over {report.sample_size} applicants: expected profit INR "
                 f"{live.expected_profit:,.0f} (live) vs {draft.expected_profit:,.0f} (draft)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
