"""System clock and identifier generation."""

from __future__ import annotations

from datetime import UTC, datetime

from ulid import ULID


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class UlidGenerator:
    """ULIDs (26 characters, Crockford base32): sortable by creation time, which keeps offer
    inserts local in the primary-key index, and short enough to read out as a KFS proposal number."""

    def new_id(self) -> str:
        return str(ULID())
