"""``loan-offers policy-diff`` on files (versions from the database are covered end to end)."""

import json
from pathlib import Path

from typer.testing import CliRunner

from config.cli import app

DEFAULT = Path(__file__).resolve().parents[2] / "config" / "policies" / "default.toml"
runner = CliRunner()


def test_policy_diff_of_two_files(tmp_path: Path) -> None:
    draft = tmp_path / "draft.toml"
    draft.write_text(DEFAULT.read_text().replace("version = 1", "version = 2", 1)
                     .replace("max_offers = 5", "max_offers = 3"))
    result = runner.invoke(app, ["policy-diff", str(DEFAULT), str(draft), "--json"])
    assert result.exit_code == 0, result.output
    changes = [json.loads(line) for line in result.output.splitlines()]
    assert changes == [
        {"path": "version", "kind": "CHANGED", "before": "1", "after": "2"},
        {"path": "ranking.max_offers", "kind": "CHANGED", "before": "5", "after": "3"},
    ]
    text = runner.invoke(app, ["policy-diff", str(DEFAULT), str(draft)])
    assert "CHANGED  ranking.max_offers: 5 -> 3" in text.output and "2 change(s)" in text.output


def test_policy_diff_refuses_what_is_neither_file_nor_toml(tmp_path: Path) -> None:
    assert runner.invoke(app, ["policy-diff", str(DEFAULT), "nope.toml"]).exit_code == 2
    bad = tmp_path / "bad.toml"
    bad.write_text("version = [")
    result = runner.invoke(app, ["policy-diff", str(DEFAULT), str(bad)])
    assert result.exit_code == 2
