"""Health probes and the metrics scrape: what platforms, not users, call.

``PUBLIC_PATHS`` are exempt from authentication and rate limits (the security middleware must
honour this constant): a probe or a scraper has no token, and a rate-limited probe would take a
healthy replica out of rotation under load.

* ``/livez``: the process answers (no dependency checks; a failing database must not restart
  every replica).
* ``/readyz``: 200 when the database answers and its schema is at the latest migration, with
  ``"status": "ready"``, or ``"status": "degraded"`` when the shared cache (Redis) is down (the
  service still answers, from the database); 503 with ``"status": "unavailable"`` when the
  database is unreachable, too slow, or behind on migrations.
* ``/metrics``: Prometheus exposition (see :mod:`graphql_api.metrics`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from graphql_api.metrics import metrics_endpoint

LIVEZ, READYZ, METRICS = "/livez", "/readyz", "/metrics"
PUBLIC_PATHS: frozenset[str] = frozenset({LIVEZ, READYZ, METRICS})

Readiness = Callable[[], Awaitable[dict[str, Any]]]


def observability_routes(readiness: Readiness, *, metrics: bool = True) -> list[Route]:
    async def livez(_: Request) -> Response:
        return PlainTextResponse("ok")

    async def readyz(_: Request) -> Response:
        report = await readiness()
        return JSONResponse(report, status_code=200 if report.get("ready") else 503,
                            headers={"Cache-Control": "no-store"})

    routes = [Route(LIVEZ, livez, methods=["GET", "HEAD"]),
              Route(READYZ, readyz, methods=["GET", "HEAD"])]
    if metrics:
        routes.append(Route(METRICS, metrics_endpoint, methods=["GET"]))
    return routes
