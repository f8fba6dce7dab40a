"""Structured difference between two pricing-policy documents (TOML), field by field.

Paths name what a pricing manager edits: ``economics.cost_of_funds``, ``bands[B].max_roi``,
``adjustments[LARGE_LOAN].delta_bps``, ``scorecard.attributes[foir].bins[2].points``. Lists of
tables whose entries carry a ``name`` (bands, adjustments, scorecard attributes, fee waivers)
are matched by that name, so reordering is not reported as a change and an added band is one
``ADDED`` entry; other lists are compared by position. Values are shown as JSON text.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from enum import StrEnum
from typing import Any


class ChangeKind(StrEnum):
    ADDED = "ADDED"
    REMOVED = "REMOVED"
    CHANGED = "CHANGED"


@dataclass(frozen=True, slots=True)
class PolicyChange:
    path: str
    kind: ChangeKind
    before: str | None
    after: str | None


def _text(value: Any) -> str:
    def default(v: Any) -> str:
        if isinstance(v, date | datetime | time):
            return v.isoformat()
        raise TypeError(type(v).__name__)

    return json.dumps(value, sort_keys=True, default=default, ensure_ascii=False)


def _named(items: list) -> dict[str, Any] | None:
    """``{name: item}`` when every item is a table with a distinct ``name``; else ``None``."""
    if not items or not all(isinstance(i, Mapping) and isinstance(i.get("name"), str)
                            for i in items):
        return None
    names = [i["name"] for i in items]
    return dict(zip(names, items, strict=True)) if len(set(names)) == len(names) else None


def _walk(path: str, before: Any, after: Any, out: list[PolicyChange]) -> None:
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        for key in list(before) + [k for k in after if k not in before]:
            child = f"{path}.{key}" if path else str(key)
            if key not in after:
                out.append(PolicyChange(child, ChangeKind.REMOVED, _text(before[key]), None))
            elif key not in before:
                out.append(PolicyChange(child, ChangeKind.ADDED, None, _text(after[key])))
            else:
                _walk(child, before[key], after[key], out)
        return
    if isinstance(before, list) and isinstance(after, list):
        named_before, named_after = _named(before), _named(after)
        if named_before is not None and named_after is not None:
            _walk_keyed(path, named_before, named_after, out)
            return
        if all(isinstance(i, Mapping) for i in before + after):
            _walk_keyed(path, dict(enumerate(before)), dict(enumerate(after)), out)
            return
    # Scalars and plain lists (grids) are reported whole: that is how they are edited.
    if not _same(before, after):
        out.append(PolicyChange(path, ChangeKind.CHANGED, _text(before), _text(after)))


def _same(before: Any, after: Any) -> bool:
    """Equal values of the same type; 1 and 1.0 are the same number (booleans are not numbers)."""
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (before, after))
    return before == after if numbers else (type(before) is type(after) and before == after)


def _walk_keyed(path: str, before: Mapping, after: Mapping, out: list[PolicyChange]) -> None:
    for key in list(before) + [k for k in after if k not in before]:
        child = f"{path}[{key}]"
        if key not in after:
            out.append(PolicyChange(child, ChangeKind.REMOVED, _text(before[key]), None))
        elif key not in before:
            out.append(PolicyChange(child, ChangeKind.ADDED, None, _text(after[key])))
        else:
            _walk(child, before[key], after[key], out)


def diff_documents(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[PolicyChange, ...]:
    out: list[PolicyChange] = []
    _walk("", before, after, out)
    return tuple(out)


def diff_policy_toml(before: str, after: str) -> tuple[PolicyChange, ...]:
    """Every difference between two policy documents; ``tomllib.TOMLDecodeError`` if either is
    not TOML (validate them with :func:`domain.policy.parsing.parse_policy_toml` first)."""
    return diff_documents(tomllib.loads(before), tomllib.loads(after))
