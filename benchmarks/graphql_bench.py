"""CPU cost of the GraphQL layer alone: one ``loanOffers`` answer through the real ASGI app,
the use case replaced by precomputed offer sets.

What is measured
    CPU time (``time.process_time_ns``) of answering the HTTP benchmark's exact request (the
    ``loanOffers`` document of :mod:`benchmarks.workload`, full field set, sent as an APQ hash
    after one registering request; a third full-grid, the rest naming an amount and a tenure)
    through ``graphql_api.app.create_app`` called as an ASGI application in this process: the
    middleware, the GraphQL view (body decoding, authentication with a static verifier),
    Strawberry's extensions (persisted queries, caches, limits, access control, masking,
    metrics), execution of the ~150 fields and the JSON encoding. No socket, no database, no
    Redis: ``generate_offers`` returns offer sets priced beforehand by the real pricing core
    (deterministic demo applicants), so what is left is what the GraphQL layer costs. The
    audit records are built as in production and dropped by an in-memory trail.

    The same loop answers the HTTP benchmark's baseline (``benchmarks.baseline_app``: a
    trivial Strawberry query returning five constant objects), so the ratio of the two is
    comparable to the HTTP benchmark's ``baseline_ratio`` with the I/O taken out.

What is reported
    Median over ``--rounds`` of the mean CPU milliseconds per request, for ``loanOffers`` and
    for the baseline, and their ratio; the HTTP edge alone (``edge_cpu_ms``: the same app and
    requests with the GraphQL view replaced by a constant answer, minus that answer called
    bare); JSON in ``benchmarks/results/graphql.json``.
    ``--profile`` also prints a cProfile summary of the ``loanOffers`` loop (top entries by
    internal time). Much less noisy than the HTTP benchmark on a shared machine: one process,
    one core, no scheduling between processes.
"""

from __future__ import annotations

import asyncio
import cProfile
import gc
import io
import itertools
import json
import logging
import os
import pstats
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from adapters.demo.portfolio import DEMO_SEED, generate_applicants
from application.errors import NotFound
from application.security import Principal, Role, Unauthenticated
from application.use_cases.generate_offers import GenerateOffersCommand
from benchmarks import baseline_app
from benchmarks.domain_bench import NOW, RESULTS_DIR, load_policy
from benchmarks.workload import AMOUNTS, BASELINE, LOAN_OFFERS, TENURES, _sha256
from config.logging import configure_logging
from domain.applicant import LoanRequest
from domain.offer_engine import InvalidLoanRequest, generate_offer_set
from domain.offers import OfferSet
from graphql_api.app import ApiOptions, create_app
from graphql_api.context import ApiServices
from graphql_api.schema import SchemaOptions

NAME = "graphql"
DEFAULT_COUNT = 2_000   # requests per round
DEFAULT_ROUNDS = 5
USERS = 200
WARM_UP = 200
PROFILE_TOP = 40
#: The HTTP benchmark's caller: a loan officer who may also read the lender's economics.
BENCH_ROLES = frozenset({Role.AGENT, Role.ANALYST})

Key = tuple[str, Decimal | None, int | None]


def price_offer_sets(users: int = USERS, seed: int = 7) -> dict[Key, OfferSet]:
    """The offer sets the workload asks for, priced once by the real pricing core:
    per user, the full grid and one (amount, tenure) drawn as the HTTP workload draws them."""
    policy = load_policy()
    rng = random.Random(seed)
    counter = itertools.count(1)

    def new_id() -> str:
        return f"00000000-0000-4000-8000-{next(counter):012d}"

    sets: dict[Key, OfferSet] = {}
    for applicant in generate_applicants(users, seed=DEMO_SEED):
        asks: list[tuple[Decimal | None, int | None]] = [
            (None, None), (Decimal(rng.choice(AMOUNTS)), rng.choice(TENURES))]
        for amount, tenure in asks:
            try:
                sets[(applicant.user_id, amount, tenure)] = generate_offer_set(
                    policy, applicant, LoanRequest(amount, tenure), NOW, new_id)
            except InvalidLoanRequest:
                continue
    return sets


class PrecomputedOffers:
    """Stands in for ``GenerateOffers``: the answer without reads, pricing or writes."""

    def __init__(self, sets: dict[Key, OfferSet]) -> None:
        self.sets = sets

    async def execute(self, command: GenerateOffersCommand) -> OfferSet:
        found = self.sets.get((command.user_id, command.requested_amount,
                               command.requested_tenure))
        if found is None:
            raise NotFound(f"no applicant with id {command.user_id!r}", user_id=command.user_id)
        return found


