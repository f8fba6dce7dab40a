"""`schema.graphql` (repo root) is what client teams generate types from: it must match the code."""

from __future__ import annotations

import difflib
from pathlib import Path

from typer.testing import CliRunner

from config.cli import app

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "schema.graphql"
REGENERATE = ".venv/bin/loan-offers export-schema > schema.graphql"


def test_schema_file_matches_the_code() -> None:
    result = CliRunner().invoke(app, ["export-schema"])
    assert result.exit_code == 0, result.output
    exported = result.stdout
    committed = SCHEMA_FILE.read_text(encoding="utf-8") if SCHEMA_FILE.exists() else ""
    diff = "".join(difflib.unified_diff(
        committed.splitlines(keepends=True), exported.splitlines(keepends=True),
        fromfile="schema.graphql (committed)", tofile="export-schema (code)", n=1))
    assert exported == committed, (
        f"schema.graphql differs from the code's schema; regenerate it with\n    {REGENERATE}\n"
        f"and commit it.\n{diff[:4000]}")


def test_export_schema_writes_the_file_it_is_given(tmp_path: Path) -> None:
    target = tmp_path / "out.graphql"
    result = CliRunner().invoke(app, ["export-schema", "--output", str(target)])
    assert result.exit_code == 0, result.output
    text = target.read_text(encoding="utf-8")
    assert "loanOffers(request: LoanOfferRequest!): LoanOfferResponse!" in text
    assert text == CliRunner().invoke(app, ["export-schema"]).stdout
