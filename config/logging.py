"""Structured logs (structlog): one JSON object per line in production, readable lines in dev.

Everything goes through one handler on the root logger: our structlog loggers, the stdlib
loggers of the project (``logging.getLogger``) and of libraries (uvicorn, SQLAlchemy), so every
line has the same shape: ``timestamp``, ``level``, ``logger``, ``event``, ``request_id`` (when
written while answering a request) and any fields given.
"""

from __future__ import annotations

import logging
import sys

import structlog

_HANDLER_NAME = "loan-offers"

_SHARED = [
    structlog.contextvars.merge_contextvars,  # request_id bound by the request-id middleware
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    structlog.stdlib.ExtraAdder(),
]


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    """Idempotent: replaces only the handler it installed before (test runners keep theirs)."""
    structlog.configure(
        processors=[structlog.stdlib.filter_by_level, *_SHARED,
                    structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    renderer = (structlog.processors.JSONRenderer() if fmt == "json"
                else structlog.dev.ConsoleRenderer(colors=False))
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_SHARED,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info, renderer],
    ))
    root = logging.getLogger()
    root.handlers = [h for h in root.handlers if h.get_name() != _HANDLER_NAME] + [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        # uvicorn's own handlers would print a second, unstructured copy.
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # our access log has the request id
