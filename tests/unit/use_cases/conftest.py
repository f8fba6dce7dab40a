"""Fixtures for the use-case tests: in-memory fakes of every port (``fakes.py``), the default
policy, a fixed clock and demo applicants."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[3]
if str(PROJECT_ROOT) not in sys.path:  # `tests.unit.use_cases.fakes` under a bare `pytest`
    sys.path.insert(0, str(PROJECT_ROOT))

from adapters.demo.portfolio import generate_applicants  # noqa: E402
from domain.applicant import Applicant  # noqa: E402
from domain.policy.model import PricingPolicy  # noqa: E402
from domain.policy.parsing import parse_policy_toml  # noqa: E402
from tests.unit.use_cases.fakes import (  # noqa: E402
    NOW,
    FakeClock,
    FakeUnitOfWorkFactory,
    RecordingCache,
    RecordingPublisher,
    SequentialIds,
)

POLICY_TOML = (PROJECT_ROOT / "config" / "policies" / "default.toml").read_text()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def uow_factory(clock: FakeClock) -> FakeUnitOfWorkFactory:
    return FakeUnitOfWorkFactory(clock)


@pytest.fixture
def publisher() -> RecordingPublisher:
    return RecordingPublisher()


@pytest.fixture
def cache() -> RecordingCache:
    return RecordingCache()


@pytest.fixture
def ids() -> SequentialIds:
    return SequentialIds("offer")


@pytest.fixture(scope="session")
def policy_toml() -> str:
    return POLICY_TOML


@pytest.fixture(scope="session")
def policy() -> PricingPolicy:
    return parse_policy_toml(POLICY_TOML)


@pytest.fixture(scope="session")
def approved_applicants(policy: PricingPolicy) -> list[Applicant]:
    """Demo applicants the default policy approves with several offers."""
    from domain.applicant import LoanRequest
    from domain.offer_engine import generate_offer_set

    chosen = []
    for a in generate_applicants(60, start=1):
        offer_set = generate_offer_set(policy, a, LoanRequest(), NOW, lambda: "x")
        if len(offer_set.offers) >= 3:
            chosen.append(a)
    assert len(chosen) >= 3
    return chosen
