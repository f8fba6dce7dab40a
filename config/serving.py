"""How uvicorn serves an app: one place, so ``loan-offers serve`` and the benchmark baseline
(``python -m benchmarks.serve``) run with exactly the same server settings."""

from __future__ import annotations

import os
import ssl
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


# TLS 1.2 cipher suites: forward secrecy and AEAD only (Mozilla's "intermediate" list). uvicorn's
# own default ("TLSv1") would also offer CBC and SHA-1 suites. TLS 1.3 suites are not set by
# this string and are all strong. TLS 1.0 and 1.1 are refused: Python's server contexts start at
# TLS 1.2 (tests/e2e/test_tls.py checks that a TLS 1.1 client is turned away).
TLS12_CIPHERS = ":".join((
    "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
))


def tls_options(certfile: Path | None, keyfile: Path | None) -> dict[str, Any]:
    """uvicorn's TLS options: none without a certificate (plain HTTP)."""
    if certfile is None:
        if keyfile is not None:
            raise ValueError("--ssl-keyfile needs --ssl-certfile")
        return {}
    for path in (certfile, keyfile):
        if path is not None and not Path(path).is_file():  # said plainly, before uvicorn starts
            raise ValueError(f"no such certificate or key file: {path}")
    return {"ssl_certfile": str(certfile), "ssl_keyfile": str(keyfile) if keyfile else None,
            "ssl_version": ssl.PROTOCOL_TLS_SERVER, "ssl_ciphers": TLS12_CIPHERS}


def uvicorn_options(settings: Settings, host: str | None = None, port: int | None = None,
                    workers: int | None = None, ssl_certfile: Path | None = None,
                    ssl_keyfile: Path | None = None) -> dict[str, Any]:
    workers = workers or settings.workers
    prepare_multiprocess_metrics(workers)
    certfile = ssl_certfile or settings.ssl_certfile
    keyfile = ssl_keyfile or (settings.ssl_keyfile if ssl_certfile is None else None)
    return {
        **tls_options(certfile, keyfile),
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


def serve(app: str, options: dict[str, Any], reuse_port: bool = True) -> None:
    """Run ``app`` (an import string naming an app factory) under uvicorn with ``options``
    (:func:`uvicorn_options`); with several workers and ``reuse_port``, each worker on its own
    ``SO_REUSEPORT`` socket (:mod:`config.reuse_port`) under uvicorn's own supervisor."""
    import socket

    import uvicorn

    if options["workers"] <= 1 or not reuse_port or not hasattr(socket, "SO_REUSEPORT"):
        uvicorn.run(app, factory=True, **options)
        return
    from config.reuse_port import PerWorkerSockets

    config = uvicorn.Config(app, factory=True, **options)
    sockets = PerWorkerSockets(config.host, config.port, config.workers, config.backlog)
    _supervisor()(config, sockets=sockets).run()


def _supervisor() -> type:
    """uvicorn's supervisor, letting go of the listening sockets on SIGTERM.

    It keeps every worker's socket open so that a replacement worker gets the same one; at
    shutdown that copy would keep the socket listening after the workers closed theirs (the
    drain, config/graceful_drain.py), and new connections would wait in its queue until the
    supervisor exits, then be reset. Closed, nothing listens once the workers stop accepting,
    and connecting is refused (which a proxy may safely retry elsewhere)."""
    from uvicorn.supervisors import Multiprocess

    class Supervisor(Multiprocess):
        def handle_term(self) -> None:
            for sock in self.sockets:
                sock.close()  # the workers' own descriptors keep them open until they drain
            super().handle_term()

    return Supervisor
