"""How uvicorn serves an app: one place, so ``loan-offers serve`` and the benchmark baseline
(``python -m benchmarks.serve``) run with exactly the same server settings."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from config.settings import Settings

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def prepare_multiprocess_metrics(workers: int) -> Path | None:
    """With several workers each process counts on its own; prometheus-client then writes
    every metric to files in ``PROMETHEUS_MULTIPROC_DIR`` and ``/metrics`` sums them, whichever
    worker answers the scrape. Uses the directory given (emptied: values of a previous run
    would add up), or makes a private one. Must run before the workers start (they inherit the
    environment and import prometheus-client after it is set)."""
    if workers <= 1:
        return None
    given = os.environ.get(MULTIPROC_ENV)
    directory = Path(given) if given else Path(tempfile.mkdtemp(prefix="loan-offers-metrics-"))
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()
    os.environ[MULTIPROC_ENV] = str(directory)
    return directory


def uvicorn_options(settings: Settings, host: str | None = None, port: int | None = None,
                    workers: int | None = None) -> dict[str, Any]:
    workers = workers or settings.workers
    prepare_multiprocess_metrics(workers)
    return {
        "host": host or settings.host,
        "port": port or settings.port,
        "workers": workers,
        "loop": settings.event_loop,
        "http": settings.http_parser,
        "backlog": settings.backlog,
        "proxy_headers": True,
        # Logging is configured by the app (structured, with request ids), not by uvicorn; on
        # SIGTERM uvicorn stops accepting, closes WebSockets (code 1012) and lets in-flight
        # requests finish for up to LOAN_OFFERS_SHUTDOWN_GRACE_S before cancelling them.
        "timeout_graceful_shutdown": settings.shutdown_grace_s,
        "log_config": None,
        "access_log": False,
        "log_level": settings.log_level.lower(),
        # The same bound as HTTP bodies (BodySizeLimitMiddleware) for WebSocket messages.
        "ws_max_size": settings.max_body_bytes,
    }
