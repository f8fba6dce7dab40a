"""Typed GraphQL errors and the masking policy.

Expected failures carry ``extensions.code`` from a stable list (api-contract.md): NOT_FOUND,
BAD_USER_INPUT, UNAUTHENTICATED, FORBIDDEN, RATE_LIMITED, CONFLICT, UNAVAILABLE, plus
GRAPHQL_VALIDATION_FAILED and GRAPHQL_PARSE_FAILED for documents the schema rejects, and the
transport's refusals: METHOD_NOT_ALLOWED for an operation sent over GET (HTTP 405) or a
subscription sent over POST, BAD_REQUEST (HTTP 400) for a request the view cannot run (a body
that is not JSON, a batch, no query, an unknown operation name; and, with HTTP 200 as it is
found inside the run, several operations without an operation name), UNSUPPORTED_MEDIA_TYPE (415)
and PAYLOAD_TOO_LARGE (413); and the persisted-query protocol's PERSISTED_QUERY_NOT_FOUND,
PERSISTED_QUERY_HASH_MISMATCH and PERSISTED_QUERY_NOT_SUPPORTED. A variable whose value does not
fit its type is BAD_USER_INPUT, with graphql-core's message naming the variable and the field.
Anything else is masked as "Internal error" (INTERNAL_SERVER_ERROR) with the request id, and
logged in full. ``ERROR_CODES`` is the list; ``tests/unit/test_error_codes.py`` checks that the
source emits exactly these and that the README's table documents each.
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
               "METHOD_NOT_ALLOWED", "BAD_REQUEST", "UNSUPPORTED_MEDIA_TYPE", "PAYLOAD_TOO_LARGE",
               "PERSISTED_QUERY_NOT_FOUND", "PERSISTED_QUERY_HASH_MISMATCH",
               "PERSISTED_QUERY_NOT_SUPPORTED", "INTERNAL_SERVER_ERROR")


def typed_error(code: str, message: str, **extensions: object) -> GraphQLError:
    return GraphQLError(message, extensions={"code": code, **extensions})


def from_application_error(exc: ApplicationError) -> GraphQLError:
    details: dict[str, object] = {}
    for name, value in exc.details.items():
        if isinstance(value, str | int | float | bool):
            details[_camel(name)] = value
        elif isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            details[_camel(name)] = list(value)
    return typed_error(exc.code, exc.message, **details)


def _camel(name: str) -> str:
    """``offer_id`` -> ``offerId``: extensions read like the rest of the GraphQL API."""
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


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


def _is_bad_variable(error: GraphQLError) -> bool:
    """A variable value graphql-core could not coerce ("Variable '$r' has invalid value: ...").

    It reports these before execution, so with no path, and wraps the scalar's or input
    object's own uncoded ``GraphQLError``: the client's input, not a fault of ours. Errors from
    resolvers and from completing results always carry a path, so they stay masked."""
    original = error.original_error
    return (error.path is None and isinstance(original, GraphQLError)
            and not (original.extensions or {}).get("code"))


def _masked(error: GraphQLError, request_id: str | None) -> GraphQLError:
    log.error("unexpected error in GraphQL operation (request %s)", request_id,
              exc_info=error.original_error or error)
    return GraphQLError(
        "Internal error", nodes=error.nodes, source=error.source, positions=error.positions,
        path=error.path, original_error=None,
        extensions={"code": "INTERNAL_SERVER_ERROR", "requestId": request_id},
    )


def finalise_errors(errors: list[GraphQLError], request_id: str | None,
                    hide_suggestions: bool = False) -> list[GraphQLError]:
    """Mask what is not typed, then give every error about the client's document a code.

    Idempotent. Run by the mask extension and again by the HTTP/WebSocket view, because an
    error raised inside an extension hook (a syntax error in the parser cache, say) skips the
    extensions' operation hook and would otherwise reach the client unmasked and uncoded.
    ``hide_suggestions`` (no introspection) drops graphql-core's "Did you mean ...?" from
    variable errors too: an enum's other values are schema a prod client may not list.
    """
    finished = []
    for error in errors:
        if _is_bad_variable(error):
            message = error.message.split(" Did you mean")[0] if hide_suggestions else error.message
            error = GraphQLError(message, nodes=error.nodes, source=error.source,
                                 positions=error.positions,
                                 extensions={**(error.extensions or {}), "code": "BAD_USER_INPUT"})
        elif not _is_typed(error):
            error = _masked(error, request_id)
        extensions = error.extensions if error.extensions is not None else {}
        if "code" not in extensions:
            syntax = error.message.startswith("Syntax Error")
            extensions["code"] = "GRAPHQL_PARSE_FAILED" if syntax else "GRAPHQL_VALIDATION_FAILED"
            error.extensions = extensions
        finished.append(error)
    return finished


class MaskUnexpectedErrors(MaskErrors):
    """Keep the contract's typed errors; mask everything else with the request id."""

    def _process_result(self, result: object) -> None:
        # Nothing to mask in most answers: skip the base class's runtime Protocol isinstance
        # check, which costs more than the rest of this extension (measured in-process).
        if getattr(result, "errors", None):
            super()._process_result(result)

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        context = getattr(self.execution_context, "context", None)
        hide = self.execution_context.schema.config.disable_field_suggestions
        return finalise_errors(errors, getattr(context, "request_id", None), hide)
