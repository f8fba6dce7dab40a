"""TLS end to end: ``loan-offers serve --ssl-certfile --ssl-keyfile`` in the prod profile, a
throwaway CA (trustme) and real clients that verify the server against it.

HTTPS answers GraphQL with HSTS; plain HTTP to the TLS port, a client that does not trust the
CA, TLS 1.1 and CBC cipher suites are all turned away.
"""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.servers import TlsFiles, UvicornServer, make_tls_files
from tests.tokens import IdentityProvider

pytestmark = pytest.mark.slow

USER = "user-000001"
OFFERS = "query($u: ID!) { loanOffers(request: {userId: $u}) { decision } }"


def prod_env(identity: IdentityProvider, database: Path) -> dict[str, str]:
    settings = {f"LOAN_OFFERS_{name.upper()}": str(value)
                for name, value in identity.settings_overrides().items()}
    return {**{k: v for k, v in os.environ.items() if not k.startswith("LOAN_OFFERS_")},
            **settings, "LOAN_OFFERS_PROFILE": "prod",
            "LOAN_OFFERS_DATABASE_URL": f"sqlite+aiosqlite:///{database}",
            "LOAN_OFFERS_EXPIRY_SWEEP_INTERVAL_S": "0"}


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