class StaticTokens:
    """Token -> principal: the token is the subject, the roles are fixed per app."""

    def __init__(self, roles: frozenset[Role] = BENCH_ROLES) -> None:
        self.roles = roles
        self.principals: dict[str, Principal] = {}

    async def verify(self, token: str) -> Principal:
        if not token:
            raise Unauthenticated("empty token")
        principal = self.principals.get(token)
        if principal is None:
            principal = self.principals[token] = Principal(subject=token, roles=self.roles)
        return principal


class DroppedAudit:
    def __init__(self) -> None:
        self.records = 0

    async def append(self, entries: list[Any]) -> None:
        self.records += len(entries)


def quiet_production_logging() -> None:
    """The production log configuration (JSON lines, INFO: one access-log line per request),
    written to /dev/null: formatting costs what it costs in production, nothing is printed."""
    configure_logging("INFO", "json")
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler) and handler.stream is sys.stderr:
            handler.setStream(open(os.devnull, "w"))  # noqa: SIM115 - lives as long as the run


def offers_app(sets: dict[Key, OfferSet], roles: frozenset[Role] = BENCH_ROLES,
               schema: SchemaOptions | None = None) -> Any:
    """The service's ASGI app (prod options: no GraphiQL, no introspection) over stand-ins."""
    services = ApiServices(
        generate_offers=PrecomputedOffers(sets),  # type: ignore[arg-type]
        get_offer=None, subscriber=None, readiness=None, offer_history=None,  # type: ignore
        get_applicant=None, upsert_applicant=None, accept_offer=None,  # type: ignore
        decline_offer=None, record_behavior_event=None, get_pricing_policy=None,  # type: ignore
        publish_pricing_policy=None,  # type: ignore[arg-type]
        token_verifier=StaticTokens(roles), audit_trail=DroppedAudit())  # type: ignore
    options = ApiOptions(graphiql=False, metrics=True,
                         schema=schema or SchemaOptions(introspection=False))
    return create_app(services, options)


@dataclass(frozen=True)
class Call:
    body: bytes
    headers: list[tuple[bytes, bytes]]


def loan_offers_body(user: str, amount: int | None, tenure: int | None,
                     with_document: bool) -> bytes:
    request: dict[str, object] = {"userId": user}
    if amount is not None:
        request["requestedAmount"] = amount
        request["requestedTenure"] = tenure
    payload: dict[str, object] = {
        "variables": {"request": request}, "operationName": "LoanOffers",
        "extensions": {"persistedQuery": {"version": 1, "sha256Hash": _sha256(LOAN_OFFERS)}}}
    if with_document:
        payload["query"] = LOAN_OFFERS
    return orjson.dumps(payload)


def headers_for(user: str | None) -> list[tuple[bytes, bytes]]:
    headers = [(b"host", b"bench"), (b"content-type", b"application/json")]
    if user is not None:
        headers.append((b"authorization", f"Bearer {user}".encode()))
    return headers


def loan_offer_calls(sets: dict[Key, OfferSet], count: int, seed: int = 11) -> list[Call]:
    """Like the HTTP workload: a third full grid, the rest an amount and a tenure."""
    rng = random.Random(seed)
    keys = sorted(sets, key=lambda k: (k[0], k[1] is not None))
    grid = [k for k in keys if k[1] is None]
    asked = [k for k in keys if k[1] is not None]
    calls = []
    for _ in range(count):
        user, amount, tenure = rng.choice(grid if rng.random() < 1 / 3 else asked)
        calls.append(Call(loan_offers_body(user, None if amount is None else int(amount), tenure,
                                           with_document=False), headers_for(user)))
    return calls


