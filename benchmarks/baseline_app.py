"""The baseline: a trivial Strawberry query returning five constant objects.

Served by the same uvicorn settings, worker count, event loop and garbage-collector settings
(``config/heap.py``) as the real service (see ``benchmarks.serve``), so ``loanOffers``
throughput divided by this one is the share of the framework floor the real work leaves:
``uvicorn benchmarks.baseline_app:create_app --factory``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import strawberry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from strawberry.asgi import GraphQL

from config.heap import tune_collector


@strawberry.type
class Item:
    id: strawberry.ID
    name: str
    value: float


ITEMS = tuple(Item(id=strawberry.ID(str(i)), name=f"item {i}", value=i * 1.5) for i in range(1, 6))


@strawberry.type
class Query:
    @strawberry.field
    def items(self) -> list[Item]:
        return list(ITEMS)


@contextlib.asynccontextmanager
async def lifespan(_: Starlette) -> AsyncIterator[None]:
    tune_collector()  # the service's garbage-collector settings (config/heap.py): same stack
    yield


def create_app() -> Starlette:
    graphql = GraphQL(strawberry.Schema(query=Query), graphql_ide=None,
                      allow_queries_via_get=False)

    async def livez(_: Request) -> Response:
        return PlainTextResponse("ok")

    return Starlette(routes=[Route("/graphql", graphql, methods=["POST"]),
                             Route("/livez", livez)], lifespan=lifespan)
