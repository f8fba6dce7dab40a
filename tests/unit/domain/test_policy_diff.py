"""Structured policy diff: paths a pricing manager recognises, no noise from reordering."""

from __future__ import annotations

from pathlib import Path

from domain.policy.diff import ChangeKind, PolicyChange, diff_policy_toml

DEFAULT = (Path(__file__).resolve().parents[3] / "config" / "policies" / "default.toml").read_text()


def test_identical_documents_have_no_changes() -> None:
    assert diff_policy_toml(DEFAULT, DEFAULT) == ()
    assert diff_policy_toml("a = 1\n", "a = 1.0\n") == ()   # the same number


def test_changes_are_named_by_path() -> None:
    after = (DEFAULT.replace("version = 1", "version = 2", 1)
             .replace("cost_of_funds = 0.080", "cost_of_funds = 0.075")
             .replace('name = "B"\nmin_score = 600\nmax_roi = 0.20',
                      'name = "B"\nmin_score = 600\nmax_roi = 0.21')
             .replace("delta_bps = -10", "delta_bps = -20")
             + '\n[[adjustments]]\nname = "NEW_RULE"\ndelta_bps = 5\nreason = "r"\n'
               'when = { min_tenure = 60 }\n')
    changes = {c.path: c for c in diff_policy_toml(DEFAULT, after)}
    assert changes["version"] == PolicyChange("version", ChangeKind.CHANGED, "1", "2")
    assert changes["economics.cost_of_funds"].after == "0.075"
    assert changes["bands[B].max_roi"] == PolicyChange("bands[B].max_roi", ChangeKind.CHANGED,
                                                       "0.2", "0.21")
    assert changes["adjustments[LARGE_LOAN].delta_bps"].before == "-10"
    assert changes["adjustments[NEW_RULE]"].kind is ChangeKind.ADDED
    assert len(changes) == 5


def test_reordering_named_tables_is_not_a_change_but_removal_is() -> None:
    before = '[[bands]]\nname = "A"\nx = 1\n[[bands]]\nname = "B"\nx = 2\n'
    after = '[[bands]]\nname = "B"\nx = 2\n[[bands]]\nname = "A"\nx = 1\n'
    assert diff_policy_toml(before, after) == ()
    (removed,) = diff_policy_toml(before, '[[bands]]\nname = "A"\nx = 1\n')
    assert removed.path == "bands[B]" and removed.kind is ChangeKind.REMOVED


def test_unnamed_tables_compare_by_position_and_grids_whole() -> None:
    before = "[[foir_caps]]\ncap = 0.4\n[[foir_caps]]\ncap = 0.5\n[t]\ngrid = [1, 2]\n"
    after = "[[foir_caps]]\ncap = 0.4\n[[foir_caps]]\ncap = 0.55\n[t]\ngrid = [1, 2, 3]\n"
    changes = diff_policy_toml(before, after)
    assert [c.path for c in changes] == ["foir_caps[1].cap", "t.grid"]
    assert changes[1].after == "[1, 2, 3]"
