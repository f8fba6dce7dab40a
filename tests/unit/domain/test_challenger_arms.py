"""Challenger arms: stable, uniform, with the configured share within binomial tolerance."""

from __future__ import annotations

import math

import pytest

from domain.policy.challenger import BUCKETS, Arm, arm_for, bucket

#: |share - p| <= Z sqrt(p (1 - p) / n): a false alarm once in ~300,000 runs at most.
Z = 5.0


@pytest.mark.parametrize("share_bps", [500, 2000, 5000, 9000])
def test_share_of_users_within_binomial_tolerance(share_bps: int) -> None:
    n = 20_000
    p = share_bps / BUCKETS
    hits = sum(arm_for(f"user-{i:06d}", share_bps, "experiment-1") is Arm.CHALLENGER
               for i in range(1, n + 1))
    assert abs(hits / n - p) <= Z * math.sqrt(p * (1 - p) / n)


def test_the_same_user_stays_in_the_same_arm_and_salts_reshuffle() -> None:
    users = [f"user-{i:06d}" for i in range(2000)]
    first = [arm_for(u, 3000, "x") for u in users]
    assert first == [arm_for(u, 3000, "x") for u in users]
    other = [arm_for(u, 3000, "y") for u in users]
    agree = sum(a == b for a, b in zip(first, other, strict=True)) / len(users)
    # Independent assignments agree with probability 0.3^2 + 0.7^2 = 0.58.
    assert abs(agree - 0.58) <= Z * math.sqrt(0.58 * 0.42 / len(users))


def test_edges() -> None:
    assert arm_for("u", 0, "s") is Arm.CHAMPION
    assert arm_for("u", BUCKETS, "s") is Arm.CHALLENGER
    assert 0 <= bucket("u", "s") < BUCKETS
    with pytest.raises(ValueError):
        arm_for("u", BUCKETS + 1, "s")
