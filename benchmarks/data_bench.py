"""The data layer on durable PostgreSQL and Redis: imports, history aggregates, cache reads.

What is measured
    * ``loan-offers import`` of ``--count`` (default 10,000) demo applicants as one CSV file, as
      an operator runs it (a process, all rows validated, one transaction, the imported users'
      cache entries dropped): a first pass creating every applicant, a second updating them.
      Wall seconds per pass, including the process start.
    * ``OfferRepository.history_summary`` for a customer with 10 and with 2,000 answers
      (5 offers each) in the year: median and p95 of 50 calls, milliseconds.
    * ``ApplicantCache.get`` from the in-process level, from Redis, and a miss: median of 2,000
      calls, microseconds.

Nothing is asserted; figures go to ``benchmarks/results/data.json``.
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import statistics
import subprocess
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

from aiocache import SimpleMemoryCache

from adapters.cache.applicant_cache import AiocacheApplicantCache
from adapters.codecs import applicant_to_dict
from adapters.demo.portfolio import generate_applicants
from adapters.sql.database import create_engine, session_factory
from adapters.sql.unit_of_work import SqlUnitOfWorkFactory
from application.applicant_records import ALL_FIELDS
from benchmarks.domain_bench import load_policy, machine_info
from benchmarks.stack import BIN, ROOT, DurablePostgres, _which
from config.container import _redis_cache
from config.pii_keys import pii_protection
from config.settings import Settings
from domain.applicant import LoanRequest
from domain.offer_engine import generate_offer_set
from tests.servers import RedisServer, find_postgres_bin

NAME = "data"
DEFAULT_COUNT = 10_000
NOW = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
RESULTS_DIR = Path(__file__).resolve().parent / "results"


def write_csv(count: int, path: Path) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=ALL_FIELDS)
        writer.writeheader()
        for applicant in generate_applicants(count):
            d = applicant_to_dict(applicant)
            row = {"user_id": applicant.user_id, **d["personal"], **d["credit"],
                   **d["protected"], **d["behavior"]}
            writer.writerow({k: "" if row.get(k) is None else row[k] for k in ALL_FIELDS})


def time_import(path: Path, env: dict[str, str]) -> dict:
    started = time.perf_counter()
    result = subprocess.run([str(BIN / "loan-offers"), "import", str(path)], env=env, cwd=ROOT,
                            capture_output=True, text=True, check=True)
    return {"wall_s": round(time.perf_counter() - started, 3), "output": result.stdout.strip()}


async def time_history(database_url: str) -> dict:
    policy = load_policy()
    engine = create_engine(database_url)
    uow_factory = SqlUnitOfWorkFactory(session_factory(engine),
                                       pii=pii_protection(Settings()))
    figures = {}
    try:
        for answers in (10, 2000):
            who = next(a for a in generate_applicants(50, start=9000 + answers)
                       if generate_offer_set(policy, a, LoanRequest(), NOW, lambda: "x").offers)
            async with uow_factory() as uow:
                await uow.applicants.upsert(who)
                for i in range(answers):
                    await uow.offers.add_offer_set(generate_offer_set(
                        policy, who, LoanRequest(), NOW - timedelta(hours=i), lambda: uuid4().hex))
                await uow.commit()
            samples = []
            async with uow_factory() as uow:
                for _ in range(51):
                    started = time.perf_counter()
                    summary = await uow.offers.history_summary(who.user_id, NOW)
                    samples.append((time.perf_counter() - started) * 1e3)
            samples = sorted(samples[1:])
            figures[f"{answers}_answers"] = {
                "offers": summary.offers_seen, "median_ms": round(statistics.median(samples), 3),
                "p95_ms": round(samples[int(0.95 * len(samples)) - 1], 3)}
    finally:
        await engine.dispose()
    return figures


async def time_cache(redis_url: str) -> dict:
    l2 = _redis_cache(Settings(redis_url=redis_url))
    applicant = next(iter(generate_applicants(1)))
    cipher = pii_protection(Settings()).cipher
    two_levels = AiocacheApplicantCache(SimpleMemoryCache(), 60, l2, cipher=cipher)
    redis_only = AiocacheApplicantCache(SimpleMemoryCache(), 0, l2, cipher=cipher)
    await two_levels.put(applicant)

    async def median_us(call) -> float:
        samples = []
        for _ in range(2000):
            started = time.perf_counter()
            await call()
            samples.append((time.perf_counter() - started) * 1e6)
        return round(statistics.median(samples), 1)

    try:
        return {
            "l1_hit_us": await median_us(lambda: two_levels.get(applicant.user_id)),
            "redis_hit_us": await median_us(lambda: redis_only.get(applicant.user_id)),
            "miss_us": await median_us(lambda: redis_only.get("nobody")),
        }
    finally:
        await l2.close()


def run(count: int = DEFAULT_COUNT, with_profile: bool = False,
        output: Path | None = None) -> dict:
    bin_dir = find_postgres_bin()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    postgres = DurablePostgres(bin_dir)
    redis_server = RedisServer(_which("redis-server"))
    work = Path(tempfile.mkdtemp(prefix="loan-offers-data-bench-"))
    try:
        postgres.start()
        redis_server.start()
        url = postgres.create_database("loan_offers_data_bench")
        env = {**os.environ, "LOAN_OFFERS_DATABASE_URL": url, "LOAN_OFFERS_REDIS_URL": redis_server.url}
        subprocess.run([str(BIN / "loan-offers"), "migrate"], env=env, cwd=ROOT, check=True,
                       capture_output=True)
        path = work / "applicants.csv"
        write_csv(count, path)
        figures = {
            "import": {"rows": count, "create": time_import(path, env),
                       "update": time_import(path, env)},
            "history_summary": asyncio.run(time_history(url)),
            "cache_get": asyncio.run(time_cache(redis_server.url)),
        }
    finally:
        redis_server.close()
        postgres.close()
    for name in ("create", "update"):
        step = figures["import"][name]
        step["rows_per_s"] = round(count / step["wall_s"])
    result = {"benchmark": NAME, "machine": machine_info(), "figures": figures,
              "measured_at": datetime.now(UTC).isoformat(timespec="seconds")}
    target = output or RESULTS_DIR / f"{NAME}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(figures, indent=2))
    return result
