"""Size limits checked in resolvers (the schema-level ones live in ``schema.py``)."""

from __future__ import annotations

from graphql_api.context import GraphQLContext
from graphql_api.errors import typed_error


def page_size(context: GraphQLContext, first: int | None, argument: str = "first") -> int:
    """``first`` of a list or connection: at least 0 and at most ``LOAN_OFFERS_MAX_PAGE_SIZE``
    (``None``: that maximum). Beyond it: ``BAD_USER_INPUT``, never a silently shorter list."""
    limit = context.services.limits.max_page_size
    if first is None:
        return limit
    if first < 0 or first > limit:
        raise typed_error("BAD_USER_INPUT", f"{argument} must be between 0 and {limit}",
                          field=argument, max=limit)
    return first
