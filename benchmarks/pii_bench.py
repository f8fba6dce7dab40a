"""Encryption at rest: CPU per sealed value, per applicant row, and on the cache read path.

``python -m benchmarks pii [--count N] [--rounds R]``. In-process, no servers: it isolates what
sealing adds (AES-256-GCM per value, HMAC-SHA256 per indexed value, the cache's sealed personal
part) and sets it next to the CPU of one offer decision (``generate_offer_set``), the work every
``loanOffers`` answer does anyway. Medians of ``rounds`` rounds of ``count`` operations, CPU time
(``time.process_time``), so a busy shared machine inflates them less than wall time.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from aiocache import SimpleMemoryCache

from adapters.cache.applicant_cache import AiocacheApplicantCache
from adapters.codecs import applicant_from_dict, applicant_to_dict
from adapters.crypto.keys import (
    generate_index_key,
    generate_key_entry,
    parse_index_key,
    parse_keyring,
)
from adapters.demo.portfolio import generate_applicants
from adapters.sql.mapping import applicant_columns, applicant_from_rows, behavior_columns
from application.pii import Binding, ContactKind, PiiProtection
from benchmarks.domain_bench import load_policy, machine_info
from domain.applicant import LoanRequest
from domain.offer_engine import generate_offer_set

NAME = "pii"
DEFAULT_COUNT = 2000
DEFAULT_ROUNDS = 5
RESULTS_DIR = Path(__file__).resolve().parent / "results"


def _cpu_us(call: Callable[[int], Any], count: int, rounds: int) -> float:
    """Median CPU microseconds per call of ``call(i)`` over ``rounds`` rounds of ``count``."""
    samples = []
    for _ in range(rounds):
        started = time.process_time()
        for i in range(count):
            call(i)
        samples.append((time.process_time() - started) / count * 1e6)
    return round(statistics.median(samples), 2)


def _async_cpu_us(make: Callable[[int], Any], count: int, rounds: int) -> float:
    async def batch() -> None:
        for i in range(count):
            await make(i)

    samples = []
    loop = asyncio.new_event_loop()
    try:
        for _ in range(rounds):
            started = time.process_time()
            loop.run_until_complete(batch())
            samples.append((time.process_time() - started) / count * 1e6)
    finally:
        loop.close()
    return round(statistics.median(samples), 2)


def run(count: int = DEFAULT_COUNT, rounds: int = DEFAULT_ROUNDS, with_profile: bool = False,
        output: Path | None = None) -> dict[str, Any]:
    pii = PiiProtection(parse_keyring(generate_key_entry("bench")),
                        parse_index_key(generate_index_key()))
    applicants = list(generate_applicants(min(count, 2000)))
    n = len(applicants)
    binding = Binding("applicants", "email", "user-000001")
    email = applicants[0].personal.email or "someone@example.com"
    sealed_email = pii.cipher.seal(email, binding)
    now = datetime.now(UTC)
    rows = [SimpleNamespace(**applicant_columns(a, now, pii)) for a in applicants]
    behaviors = [SimpleNamespace(**behavior_columns(a, now)) for a in applicants]

    sealed_cache = AiocacheApplicantCache(SimpleMemoryCache(), 3600, cipher=pii.cipher)
    plain_l1 = SimpleMemoryCache()  # what L1 did before: the frozen object itself

    async def fill() -> None:
        for a in applicants:
            await sealed_cache.put(a)
            await plain_l1.set(f"applicant:{a.user_id}", a, ttl=3600)

    asyncio.run(fill())
    plain_json = [json.dumps(applicant_to_dict(a)) for a in applicants]
    sealer = sealed_cache._sealer
    sealed_json = [json.dumps(sealer.to_json(sealer.seal(a))) for a in applicants]
    policy = load_policy()

    figures = {
        "seal_one_value_us": _cpu_us(lambda i: pii.cipher.seal(email, binding), count, rounds),
        "open_one_value_us": _cpu_us(lambda i: pii.cipher.open(sealed_email, binding), count,
                                     rounds),
        "blind_index_one_value_us": _cpu_us(
            lambda i: pii.index.digest(ContactKind.EMAIL, email), count, rounds),
        "row_seal_per_applicant_us": _cpu_us(
            lambda i: applicant_columns(applicants[i % n], now, pii), count, rounds),
        "row_open_per_applicant_us": _cpu_us(
            lambda i: applicant_from_rows(rows[i % n], behaviors[i % n], pii), count, rounds),
        "l1_hit_sealed_us": _async_cpu_us(
            lambda i: sealed_cache.get(applicants[i % n].user_id), count, rounds),
        "l1_hit_plain_before_us": _async_cpu_us(
            lambda i: plain_l1.get(f"applicant:{applicants[i % n].user_id}"), count, rounds),
        "l2_decode_sealed_us": _cpu_us(
            lambda i: sealer.open(sealer.from_json(json.loads(sealed_json[i % n])),
                                  applicants[i % n].user_id), count, rounds),
        "l2_decode_plain_before_us": _cpu_us(
            lambda i: applicant_from_dict(json.loads(plain_json[i % n])), count, rounds),
        "offer_decision_us": _cpu_us(
            lambda i: generate_offer_set(policy, applicants[i % n], LoanRequest(), now,
                                         lambda: "x"), max(count // 10, 50), rounds),
        "redis_value_bytes": {"sealed": round(statistics.mean(len(s) for s in sealed_json)),
                              "plain_before": round(statistics.mean(len(s) for s in plain_json))},
    }
    report = {"benchmark": NAME, "count": count, "rounds": rounds, "figures": figures,
              "load_average": [round(x, 2) for x in os.getloadavg()], "machine": machine_info()}
    for name, value in figures.items():
        print(f"{name:32} {value}")
    print(f"load average {report['load_average']}")
    path = output or RESULTS_DIR / f"{NAME}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    return report
