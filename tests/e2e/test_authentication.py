"""Authentication through the real app: HTTP bearer tokens, WebSocket ``connection_init``,
the dev profile's shared secret and anonymous stand-in, and what prod refuses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from config.asgi import create_app
from config.settings import DEV_SHARED_SECRET, InsecureConfiguration, Settings
from tests.tokens import AUDIENCE, ISSUER, IdentityProvider, new_signing_key

QUERY = '{ loanOffers(request: {userId: "user-000042"}) { decision } }'


def code(response: httpx.Response) -> str:
    return response.json()["errors"][0]["extensions"]["code"]


@pytest.mark.parametrize("role", ["CUSTOMER", "AGENT", "ANALYST", "ADMIN"])
async def test_prod_accepts_a_valid_token(prod_client: httpx.AsyncClient,
                                          identity_provider: IdentityProvider, role: str) -> None:
    response = await prod_client.post("/graphql", json={"query": QUERY},
                                      headers=identity_provider.headers("user-000042", role))
    assert response.status_code == 200
    assert response.json()["data"]["loanOffers"]["decision"]


def bad_tokens(idp: IdentityProvider) -> dict[str, str]:
    now = datetime.now(UTC)
    hs256 = jwt.encode({"sub": "user-000042", "roles": ["ADMIN"], "iss": ISSUER, "aud": AUDIENCE,
                        "exp": int((now + timedelta(minutes=5)).timestamp())},
                       DEV_SHARED_SECRET, "HS256")
    return {
        "expired": idp.mint("user-000042", "CUSTOMER", now=now - timedelta(hours=2)),
        "wrong audience": idp.mint("user-000042", "CUSTOMER", aud="someone-else"),
        "unknown key": idp.mint("user-000042", "ADMIN", key=new_signing_key()),
        "dev secret in prod": hs256,
        "garbage": "abc.def.ghi",
    }


async def test_prod_refuses_bad_tokens_with_401(prod_client: httpx.AsyncClient,
                                                identity_provider: IdentityProvider) -> None:
    for name, token in bad_tokens(identity_provider).items():
        response = await prod_client.post("/graphql", json={"query": QUERY},
                                          headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, name
        assert code(response) == "UNAUTHENTICATED", name
        assert response.headers["x-request-id"] == response.json()["errors"][0]["extensions"][
            "requestId"]


async def test_dev_profile_takes_hs256_tokens_and_anonymous_requests(
        client: httpx.AsyncClient) -> None:
    token = jwt.encode({"sub": "user-000042", "roles": ["CUSTOMER"],
                        "exp": int((datetime.now(UTC) + timedelta(minutes=5)).timestamp())},
                       DEV_SHARED_SECRET, "HS256")
    mine = await client.post("/graphql", json={"query": QUERY},
                             headers={"Authorization": f"Bearer {token}"})
    assert mine.json()["data"]["loanOffers"]["decision"]
    theirs = await client.post(
        "/graphql", json={"query": QUERY.replace("user-000042", "user-000043")},
        headers={"Authorization": f"Bearer {token}"})
    assert code(theirs) == "FORBIDDEN"
    anonymous = await client.post("/graphql", json={"query": QUERY})
    assert anonymous.json()["data"]["loanOffers"]["decision"]
    forged = await client.post("/graphql", json={"query": QUERY},
                               headers={"Authorization": "Bearer not.a.token"})
    assert forged.status_code == 401


def test_prod_refuses_development_only_authentication(identity_provider: IdentityProvider,
                                                       tmp_path) -> None:
    db = f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
    with pytest.raises(InsecureConfiguration, match="JWKS"):
        create_app(Settings(profile="prod", database_url=db))
    with pytest.raises(InsecureConfiguration, match="HS256"):
        create_app(Settings(profile="prod", database_url=db, auth_dev_secret="x" * 40,
                            **identity_provider.settings_overrides()))
    with pytest.raises(InsecureConfiguration, match="ANONYMOUS"):
        create_app(Settings(profile="prod", database_url=db, auth_dev_anonymous=True,
                            **identity_provider.settings_overrides()))


def websocket_init(app, payload: dict | None) -> dict:
    client = TestClient(app)
    with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        ws.send_json({"type": "connection_init", "payload": payload or {}})
        return ws.receive_json()


def test_websocket_authenticates_in_connection_init(prod_app_env: dict) -> None:
    idp: IdentityProvider = prod_app_env["identity"]
    token = idp.mint("user-000042", "CUSTOMER")
    assert websocket_init(prod_app_env["app"], {"Authorization": f"Bearer {token}"}) == {
        "type": "connection_ack"}
    for payload in (None, {"Authorization": "Bearer nonsense"},
                    {"token": idp.mint("u", "ADMIN", key=new_signing_key())}):
        with pytest.raises(WebSocketDisconnect) as closed:
            websocket_init(prod_app_env["app"], payload)
        assert closed.value.code == 4403
