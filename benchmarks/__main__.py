"""``python -m benchmarks [name ...] [--profile] [--count N] [--rounds R]``.

``http`` takes its settings from ``BENCH_*`` environment variables (see
:mod:`benchmarks.http_bench`); ``--count``/``--rounds`` are the domain benchmark's.

Without a name every known benchmark runs (see :data:`benchmarks.BENCHMARKS`); figures go to
``benchmarks/results/<name>.json``.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import sys
from collections.abc import Sequence

from benchmarks import BENCHMARKS


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="name",
                        help=f"benchmarks to run (default all: {', '.join(BENCHMARKS)})")
    parser.add_argument("--count", type=int, default=None, help="inputs per round")
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds")
    parser.add_argument("--profile", action="store_true", help="also print a cProfile summary")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
    for index, name in enumerate(args.names or list(BENCHMARKS)):
        if index:
            print()
        module = importlib.import_module(BENCHMARKS[name])
        accepted = inspect.signature(module.run).parameters
        options = {k: v for k, v in (("count", args.count), ("rounds", args.rounds))
                   if v is not None and k in accepted}
        module.run(with_profile=args.profile, **options)
    return 0


if __name__ == "__main__":
    sys.exit(main())
