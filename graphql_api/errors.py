"""Typed GraphQL errors and the masking policy.

Expected failures carry ``extensions.code`` from a stable list (api-contract.md): NOT_FOUND,
BAD_USER_INPUT, UNAUTHENTICATED, FORBIDDEN, RATE_LIMITED, CONFLICT, UNAVAILABLE, plus
GRAPHQL_VALIDATION_FAILED and GRAPHQL_PARSE_FAILED for documents the schema rejects.
Anything else is masked as "Internal error" with the request id, and logged in full.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import TypeVar

from graphql import GraphQLError
from strawberry.extensions import MaskErrors

from application.errors import ApplicationError

log = logging.getLogger("loan_offers.errors")
T = TypeVar("T")

ERROR_CODES = ("NOT_FOUND", "BAD_USER_INPUT", "UNAUTHENTICATED", "FORBIDDEN", "RATE_LIMITED",
               "CONFLICT", "UNAVAILABLE", "GRAPHQL_VALIDATION_FAILED", "GRAPHQL_PARSE_FAILED",
               "INTERNAL_SERVER_ERROR")


def typed_error(code: str, message: str, **extensions: object) -> GraphQLError:
    return GraphQLError(message, extensions={"code": code, **extensions})


def from_application_error(exc: ApplicationError) -> GraphQLError:
    details = {k: v for k, v in exc.details.items() if isinstance(v, str | int | float | bool)}
    return typed_error(exc.code, exc.message, **details)


async def call(awaitable: Awaitable[T]) -> T:
    """Await a use case, turning expected application failures into typed GraphQL errors."""
    try:
        return await awaitable
    except ApplicationError as exc:
        raise from_application_error(exc) from exc


def _is_typed(error: GraphQLError) -> bool:
    original = error.original_error
    if original is None:
        return True  # syntax / validation / variable coercion: about the client's document
    if isinstance(original, GraphQLError):
        return bool((original.extensions or {}).get("code"))
    return False


class MaskUnexpectedErrors(MaskErrors):
    """Keep the contract's typed errors; mask everything else with the request id."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=lambda e: not _is_typed(e), error_message="Internal error")

    def _request_id(self) -> str | None:
        context = getattr(self.execution_context, "context", None)
        return getattr(context, "request_id", None)

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        request_id = self._request_id()
        log.error("unexpected error in GraphQL operation (request %s)", request_id,
                  exc_info=error.original_error or error)
        return GraphQLError(
            "Internal error", nodes=error.nodes, source=error.source, positions=error.positions,
            path=error.path, original_error=None,
            extensions={"code": "INTERNAL_SERVER_ERROR", "requestId": request_id},
        )

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        processed = super()._process_errors(errors)
        for error in processed:
            extensions = error.extensions if error.extensions is not None else {}
            if "code" not in extensions:
                syntax = error.message.startswith("Syntax Error")
                extensions["code"] = "GRAPHQL_PARSE_FAILED" if syntax else "GRAPHQL_VALIDATION_FAILED"
                error.extensions = extensions
        return processed
