"""The engine's complete output for 486 varied inputs equals the golden file, field for field.

The golden file was written by the engine before the performance work (see
``engine_golden``): refactorings and speed-ups must leave every result identical - decisions,
reason codes, every offer field and its explanation, the ranking, the Key Facts and schedule.
"""

from __future__ import annotations

import json

import pytest

from tests.unit.domain.engine_golden import compute_golden, load_policy, read_golden


@pytest.fixture(scope="module")
def golden_and_now():
    return read_golden(), compute_golden(load_policy())


def test_the_same_cases_are_run(golden_and_now):
    golden, now = golden_and_now
    assert [entry["case"] for entry in now] == [entry["case"] for entry in golden]


def test_every_case_gives_the_golden_answer(golden_and_now):
    golden, now = golden_and_now
    differing = [name for name, (old, new) in
                 ((g["case"], (g, n)) for g, n in zip(golden, now, strict=True)) if old != new]
    if differing:
        first = next(n for n in now if n["case"] == differing[0])
        expected = next(g for g in golden if g["case"] == differing[0])
        pytest.fail(f"{len(differing)} cases differ from the golden file, first {differing[0]}:\n"
                    f"expected {json.dumps(expected, sort_keys=True)[:3000]}\n"
                    f"got      {json.dumps(first, sort_keys=True)[:3000]}")


def test_the_golden_file_covers_every_decision_and_constraint(golden_and_now):
    """Guards the fixture itself: a golden file of declines only would prove little."""
    golden, _ = golden_and_now
    decisions = {entry["offer_set"]["decision"]["value"] for entry in golden if "offer_set" in entry}
    assert decisions == {"APPROVED", "COUNTER_OFFER", "DECLINED"}
    offers = [o for entry in golden if "offer_set" in entry for o in entry["offer_set"]["offers"]]
    bindings = {b for o in offers for b in o["explanation"]["binding_constraints"]}
    assert {"FOIR_LIMIT", "AMOUNT_LIMIT", "MAX_ROI_CAP", "MIN_ROI_FLOOR", "MIN_MARGIN",
            "DISCOUNT_CAP", "TENURE_LIMIT"} <= bindings
    fallbacks = {o["explanation"]["fallback_applied"] for o in offers}
    assert len(fallbacks) >= 5
    assert sum("error" in entry for entry in golden) >= 5
