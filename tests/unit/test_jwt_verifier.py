"""Bearer-token verification against a real JWKS file with real RSA and EC keys."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest

from adapters.auth.jwks import JwksCache, fetch_url
from adapters.auth.jwt_verifier import (
    ChainedTokenVerifier,
    JwksTokenVerifier,
    SharedSecretTokenVerifier,
)
from application.security import Role, Unauthenticated
from tests.tokens import AUDIENCE, ISSUER, IdentityProvider, make_identity_provider, new_signing_key


@pytest.fixture
def idp(tmp_path: Path) -> IdentityProvider:
    return make_identity_provider(tmp_path)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _hs256(claims: dict, secret: bytes, kid: str) -> str:
    """Signed by hand: PyJWT itself refuses to use a JWK as an HMAC secret."""
    signing_input = (_b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
                     + "." + _b64(json.dumps(claims).encode()))
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def verifier(idp: IdentityProvider, **kwargs) -> JwksTokenVerifier:
    return JwksTokenVerifier(JwksCache(idp.jwks_url, **kwargs), ISSUER, AUDIENCE)


@pytest.mark.parametrize("key_index", [0, 1], ids=["RS256", "ES256"])
async def test_valid_tokens_give_subject_and_roles(idp: IdentityProvider, key_index: int) -> None:
    token = idp.mint("user-000042", "CUSTOMER", "UNKNOWN_APP_ROLE", key=idp.keys[key_index])
    principal = await verifier(idp).verify(token)
    assert principal.subject == "user-000042"
    assert principal.roles == frozenset({Role.CUSTOMER})
    assert not principal.dev_anonymous


def _in(delta: timedelta) -> int:
    return int((datetime.now(UTC) + delta).timestamp())


# Times are computed when the test runs, not at collection: a long suite run (minutes between
# collection and this test) made a "not yet valid" token valid again.
@pytest.mark.parametrize("claims, reason", [
    (lambda: {"exp": _in(timedelta(minutes=-5))}, "expired"),
    (lambda: {"nbf": _in(timedelta(minutes=5))}, "not yet valid"),
    (lambda: {"iss": "https://evil.example"}, "issuer"),
    (lambda: {"aud": "another-api"}, "audience"),
], ids=["expired", "not-yet-valid", "issuer", "audience"])
async def test_claims_are_checked(idp: IdentityProvider, claims: Callable[[], dict],
                                  reason: str) -> None:
    with pytest.raises(Unauthenticated, match=f"(?i){reason}"):
        await verifier(idp).verify(idp.mint("u1", "CUSTOMER", **claims()))


async def test_token_without_expiry_or_subject_is_refused(idp: IdentityProvider) -> None:
    key = idp.keys[0]
    no_exp = jwt.encode({"sub": "u1", "iss": ISSUER, "aud": AUDIENCE}, key.key, "RS256",
                        headers={"kid": key.kid})
    with pytest.raises(Unauthenticated, match="exp"):
        await verifier(idp).verify(no_exp)
    with pytest.raises(Unauthenticated, match="sub"):
        await verifier(idp).verify(idp.mint("", "CUSTOMER"))


async def test_unsigned_and_algorithm_confusion_tokens_are_refused(idp: IdentityProvider) -> None:
    claims = {"sub": "u1", "roles": ["ADMIN"], "iss": ISSUER, "aud": AUDIENCE,
              "exp": int((datetime.now(UTC) + timedelta(minutes=5)).timestamp())}
    header = base64.urlsafe_b64encode(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    body = base64.urlsafe_b64encode(json.dumps(claims).encode())
    unsigned = f"{header.decode().rstrip('=')}.{body.decode().rstrip('=')}."
    with pytest.raises(Unauthenticated, match="algorithm"):
        await verifier(idp).verify(unsigned)
    # HS256 "signed" with the public JWK as the secret: the classic key-confusion attack
    public = json.dumps(json.loads(idp.jwks_path.read_text())["keys"][0]).encode()
    confused = _hs256(claims, public, kid=idp.keys[0].kid)
    with pytest.raises(Unauthenticated, match="algorithm"):
        await verifier(idp).verify(confused)
    # an ES256 header on a token whose kid names the RSA key
    mismatched = jwt.encode(claims, idp.keys[1].key, "ES256", headers={"kid": idp.keys[0].kid})
    with pytest.raises(Unauthenticated, match="does not match"):
        await verifier(idp).verify(mismatched)


async def test_tampered_and_foreign_tokens_are_refused(idp: IdentityProvider) -> None:
    token = idp.mint("u1", "CUSTOMER")
    head, body, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    claims["roles"] = ["ADMIN"]
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    with pytest.raises(Unauthenticated, match=r"(?i)signature"):
        await verifier(idp).verify(f"{head}.{forged}.{signature}")
    stranger = new_signing_key()  # never published
    with pytest.raises(Unauthenticated, match="unknown key"):
        await verifier(idp).verify(idp.mint("u1", "ADMIN", key=stranger))
    with pytest.raises(Unauthenticated, match="malformed"):
        await verifier(idp).verify("not-a-jwt")


async def test_unknown_kid_refreshes_once_then_accepts_the_rotated_key(
        idp: IdentityProvider) -> None:
    v = verifier(idp, min_refresh_interval_s=0)
    await v.verify(idp.mint("u1", "CUSTOMER"))
    rotated = idp.add_key("ES256")
    principal = await v.verify(idp.mint("u2", "AGENT", key=rotated))
    assert principal.roles == {Role.AGENT}


async def test_concurrent_unknown_kid_requests_share_one_fetch(idp: IdentityProvider) -> None:
    gate = threading.Event()
    calls = []

    def slow_fetch(url: str) -> bytes:
        calls.append(url)
        gate.wait(5)
        return fetch_url(url)

    cache = JwksCache(idp.jwks_url, fetcher=slow_fetch, min_refresh_interval_s=0)
    v = JwksTokenVerifier(cache, ISSUER, AUDIENCE)
    tokens = [idp.mint(f"user-{i}", "CUSTOMER") for i in range(20)]
    pending = [asyncio.create_task(v.verify(t)) for t in tokens]
    await asyncio.sleep(0.05)
    gate.set()
    principals = await asyncio.gather(*pending)
    assert [p.subject for p in principals] == [f"user-{i}" for i in range(20)]
    assert len(calls) == 1


async def test_made_up_kids_do_not_cause_a_fetch_storm(idp: IdentityProvider) -> None:
    cache = JwksCache(idp.jwks_url, min_refresh_interval_s=60)
    v = JwksTokenVerifier(cache, ISSUER, AUDIENCE)
    await v.verify(idp.mint("u1", "CUSTOMER"))
    for _ in range(10):
        with pytest.raises(Unauthenticated, match="unknown key"):
            await v.verify(idp.mint("u1", "ADMIN", key=new_signing_key()))
    assert cache.fetches == 1


async def test_unreachable_jwks_refuses_tokens(tmp_path: Path, idp: IdentityProvider) -> None:
    v = JwksTokenVerifier(JwksCache((tmp_path / "missing.json").as_uri()), ISSUER, AUDIENCE)
    with pytest.raises(Unauthenticated, match="unknown key"):
        await v.verify(idp.mint("u1", "CUSTOMER"))


def test_only_file_and_https_urls_are_fetched() -> None:
    with pytest.raises(ValueError, match="file:// or https://"):
        fetch_url("http://identity.example/jwks.json")
    with pytest.raises(ValueError, match="file:// or https://"):
        fetch_url("ftp://identity.example/jwks.json")


SECRET = "s3cret-s3cret-s3cret-s3cret-s3cret"


async def test_shared_secret_only_through_hs256(idp: IdentityProvider) -> None:
    shared = SharedSecretTokenVerifier(SECRET, ISSUER, AUDIENCE)
    chained = ChainedTokenVerifier(verifier(idp), shared)
    claims = {"sub": "dev", "roles": ["ADMIN"], "iss": ISSUER, "aud": AUDIENCE,
              "exp": int((datetime.now(UTC) + timedelta(minutes=5)).timestamp())}
    assert (await chained.verify(jwt.encode(claims, SECRET, "HS256"))).roles == {Role.ADMIN}
    with pytest.raises(Unauthenticated, match=r"(?i)signature"):
        await chained.verify(jwt.encode(claims, "guessed-guessed-guessed-guessed-guessed", "HS256"))
    assert (await chained.verify(idp.mint("u1", "CUSTOMER"))).subject == "u1"
    without_secret = ChainedTokenVerifier(verifier(idp), None)
    with pytest.raises(Unauthenticated, match="HS256"):
        await without_secret.verify(jwt.encode(claims, SECRET, "HS256"))
