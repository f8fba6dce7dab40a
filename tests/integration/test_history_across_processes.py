"""The offer-history aggregates through the real wiring of two processes (two containers sharing
PostgreSQL and Redis, as two workers or replicas do): cached until the next write, and a read
on one process right after a write on the other always reflects that write."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from uuid import uuid4

import pytest

from adapters.demo.portfolio import generate_applicants
from adapters.sql.migrate import upgrade_to_head
from application.use_cases.decide_offer import OfferAnswerCommand
from application.use_cases.generate_offers import GenerateOffersCommand
from config.container import Container, build_container, shutdown
from config.settings import Settings
from tests.servers import PostgresServer

pytestmark = pytest.mark.services


@pytest.fixture
async def processes(postgres_server: PostgresServer, redis_url: str, policy_toml: str
                    ) -> AsyncIterator[tuple[Container, Container]]:
    url = postgres_server.create_database(f"loan_offers_history_{uuid4().hex[:8]}")
    await asyncio.to_thread(upgrade_to_head, url)
    settings = Settings(database_url=url, redis_url=redis_url)
    a, b = build_container(settings), build_container(settings)
    await a.bootstrap_policy().execute(policy_toml)
    await a.seed_applicants().execute(generate_applicants(40))
    yield a, b
    for container in (a, b):
        await shutdown(container)


async def approved_user(process: Container) -> tuple[str, tuple[str, ...]]:
    for i in range(1, 41):
        user = f"user-{i:06d}"
        offer_set = await process.generate_offers().execute(GenerateOffersCommand(user))
        if len(offer_set.offers) >= 2:
            return user, tuple(o.offer_id for o in offer_set.offers)
    raise AssertionError("no approved user among the demo applicants")


async def database_view(process: Container, user: str):
    async with process.uow_factory()() as uow:
        return await uow.offers.history_summary(user)


async def test_a_read_after_a_write_on_another_process_reflects_it(processes) -> None:
    a, b = processes
    user, offers = await approved_user(a)
    history_a, history_b = a.history_cache(), b.history_cache()

    # A's writer stored the aggregates including its answer: B reads them from Redis.
    seen = await b.history_reader().get(user)
    assert seen == await database_view(b, user) and seen.answers >= 1
    assert history_b.hits == 1

    # Accepted on A, read on B at once: the acceptance is there (no TTL to wait out).
    await a.accept_offer().execute(OfferAnswerCommand(offers[0]))
    after_accept = await b.history_reader().get(user)
    assert after_accept.accepted == seen.accepted + 1
    assert after_accept == await database_view(b, user)

    # A new answer generated on B is in A's next read.
    await b.generate_offers().execute(GenerateOffersCommand(user))
    after_generate = await a.history_reader().get(user)
    assert after_generate.answers == after_accept.answers + 1
    assert after_generate == await database_view(a, user)
    assert history_a.hits >= 1  # from the cache, stored by B's writer
