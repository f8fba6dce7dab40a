"""Bearer JWT verification (PyJWT): JWKS-signed RS256/ES256 tokens, or HS256 in development.

Checked on every token: the signature with an algorithm from the pinned list (never the
token's own choice of ``none`` or HMAC-with-a-public-key), ``exp`` (required), ``nbf`` and
``iat`` when present, ``iss`` and ``aud`` when configured, and ``sub``. Roles come from the
``roles`` claim.
"""

from __future__ import annotations

import jwt
from jwt.exceptions import InvalidTokenError

from adapters.auth.jwks import JwksCache
from application.security import Principal, Role, Unauthenticated

ASYMMETRIC_ALGORITHMS = ("RS256", "ES256")
LEEWAY_S = 30  # clock skew tolerated between the identity provider and us


def _principal(claims: dict) -> Principal:
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject or len(subject) > 128:
        raise Unauthenticated("token has no usable subject (sub)")
    return Principal(subject=subject, roles=Role.parse_many(claims.get("roles", [])),
                     token_id=claims.get("jti") if isinstance(claims.get("jti"), str) else None,
                     claims=claims)


def _decode(token: str, key: object, algorithms: list[str], issuer: str | None,
            audience: str | None) -> dict:
    required = ["exp", "sub"] + (["iss"] if issuer else []) + (["aud"] if audience else [])
    try:
        return jwt.decode(token, key=key, algorithms=algorithms, issuer=issuer, audience=audience,
                          leeway=LEEWAY_S,
                          options={"require": required, "verify_aud": audience is not None})
    except InvalidTokenError as exc:
        raise Unauthenticated(f"invalid token: {exc}") from None


class JwksTokenVerifier:
    """Tokens signed by the identity provider's keys (RS256 or ES256 only)."""

    def __init__(self, jwks: JwksCache, issuer: str | None, audience: str | None,
                 algorithms: tuple[str, ...] = ASYMMETRIC_ALGORITHMS) -> None:
        self._jwks = jwks
        self._issuer = issuer
        self._audience = audience
        self._algorithms = algorithms

    async def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except InvalidTokenError:
            raise Unauthenticated("malformed token") from None
        algorithm = header.get("alg")
        if algorithm not in self._algorithms:
            raise Unauthenticated(f"token algorithm {algorithm!r} is not accepted")
        kid = header.get("kid")
        key = await self._jwks.key(kid if isinstance(kid, str) else None)
        if key is None:
            raise Unauthenticated("token signed by an unknown key")
        if key.algorithm_name != algorithm:
            # a key is used with its own algorithm only (RSA: RS256, EC P-256: ES256)
            raise Unauthenticated("token algorithm does not match its key")
        claims = _decode(token, key.key, [algorithm], self._issuer, self._audience)
        return _principal(claims)


class SharedSecretTokenVerifier:
    """HS256 with a shared secret: the development profile only (settings refuse it in prod)."""

    def __init__(self, secret: str, issuer: str | None, audience: str | None) -> None:
        self._secret = secret
        self._issuer = issuer
        self._audience = audience

    async def verify(self, token: str) -> Principal:
        claims = _decode(token, self._secret, ["HS256"], self._issuer, self._audience)
        return _principal(claims)


class ChainedTokenVerifier:
    """Try each verifier by the token's algorithm family (dev: JWKS and the shared secret)."""

    def __init__(self, asymmetric: JwksTokenVerifier | None,
                 shared: SharedSecretTokenVerifier | None) -> None:
        self._asymmetric = asymmetric
        self._shared = shared

    async def verify(self, token: str) -> Principal:
        try:
            algorithm = jwt.get_unverified_header(token).get("alg")
        except InvalidTokenError:
            raise Unauthenticated("malformed token") from None
        verifier = self._shared if algorithm == "HS256" else self._asymmetric
        if verifier is None:
            raise Unauthenticated(f"token algorithm {algorithm!r} is not accepted")
        return await verifier.verify(token)
