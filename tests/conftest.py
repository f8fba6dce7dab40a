"""Fixtures every test directory may use: a test identity provider (real keys, JWKS, tokens)."""

from __future__ import annotations

import pytest

from tests.tokens import IdentityProvider, make_identity_provider


@pytest.fixture(scope="session")
def identity_provider(tmp_path_factory: pytest.TempPathFactory) -> IdentityProvider:
    """RS256 + ES256 keys published as a ``file://`` JWKS; ``mint``/``headers`` make tokens."""
    return make_identity_provider(tmp_path_factory.mktemp("identity"))
