"""TLS end to end: ``loan-offers serve --ssl-certfile --ssl-keyfile`` in the prod profile, a
throwaway CA (trustme) and real clients that verify the server against it.

HTTPS answers GraphQL with HSTS; plain HTTP to the TLS port, a client that does not trust the
CA, TLS 1.1 and CBC cipher suites are all turned away. Over WSS, a subscription authenticated in
``connection_init`` is closed (4403) when its token expires, and pages on origins not allowed are
refused the handshake.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import websockets

from tests.pii import pii_settings
from tests.servers import TlsFiles, UvicornServer, make_tls_files
from tests.tokens import IdentityProvider

pytestmark = pytest.mark.slow

USER = "user-000001"
OFFERS = "query($u: ID!) { loanOffers(request: {userId: $u}) { decision } }"
UPDATES = "subscription($u: ID!) { offerUpdates(userId: $u) { type } }"
ALLOWED_ORIGIN = "https://app.example.com"


def prod_env(identity: IdentityProvider, database: Path) -> dict[str, str]:
    settings = {f"LOAN_OFFERS_{name.upper()}": str(value)
                for name, value in {**identity.settings_overrides(), **pii_settings()}.items()}
    return {**{k: v for k, v in os.environ.items() if not k.startswith("LOAN_OFFERS_")},
            **settings, "LOAN_OFFERS_PROFILE": "prod",
            "LOAN_OFFERS_DATABASE_URL": f"sqlite+aiosqlite:///{database}",
            "LOAN_OFFERS_EXPIRY_SWEEP_INTERVAL_S": "0",
            "LOAN_OFFERS_WS_ALLOWED_ORIGINS": ALLOWED_ORIGIN}


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, identity_provider: IdentityProvider,
           tls: TlsFiles) -> Iterator[UvicornServer]:
    env = prod_env(identity_provider, tmp_path_factory.mktemp("tls-db") / "offers.db")
    cli = str(Path(sys.executable).with_name("loan-offers"))
    for args in (["migrate"], ["seed", "--count", "20"]):
        subprocess.run([cli, *args], env=env, check=True, capture_output=True, timeout=180)
    server = UvicornServer(env, tls=tls)
    try:
        server.start()
        yield server
    finally:
        server.close()


def test_https_answers_graphql_to_a_client_that_verifies_the_certificate(
        server: UvicornServer, tls: TlsFiles, identity_provider: IdentityProvider) -> None:
    assert server.url.startswith("https://")
    with httpx.Client(verify=tls.client_context(), trust_env=False, timeout=30) as client:
        response = client.post(f"{server.url}/graphql", json={"query": OFFERS,
                                                              "variables": {"u": USER}},
                               headers=identity_provider.headers(USER, "CUSTOMER"))
    assert response.status_code == 200, response.text
    assert response.json()["data"]["loanOffers"]["decision"] in ("APPROVED", "DECLINED")
    # Served over TLS: browsers are told to keep to HTTPS.
    assert response.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
    assert response.headers["x-content-type-options"] == "nosniff"


def test_the_certificate_name_and_tls_version(server: UvicornServer, tls: TlsFiles) -> None:
    with _tls_socket(server.port, tls.client_context()) as sock:
        assert sock.version() in ("TLSv1.2", "TLSv1.3")
        names = [value for kind, value in sock.getpeercert()["subjectAltName"]]
        assert "127.0.0.1" in names or "localhost" in names


def test_plain_http_to_the_tls_port_gets_no_answer(server: UvicornServer) -> None:
    plain = server.url.replace("https://", "http://")
    with pytest.raises(httpx.TransportError):
        httpx.post(f"{plain}/graphql", json={"query": "{ __typename }"}, trust_env=False,
                   timeout=10)


def test_a_client_that_does_not_trust_the_ca_refuses_the_server(server: UvicornServer) -> None:
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{server.url}/livez", verify=ssl.create_default_context(), trust_env=False,
                  timeout=10)


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion:DeprecationWarning")
def test_tls_1_1_is_refused(server: UvicornServer, tls: TlsFiles) -> None:
    context = _client_context(tls, ssl.TLSVersion.TLSv1_1)
    context.minimum_version = ssl.TLSVersion.TLSv1  # the client offers only TLS 1.0 and 1.1
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    with pytest.raises(ssl.SSLError), _tls_socket(server.port, context):
        pass


def test_tls_1_2_is_accepted_with_aead_suites_only(server: UvicornServer, tls: TlsFiles) -> None:
    context = _client_context(tls, ssl.TLSVersion.TLSv1_2)
    with _tls_socket(server.port, context) as sock:
        name, version, _ = sock.cipher()
        assert version == "TLSv1.2"
        assert "GCM" in name or "CHACHA20" in name
    cbc = _client_context(tls, ssl.TLSVersion.TLSv1_2)
    cbc.set_ciphers("ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA:AES128-SHA:@SECLEVEL=0")
    with pytest.raises(ssl.SSLError), _tls_socket(server.port, cbc):
        pass


def _client_context(tls: TlsFiles, maximum: ssl.TLSVersion) -> ssl.SSLContext:
    context = tls.client_context()
    context.maximum_version = maximum
    return context


def _tls_socket(port: int, context: ssl.SSLContext) -> ssl.SSLSocket:
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        return context.wrap_socket(raw, server_hostname="127.0.0.1")
    except BaseException:
        raw.close()
        raise


def wss_url(server: UvicornServer) -> str:
    return server.url.replace("https://", "wss://") + "/graphql"


START = {"graphql-transport-ws": "subscribe", "graphql-ws": "start"}


@pytest.mark.parametrize("protocol", list(START))
async def test_a_subscription_is_closed_when_its_token_expires(
        server: UvicornServer, tls: TlsFiles, identity_provider: IdentityProvider,
        protocol: str) -> None:
    token = identity_provider.mint(USER, "CUSTOMER", ttl=timedelta(seconds=3))
    expires_at = json.loads(_payload(token))["exp"]
    async with websockets.connect(wss_url(server), ssl=tls.client_context(),
                                  subprotocols=[protocol]) as ws:
        await ws.send(json.dumps({"type": "connection_init",
                                  "payload": {"Authorization": f"Bearer {token}"}}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "connection_ack"
        await ws.send(json.dumps({"type": START[protocol], "id": "1", "payload": {
            "query": UPDATES, "variables": {"u": USER}}}))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:  # keep-alives and nothing else until the close
                message = json.loads(await asyncio.wait_for(ws.recv(), 15))
                assert message["type"] in ("ka", "ping"), message
    closed_at = time.time()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
    assert closed.value.rcvd.reason == "Token expired"
    # Not before the token's exp (whole seconds), and promptly after it.
    assert expires_at - 1 <= closed_at <= expires_at + 5


async def test_an_expired_token_cannot_open_a_subscription(
        server: UvicornServer, tls: TlsFiles, identity_provider: IdentityProvider) -> None:
    # Past exp but inside the verifier's 30 s clock-skew leeway: HTTP would still take it.
    token = identity_provider.mint(USER, "CUSTOMER", ttl=timedelta(seconds=-5))
    async with websockets.connect(wss_url(server), ssl=tls.client_context(),
                                  subprotocols=["graphql-transport-ws"]) as ws:
        await ws.send(json.dumps({"type": "connection_init",
                                  "payload": {"Authorization": f"Bearer {token}"}}))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403


async def test_wss_handshakes_from_pages_on_other_origins_are_refused(
        server: UvicornServer, tls: TlsFiles) -> None:
    with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
        async with websockets.connect(wss_url(server), ssl=tls.client_context(),
                                      origin="https://evil.example",
                                      subprotocols=["graphql-transport-ws"]):
            pass
    assert refused.value.response.status_code == 403
    async with websockets.connect(wss_url(server), ssl=tls.client_context(),
                                  origin=ALLOWED_ORIGIN,
                                  subprotocols=["graphql-transport-ws"]) as ws:
        assert ws.subprotocol == "graphql-transport-ws"


def _payload(token: str) -> str:
    import base64

    body = token.split(".")[1]
    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
