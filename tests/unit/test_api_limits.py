"""graphql_api.limits.page_size: list sizes are bounded by LOAN_OFFERS_MAX_PAGE_SIZE."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from graphql import GraphQLError

from graphql_api.context import ApiLimits
from graphql_api.limits import page_size


def context(limit: int) -> SimpleNamespace:
    return SimpleNamespace(services=SimpleNamespace(limits=ApiLimits(max_page_size=limit)))


def test_page_size_defaults_to_the_maximum_and_refuses_more() -> None:
    assert page_size(context(25), None) == 25
    assert page_size(context(25), 0) == 0
    assert page_size(context(25), 25) == 25
    for first in (26, -1):
        with pytest.raises(GraphQLError) as caught:
            page_size(context(25), first)
        assert caught.value.extensions == {"code": "BAD_USER_INPUT", "field": "first", "max": 25}
