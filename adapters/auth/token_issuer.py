"""Minting tokens where a signing key is configured (development, tests, ``loan-offers token``).

Production tokens come from the bank's identity provider; this issuer exists so developers and
tests can hold a real, verifiable token. Asymmetric keys are PEM files (RSA → RS256, EC P-256 →
ES256) whose public half is published as a JWKS; the development profile may instead use an
HS256 shared secret.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm


@dataclass(frozen=True)
class SigningKey:
    key: Any            # private key object, or the HS256 secret
    algorithm: str      # RS256 | ES256 | HS256
    kid: str | None


def load_private_key(path: Path, kid: str | None = None) -> SigningKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if isinstance(key, rsa.RSAPrivateKey):
        algorithm = "RS256"
    elif isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1):
        algorithm = "ES256"
    else:
        raise ValueError(f"{path}: signing keys must be RSA or EC P-256")
    return SigningKey(key, algorithm, kid or key_id(key.public_key()))


def public_jwk(key: SigningKey) -> dict[str, Any]:
    public = key.key.public_key()
    codec = RSAAlgorithm if key.algorithm == "RS256" else ECAlgorithm
    jwk = codec.to_jwk(public, as_dict=True)
    return {**jwk, "kid": key.kid, "alg": key.algorithm, "use": "sig"}


def jwks_document(keys: Iterable[SigningKey]) -> str:
    return json.dumps({"keys": [public_jwk(k) for k in keys]}, indent=2)


def key_id(public_key: Any) -> str:
    """A short, stable id: SHA-256 of the DER public key (enough to tell rotated keys apart)."""
    der = public_key.public_bytes(serialization.Encoding.DER,
                                  serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()[:16]


def generate_private_key(algorithm: str = "RS256") -> Any:
    if algorithm == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_pem(key: Any) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


class TokenIssuer:
    def __init__(self, signing_key: SigningKey, issuer: str | None, audience: str | None) -> None:
        self._key = signing_key
        self._issuer = issuer
        self._audience = audience

    def mint(self, subject: str, roles: Iterable[str], now: datetime,
             ttl: timedelta = timedelta(hours=1), **extra: Any) -> str:
        claims: dict[str, Any] = {
            "sub": subject, "roles": sorted(set(roles)), "iat": int(now.timestamp()),
            "nbf": int(now.timestamp()), "exp": int((now + ttl).timestamp()),
            "jti": uuid.uuid4().hex,
        }
        if self._issuer:
            claims["iss"] = self._issuer
        if self._audience:
            claims["aud"] = self._audience
        claims.update(extra)
        headers = {"kid": self._key.kid} if self._key.kid else None
        return jwt.encode(claims, self._key.key, algorithm=self._key.algorithm, headers=headers)
