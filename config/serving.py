"""How uvicorn serves an app: one place, so ``loan-offers serve`` and the benchmark baseline
(``python -m benchmarks.serve``) run with exactly the same server settings."""

from __future__ import annotations

from typing import Any

from config.settings import Settings


def uvicorn_options(settings: Settings, host: str | None = None, port: int | None = None,
                    workers: int | None = None) -> dict[str, Any]:
    return {
        "host": host or settings.host,
        "port": port or settings.port,
        "workers": workers or settings.workers,
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
    }
