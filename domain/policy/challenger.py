"""Champion/challenger assignment: a stable hash of the user id picks the arm.

``bucket = int(sha256("<salt>:<user id>")[:8]) mod 10,000``; the user is in the challenger arm
when ``bucket < share_bps``. The same user always lands in the same arm for one experiment (the
salt names the experiment, so a new experiment reshuffles users); SHA-256 makes buckets uniform
and independent of how ids are formed (sequential ids included), so the challenger's share of
users is Binomial(n, share).
"""

from __future__ import annotations

import hashlib
from enum import StrEnum

BUCKETS = 10_000


class Arm(StrEnum):
    CHAMPION = "CHAMPION"
    CHALLENGER = "CHALLENGER"


def bucket(user_id: str, salt: str) -> int:
    digest = hashlib.sha256(f"{salt}:{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def arm_for(user_id: str, share_bps: int, salt: str) -> Arm:
    """The arm of ``user_id`` when the challenger takes ``share_bps`` / 10,000 of users."""
    if not 0 <= share_bps <= BUCKETS:
        raise ValueError(f"share must be between 0 and {BUCKETS} bps, got {share_bps}")
    return Arm.CHALLENGER if bucket(user_id, salt) < share_bps else Arm.CHAMPION
