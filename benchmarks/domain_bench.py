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
      the fallback families;
    * ``http``: the HTTP benchmark's ``loanOffers`` requests replayed in process (see
      :func:`http_draws`): ``--count`` requests per round, users drawn uniformly from
      ``--users`` (default 10,000) demo applicants by ``benchmarks.workload.Workload`` itself,
      a third asking for the full grid, the rest an amount and a tenure from its lists, the
      amount converted as the GraphQL resolver converts it; applicants in the form the service
      reads them (money through the database's paise columns), and each user's offer-history
      aggregate growing with every answer, as the offer-set writer stores it. With
      ``--interleave`` its requests alternate, in blocks, between running back to back and
      running each after one ``loanOffers`` answer of the real GraphQL app in process (the
      ``graphql`` benchmark's harness), whose code and data evict the pricing core's from the
      CPU caches as a server worker's other work does (``http_after_graphql``).

    Generating applicants and parsing the policy are outside the timed region; building the
    Key Facts (exact EMI, schedule, APR) of every returned offer is inside it.

What is reported
    Median, mean, p90 and p99 CPU milliseconds per applicant over all rounds, also split by
    decision (APPROVED / COUNTER_OFFER / DECLINED; for ``http`` also by whether the request
    named terms), plus each round's median; the mean is what a server's CPU per answer
    compares with (a profile's share times CPU per answer is a mean); as a table on
    stdout and as JSON in ``benchmarks/results/domain.json`` with machine information.

Target
    Under 0.3 ms CPU median per applicant for the full-grid workload (single core, no request;
    issue 8).
    The JSON's ``meets_target`` says whether this run met it. Timings are never asserted in
    tests: CI machines differ.

``--in-flight CLIENTS`` runs instead the real GraphQL app in process with the pricing core behind
simulated I/O waits (5 ms before pricing, 50 ms after), CLIENTS requests in flight, and prints
the garbage collector's passes by generation (``gc.callbacks``) and their share inside the core;
``--gc-freeze`` freezes the heap after the warm-up, as a worker could once started.

``--profile`` also runs cProfile over 300 applicants (grid workload) and prints the top 15
entries by cumulative time.
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import gc
import io
import itertools
import json
import os
import platform
import pstats
import random
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from adapters.demo.portfolio import DEMO_SEED, generate_applicants
from benchmarks.workload import Workload
from domain.applicant import Applicant, LoanRequest
from domain.behavior.history import NO_HISTORY, OfferHistorySummary
from domain.offer_engine import generate_offer_set
from domain.policy.model import PricingPolicy
from domain.policy.parsing import parse_policy_toml

NAME = "domain"
WORKLOADS = ("grid", "request", "http", "http_after_graphql")
TARGET_MEDIAN_MS = 0.3
DEFAULT_COUNT = 2_000
DEFAULT_ROUNDS = 5
WARM_UP = 50
HTTP_USERS = 10_000      # the HTTP benchmark's BENCH_USERS default
HTTP_SEED = 1003         # the HTTP benchmark's first measured loanOffers phase (seed + 3)
INTERLEAVE_BLOCK = 100   # requests per block when --interleave alternates the two ways
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


class _RequestCapture(Workload):
    """The HTTP workload's own drawing code, returning the GraphQL ``request`` variable
    instead of an HTTP request: the replay draws exactly what the load generator sends."""

    def _post(self, name: str, query: str, variables: dict, user: str) -> Any:
        return variables["request"]


def http_draws(count: int, users: int = HTTP_USERS, seed: int = HTTP_SEED
               ) -> list[tuple[int, LoanRequest]]:
    """``count`` ``loanOffers`` requests as the HTTP benchmark draws them: (index of the
    applicant, the request the resolver builds). The amount goes through JSON as a GraphQL
    ``Float`` and the resolver's ``Decimal(repr(value))``, so 100,000 arrives as ``100000.0``."""
    from graphql_api.resolvers.offers import _amount  # the resolver's own conversion

    rng = random.Random(seed)
    workload = _RequestCapture("replay", 0, users)
    draws = []
    for _ in range(count):
        asked = workload.loan_offers(rng)
        amount = asked.get("requestedAmount")
        request = LoanRequest(None if amount is None else _amount(float(amount)),
                              asked.get("requestedTenure"))
        draws.append((int(asked["userId"].removeprefix("user-")) - 1, request))
    return draws


def stored_form(applicant: Applicant) -> Applicant:
    """The applicant as the service reads it back: money through the integer paise columns
    (``Decimal('45000')`` becomes ``Decimal('45000.00')``)."""
    from adapters.sql.mapping import from_paise, to_paise

    credit = applicant.credit
    return dataclasses.replace(applicant, credit=dataclasses.replace(
        credit, monthly_income=from_paise(to_paise(credit.monthly_income)),
        existing_emi=from_paise(to_paise(credit.existing_emi))))


def _after_answer(history: OfferHistorySummary, offers: int) -> OfferHistorySummary:
    """The user's aggregate after one more answer: an answer counts once it carries an offer;
    nothing is accepted, declined or left to lapse during a benchmark run."""
    if not offers:
        return history
    return dataclasses.replace(history, offers_seen=history.offers_seen + offers,
                               answers=history.answers + 1)


def _graphql_between() -> Callable[[int], None]:
    """One ``loanOffers`` answer of the real GraphQL app in process (the ``graphql``
    benchmark's app over offer sets priced beforehand), run between two timed calls."""
    import asyncio

    from benchmarks import graphql_bench

    graphql_bench.quiet_production_logging()
    sets = graphql_bench.price_offer_sets()
    app = graphql_bench.offers_app(sets)
    calls = graphql_bench.loan_offer_calls(sets, 1_000)
    loop = asyncio.new_event_loop()
    first_user = next(iter(sets))[0]  # registers the persisted document, as the warm-up does
    graphql_bench.check_answer(*loop.run_until_complete(graphql_bench.answer(
        app, graphql_bench.Call(graphql_bench.loan_offers_body(first_user, None, None, True),
                                graphql_bench.headers_for(first_user)))))

    def between(index: int) -> None:
        status, body = loop.run_until_complete(
            graphql_bench.answer(app, calls[index % len(calls)]))
        graphql_bench.check_answer(status, body)

    return between


def time_http(policy: PricingPolicy, applicants: Sequence[Applicant],
              draws: Sequence[tuple[int, LoanRequest]], rounds: int, interleave: bool
              ) -> dict[str, tuple[list[list[int]], list[str]]]:
    """CPU ns per request per round and each request's label (kind:decision), for ``http``
    and, with ``interleave``, ``http_after_graphql``; history carries over the rounds."""
    new_id = _id_source()
    histories: dict[int, OfferHistorySummary] = {}
    between = _graphql_between() if interleave else None

    def one(index: int, request: LoanRequest) -> tuple[int, str]:
        history = histories.get(index, NO_HISTORY)
        start = clock()
        result = generate_offer_set(policy, applicants[index], request, NOW, new_id, history)
        elapsed = clock() - start
        histories[index] = _after_answer(history, len(result.offers))
        kind = "grid" if request.requested_amount is None else "asked"
        return elapsed, f"{kind}:{result.decision.value}"

    clock = time.process_time_ns
    for index, request in draws[:WARM_UP]:
        one(index, request)
        if between is not None:
            between(index)
    modes = ("http", "http_after_graphql") if interleave else ("http",)
    out: dict[str, tuple[list[list[int]], list[str]]] = {m: ([], []) for m in modes}
    for round_index in range(rounds):
        gc.collect()
        for samples, _ in out.values():
            samples.append([])
        for position, (index, request) in enumerate(draws):
            mode = modes[(position // INTERLEAVE_BLOCK) % len(modes)]
            if mode == "http_after_graphql":
                between(position)  # type: ignore[misc]
            elapsed, label = one(index, request)
            out[mode][0][-1].append(elapsed)
            if round_index == 0:
                out[mode][1].append(label)
    return out


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
    rows = [("workload", "decision", "samples", "median ms", "mean ms", "p90 ms", "p99 ms")]
    for workload in WORKLOADS:
        part = report.get(workload)
        if part is None:
            continue
        for decision, s in [("ALL", part["all"]), *part["by_decision"].items()]:
            rows.append((workload, decision, str(s["samples"]), f"{s['median_ms']:.3f}",
                         f"{s['mean_ms']:.3f}", f"{s['p90_ms']:.3f}", f"{s['p99_ms']:.3f}"))
    widths = [max(len(r[k]) for r in rows) for k in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) if k < 2 else cell.rjust(w)
                       for k, (cell, w) in enumerate(zip(row, widths, strict=True)))
             for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


class _GcClock:
    """CPU time of the garbage collector's passes (``gc.callbacks``) by generation, and how
    much of it fell inside a pricing-core call."""

    def __init__(self) -> None:
        self.passes: dict[int, list[int]] = {0: [], 1: [], 2: []}
        self.inside_ns = 0
        self.in_engine = False
        self._start = 0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._start = time.process_time_ns()
            return
        elapsed = time.process_time_ns() - self._start
        self.passes[info["generation"]].append(elapsed)
        if self.in_engine:
            self.inside_ns += elapsed


async def _in_flight_run(concurrency: int, count: int, freeze: bool) -> dict[str, Any]:
    """The real GraphQL app in process with the pricing core behind it (``count`` requests
    drawn as ``http``, ``concurrency`` clients): each answer waits 5 ms for its reads before
    pricing and 50 ms for its grouped write after, so requests stay in flight as in a worker
    and their objects reach the collector's older generations."""
    import asyncio

    from benchmarks import graphql_bench
    from graphql_api.app import ApiOptions, create_app
    from graphql_api.context import ApiServices
    from graphql_api.schema import SchemaOptions

    policy = load_policy()
    applicants = {a.user_id: stored_form(a)
                  for a in generate_applicants(HTTP_USERS, seed=DEMO_SEED)}
    clock_gc, new_id, engine = _GcClock(), _id_source(), {"ns": 0, "calls": 0}

    class PricingBehindIo:  # stands in for GenerateOffers: I/O waits, the real core
        async def execute(self, command: Any) -> Any:
            await asyncio.sleep(0.005)
            request = LoanRequest(command.requested_amount, command.requested_tenure)
            clock_gc.in_engine, start = True, time.process_time_ns()
            offer_set = generate_offer_set(policy, applicants[command.user_id], request, NOW,
                                           new_id)
            engine["ns"] += time.process_time_ns() - start
            engine["calls"] += 1
            clock_gc.in_engine = False
            await asyncio.sleep(0.05)
            return offer_set

    graphql_bench.quiet_production_logging()
    app = create_app(ApiServices(  # type: ignore[arg-type] - stand-ins, as in graphql_bench
        generate_offers=PricingBehindIo(), get_offer=None, subscriber=None, readiness=None,
        offer_history=None, get_applicant=None, upsert_applicant=None, accept_offer=None,
        decline_offer=None, record_behavior_event=None, get_pricing_policy=None,
        publish_pricing_policy=None, token_verifier=graphql_bench.StaticTokens(),
        audit_trail=graphql_bench.DroppedAudit()),
        ApiOptions(graphiql=False, metrics=True, schema=SchemaOptions(introspection=False)))
    rng, capture = random.Random(HTTP_SEED), _RequestCapture("in-flight", 0, HTTP_USERS)
    calls = []
    for _ in range(count):
        asked = capture.loan_offers(rng)
        calls.append(graphql_bench.Call(graphql_bench.loan_offers_body(
            asked["userId"], asked.get("requestedAmount"), asked.get("requestedTenure"),
            with_document=False), graphql_bench.headers_for(asked["userId"])))

    async def clients(pending: list) -> None:
        async def client() -> None:
            while pending:
                status, body = await graphql_bench.answer(app, pending.pop())
                graphql_bench.check_answer(status, body)
        await asyncio.gather(*(client() for _ in range(concurrency)))

    first = next(iter(applicants))  # registers the persisted document, as the warm-up does
    graphql_bench.check_answer(*await graphql_bench.answer(app, graphql_bench.Call(
        graphql_bench.loan_offers_body(first, None, None, True), graphql_bench.headers_for(first))))
    await clients(list(reversed(calls[: count // 10])))  # warm-up
    engine.update(ns=0, calls=0)
    gc.collect()
    if freeze:
        gc.freeze()  # what a worker could do once started: its heap so far is never scanned
    gc.callbacks.append(clock_gc)
    start = time.process_time_ns()
    try:
        await clients(list(reversed(calls)))
    finally:
        gc.callbacks.remove(clock_gc)
        if freeze:
            gc.unfreeze()
    answers = engine["calls"]
    per_answer = lambda ns: round(ns / answers / 1e3, 1)  # noqa: E731 - us per answer
    return {
        "concurrency": concurrency, "answers": answers, "gc_freeze": freeze,
        "cpu_us_per_answer": per_answer(time.process_time_ns() - start),
        "engine_us_per_answer": per_answer(engine["ns"]),
        "gc_us_per_answer_inside_engine": per_answer(clock_gc.inside_ns),
        "gc": {f"gen{g}": {"passes": len(v), "mean_ms": round(float(np.mean(v)) / 1e6, 2)
                           if v else 0.0, "us_per_answer": per_answer(sum(v))}
               for g, v in clock_gc.passes.items()},
    }


def in_flight(concurrency: int, count: int, freeze: bool) -> dict[str, Any]:
    """``--in-flight``: see :func:`_in_flight_run`; printed, not written."""
    import asyncio

    report = asyncio.run(_in_flight_run(concurrency, count, freeze))
    print(json.dumps(report, indent=2))
    return report


def run(count: int = DEFAULT_COUNT, rounds: int = DEFAULT_ROUNDS, with_profile: bool = False,
        output: Path | None = None, users: int = HTTP_USERS, interleave: bool = False
        ) -> dict[str, Any]:
    policy = load_policy()
    applicants = list(generate_applicants(max(count, users), seed=DEMO_SEED))
    first = applicants[:count]
    no_request = [LoanRequest()] * len(first)
    with_amount = [request_with_amount(a, policy) for a in first]

    grid_times, grid_decisions = time_workload(policy, first, no_request, rounds)
    request_times, request_decisions = time_workload(policy, first, with_amount, rounds)
    stored = [stored_form(a) for a in applicants[:users]]
    http = time_http(policy, stored, http_draws(count, users), rounds, interleave)

    grid = summarise(grid_times, grid_decisions)
    report: dict[str, Any] = {
        "benchmark": NAME,
        "function": "domain.offer_engine.generate_offer_set",
        "clock": "time.process_time_ns (CPU time of this process)",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "config": {"applicants": len(first), "rounds": rounds, "warm_up": WARM_UP,
                   "seed": DEMO_SEED, "policy": str(POLICY_FILE.relative_to(ROOT)),
                   "request_case": "amount = 10 x monthly income (policy limits), 36 months",
                   "http_case": f"{count} loanOffers requests per round drawn as the HTTP "
                                f"benchmark draws them from {users} users (seed {HTTP_SEED}), "
                                "offer history growing with every answer",
                   "interleave": interleave},
        "target": {"median_cpu_ms_per_applicant": TARGET_MEDIAN_MS, "workload": "grid"},
        "meets_target": grid["all"]["median_ms"] < TARGET_MEDIAN_MS,
        "grid": grid,
        "request": summarise(request_times, request_decisions),
        **{mode: summarise(*timed) for mode, timed in http.items()},
    }
    destination = output or RESULTS_DIR / f"{NAME}.json"
    destination.parent.mkdir(parents=True, exist_ok=True)
    temporary = destination.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(report, indent=2) + "\n")
    temporary.replace(destination)

    print(f"domain: generate_offer_set, {len(first)} demo applicants (http: {count} requests "
          f"from {users} users) x {rounds} rounds (CPU time per applicant)")
    print(_table(report))
    verdict = "meets" if report["meets_target"] else "MISSES"
    print(f"target: median < {TARGET_MEDIAN_MS:.1f} ms CPU per applicant (grid): {verdict}")
    print(f"written: {destination}")
    if with_profile:
        print(f"\ncProfile, {PROFILE_COUNT} applicants, grid workload, top {PROFILE_TOP} "
              "by cumulative time:")
        print(profile(policy, first[:PROFILE_COUNT]))
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks domain",
                                     description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    if args.in_flight:
        in_flight(args.in_flight, args.count, args.gc_freeze)
        return 0
    run(args.count, args.rounds, args.profile, args.output, args.users, args.interleave)
    return 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--count", type=int, default=DEFAULT_COUNT,
                        help=f"demo applicants (default {DEFAULT_COUNT})")
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS,
                        help=f"timed rounds (default {DEFAULT_ROUNDS})")
    parser.add_argument("--profile", action="store_true",
                        help=f"also cProfile {PROFILE_COUNT} applicants, top {PROFILE_TOP}")
    parser.add_argument("--users", type=int, default=HTTP_USERS,
                        help=f"users the http workload draws from (default {HTTP_USERS})")
    parser.add_argument("--interleave", action="store_true",
                        help="http workload: alternate blocks run back to back with blocks run "
                             "after a GraphQL answer each (cold caches, as in a server)")
    parser.add_argument("--in-flight", type=int, default=0, metavar="CLIENTS",
                        help="instead: the GraphQL app in process with the core behind "
                             "simulated I/O, CLIENTS requests in flight; garbage collections")
    parser.add_argument("--gc-freeze", action="store_true",
                        help="with --in-flight: gc.freeze() after the warm-up")
    parser.add_argument("--output", type=Path, default=None,
                        help="JSON destination (default benchmarks/results/domain.json)")


if __name__ == "__main__":
    sys.exit(main())
