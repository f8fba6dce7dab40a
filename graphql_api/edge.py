"""The HTTP edge of ``POST /graphql`` in one function.

Every other request (probes, ``/metrics``, GraphiQL, WebSockets, other paths and methods) goes
through the Starlette app and its middleware list (``graphql_api/app.py``). A GraphQL POST, the
request the service exists for, skips that chain: eight ASGI layers (Starlette's error and
exception middleware, admission, request id, security headers, access log, HTTP metrics, body
limit, the router and the route), each with its own frame, its own ``send`` wrapper and often
its own ``dict(scope["headers"])``: ~20 us of CPU per request besides the work they exist for
(the log line, the metrics), half of that left here (``docs/PERFORMANCE.md``, "The HTTP edge").
Here the same steps run in the same order, with one header dictionary, one clock reading and
one ``send`` wrapper:

1. admission (``graphql_api/admission.py``): wait for a slot; a request whose client has gone
   is dropped unrun, with no log line, no metric but the abandoned counter, and no answer;
2. the request id, bound into the log context;
3. the HTTP in-flight gauge, the body limit (413), the view;
4. on the way out, on the response's start: ``X-Instance-ID``, ``Vary: Origin`` when CORS is
   configured, the security headers (those the response did not set itself) and
   ``X-Request-ID``, in the order the middleware added them;
5. the HTTP metrics, then the access-log line, then the log context unbound and the slot
   given back;
6. an exception: a plain-text 500 if nothing was sent yet (no headers: what Starlette's
   ``ServerErrorMiddleware``, outermost, sends), then raised again for uvicorn to log.
   Starlette's ``HTTPException`` is answered as its ``ExceptionMiddleware`` answers it.

One clock reading serves the access log and the latency histogram (the middleware read the
clock twice, microseconds apart). A request with an ``Origin`` while CORS is configured takes
the middleware stack, where Starlette's CORS middleware answers it; so does every request once
the stack is no longer the one ``create_app`` planned (``ServiceApp`` in ``app.py``).

``tests/e2e/test_edge.py`` holds the edge to the middleware chain: headers, bodies, log lines and
metrics for answers, 401, 413, 500 and abandoned requests.
"""

from __future__ import annotations

import time
from typing import Any

import structlog
from starlette.exceptions import HTTPException
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from graphql_api.admission import AdmissionGate
from graphql_api.metrics import HTTP_IN_FLIGHT, record_http
from graphql_api.middleware import (
    INSTANCE_ID_HEADER,
    REQUEST_ID_HEADER,
    assign_request_id,
    declared_too_large,
    log_access,
    read_body,
    refuse_body,
    replaying,
)
from graphql_api.secure_headers import Header, SecurityHeaders, merged

# The request's headers as a dictionary, for the view (``graphql_api/app.py``): built once.
HEADERS_KEY = "loan_offers.headers"

_REQUEST_ID = REQUEST_ID_HEADER.encode()
_INSTANCE_ID = INSTANCE_ID_HEADER.encode()
_bind = structlog.contextvars.bind_contextvars
_reset = structlog.contextvars.reset_contextvars


