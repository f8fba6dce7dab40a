"""Several observations of one histogram child written at once.

With several workers (``PROMETHEUS_MULTIPROC_DIR``) every ``inc`` or ``observe`` takes a lock,
checks whether the process has forked and writes into the worker's memory-mapped file; an
observation is two such writes (its bucket and the sum). A ``loanOffers`` answer observes each
of its offers in three histograms: :func:`observe_all` writes one addition per bucket touched
and one to the sum instead. The buckets and the count are exactly those of observing one value
at a time; the sum is the same up to the order of floating-point additions.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from typing import Any


def _batchable(child: Any) -> bool:
    """prometheus-client's histogram child keeps its bounds, buckets and sum as below (0.2x);
    anything else is observed one value at a time."""
    return (isinstance(getattr(child, "_upper_bounds", None), list)
            and isinstance(getattr(child, "_buckets", None), list)
            and hasattr(getattr(child, "_sum", None), "inc"))


def observe_all(child: Any, amounts: Sequence[float]) -> None:
    """``child.observe(amount)`` for every amount, written once per bucket touched."""
    if len(amounts) <= 1 or not _batchable(child):
        for amount in amounts:
            child.observe(amount)
        return
    bounds: list[float] = child._upper_bounds  # ascending, the last one +Inf
    counts: dict[int, int] = {}
    for amount in amounts:
        if amount != amount:  # NaN: observe() adds it to the sum and to no bucket
            continue
        # observe() counts an amount in the first bucket whose bound is >= it
        index = bisect_left(bounds, amount)
        counts[index] = counts.get(index, 0) + 1
    child._sum.inc(sum(amounts))
    buckets = child._buckets
    for index, count in counts.items():
        buckets[index].inc(count)
