"""Starlette application factory: GraphQL over HTTP and WebSocket, probes and metrics."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs

import orjson
from cross_web import HTTPException
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL
from strawberry.types import ExecutionResult
from strawberry.types.unset import UNSET

from application.security import Unauthenticated
from graphql_api.admission import AdmissionGate, AdmissionMiddleware
from graphql_api.authentication import (
    TOKEN_EXPIRED_CLOSE_CODE,
    Authenticator,
    connection_credentials,
    token_lifetime_s,
    unauthenticated_response,
)
from graphql_api.context import ApiServices, GraphQLContext
from graphql_api.edge import HEADERS_KEY, GraphQLEdge
from graphql_api.errors import finalise_errors
from graphql_api.graphiql import GraphiQLPage
from graphql_api.metrics import HttpMetricsMiddleware
from graphql_api.middleware import (
    AccessLogMiddleware,
    BodySizeLimitMiddleware,
    InstanceIdMiddleware,
    RequestIdMiddleware,
    request_id_of,
)
from graphql_api.observability import PUBLIC_PATHS, observability_routes
from graphql_api.schema import SchemaOptions, build_schema
from graphql_api.secure_headers import (
    SecureHeadersMiddleware,
    SecurityHeaders,
    TransportSecurity,
    cors_middleware,
)

log = logging.getLogger("loan_offers.security")


@dataclass(frozen=True)
class ApiOptions:
    graphiql: bool = True
    schema: SchemaOptions = field(default_factory=SchemaOptions)
    # Origins whose pages may open the GraphQL WebSocket (same-origin pages and non-browser
    # clients always may); ``"*"`` allows every origin.
    allowed_origins: tuple[str, ...] = ()
    instance_id: str | None = None
    metrics: bool = True
    read_attempts: int = 3
    max_subscriptions_per_connection: int = 10
    # A WebSocket that sends no ``connection_init`` within this time is closed.
    connection_init_timeout_s: float = 5.0
    dev_anonymous: bool = False
    max_body_bytes: int = 1_048_576
    # GraphQL requests running at once per worker; the rest wait (graphql_api/admission.py).
    max_in_flight: int = 64
    # Security headers, HSTS and CORS (graphql_api/secure_headers.py).
    transport: TransportSecurity = field(default_factory=TransportSecurity)


JSON_MEDIA_TYPE = "application/json"


class LoanOffersGraphQL(GraphQL):
    def __init__(self, services: ApiServices, options: ApiOptions) -> None:
        super().__init__(
            build_schema(options.schema),
            # Strawberry's own page loads GraphiQL from a CDN: ours is served from this app.
            graphql_ide="graphiql" if options.graphiql else None,
            # GET serves GraphiQL only: no operation (query or mutation) runs over GET, so a
            # link or an <img> can never trigger one (CSRF) and nothing leaks into URL logs.
            allow_queries_via_get=False,
            allowed_origins=options.allowed_origins,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL),
            max_subscriptions_per_connection=options.max_subscriptions_per_connection,
            connection_init_wait_timeout=timedelta(seconds=options.connection_init_timeout_s),
        )
        self.services = services
        self.options = options
        self.authenticator = Authenticator(services.token_verifier or _RefuseAll(),
                                           dev_anonymous=options.dev_anonymous)
        self.graphiql_page = GraphiQLPage() if options.graphiql else None

    async def render_graphql_ide(self, request: Request) -> Response:
        assert self.graphiql_page is not None  # Strawberry renders the IDE only when enabled
        return self.graphiql_page.response()


    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and _carries_operation(scope):
            await _operation_over_get(scope)(scope, receive, send)
            return
        if scope["type"] == "http" and scope["method"] == "POST" and not _is_json(scope):
            await _not_json(scope)(scope, receive, send)
            return
        if scope["type"] == "http":
            headers = _headers(scope)
            credentials = headers.get(b"authorization", b"").decode("latin-1") or None
            try:
                principal = await self.authenticator.authenticate(credentials)
            except Unauthenticated as exc:
                response = unauthenticated_response(exc.message, request_id_of(scope))
                await response(scope, receive, send)
                return
            scope.setdefault("state", {})["principal"] = principal
            try:
                response = await self.run(Request(scope, receive=receive))
            except HTTPException as exc:
                response = _request_error(exc, scope)
            await response(scope, receive, send)
            return
        if scope["type"] == "websocket":
            try:
                await super().__call__(scope, receive, send)
            finally:  # the connection ended first: its expiry timer has nothing left to close
                expiry = scope.get("state", {}).pop(_EXPIRY_TIMER, None)
                if expiry is not None:
                    expiry.cancel()
            return
        await super().__call__(scope, receive, send)

    # orjson: several times faster than the standard library on our answers (measured in
    # docs/PERFORMANCE.md). Text, not bytes: strawberry sends bytes as binary WebSocket
    # frames, and graphql-transport-ws clients expect text. orjson.JSONDecodeError subclasses
    # json.JSONDecodeError, so a malformed body is still a 400.
    def encode_json(self, data: object) -> str:
        return orjson.dumps(data).decode()

    def decode_json(self, data: str | bytes) -> object:
        return orjson.loads(data)

    async def on_ws_connect(self, context: GraphQLContext) -> Any:  # type: ignore[override]
        credentials = connection_credentials(context.connection_params)
        if credentials is None:
            credentials = context.request.headers.get("authorization")
        try:
            principal = await self.authenticator.authenticate(credentials)
        except Unauthenticated as exc:
            raise ConnectionRejectionError({"code": "UNAUTHENTICATED", "message": exc.message}) \
                from None
        lifetime = token_lifetime_s(principal, time.time())
        if lifetime is not None and lifetime <= 0:  # within the verifier's leeway, but past exp
            raise ConnectionRejectionError({"code": "UNAUTHENTICATED",
                                            "message": "the token has expired"})
        context.principal = principal
        if lifetime is not None:
            _close_when_token_expires(context.request, lifetime)
        return UNSET

    async def process_result(self, request: Request,
                             result: ExecutionResult) -> GraphQLHTTPResponse:
        if result.errors:
            result.errors = finalise_errors(result.errors, request_id_of(request.scope),
                                            self.schema.config.disable_field_suggestions)
        return await super().process_result(request, result)

    async def get_context(self, request: Request | WebSocket,
                          response: Response | WebSocket | None = None) -> GraphQLContext:
        return GraphQLContext(
            request=request,
            response=response if isinstance(response, Response) else None,
            services=self.services,
            request_id=request_id_of(request.scope),
            read_attempts=self.options.read_attempts,
            principal=request.scope.get("state", {}).get("principal"),
            client_ip=request.client.host if request.client else "",
        )


_EXPIRY_TIMER = "token_expiry_timer"


def _close_when_token_expires(websocket: WebSocket, lifetime_s: float) -> None:
    """One timer per connection (kept in its scope, cancelled when the connection ends)."""
    timer = asyncio.create_task(_close_after(websocket, lifetime_s))
    websocket.scope.setdefault("state", {})[_EXPIRY_TIMER] = timer


async def _close_after(websocket: WebSocket, delay_s: float) -> None:
    await asyncio.sleep(delay_s)
    log.info("closing a WebSocket: its token expired", extra={
        "request_id": request_id_of(websocket.scope)})
    # Strawberry's handler sees the disconnect and ends the connection's subscriptions.
    with contextlib.suppress(RuntimeError):  # closed meanwhile: nothing to do
        await websocket.close(code=TOKEN_EXPIRED_CLOSE_CODE, reason="Token expired")


def _refusal(scope: Scope, status: int, code: str, message: str,
             headers: dict[str, str] | None = None) -> Response:
    """A refusal before or instead of execution, shaped like any GraphQL error: code and
    request id in ``extensions``, the HTTP status saying the same."""
    error = {"message": message, "extensions": {"code": code, "requestId": request_id_of(scope)}}
    return JSONResponse({"errors": [error]}, status_code=status, headers=headers)


def _request_error(exc: HTTPException, scope: Scope) -> Response:
    """Strawberry refuses a request it cannot run (a body that is not JSON, a batch, no query, an
    operation name the document lacks; 404 for GET when GraphiQL is off) with a plain-text
    reason: answered with the same status and reason as a typed error. Other methods never reach
    the view: the route answers them (405)."""
    code = "NOT_FOUND" if exc.status_code == 404 else "BAD_REQUEST"
    return _refusal(scope, exc.status_code, code, exc.reason)


def _carries_operation(scope: Scope) -> bool:
    return "query" in parse_qs(scope.get("query_string", b"").decode("latin-1"))


def _operation_over_get(scope: Scope) -> Response:
    """HTTP 405 with a GraphQL-shaped, typed error: operations (and so mutations) need POST."""
    return _refusal(scope, 405, "METHOD_NOT_ALLOWED",
                    "GraphQL operations are accepted over POST only (GET serves GraphiQL)",
                    headers={"Allow": "POST"})


class _RefuseAll:
    async def verify(self, token: str) -> Any:
        raise Unauthenticated("no token verifier is configured")


def _headers(scope: Scope) -> dict[bytes, bytes]:
    """The request's headers as a dictionary: the edge's, or built here (other paths)."""
    headers = scope.get(HEADERS_KEY)
    return headers if headers is not None else dict(scope["headers"])


def _is_json(scope: Scope) -> bool:
    content_type = _headers(scope).get(b"content-type", b"").decode("latin-1")
    return content_type.split(";", 1)[0].strip().lower() == JSON_MEDIA_TYPE


def _not_json(scope: Scope) -> Response:
    """HTTP 415 for any POST body but JSON: a form or text/plain POST is what a cross-site page
    can send without a CORS preflight (CSRF), so it is refused before anything reads it."""
    return _refusal(scope, 415, "UNSUPPORTED_MEDIA_TYPE", f"POST /graphql takes {JSON_MEDIA_TYPE} only")


class ServiceApp(Starlette):
    """The Starlette app, with ``POST /graphql`` answered by ``edge`` (``graphql_api/edge.py``)
    in front of the middleware stack, as long as that stack is the one ``create_app`` planned:
    anything added afterwards (OpenTelemetry's middleware when tracing is on, an exception
    handler) sends every request through the stack, so it sees GraphQL POSTs too."""

    def __init__(self, edge: Callable[[ASGIApp], ASGIApp], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._edge = edge
        self._planned = list(self.user_middleware)

    def build_middleware_stack(self) -> ASGIApp:
        general = super().build_middleware_stack()
        if (self.user_middleware != self._planned or self.exception_handlers or self.debug
                or self.max_body_size is not None):
            return general
        return self._edge(general)


def create_app(services: ApiServices, options: ApiOptions,
               lifespan: Callable[[Starlette], AbstractAsyncContextManager[Any]] | None = None,
               ) -> Starlette:
    graphql = LoanOffersGraphQL(services, options)
    graphql_route = Route("/graphql", graphql, methods=["GET", "POST"])
    routes = [
        graphql_route,
        WebSocketRoute("/graphql", graphql),
        *observability_routes(services.readiness, metrics=options.metrics),
    ]
    if graphql.graphiql_page is not None:  # no GraphiQL files either when GraphiQL is off
        routes.append(graphql.graphiql_page.route())
    known_paths = frozenset(route.path for route in routes)
    gate = AdmissionGate(options.max_in_flight)  # one queue, whichever way a request comes
    middleware = [
        # Outermost first. Admission: a GraphQL request waits for its turn before anything
        # else is spent on it (and is dropped unrun if its client left meanwhile).
        Middleware(AdmissionMiddleware, max_in_flight=options.max_in_flight, gate=gate),
        # Then the request id must exist before anything logs or measures; every response,
        # refusals included, carries the security headers.
        Middleware(RequestIdMiddleware),
        Middleware(SecureHeadersMiddleware, security=options.transport),
        Middleware(AccessLogMiddleware, quiet_paths=PUBLIC_PATHS),
        Middleware(HttpMetricsMiddleware, routes=known_paths),
    ]
    cors = cors_middleware(options.transport)
    if cors is not None:  # preflights are answered here, logged and counted like any request
        middleware.append(cors)
    if options.instance_id:
        middleware.append(Middleware(InstanceIdMiddleware, instance_id=options.instance_id))
    # Innermost, so refused bodies (413) are logged, counted and carry the ids too.
    middleware.append(Middleware(BodySizeLimitMiddleware, max_bytes=options.max_body_bytes))
    app: ServiceApp

    def edge(general: ASGIApp) -> ASGIApp:
        return GraphQLEdge(general, graphql_route, gate=gate,
                           security=SecurityHeaders(options.transport),
                           instance_id=options.instance_id, max_body_bytes=options.max_body_bytes,
                           cors=cors is not None, router=app.router)

    app = ServiceApp(edge, routes=routes, middleware=middleware, lifespan=lifespan)
    return app