class GraphQLEdge:
    """``POST /graphql`` straight to the view; everything else to ``general`` (the app's
    middleware stack). With CORS configured, a request naming an ``Origin`` goes through the
    general stack too, where Starlette's CORS middleware answers it."""

    def __init__(self, general: ASGIApp, route: Route, *, gate: AdmissionGate,
                 security: SecurityHeaders, instance_id: str | None, max_body_bytes: int,
                 cors: bool, router: Any) -> None:
        self.general = general
        self.view = route.app
        self.path = route.path
        self.gate = gate
        self.security = security
        self.instance_id = instance_id.encode("latin-1") if instance_id else None
        self.max_body_bytes = max_body_bytes
        self.cors = cors
        exceptions = ExceptionMiddleware(general)
        # What the router and ExceptionMiddleware leave in the scope, for whoever reads it.
        self._routing = {"starlette.exception_handlers": (exceptions._exception_handlers,
                                                          exceptions._status_handlers),
                         "router": router, "route": route, "endpoint": route.endpoint}
        self._http_exception = exceptions.http_exception

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] == "http" and scope["method"] == "POST"
                and scope["path"] == self.path and not scope.get("root_path")):
            headers = dict(scope["headers"])
            if not (self.cors and b"origin" in headers):
                await self._graphql_post(scope, headers, receive, send)
                return
        await self.general(scope, receive, send)

    async def _graphql_post(self, scope: Scope, headers: dict[bytes, bytes], receive: Receive,
                            send: Send) -> None:
        status = [0]  # the answer's status once its start is sent: [0] until then
        try:
            await self._admit(scope, headers, receive, send, status)
        except Exception:
            if not status[0]:  # ServerErrorMiddleware's answer: straight out, nothing added
                await PlainTextResponse("Internal Server Error", status_code=500)(
                    scope, receive, send)
            raise

    async def _admit(self, scope: Scope, headers: dict[bytes, bytes], receive: Receive,
                     send: Send, status: list[int]) -> None:
        if not self.gate.bounded:
            await self._answer(scope, headers, None, receive, send, status)
            return
        first = await self.gate.admit(receive)
        if first is None:  # the client left while the request waited: nothing to answer
            return
        try:
            await self._answer(scope, headers, first, receive, send, status)
        finally:
            self.gate.release()

    async def _answer(self, scope: Scope, headers: dict[bytes, bytes], first: Message | None,
                      receive: Receive, send: Send, status: list[int]) -> None:
        request_id = assign_request_id(scope, headers)
        scope[HEADERS_KEY] = headers
        extra = self.security.for_scope(scope)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                message["headers"] = self._headers(message.get("headers", ()), extra,
                                                   request_id)
            await send(message)

        tokens = _bind(request_id=request_id)
        started = time.perf_counter()
        HTTP_IN_FLIGHT.inc()
        try:
            await self._run(scope, headers, first, receive, send_with_headers, status)
        finally:
            elapsed = time.perf_counter() - started
            HTTP_IN_FLIGHT.dec()
            record_http(self.path, "POST", status[0] or 500, elapsed)
            log_access(scope, status[0] or 500, elapsed)
            _reset(**tokens)

    async def _run(self, scope: Scope, headers: dict[bytes, bytes], first: Message | None,
                   receive: Receive, send: Send, status: list[int]) -> None:
        received = None
        if not declared_too_large(headers, self.max_body_bytes):
            received = await read_body(receive, first or await receive(), self.max_body_bytes)
        if received is None:
            await refuse_body(scope, send, self.max_body_bytes)
            return
        scope.update(self._routing)
        scope["path_params"] = {}
        try:
            await self.view(scope, replaying(received, receive), send)
        except HTTPException as exc:  # as Starlette's ExceptionMiddleware answers it
            if status[0]:
                raise RuntimeError("Caught handled exception, but response already started.") \
                    from exc
            response = await self._http_exception(Request(scope), exc)
            await response(scope, receive, send)
            exc.__traceback__ = None  # reused exception instances accumulate tracebacks

    def _headers(self, headers: Any, extra: tuple[Header, ...], request_id: str) -> list[Header]:
        """The response's headers as the middleware left them, innermost first: the instance
        id (set, as ``MutableHeaders`` sets it), CORS's ``Vary``, the security headers, the
        request id (set)."""
        out = list(headers)
        if self.instance_id is not None:
            _set(out, _INSTANCE_ID, self.instance_id)
        if self.cors:  # what Starlette's CORS middleware adds to an answer without an Origin
            vary = [value.decode("latin-1") for key, value in out if key == b"vary"]
            _set(out, b"vary", ", ".join([*vary, "Origin"]).encode("latin-1"))
        out = merged(out, extra)
        _set(out, _REQUEST_ID, request_id.encode("latin-1"))
        return out


def _set(headers: list[Header], name: bytes, value: bytes) -> None:
    """``MutableHeaders.__setitem__``: the first ``name`` replaced, the others removed, or
    appended; names compared as they are (lower case, as ASGI servers send them)."""
    found = [i for i, (key, _) in enumerate(headers) if key == name]
    if not found:
        headers.append((name, value))
        return
    for index in reversed(found[1:]):
        del headers[index]
    headers[found[0]] = (name, value)
