"""Reading CSV and JSON Lines record files: rows with the line they start on."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.ingest.record_files import UnsupportedFile, read_records

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"


def test_csv_rows_carry_their_first_line_even_after_multi_line_cells() -> None:
    rows = list(read_records(EXAMPLES / "applicants_with_errors.csv"))
    assert [r.line for r in rows] == [2, 4, 5, 6, 7]
    assert rows[0].record is not None and "Kothrud" in rows[0].record["address"]
    assert rows[1].record is not None and rows[1].record["user_id"] == "lender-000202"


def test_csv_blank_lines_are_skipped_and_ragged_rows_reported(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("\ufeffuser_id,full_name\r\na,Asha\r\n\r\nb,Bala,extra\r\nc\r\n")
    rows = list(read_records(path))
    assert [(r.line, r.record, r.problem) for r in rows] == [
        (2, {"user_id": "a", "full_name": "Asha"}, None),
        (4, None, "3 cells, the header has 2"),
        (5, None, "1 cells, the header has 2"),
    ]


@pytest.mark.parametrize(("header", "problem"), [
    ("user_id,full_nmae", "unknown columns ['full_nmae']"),
    ("user_id,user_id", "more than once"),
])
def test_a_bad_csv_header_rejects_the_file(tmp_path: Path, header: str, problem: str) -> None:
    path = tmp_path / "x.csv"
    path.write_text(header + "\na,b\n")
    with pytest.raises(UnsupportedFile, match="line 1") as caught:
        list(read_records(path))
    assert problem in str(caught.value)


def test_json_lines_report_bad_lines_and_keep_money_exact(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text('{"user_id": "a", "monthly_income": 95000.10}\n\n[1, 2]\n{"user_id": \n')
    rows = list(read_records(path))
    assert rows[0].line == 1 and str(rows[0].record["monthly_income"]) == "95000.10"
    assert (rows[1].line, rows[1].problem) == (3, "not a JSON object")
    assert rows[2].line == 4 and rows[2].problem.startswith("not JSON")


def test_other_extensions_are_refused(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedFile, match="csv"):
        read_records(tmp_path / "records.xlsx")
