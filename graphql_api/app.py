"""Starlette application factory: GraphQL over HTTP and WebSocket, probes and metrics."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse
from strawberry.types import ExecutionResult

from graphql_api.context import ApiServices, GraphQLContext
from graphql_api.errors import finalise_errors
from graphql_api.metrics import HttpMetricsMiddleware
from graphql_api.middleware import (
    AccessLogMiddleware,
    InstanceIdMiddleware,
    RequestIdMiddleware,
    request_id_of,
)
from graphql_api.observability import PUBLIC_PATHS, observability_routes
from graphql_api.schema import SchemaOptions, build_schema


@dataclass(frozen=True)
class ApiOptions:
    graphiql: bool = True
    schema: SchemaOptions = field(default_factory=SchemaOptions)
    allowed_origins: tuple[str, ...] = ()
    instance_id: str | None = None
    metrics: bool = True
    read_attempts: int = 3


class LoanOffersGraphQL(GraphQL):
    def __init__(self, services: ApiServices, options: ApiOptions) -> None:
        super().__init__(
            build_schema(options.schema),
            graphql_ide="graphiql" if options.graphiql else None,
            allow_queries_via_get=False,
            allowed_origins=options.allowed_origins,
        )
        self.services = services
        self.options = options

    async def process_result(self, request: Request,
                             result: ExecutionResult) -> GraphQLHTTPResponse:
        if result.errors:
            result.errors = finalise_errors(result.errors, request_id_of(request.scope))
        return await super().process_result(request, result)

    async def get_context(self, request: Request | WebSocket,
                          response: Response | WebSocket | None = None) -> GraphQLContext:
        return GraphQLContext(
            request=request,
            response=response if isinstance(response, Response) else None,
            services=self.services,
            request_id=request_id_of(request.scope),
            read_attempts=self.options.read_attempts,
        )


def create_app(services: ApiServices, options: ApiOptions,
               lifespan: Callable[[Starlette], AbstractAsyncContextManager[Any]] | None = None,
               ) -> Starlette:
    graphql = LoanOffersGraphQL(services, options)
    routes = [
        Route("/graphql", graphql, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", graphql),
        *observability_routes(services.readiness, metrics=options.metrics),
    ]
    known_paths = frozenset(route.path for route in routes)
    middleware = [
        # Outermost first: the request id must exist before anything logs or measures.
        Middleware(RequestIdMiddleware),
        Middleware(AccessLogMiddleware, quiet_paths=PUBLIC_PATHS),
        Middleware(HttpMetricsMiddleware, routes=known_paths),
    ]
    if options.instance_id:
        middleware.append(Middleware(InstanceIdMiddleware, instance_id=options.instance_id))
    return Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
