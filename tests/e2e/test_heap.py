"""A serving worker tunes the garbage collector once start-up is done (config/heap.py)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from config.heap import THRESHOLDS, tune_collector
from tests.e2e.test_graceful_drain import env  # noqa: F401 (fixture: a migrated SQLite database)
from tests.servers import UvicornServer

pytestmark = pytest.mark.slow


@pytest.fixture
def restored_collector() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_tuning_freezes_what_is_alive_and_spaces_young_collections(restored_collector: None
                                                                  ) -> None:
    survivor = [object() for _ in range(1000)]
    frozen = tune_collector()
    assert frozen >= len(survivor) and gc.get_freeze_count() == frozen
    assert gc.get_threshold() == THRESHOLDS


def test_a_served_worker_logs_its_tuning(env: dict[str, str]) -> None:  # noqa: F811
    server = UvicornServer(env, workers=1)
    try:
        server.start()
        log = server.log.read_text()
    finally:
        server.close()
    line = next((x for x in log.splitlines() if "garbage collector tuned" in x), None)
    assert line is not None and "start-up objects frozen" in line, log