async def answer(app: Any, call: Call) -> tuple[int, bytes]:
    """One HTTP request through the ASGI app, as uvicorn would deliver it."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": "/graphql", "raw_path": b"/graphql",
             "query_string": b"", "root_path": "", "headers": call.headers,
             "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000)}
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)  # a disconnect never comes while the request runs
        sent = True
        return {"type": "http.request", "body": call.body, "more_body": False}

    status = 0
    chunks: list[bytes] = []

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


async def time_calls(app: Any, calls: list[Call], rounds: int,
                     check: Callable[[int, bytes], None]) -> list[float]:
    """Mean CPU ms per request in each round."""
    for call in calls[:WARM_UP]:
        check(*await answer(app, call))
    per_round = []
    for _ in range(rounds):
        gc.collect()
        start = time.process_time_ns()
        for call in calls:
            status, body = await answer(app, call)
            if status != 200:
                check(status, body)
        per_round.append((time.process_time_ns() - start) / 1e6 / len(calls))
    return per_round


def check_answer(status: int, body: bytes) -> None:
    if status != 200 or b'"errors"' in body:
        raise RuntimeError(f"unexpected answer {status}: {body[:300]!r}")


async def measure(count: int, rounds: int, with_profile: bool) -> dict[str, Any]:
    quiet_production_logging()
    sets = price_offer_sets()
    app = offers_app(sets)
    first_user = next(iter(sets))[0]
    # Registers the persisted document (APQ), as the HTTP benchmark's warm-up does.
    check_answer(*await answer(app, Call(loan_offers_body(first_user, None, None, True),
                                         headers_for(first_user))))
    calls = loan_offer_calls(sets, count)
    offers_ms = await time_calls(app, calls, rounds, check_answer)

    baseline = baseline_app.create_app()
    baseline_call = Call(orjson.dumps({"query": BASELINE}), headers_for(None))
    baseline_ms = await time_calls(baseline, [baseline_call] * count, rounds, check_answer)

    report: dict[str, Any] = {
        "benchmark": NAME,
        "clock": "time.process_time_ns (CPU time of this process)",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": {"requests_per_round": count, "rounds": rounds, "users": USERS,
                   "offer_sets": len(sets), "warm_up": WARM_UP},
        "loanOffers_cpu_ms": round(statistics.median(offers_ms), 4),
        "baseline_cpu_ms": round(statistics.median(baseline_ms), 4),
        "loanOffers_rounds_ms": [round(v, 4) for v in offers_ms],
        "baseline_rounds_ms": [round(v, 4) for v in baseline_ms],
    }
    report["ratio"] = round(report["baseline_cpu_ms"] / report["loanOffers_cpu_ms"], 4)
    report.update(await measure_edge(sets, calls, rounds))
    if with_profile:
        profiler = cProfile.Profile(time.process_time)
        profiler.enable()
        for call in calls:
            await answer(app, call)
        profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(PROFILE_TOP)
        report["profile"] = out.getvalue()
    return report


async def _stub_view(self: Any, scope: Any, receive: Any, send: Any) -> None:
    """Stands in for the GraphQL view: reads the body, answers a constant."""
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": [
        (b"content-type", b"application/json"), (b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"{}"})


async def measure_edge(sets: dict[Key, OfferSet], calls: list[Call],
                       rounds: int) -> dict[str, Any]:
    """What the HTTP edge costs (middleware, routing, admission, logs, metrics): the same app
    and requests with the GraphQL view replaced by a constant answer, minus that answer's cost
    called bare (the harness: scope, receive and send)."""
    from graphql_api.app import LoanOffersGraphQL

    original = LoanOffersGraphQL.__call__
    LoanOffersGraphQL.__call__ = _stub_view  # type: ignore[method-assign]
    try:
        stubbed = offers_app(sets)
        bare = LoanOffersGraphQL.__new__(LoanOffersGraphQL)
        stubbed_ms = await time_calls(stubbed, calls, rounds, check_status)
        bare_ms = await time_calls(bare, calls, rounds, check_status)
    finally:
        LoanOffersGraphQL.__call__ = original  # type: ignore[method-assign]
    edge = statistics.median(stubbed_ms) - statistics.median(bare_ms)
    return {"edge_cpu_ms": round(edge, 4),
            "edge_stubbed_rounds_ms": [round(v, 4) for v in stubbed_ms],
            "edge_bare_rounds_ms": [round(v, 4) for v in bare_ms]}


def check_status(status: int, body: bytes) -> None:
    if status != 200:
        raise RuntimeError(f"unexpected answer {status}: {body[:300]!r}")


def run(count: int = DEFAULT_COUNT, rounds: int = DEFAULT_ROUNDS, with_profile: bool = False,
        output: Path | None = None) -> dict[str, Any]:
    report = asyncio.run(measure(count, rounds, with_profile))
    profile = report.pop("profile", None)
    destination = output or RESULTS_DIR / f"{NAME}.json"
    destination.parent.mkdir(parents=True, exist_ok=True)
    destination.write_text(json.dumps(report, indent=2) + "\n")
    print(f"graphql: in-process ASGI app, {count} requests x {rounds} rounds "
          "(CPU ms per request, median of round means)")
    print(f"  loanOffers (full field set, APQ)  {report['loanOffers_cpu_ms']:.3f} ms")
    print(f"  baseline (trivial Strawberry)     {report['baseline_cpu_ms']:.3f} ms")
    print(f"  loanOffers / baseline throughput  {report['ratio']:.1%} (baseline CPU / loanOffers CPU)")
    print(f"  HTTP edge alone (view stubbed)    {report['edge_cpu_ms'] * 1000:.1f} us")
    print(f"written: {destination}")
    if profile:
        print(f"\ncProfile of {count} loanOffers requests, top {PROFILE_TOP} by internal time:")
        print(profile)
    return report
