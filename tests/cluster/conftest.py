"""A real cluster for end-to-end tests: PostgreSQL, Redis, two replicas and nginx on loopback.

``cluster`` (session scoped) is a started :class:`deploy.cluster.Cluster` in a temporary
directory on free ports, the same code ``make cluster`` runs. ``both_replicas`` makes sure every
replica is up before a test (a test that stops one restarts it, but a failed one may not).
Without nginx, redis-server or PostgreSQL the tests are skipped (failed under
``REQUIRE_SERVICES=1``); they are marked ``slow`` and ``services``.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from deploy.cluster import Cluster, ClusterError, _alive
from tests.servers import find_postgres_bin, unavailable

SEEDED = 300
CLUSTER_FIXTURES = {"cluster", "both_replicas"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if CLUSTER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.services)
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    nginx = shutil.which("nginx", path="/usr/sbin:/usr/local/sbin:/usr/bin")
    if nginx is None:
        unavailable("nginx not installed (apt-get install -y nginx)")
    if shutil.which("redis-server") is None:
        unavailable("redis-server not installed (apt-get install -y redis-server)")
    if find_postgres_bin() is None:
        unavailable("PostgreSQL server binaries (initdb, pg_ctl) not installed")
    base = Path(tempfile.mkdtemp(prefix="loan-offers-cluster-"))
    cluster = Cluster(base, nginx_port=0, replicas=2, seed=SEEDED,
                      env={"LOAN_OFFERS_PROFILE": "dev", "LOAN_OFFERS_CACHE_L1_TTL_S": "1"})
    try:
        cluster.start()
        yield cluster
    except ClusterError as exc:
        pytest.fail(f"cluster did not start: {exc}", pytrace=False)
    finally:
        cluster.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def both_replicas(cluster: Cluster) -> Cluster:
    assert cluster.state is not None
    for replica in cluster.state.replicas:
        if replica.pid is None or not _alive(replica.pid):
            cluster.start_replica(replica.name)
    return cluster


def graphql(client: httpx.Client, url: str, query: str, **variables: object) -> httpx.Response:
    return client.post(url, json={"query": query, "variables": variables})
