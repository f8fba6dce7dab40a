"""ASGI middleware: a request id on every request (taken from or set into ``X-Request-ID``)."""

from __future__ import annotations

import re
import uuid

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = "x-request-id"
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def request_id_of(scope: Scope) -> str:
    return scope.get("state", {}).get("request_id", "")


class RequestIdMiddleware:
    """Accept a well-formed incoming id (so traces join across services), otherwise mint one;
    echo it in the response header and keep it in ``scope['state']``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(REQUEST_ID_HEADER.encode(), b"").decode("latin-1")
        request_id = incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        await self.app(scope, receive, send_with_id)


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
