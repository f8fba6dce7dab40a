"""A throwaway identity provider for tests: real RSA/EC keys, a JWKS file, real signed tokens.

Use the ``identity_provider`` fixture (``tests/conftest.py``)::

    settings = Settings(profile="prod", **identity_provider.settings_overrides(), ...)
    headers = identity_provider.headers("user-000042", "CUSTOMER")
    client.post("/graphql", json=..., headers=headers)

``mint(sub, *roles, ...)`` gives the raw token (WebSocket ``connection_init`` payloads take
``{"Authorization": "Bearer " + token}``); keyword arguments override claims (``exp=...``,
``aud=...``) or choose the signing key (``key=...``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from adapters.auth.token_issuer import (
    SigningKey,
    TokenIssuer,
    generate_private_key,
    jwks_document,
    key_id,
    private_pem,
)

ISSUER = "https://identity.test.loan-offers.example"
AUDIENCE = "loan-offers-api"


def new_signing_key(algorithm: str = "RS256") -> SigningKey:
    key = generate_private_key(algorithm)
    return SigningKey(key, algorithm, key_id(key.public_key()))


@dataclass
class IdentityProvider:
    directory: Path
    keys: list[SigningKey] = field(default_factory=list)
    issuer: str = ISSUER
    audience: str = AUDIENCE

    @property
    def jwks_path(self) -> Path:
        return self.directory / "jwks.json"

    @property
    def jwks_url(self) -> str:
        return self.jwks_path.as_uri()

    @property
    def private_key_path(self) -> Path:
        return self.directory / "signing-key.pem"

    def publish(self) -> None:
        self.jwks_path.write_text(jwks_document(self.keys))
        self.private_key_path.write_bytes(private_pem(self.keys[0].key))

    def add_key(self, algorithm: str = "RS256") -> SigningKey:
        """Rotate in a new key (published in the JWKS) and return it; tokens signed with it
        carry its ``kid``."""
        key = new_signing_key(algorithm)
        self.keys.append(key)
        self.publish()
        return key

    def settings_overrides(self) -> dict[str, Any]:
        return {"auth_jwks_url": self.jwks_url, "auth_issuer": self.issuer,
                "auth_audience": self.audience, "auth_signing_key_file": self.private_key_path,
                "auth_signing_key_id": self.keys[0].kid}

    def mint(self, sub: str, *roles: str, key: SigningKey | None = None,
             ttl: timedelta = timedelta(minutes=30), now: datetime | None = None,
             **claims: Any) -> str:
        issuer = TokenIssuer(key or self.keys[0], self.issuer, self.audience)
        return issuer.mint(sub, roles, now or datetime.now(UTC), ttl, **claims)

    def headers(self, sub: str, *roles: str, **claims: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.mint(sub, *roles, **claims)}"}


def make_identity_provider(directory: Path) -> IdentityProvider:
    directory.mkdir(parents=True, exist_ok=True)
    provider = IdentityProvider(directory, [new_signing_key("RS256"), new_signing_key("ES256")])
    provider.publish()
    return provider
