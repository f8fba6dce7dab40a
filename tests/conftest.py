"""Fixtures every test directory may use: a test identity provider (real keys, JWKS, tokens)."""

from __future__ import annotations

import pytest
from hypothesis import settings

from tests.tokens import IdentityProvider, make_identity_provider

# Hypothesis' per-example deadline (200 ms) is a timing assertion: on a loaded 2-core machine a
# correct property test can miss it (638 ms seen). Speed is measured in benchmarks/, never here.
settings.register_profile("suite", deadline=None)
settings.load_profile("suite")


@pytest.fixture(scope="session")
def identity_provider(tmp_path_factory: pytest.TempPathFactory) -> IdentityProvider:
    """RS256 + ES256 keys published as a ``file://`` JWKS; ``mint``/``headers`` make tokens."""
    return make_identity_provider(tmp_path_factory.mktemp("identity"))
