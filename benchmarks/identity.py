"""The benchmark's identity provider: a real signing key, a JWKS file, real bearer tokens.

The prod profile verifies bearer JWTs against a JWKS (``LOAN_OFFERS_AUTH_*``). The benchmark
makes an RS256 key pair in the stack's directory, points the servers at its JWKS through a
``file://`` URL, and mints one token per demo customer (on first use, then reused):
authentication, authorisation and the per-subject rate limits are all on the measured path.
RS256 because verifying it (what the server does per request) is cheaper than ES256.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from adapters.auth.token_issuer import (
    SigningKey,
    TokenIssuer,
    generate_private_key,
    jwks_document,
    key_id,
    private_pem,
)

ISSUER = "https://identity.bench.loan-offers.example"
AUDIENCE = "loan-offers-api"


class BenchIdentity:
    def __init__(self, directory: Path, ttl: timedelta = timedelta(hours=2)) -> None:
        key = generate_private_key("RS256")
        self.key = SigningKey(key, "RS256", key_id(key.public_key()))
        self.jwks_path = directory / "jwks.json"
        self.key_path = directory / "signing-key.pem"
        self.jwks_path.write_text(jwks_document([self.key]))
        self.key_path.write_bytes(private_pem(key))
        self._issuer = TokenIssuer(self.key, ISSUER, AUDIENCE)
        self._ttl = ttl
        self._tokens: dict[tuple[str, str], dict[str, str]] = {}

    def settings(self) -> dict[str, str]:
        """``LOAN_OFFERS_*`` variables for the servers (and ``loan-offers token``)."""
        return {"LOAN_OFFERS_AUTH_JWKS_URL": self.jwks_path.as_uri(),
                "LOAN_OFFERS_AUTH_ISSUER": ISSUER, "LOAN_OFFERS_AUTH_AUDIENCE": AUDIENCE,
                "LOAN_OFFERS_AUTH_SIGNING_KEY_FILE": str(self.key_path),
                "LOAN_OFFERS_AUTH_SIGNING_KEY_ID": self.key.kid}

    def headers(self, subject: str, roles: tuple[str, ...] = ("AGENT", "ANALYST")
                ) -> dict[str, str]:
        """The full ``loanOffers`` field set includes the lender's economics (``expectedProfit``,
        ``breakEvenRoi``, ``priceResponse``), which a CUSTOMER may not read (FORBIDDEN): the
        benchmark asks as a loan officer (AGENT acting for the customer, ANALYST for the
        economics), one subject per customer so the per-subject rate limits stay realistic."""
        cached = self._tokens.get((subject, roles))
        if cached is None:
            token = self._issuer.mint(subject, list(roles), datetime.now(UTC), self._ttl)
            cached = self._tokens[(subject, roles)] = {"Authorization": f"Bearer {token}"}
        return cached
