"""The garbage collector, set for a long-running server worker.

Why: a worker holds about 200,000 tracked objects after start-up (numpy, scipy, SQLAlchemy,
Strawberry, the schema, the policy), and its caches add more. With CPython's defaults a young
collection runs every 700 net allocations, and under load the objects of requests waiting on
I/O survive it, reach the oldest generation and set off a full collection, which walks every
object, every second or two.
Measured at 1,000 concurrent ``loanOffers`` (docs/PERFORMANCE.md, "The garbage collector"):
collections took 20-22% of a worker's CPU; after :func:`tune_collector`, about 6%.

* ``gc.freeze()`` at the end of start-up moves everything alive then into a permanent
  generation the collector never walks again: those objects live as long as the process anyway
  (cycles among them are never collected; start-up state is never freed).
* A young collection every 10,000 net allocations instead of 700: most of a request's objects
  are freed by reference counting before it runs, so the work per collection grows far less
  than the interval. Measured: 5.9% of CPU in collections, pauses of ~10 ms; 50,000 gave 3-4%
  with ~57 ms pauses, too long a stall of the event loop for its gain.
"""

from __future__ import annotations

import gc

#: Allocations between young collections; then CPython's default ratios for the older two.
THRESHOLDS = (10_000, 10, 10)


def tune_collector() -> int:
    """Collect start-up's garbage, freeze what is left, space young collections out. Call once,
    when start-up is done; returns how many objects were frozen (logged)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
    return gc.get_freeze_count()
