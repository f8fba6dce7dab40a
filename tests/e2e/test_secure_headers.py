"""Security headers, HSTS and CORS on the real app, in-process.

The prod client talks to ``https://testserver`` (the ASGI scope's scheme is ``https``, as behind
``--ssl-certfile`` or a trusted proxy's ``X-Forwarded-Proto``); the dev client to plain
``http://testserver``. CORS is checked on an app built with allowed origins.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from config.asgi import api_options, plain_http_warning
from config.serving import tls_options
from config.settings import InsecureConfiguration, Settings
from graphql_api.app import create_app
from graphql_api.graphiql import CONTENT_SECURITY_POLICY
from graphql_api.secure_headers import API_HEADERS, TransportSecurity
from tests.servers import free_port
from tests.tokens import IdentityProvider

HSTS = "max-age=31536000; includeSubDomains"
APP_ORIGIN = "https://app.example.com"
QUERY = {"query": "{ __typename }"}
EXPECTED = {name.decode(): value.decode() for name, value in API_HEADERS}


def assert_secure(response: httpx.Response) -> None:
    for name, value in EXPECTED.items():
        assert response.headers.get(name) == value, (name, response.headers)


async def test_answers_over_tls_carry_the_security_headers_and_hsts(
        prod_client: httpx.AsyncClient, identity_provider: IdentityProvider) -> None:
    response = await prod_client.post("/graphql", json=QUERY,
                                      headers=identity_provider.headers("u1", "ANALYST"))
    assert response.status_code == 200
    assert_secure(response)
    assert response.headers["strict-transport-security"] == HSTS


async def test_refusals_carry_them_too(prod_client: httpx.AsyncClient) -> None:
    for response in (await prod_client.post("/graphql", json=QUERY),  # 401: no token
                     await prod_client.post("/graphql", content=b"x=1",  # 415
                                            headers={"content-type": "text/plain"}),
                     await prod_client.get("/no-such-page")):  # 404
        assert response.status_code in (401, 404, 415)
        assert_secure(response)
        assert response.headers["strict-transport-security"] == HSTS


async def test_plain_http_gets_no_hsts(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json=QUERY)
    assert response.status_code == 200
    assert_secure(response)
    assert "strict-transport-security" not in response.headers


@pytest.mark.usefixtures("graphiql_assets")
async def test_the_graphiql_page_keeps_its_own_content_security_policy(
        client: httpx.AsyncClient) -> None:
    page = await client.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200
    # One policy, the page's (httpx joins repeated headers with ", ").
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"


async def _client(app_env: dict, **transport: object) -> httpx.AsyncClient:
    options = replace(api_options(app_env["settings"]),
                      transport=TransportSecurity(**transport))  # type: ignore[arg-type]
    app = create_app(app_env["container"].api_services(), options)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                             base_url="http://testserver")


async def test_behind_a_tls_proxy_hsts_is_always_sent(app_env: dict) -> None:
    async with await _client(app_env, behind_tls_proxy=True, hsts_max_age_s=600,
                             hsts_include_subdomains=False) as c:
        response = await c.post("/graphql", json=QUERY)
    assert response.headers["strict-transport-security"] == "max-age=600"
    async with await _client(app_env, behind_tls_proxy=True, hsts_max_age_s=0) as c:
        assert "strict-transport-security" not in (await c.post("/graphql", json=QUERY)).headers


@pytest.fixture
async def cors_client(app_env: dict) -> AsyncIterator[httpx.AsyncClient]:
    async with await _client(app_env, cors_allowed_origins=(APP_ORIGIN,)) as c:
        yield c


def preflight(origin: str) -> dict[str, str]:
    return {"origin": origin, "access-control-request-method": "POST",
            "access-control-request-headers": "authorization, content-type"}


async def test_a_preflight_from_an_allowed_origin_is_answered(
        cors_client: httpx.AsyncClient) -> None:
    response = await cors_client.options("/graphql", headers=preflight(APP_ORIGIN))
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == APP_ORIGIN
    allowed = response.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed and "content-type" in allowed
    assert "POST" in response.headers["access-control-allow-methods"]
    assert response.headers["access-control-max-age"] == "600"
    assert "access-control-allow-credentials" not in response.headers
    assert_secure(response)


async def test_a_preflight_from_another_origin_is_refused(cors_client: httpx.AsyncClient) -> None:
    response = await cors_client.options("/graphql", headers=preflight("https://evil.example"))
    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers


async def test_answers_name_only_allowed_origins(cors_client: httpx.AsyncClient) -> None:
    allowed = await cors_client.post("/graphql", json=QUERY, headers={"origin": APP_ORIGIN})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == APP_ORIGIN
    assert "x-request-id" in allowed.headers["access-control-expose-headers"].lower()
    other = await cors_client.post("/graphql", json=QUERY,
                                   headers={"origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers


async def test_without_configured_origins_there_is_no_cors(
        prod_client: httpx.AsyncClient) -> None:
    response = await prod_client.options("/graphql", headers=preflight(APP_ORIGIN))
    assert response.status_code == 405
    assert not [name for name in response.headers if name.startswith("access-control-")]


def test_cors_origins_are_validated_and_a_wildcard_is_refused_in_prod(
        identity_provider: IdentityProvider) -> None:
    settings = Settings(cors_allowed_origins=f"{APP_ORIGIN}, http://localhost:5173")
    assert settings.cors_allowed_origin_list == (APP_ORIGIN, "http://localhost:5173")
    for bad in ("app.example.com", "https://app.example.com/", "https://app.example.com/x"):
        with pytest.raises(ValidationError, match="not an origin"):
            Settings(cors_allowed_origins=bad)
    with pytest.raises(InsecureConfiguration, match="CORS"):
        Settings(profile="prod", cors_allowed_origins="*",
                 **identity_provider.settings_overrides()).check_security()


def test_a_key_without_a_certificate_is_refused() -> None:
    with pytest.raises(ValidationError, match="SSL_KEYFILE needs"):
        Settings(ssl_keyfile="/etc/key.pem")


def test_serve_names_a_missing_certificate_file(tmp_path: Path) -> None:
    serve = subprocess.run([str(Path(sys.executable).with_name("loan-offers")), "serve",
                            "--ssl-certfile", str(tmp_path / "missing.pem")],
                           capture_output=True, text=True, timeout=60,
                           env={**os.environ, "LOAN_OFFERS_PORT": str(free_port())})
    assert serve.returncode == 2
    assert "no such certificate or key file" in serve.stderr
    assert tls_options(None, None) == {}


def test_prod_over_plain_http_without_a_tls_proxy_is_called_out(
        identity_provider: IdentityProvider, tmp_path: Path) -> None:
    auth = identity_provider.settings_overrides()
    assert "plain HTTP" in (plain_http_warning(Settings(profile="prod", **auth)) or "")
    assert plain_http_warning(Settings(profile="prod", behind_tls_proxy=True, **auth)) is None
    certificate = tmp_path / "cert.pem"
    assert plain_http_warning(Settings(profile="prod", ssl_certfile=certificate, **auth)) is None
    assert plain_http_warning(Settings(profile="dev")) is None
