"""ASGI middleware: a request id on every request (taken from or set into ``X-Request-ID``),
bound into the structured log context, and one access-log line per HTTP request."""

from __future__ import annotations

import json
import re
import time
import uuid

import structlog
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = "x-request-id"
_REQUEST_ID_KEY = REQUEST_ID_HEADER.encode()
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
access_log = structlog.get_logger("loan_offers.access")


def request_id_of(scope: Scope) -> str:
    return scope.get("state", {}).get("request_id", "")


def assign_request_id(scope: Scope, headers: dict[bytes, bytes]) -> str:
    """The request's id (the incoming one if well formed, else a new one), kept in its state."""
    incoming = headers.get(_REQUEST_ID_KEY, b"").decode("latin-1")
    request_id = incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex
    scope.setdefault("state", {})["request_id"] = request_id
    return request_id


class RequestIdMiddleware:
    """Accept a well-formed incoming id (so traces join across services), otherwise mint one;
    echo it in the response header, keep it in ``scope['state']`` and in the log context (every
    log line written while answering carries ``request_id``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = assign_request_id(scope, dict(scope["headers"]))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            await self.app(scope, receive, send_with_id)


class AccessLogMiddleware:
    """One structured line per HTTP request: method, path, status, duration. Probe and scrape
    paths (``quiet_paths``) log at debug level so they do not drown the rest."""

    def __init__(self, app: ASGIApp, quiet_paths: frozenset[str] = frozenset()) -> None:
        self.app = app
        self.quiet_paths = quiet_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def send_and_watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_watch)
        finally:
            log_access(scope, status, time.perf_counter() - started, self.quiet_paths)


def log_access(scope: Scope, status: int, elapsed_s: float,
               quiet_paths: frozenset[str] = frozenset()) -> None:
    """The access-log line of one HTTP request (shared with the edge, graphql_api/edge.py)."""
    log = access_log.debug if scope["path"] in quiet_paths else access_log.info
    log("request", method=scope["method"], path=scope["path"], status=status,
        duration_ms=round(elapsed_s * 1000, 2))


INSTANCE_ID_HEADER = "x-instance-id"


class InstanceIdMiddleware:
    """Name the replica that served a request in ``X-Instance-ID`` (HTTP responses and the
    WebSocket handshake), so a client or a test behind a load balancer can tell replicas apart.
    The id is configuration (pod or container name), never derived from the request."""

    def __init__(self, app: ASGIApp, instance_id: str) -> None:
        self.app = app
        self.instance_id = instance_id

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return

        async def send_with_instance(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[INSTANCE_ID_HEADER] = self.instance_id
            elif message["type"] == "websocket.accept":
                headers = [*message.get("headers", []),
                           (INSTANCE_ID_HEADER.encode(), self.instance_id.encode("latin-1"))]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_instance)


class BodySizeLimitMiddleware:
    """Refuse HTTP request bodies over ``max_bytes`` with 413 before the app reads them.

    A declared ``Content-Length`` over the limit is refused at once; a chunked body is read up
    to the limit and refused when it passes it, so nothing larger is ever held in memory.
    WebSocket frames are bounded by uvicorn's ``ws_max_size`` (set from the same setting).
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        received = None
        if not declared_too_large(dict(scope["headers"]), self.max_bytes):
            received = await read_body(receive, await receive(), self.max_bytes)
        if received is None:
            await refuse_body(scope, send, self.max_bytes)
            return
        await self.app(scope, replaying(received, receive), send)


# The steps of the body limit, shared with the edge (graphql_api/edge.py).

def declared_too_large(headers: dict[bytes, bytes], max_bytes: int) -> bool:
    declared = headers.get(b"content-length", b"").decode("latin-1")
    return declared.isdigit() and int(declared) > max_bytes


async def read_body(receive: Receive, message: Message, max_bytes: int) -> list[Message] | None:
    """The request's messages up to the end of its body (or a disconnect), starting with
    ``message`` (already received); None as soon as the body passes ``max_bytes``."""
    received: list[Message] = []
    size = 0
    while True:
        received.append(message)
        if message["type"] != "http.request":
            return received
        size += len(message.get("body", b""))
        if size > max_bytes:
            return None
        if not message.get("more_body", False):
            return received
        message = await receive()


def replaying(received: list[Message], receive: Receive) -> Receive:
    """``receive`` that hands out ``received`` first."""
    async def replay() -> Message:
        return received.pop(0) if received else await receive()

    return replay


async def refuse_body(scope: Scope, send: Send, max_bytes: int) -> None:
    error = {"message": f"Request body too large: the limit is {max_bytes} bytes",
             "extensions": {"code": "PAYLOAD_TOO_LARGE", "requestId": request_id_of(scope)}}
    body = json.dumps({"errors": [error]}).encode()
    await send({"type": "http.response.start", "status": 413, "headers": [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]})
    await send({"type": "http.response.body", "body": body})
