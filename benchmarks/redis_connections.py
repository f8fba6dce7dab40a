"""Redis connections a served worker opens under load, and its Redis fallbacks.

``python -m benchmarks.redis_connections [users] [warm_s] [window_s] [windows]`` starts the
benchmark stack (durable PostgreSQL, Redis, ``loan-offers serve`` with 2 workers in the prod
profile; ``BENCH_APP_PATH`` serves another checkout, as for ``http``), runs ``loanOffers`` from
``BENCH_CONNECTIONS`` (1,000) closed-loop connections for a warm-up and then a few windows, and
prints per window the connections Redis accepted (``INFO stats``
``total_connections_received``) and the clients connected, then how many rate-limiter fallback
and cache-failure warnings the workers logged, and when. Not part of ``make bench``: it loads
both cores for about a minute.
"""

from __future__ import annotations

import collections
import os
import re
import sys
import time

import redis

from benchmarks import loadgen
from benchmarks.stack import Server, Stack
from benchmarks.workload import Workload

WARNINGS = {"rate limiter fallback": r"rate limits: Redis unavailable",
            "cache failure": r"cache .*failed", "too many connections": r"Too many connections"}


def _redis_figures(client: redis.Redis) -> tuple[int, int]:
    stats, clients = client.info("stats"), client.info("clients")
    return int(stats["total_connections_received"]), int(clients["connected_clients"])


def _load(server: Server, workload: Workload, duration_s: float, seed: int) -> loadgen.Results:
    loop = loadgen.new_event_loop()
    try:
        return loop.run_until_complete(loadgen.run_load(
            "127.0.0.1", server.port, workload.builders()["loanOffers"], workload.check,
            connections=int(os.environ.get("BENCH_CONNECTIONS", 1000)), duration_s=duration_s,
            seed=seed))
    finally:
        loop.close()


def _phase(name: str, client: redis.Redis, run) -> None:
    before = _redis_figures(client)[0]
    started = time.strftime("%H:%M:%S", time.gmtime())
    results = run()
    total, connected = _redis_figures(client)
    print(f"{name} (from {started} UTC): {sum(results.ok)} answers, timeouts "
          f"{results.timeouts}; Redis connections opened {total - before}, connected "
          f"{connected - 1}", flush=True)


def _warnings(log: str) -> None:
    for name, pattern in WARNINGS.items():
        stamps = re.findall(pattern + r'.*?"timestamp": "[^T]*T([0-9:]{8})', log)
        print(f"{name} warnings: {len(stamps)} "
              f"{sorted(collections.Counter(stamps).items()) if stamps else ''}")


def main() -> None:
    defaults = [2000.0, 8.0, 5.0, 3.0]
    given = [float(a) for a in sys.argv[1:5]]
    users, warm_s, window_s, windows = given + defaults[len(given):]
    with Stack(users=int(users)) as stack:
        client = redis.Redis.from_url(stack.redis.url)
        with stack.server("service", 2) as server:
            print(f"started: Redis connections opened {_redis_figures(client)[0] - 1}")
            headers = stack.identity.headers if stack.identity else (lambda _user: {})
            workload = Workload("127.0.0.1", server.port, int(users), apq=True,
                                headers_for=headers)
            _phase("warm-up", client, lambda: _load(server, workload, warm_s, 1))
            for index in range(int(windows)):
                _phase(f"window {index}", client,
                       lambda i=index: _load(server, workload, window_s, 10 + i))
            log = server.log.read_text(errors="replace")
        _warnings(log)


if __name__ == "__main__":
    main()
