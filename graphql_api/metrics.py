"""HTTP and GraphQL metrics (prometheus-client), and the ``/metrics`` exposition.

GraphQL answers errors with HTTP 200, so HTTP metrics alone would miss them: the
:class:`GraphQLMetrics` extension counts every operation by name, type and outcome, and every
error by its ``extensions.code``.

Label values come from bounded sets only: the route template (never the raw path), the HTTP
method and status class, the operation type, and an operation name that is a valid GraphQL name
among the first :data:`MAX_OPERATION_NAMES` distinct ones a process sees (the rest count as
``other``), so a client sending random names cannot explode the series count.
"""

from __future__ import annotations

import functools
import os
import re
import time
from collections.abc import Iterator

from graphql import GraphQLError
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.extensions import SchemaExtension

# ``*_created`` series double the exposition and no dashboard or alert here uses them.
disable_created_metrics()

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.35, 0.5, 0.75, 1.0, 1.5,
                   2.0, 3.0, 5.0, 10.0)
MAX_OPERATION_NAMES = 200
_NAME = re.compile(r"^[_A-Za-z][_0-9A-Za-z]{0,63}$")

HTTP_REQUESTS = Counter(
    "loan_offers_http_requests_total", "HTTP requests answered, by route, method and status.",
    ["route", "method", "status"])
HTTP_LATENCY = Histogram(
    "loan_offers_http_request_duration_seconds", "Time to answer an HTTP request.",
    ["route", "method"], buckets=LATENCY_BUCKETS)
HTTP_IN_FLIGHT = Gauge(
    "loan_offers_http_requests_in_flight", "HTTP requests being answered now.",
    multiprocess_mode="livesum")
GRAPHQL_OPERATIONS = Counter(
    "loan_offers_graphql_operations_total",
    "GraphQL operations, by operation name, type and outcome (success or error).",
    ["operation", "type", "outcome"])
GRAPHQL_LATENCY = Histogram(
    "loan_offers_graphql_operation_duration_seconds", "Time to execute a GraphQL operation.",
    ["operation", "type"], buckets=LATENCY_BUCKETS)
GRAPHQL_ERRORS = Counter(
    "loan_offers_graphql_errors_total", "GraphQL errors returned, by extensions.code.", ["code"])

# The children of the label values seen, kept: ``labels()`` validates, stringifies and takes a
# lock on every call, and these run on every request. The label values are bounded sets (see
# the module docstring), so these memos stay as small as the metrics themselves.
_http_latency = functools.cache(HTTP_LATENCY.labels)
_http_requests = functools.cache(HTTP_REQUESTS.labels)
_graphql_operations = functools.cache(GRAPHQL_OPERATIONS.labels)
_graphql_latency = functools.cache(GRAPHQL_LATENCY.labels)
_graphql_errors = functools.cache(GRAPHQL_ERRORS.labels)


class HttpMetricsMiddleware:
    """Counts, times and gauges every HTTP request (WebSocket sessions are not requests)."""

    def __init__(self, app: ASGIApp, routes: frozenset[str]) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = scope["path"] if scope["path"] in self.routes else "other"
        method = scope["method"] if scope["method"] in _METHODS else "other"
        status = 500  # what the client gets if the app dies before answering
        started = time.perf_counter()

        async def send_and_watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        HTTP_IN_FLIGHT.inc()
        try:
            await self.app(scope, receive, send_and_watch)
        finally:
            HTTP_IN_FLIGHT.dec()
            record_http(route, method, status, time.perf_counter() - started)


_METHODS = frozenset({"GET", "POST", "HEAD", "OPTIONS"})


def record_http(route: str, method: str, status: int, elapsed_s: float) -> None:
    """One answered request (shared with the edge, graphql_api/edge.py)."""
    _http_latency(route, method).observe(elapsed_s)
    _http_requests(route, method, str(status)).inc()


class _OperationNames:
    """The bounded set of operation names used as label values in this process."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.seen: set[str] = set()

    def label(self, name: str | None) -> str:
        if not name:
            return "anonymous"
        if not _NAME.match(name):
            return "other"
        if name in self.seen:
            return name
        if len(self.seen) >= self.limit:
            return "other"
        self.seen.add(name)
        return name


OPERATION_NAMES = _OperationNames(MAX_OPERATION_NAMES)


def error_code(error: GraphQLError) -> str:
    code = (error.extensions or {}).get("code")
    if isinstance(code, str):
        return code
    if error.original_error is not None and not isinstance(error.original_error, GraphQLError):
        return "INTERNAL_SERVER_ERROR"
    return "GRAPHQL_PARSE_FAILED" if error.message.startswith("Syntax Error") \
        else "GRAPHQL_VALIDATION_FAILED"


class GraphQLMetrics(SchemaExtension):
    """Must come first in the extension list: hooks exit in reverse order, so this one sees the
    errors after the masking extension has coded them."""

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        raised: BaseException | None = None
        try:
            yield
        except BaseException as exc:  # an extension hook raised (syntax error in the parser cache)
            raised = exc
            raise
        finally:
            self._record(time.perf_counter() - started, raised)

    def _record(self, elapsed: float, raised: BaseException | None) -> None:
        context = self.execution_context
        try:
            operation_type = context.operation_type.value
        except Exception:  # the document did not parse: no operation to speak of
            operation_type = "unknown"
        name = OPERATION_NAMES.label(context.operation_name)
        if raised is not None:
            errors = [raised if isinstance(raised, GraphQLError) else GraphQLError(
                str(raised), original_error=raised)]
        else:
            result = context.result
            errors = list(getattr(result, "errors", None) or context.pre_execution_errors or [])
        _graphql_operations(name, operation_type, "error" if errors else "success").inc()
        _graphql_latency(name, operation_type).observe(elapsed)
        for error in errors:
            _graphql_errors(error_code(error)).inc()


def metrics_registry() -> CollectorRegistry:
    """The default registry, or, when ``PROMETHEUS_MULTIPROC_DIR`` is set (several workers), a
    fresh registry that sums every worker's files at scrape time."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    from prometheus_client import multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return registry


async def metrics_endpoint(_: Request) -> Response:
    return Response(generate_latest(metrics_registry()), media_type=CONTENT_TYPE_LATEST)
