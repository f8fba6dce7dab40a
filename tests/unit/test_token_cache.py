"""Verified tokens remembered until their ``exp``: real RS256/ES256 tokens and the real JWKS
verifier underneath; only the cache's clock is set by the test."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters.auth.jwks import JwksCache
from adapters.auth.jwt_verifier import ChainedTokenVerifier, JwksTokenVerifier
from adapters.auth.token_cache import CachingTokenVerifier
from application.security import Principal, Unauthenticated
from config.container import _token_verifier
from config.settings import Settings
from tests.tokens import AUDIENCE, ISSUER, IdentityProvider, make_identity_provider, new_signing_key


class Counting:
    """The real verifier, counting the tokens it was asked to verify."""

    def __init__(self, verifier: JwksTokenVerifier) -> None:
        self.verifier = verifier
        self.calls = 0

    async def verify(self, token: str) -> Principal:
        self.calls += 1
        return await self.verifier.verify(token)


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC).timestamp()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def idp(tmp_path: Path) -> IdentityProvider:
    return make_identity_provider(tmp_path)


async def caching(idp: IdentityProvider, maxsize: int = 100, clock: Clock | None = None,
                  ) -> tuple[CachingTokenVerifier, Counting, JwksCache]:
    jwks = JwksCache(idp.jwks_url, min_refresh_interval_s=0)
    # Loaded first: a token verified while the set loads (version 0 -> 1) is remembered under
    # the version seen before, so it is verified once more after (a reload meanwhile wins).
    await jwks.key(None)
    inner = Counting(JwksTokenVerifier(jwks, ISSUER, AUDIENCE))
    return (CachingTokenVerifier(inner, maxsize, key_set_version=lambda: jwks.version,
                                 clock=clock or Clock()), inner, jwks)


@pytest.mark.parametrize("key_index", [0, 1], ids=["RS256", "ES256"])
async def test_a_verified_token_is_answered_from_memory(idp: IdentityProvider,
                                                         key_index: int) -> None:
    verifier, inner, _ = await caching(idp)
    token = idp.mint("user-000042", "AGENT", "ANALYST", key=idp.keys[key_index])
    first = await verifier.verify(token)
    again = [await verifier.verify(token) for _ in range(3)]
    assert inner.calls == 1 and verifier.hits == 3
    assert all(p == first and p.claims == first.claims for p in again)


async def test_refused_tokens_are_checked_in_full_every_time(idp: IdentityProvider) -> None:
    verifier, inner, _ = await caching(idp)
    token = idp.mint("u1", "CUSTOMER")
    head, payload, signature = token.split(".")
    tampered = f"{head}.{payload}.{signature[:-4]}AAAA"
    for bad in (tampered, idp.mint("u1", "CUSTOMER", key=new_signing_key()), "not-a-jwt",
                idp.mint("u1", "CUSTOMER", aud="another-api")):
        messages = set()
        for _ in range(2):
            with pytest.raises(Unauthenticated) as refused:
                await verifier.verify(bad)
            messages.add(refused.value.message)
        assert len(messages) == 1  # the verifier's own message, both times
    assert inner.calls == 8 and verifier.size == 0
    await verifier.verify(token)  # the genuine token still verifies (and is remembered)
    with pytest.raises(Unauthenticated):
        await verifier.verify(tampered)  # one byte off the remembered token: a different entry
    assert inner.calls == 10


async def test_never_answered_from_memory_at_or_after_exp(idp: IdentityProvider) -> None:
    clock = Clock()
    verifier, inner, _ = await caching(idp, clock=clock)
    token = idp.mint("u1", "CUSTOMER", ttl=timedelta(minutes=5))
    exp = (await verifier.verify(token)).claims["exp"]
    clock.now = exp - 0.001
    await verifier.verify(token)
    assert inner.calls == 1
    clock.now = exp  # the verifier decides again (its 30 s leeway is its own business)
    await verifier.verify(token)
    assert inner.calls == 2


async def test_an_expired_token_is_refused_as_before(idp: IdentityProvider) -> None:
    verifier, inner, _ = await caching(idp)
    expired = idp.mint("u1", "CUSTOMER", now=datetime.now(UTC) - timedelta(minutes=10),
                       ttl=timedelta(minutes=5))
    for _ in range(2):
        with pytest.raises(Unauthenticated, match=r"(?i)expired"):
            await verifier.verify(expired)
    assert inner.calls == 2


async def test_never_answered_from_memory_before_nbf(idp: IdentityProvider) -> None:
    # Within the verifier's 30 s leeway: it accepts the token, the cache does not serve it early.
    clock = Clock()
    verifier, inner, _ = await caching(idp, clock=clock)
    nbf = int(clock.now) + 20
    token = idp.mint("u1", "CUSTOMER", nbf=nbf)
    await verifier.verify(token)
    await verifier.verify(token)
    assert inner.calls == 2
    assert verifier.hits == 0
    clock.now = nbf  # from nbf on, the remembered token serves
    await verifier.verify(token)
    assert inner.calls == 2 and verifier.hits == 1


async def test_a_key_set_reload_verifies_remembered_tokens_again(idp: IdentityProvider) -> None:
    verifier, inner, jwks = await caching(idp)
    old = idp.mint("u1", "CUSTOMER", key=idp.keys[0])
    await verifier.verify(old)
    await verifier.verify(old)
    assert inner.calls == 1
    # The identity provider withdraws the key and rotates a new one in; a token signed with the
    # new key makes this process reload the set.
    idp.keys = idp.keys[1:]
    rotated = idp.add_key("RS256")
    await verifier.verify(idp.mint("u2", "AGENT", key=rotated))
    assert jwks.version == 2
    assert inner.calls == 2
    with pytest.raises(Unauthenticated, match="unknown key"):
        await verifier.verify(old)  # withdrawn: refused as soon as without the cache


async def test_bounded_least_recently_used_leave_first(idp: IdentityProvider) -> None:
    verifier, inner, _ = await caching(idp, maxsize=2)
    a, b, c = (idp.mint(name, "CUSTOMER") for name in ("a", "b", "c"))
    await verifier.verify(a)
    await verifier.verify(b)
    await verifier.verify(a)  # a used last: b leaves when c comes
    await verifier.verify(c)
    assert verifier.size == 2 and inner.calls == 3
    await verifier.verify(a)
    assert inner.calls == 3
    await verifier.verify(b)
    assert inner.calls == 4


def test_settings_wire_the_cache_or_leave_it_out(idp: IdentityProvider) -> None:
    overrides = {"profile": "prod", **idp.settings_overrides()}
    assert isinstance(_token_verifier(Settings(**overrides)), CachingTokenVerifier)
    assert isinstance(_token_verifier(Settings(**overrides, auth_token_cache_max=0)),
                      ChainedTokenVerifier)
    with pytest.raises(ValueError):
        CachingTokenVerifier(ChainedTokenVerifier(None, None), 0)
