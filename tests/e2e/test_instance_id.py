"""``LOAN_OFFERS_INSTANCE_ID`` names the replica in ``X-Instance-ID`` on every response."""

from __future__ import annotations

import httpx
import pytest
from pydantic import ValidationError

from config.asgi import create_app
from config.settings import Settings


def _app(tmp_path, **overrides):
    return create_app(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", **overrides))


async def _get(app, path: str) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://testserver") as client:
        return await client.get(path)


async def test_every_http_response_names_the_instance(tmp_path) -> None:
    app = _app(tmp_path, instance_id="replica-b")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://testserver") as client:
        live = await client.get("/livez")
        refused = await client.post("/graphql", json={"query": "{ nope"})
    assert live.headers["x-instance-id"] == "replica-b"
    assert refused.headers["x-instance-id"] == "replica-b"  # errors too
    assert refused.headers["x-request-id"]  # alongside, not instead of, the request id


async def test_no_header_when_unset(tmp_path) -> None:
    response = await _get(_app(tmp_path), "/livez")
    assert response.status_code == 200
    assert "x-instance-id" not in response.headers


async def test_websocket_handshake_names_the_instance(tmp_path) -> None:
    app = _app(tmp_path, instance_id="pod-7f9c.a")
    scope = {"type": "websocket", "path": "/graphql", "raw_path": b"/graphql", "query_string": b"",
             "headers": [(b"host", b"testserver"), (b"sec-websocket-protocol", b"graphql-transport-ws")],
             "subprotocols": ["graphql-transport-ws"], "scheme": "ws", "root_path": "",
             "client": ("127.0.0.1", 1), "server": ("testserver", 80), "asgi": {"version": "3.0"}}
    inbox = [{"type": "websocket.connect"}, {"type": "websocket.disconnect", "code": 1000}]
    sent: list[dict] = []

    async def receive() -> dict:
        return inbox.pop(0)

    async def send(message: dict) -> None:
        sent.append(message)

    await app(scope, receive, send)
    accept = next(m for m in sent if m["type"] == "websocket.accept")
    assert accept["subprotocol"] == "graphql-transport-ws"
    assert dict(accept["headers"])[b"x-instance-id"] == b"pod-7f9c.a"


@pytest.mark.parametrize("bad", ["has space", "new\nline", "x" * 65, "a/b"])
def test_an_id_that_could_break_a_header_is_refused(bad: str) -> None:
    with pytest.raises(ValidationError, match="instance_id"):
        Settings(instance_id=bad)


def test_blank_id_means_unset() -> None:
    assert Settings(instance_id="").instance_id is None
