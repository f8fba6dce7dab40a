"""The edge sets a response header as Starlette's ``MutableHeaders`` (which the request-id and
instance-id middleware use) sets it: same list, same order, duplicates included."""

from __future__ import annotations

import pytest
from starlette.datastructures import MutableHeaders

from graphql_api.edge import _set

CASES = [
    [],
    [(b"content-type", b"application/json")],
    [(b"x-request-id", b"old"), (b"content-type", b"application/json")],
    [(b"x-request-id", b"a"), (b"vary", b"Accept"), (b"x-request-id", b"b"),
     (b"x-request-id", b"c")],
    [(b"X-Request-ID", b"upper case is another name to both")],
]


@pytest.mark.parametrize("headers", CASES)
def test_set_is_mutable_headers_setitem(headers: list[tuple[bytes, bytes]]) -> None:
    message = {"headers": list(headers)}
    MutableHeaders(scope=message)["x-request-id"] = "new"
    ours = list(headers)
    _set(ours, b"x-request-id", b"new")
    assert ours == message["headers"]
