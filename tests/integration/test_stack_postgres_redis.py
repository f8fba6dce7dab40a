"""The whole stack as an operator runs it: ``loan-offers migrate && loan-offers seed && loan-offers
serve`` (a real uvicorn process) on PostgreSQL and Redis.

Checks the issue's "must hold": offers are rows in PostgreSQL, cache entries are keys in Redis;
Redis killed in the middle of a series of ``loanOffers`` requests fails none of them; Redis back,
the cache is used again (keys written, keyspace hits counted) without restarting the service.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import httpx
import pytest
import redis

from tests.servers import PostgresServer, RedisServer, free_port, wait_for_port

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
SEEDED = 40
OFFERS = """query($userId: ID!) { loanOffers(request: {userId: $userId}) {
  userId decision offers { offerId } } }"""


def user(i: int) -> str:
    return f"user-{(i % SEEDED) + 1:06d}"


class Stack:
    def __init__(self, postgres: PostgresServer, redis_server: RedisServer, base: Path) -> None:
        self.postgres, self.redis_server = postgres, redis_server
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.database = f"loan_offers_stack_{uuid4().hex[:8]}"
        self.log = base / "serve.log"
        self.env = {
            **os.environ,
            "LOAN_OFFERS_PROFILE": "dev",
            "LOAN_OFFERS_DATABASE_URL": postgres.create_database(self.database),
            "LOAN_OFFERS_REDIS_URL": redis_server.url,
            # No in-process level: every applicant read goes to Redis, so an outage is felt.
            "LOAN_OFFERS_CACHE_L1_TTL_S": "0",
            "LOAN_OFFERS_CACHE_RETRY_AFTER_S": "0.5",
            "LOAN_OFFERS_LOG_FORMAT": "console",
        }
        self.process: subprocess.Popen[bytes] | None = None

    def run(self, *args: str) -> str:
        result = subprocess.run([str(BIN / "loan-offers"), *args], env=self.env,
                                capture_output=True, text=True, timeout=120, check=False)
        assert result.returncode == 0, f"loan-offers {args}: {result.stdout}{result.stderr}"
        return result.stdout + result.stderr

    def serve(self) -> None:
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [str(BIN / "loan-offers"), "serve", "--host", "127.0.0.1",
                 "--port", str(self.port)],
                env=self.env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        wait_for_port(self.port, timeout=60)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def sql(self, query: str) -> list[str]:
        result = subprocess.run(
            [str(self.postgres.bin_dir / "psql"), "-h", self.postgres.host, "-p",
             str(self.postgres.port), "-U", self.postgres.user, "-d", self.database, "-At",
             "-c", query], capture_output=True, text=True, timeout=30, check=True)
        return result.stdout.split()


@pytest.fixture
def stack(postgres_server: PostgresServer, redis_server: RedisServer,
          tmp_path: Path) -> Iterator[Stack]:
    stack = Stack(postgres_server, redis_server, tmp_path)
    try:
        assert "database at revision" in stack.run("migrate")
        assert f"seeded {SEEDED} new applicants" in stack.run("seed", "--count", str(SEEDED))
        stack.serve()
        yield stack
    finally:
        stack.stop()


def ask(client: httpx.Client, who: str) -> dict:
    response = client.post("/graphql", json={"query": OFFERS, "variables": {"userId": who}})
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body["data"]["loanOffers"]


def test_offers_are_rows_in_postgresql_and_the_cache_is_keys_in_redis(stack: Stack) -> None:
    keys = redis.Redis.from_url(stack.redis_server.url)
    with httpx.Client(base_url=stack.url, timeout=30) as client:
        answers = [ask(client, user(i)) for i in range(5)]
    assert sum(1 for a in answers if a["offers"]) >= 2, answers
    for answer in answers:
        ids = sorted(o["offerId"] for o in answer["offers"])
        stored = stack.sql(f"SELECT offer_id FROM offers WHERE user_id = '{answer['userId']}' "
                           "ORDER BY offer_id")
        assert stored == ids
        assert keys.exists(f"loan-offers:applicant:{answer['userId']}")
        assert keys.exists(f"loan-offers:history:{answer['userId']}")
    assert stack.sql("SELECT count(*) FROM offer_decisions") == ["5"]


def test_redis_killed_mid_series_fails_no_request_and_is_used_again(stack: Stack) -> None:
    keys = redis.Redis.from_url(stack.redis_server.url)
    failures: list[str] = []
    done = [0, 0]

    def series(worker: int) -> None:
        with httpx.Client(base_url=stack.url, timeout=30) as client:
            for i in range(30):
                try:
                    ask(client, user(worker * 30 + i))
                except Exception as exc:  # collected: the assertion below names them all
                    failures.append(f"worker {worker} request {i}: {exc!r}")
                done[worker] += 1

    workers = [threading.Thread(target=series, args=(w,)) for w in (0, 1)]
    for thread in workers:
        thread.start()
    while sum(done) < 20 and any(t.is_alive() for t in workers):
        time.sleep(0.01)
    stack.redis_server.stop()  # SIGKILL, mid-series
    killed_after = sum(done)
    for thread in workers:
        thread.join(timeout=120)
    assert failures == []
    assert killed_after < 60, "the series ended before Redis was killed"

    # Redis is back (empty): after the retry gap, reads fill it and later reads hit it,
    # with the same service process.
    stack.redis_server.start()
    time.sleep(0.7)
    with httpx.Client(base_url=stack.url, timeout=30) as client:
        ask(client, "user-000001")
        ask(client, "user-000001")
        hits_before = keys.info("stats")["keyspace_hits"]
        ask(client, "user-000001")
    assert keys.exists("loan-offers:applicant:user-000001")
    assert keys.info("stats")["keyspace_hits"] > hits_before
    assert stack.process is not None and stack.process.poll() is None  # never restarted
