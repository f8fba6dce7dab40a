"""Benchmarks: never run as tests, never asserted. ``python -m benchmarks [name ...]``.

Each benchmark module exposes ``run(count, rounds, with_profile, output)`` and
``add_arguments(parser)``, and writes its figures to ``benchmarks/results/<name>.json``.
"""

from __future__ import annotations

#: Known benchmarks, in the order ``python -m benchmarks`` runs them: name -> module.
BENCHMARKS = {
    "domain": "benchmarks.domain_bench",
    "graphql": "benchmarks.graphql_bench",
    "simulation": "benchmarks.simulation_bench",
    "http": "benchmarks.http_bench",
    "data": "benchmarks.data_bench",
    "cluster": "benchmarks.cluster_bench",
    "pii": "benchmarks.pii_bench",
    "sql": "benchmarks.sql_bench",
    "redis": "benchmarks.redis_bench",
}
