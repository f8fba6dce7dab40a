"""The benchmark's identity provider mints real tokens the service's settings can verify."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

pytest.importorskip("adapters.auth.token_issuer", reason="bearer-token support not on this tree")

from benchmarks.identity import AUDIENCE, ISSUER, BenchIdentity


def _claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_one_token_per_user_with_the_configured_issuer(tmp_path: Path) -> None:
    identity = BenchIdentity(tmp_path)
    first = identity.headers("user-000001")
    assert identity.headers("user-000001") is first          # minted once, reused
    token = first["Authorization"].removeprefix("Bearer ")
    claims = _claims(token)
    assert (claims["sub"], claims["iss"], claims["aud"]) == ("user-000001", ISSUER, AUDIENCE)
    assert sorted(claims["roles"]) == ["AGENT", "ANALYST"]  # may read the full field set
    settings = identity.settings()
    jwks = json.loads(Path(settings["LOAN_OFFERS_AUTH_JWKS_URL"].removeprefix("file://"))
                      .read_text())
    assert [k["kid"] for k in jwks["keys"]] == [settings["LOAN_OFFERS_AUTH_SIGNING_KEY_ID"]]
