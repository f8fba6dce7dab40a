"""Reason codes: specific, derived only from factors actually used, ordered by impact.

ECOA / Regulation B adverse-action practice and the RBI Fair Practices Code both require
written, specific reasons; we give at most four (pricing-science section 1).
"""

from __future__ import annotations

from dataclasses import dataclass

from domain.slotted import fast_init

MAX_REASON_CODES = 4


@fast_init
@dataclass(frozen=True, slots=True)
class ReasonCode:
    code: str
    description: str


def top_reasons(*groups: tuple[ReasonCode, ...] | list[ReasonCode]) -> tuple[ReasonCode, ...]:
    """Concatenate groups in priority order, drop repeated codes, keep the first four."""
    seen: set[str] = set()
    result: list[ReasonCode] = []
    for group in groups:
        for reason in group:
            if reason.code not in seen:
                seen.add(reason.code)
                result.append(reason)
    return tuple(result[:MAX_REASON_CODES])
