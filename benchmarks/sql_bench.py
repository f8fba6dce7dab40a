"""The SQL work of a ``loanOffers`` answer, alone: CPU of this process per unit, on durable PostgreSQL.

What is measured (``time.process_time`` of this one process, so the machine's load moves it
far less than the HTTP figures; PostgreSQL's own CPU is not counted)
    * ``write``: the grouped offer-set write (``commit_offer_sets``: one transaction with the
      decision and offer rows of ``--batch`` offer sets and the users' new history aggregates),
      CPU per offer set;
    * ``audit``: an audit-trail append of ``--batch`` entries (``SqlAuditTrail``), CPU per entry;
    * ``cold_read``: what a ``loanOffers`` cache miss reads (the applicant with its behaviour
      events, and the offer-history aggregate, in one unit of work), CPU per read.

Next to each, ``server_median_ms``: the CPU PostgreSQL's processes spent per unit in the same
rounds (``/proc``, user and system time of the postmaster's children; 10 ms clock ticks, so
read it over rounds of a second or more). Moving work into a statement shows up there.

Each figure is the median over ``--rounds`` rounds of ``--count`` units, run one after another
(no concurrency: the batch size, ``BENCH_SQL_BATCH``, stands in for the group a loaded server
forms). Figures go to ``benchmarks/results/sql.json``. To compare two checkouts, run it with
``PYTHONPATH=<other checkout>`` (this module imports the service's adapters).
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from adapters.demo.portfolio import generate_applicants
from adapters.sql.audit import SqlAuditTrail
from adapters.sql.database import create_engine, session_factory
from adapters.sql.unit_of_work import SqlUnitOfWorkFactory
from application.offer_set_writer import commit_offer_sets
from application.security import AuditEntry
from benchmarks.domain_bench import load_policy, machine_info
from benchmarks.stack import Stack
from config.container import _history_cache, _redis_cache
from config.pii_keys import pii_protection
from config.settings import Settings
from domain.applicant import LoanRequest
from domain.offer_engine import generate_offer_set

NAME = "sql"
RESULTS_DIR = Path(__file__).resolve().parent / "results"


class _Clock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def server_cpu_s(data_dir: Path | None) -> float:
    """CPU seconds used so far by the PostgreSQL cluster in ``data_dir`` (its postmaster's
    children: backends, WAL writer, checkpointer...); 0 when unknown."""
    if data_dir is None:
        return 0.0
    try:
        postmaster = int((data_dir / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0.0
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == postmaster:  # ppid; then utime, stime are fields 11 and 12
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


async def _cpu_per_unit(units: int, step: Callable[[int], Awaitable[None]], count: int,
                        rounds: int, data_dir: Path | None = None) -> dict[str, Any]:
    """Median over rounds of CPU ms per unit, this process's and PostgreSQL's; ``step(i)``
    does ``units`` units."""
    per_round, server = [], []
    for _ in range(rounds):
        server_started = server_cpu_s(data_dir)
        started = time.process_time()
        for i in range(count):
            await step(i)
        per_round.append((time.process_time() - started) * 1000 / (count * units))
        server.append((server_cpu_s(data_dir) - server_started) * 1000 / (count * units))
    return {"median_ms": round(statistics.median(per_round), 4),
            "rounds_ms": [round(x, 4) for x in per_round],
            "server_median_ms": round(statistics.median(server), 4)}


async def measure(settings: Settings, users: int, batch: int, count: int, rounds: int,
                  data_dir: Path | None = None) -> dict[str, Any]:
    engine = create_engine(settings.database_url, pool_size=settings.db_pool_size,
                           max_overflow=settings.db_max_overflow)
    pii = pii_protection(settings)
    uow_factory = SqlUnitOfWorkFactory(session_factory(engine), pii=pii)
    l2 = _redis_cache(settings)
    history = _history_cache(settings, l2, _StatsSink())
    clock = _Clock()
    policy = load_policy()
    applicants = [a for a in generate_applicants(users)]
    counter = iter(range(10**9))

    def new_id() -> str:
        return f"bench{os.getpid()}x{time.time_ns()}x{next(counter)}"

    def offer_sets(i: int) -> list[Any]:
        chosen = [applicants[(i * batch + k) % len(applicants)] for k in range(batch)]
        return [(generate_offer_set(policy, a, LoanRequest(), clock.now(), new_id), None)
                for a in chosen]

    # Priced beforehand (the pricing core is not measured here), fresh ids for every round.
    prepared = iter([offer_sets(i) for i in range(count * rounds + 1)])

    async def write(_i: int) -> None:
        await commit_offer_sets(uow_factory, next(prepared), history, clock)

    trail = SqlAuditTrail(session_factory(engine))

    async def audit(i: int) -> None:
        now = clock.now()
        await trail.append([AuditEntry(
            actor=f"user-{k:06d}", role="customer", action="loanOffers",
            resource=f"user-{k:06d}", outcome="OK", occurred_at=now, request_id=f"req-{i}-{k}",
            inputs_hash="ab" * 32, policy_version=1,
            details={"offers": [{"offerId": f"o{k}", "amount": "100000.00", "tenure": 12}]})
            for k in range(batch)])

    async def cold_read(i: int) -> None:
        user_id = applicants[i % len(applicants)].user_id
        async with uow_factory() as uow:
            await uow.applicants.get(user_id)
            await uow.offers.history_snapshots([user_id], clock.now())

    try:
        await write(0)  # connections, prepared statements, caches: warm everything once
        await audit(0)
        await cold_read(0)
        figures = {
            "write_per_offer_set": await _cpu_per_unit(batch, write, count, rounds, data_dir),
            "audit_per_entry": await _cpu_per_unit(batch, audit, count, rounds, data_dir),
            "cold_read": await _cpu_per_unit(1, cold_read, count, rounds, data_dir),
        }
        verification = await trail.verify()
        figures["audit_chain_ok"] = verification.ok
    finally:
        if l2 is not None:
            await l2.close()
        await engine.dispose()
    return figures


class _StatsSink:
    def error(self, _operation: str) -> None:
        pass


def run(count: int | None = None, rounds: int | None = None, with_profile: bool = False
        ) -> dict[str, Any]:
    """``BENCH_SQL_USERS`` (2,000) applicants seeded, ``BENCH_SQL_BATCH`` (16) offer sets or audit
    entries per transaction; ``count`` (40) units per round, ``rounds`` (5)."""
    users = int(os.environ.get("BENCH_SQL_USERS", "2000"))
    batch = int(os.environ.get("BENCH_SQL_BATCH", "16"))
    count, rounds = count or 40, rounds or 5
    with Stack(users=users) as stack:
        os.environ.update(stack.service_env())
        settings = Settings()
        data_dir = stack.postgres.data if stack.postgres is not None else None
        figures = asyncio.run(measure(settings, users, batch, count, rounds, data_dir))
    result = {"benchmark": NAME, "batch": batch, "count": count, "rounds": rounds,
              "machine": machine_info(), "figures": figures}
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / "sql.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(figures, indent=2))
    return result


if __name__ == "__main__":
    run()
