"""Applicant record files from lender systems: CSV or JSON Lines, chosen by the file extension.

Each record comes out as a :class:`~application.use_cases.import_applicants.SourceRow` carrying
the line it starts on, so every problem can be reported as "line N: ...". Unreadable records
(malformed JSON, a CSV row with more cells than the header) become rows with a ``problem``
instead of stopping the read: the import reports them all.

CSV: UTF-8 (a byte-order mark from spreadsheet exports is fine), a header row naming the fields
(``docs/examples/applicants.csv``), empty cells mean "not given". JSON Lines: one JSON object per
line, blank lines ignored (``docs/examples/applicants.jsonl``).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

from application.applicant_records import ALL_FIELDS
from application.use_cases.import_applicants import SourceRow

CSV_SUFFIXES = (".csv",)
JSONL_SUFFIXES = (".jsonl", ".ndjson")


class UnsupportedFile(ValueError):
    """The file cannot be read as records at all (format, encoding, header)."""


def read_records(path: Path) -> Iterator[SourceRow]:
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        return _csv_rows(path)
    if suffix in JSONL_SUFFIXES:
        return _jsonl_rows(path)
    raise UnsupportedFile(f"{path.name}: expected a .csv, .jsonl or .ndjson file")


def _csv_rows(path: Path) -> Iterator[SourceRow]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        try:
            header = [name.strip() for name in next(reader)]
        except StopIteration:
            return
        except (UnicodeDecodeError, csv.Error) as exc:
            raise UnsupportedFile(f"{path.name}: unreadable header: {exc}") from exc
        unknown = [name for name in header if name not in ALL_FIELDS]
        if unknown or len(set(header)) != len(header):
            problem = (f"unknown columns {unknown}" if unknown
                       else "a column appears more than once")
            raise UnsupportedFile(f"{path.name}: line 1: {problem}")
        line = reader.line_num + 1
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except (UnicodeDecodeError, csv.Error) as exc:
                yield SourceRow(line, None, f"unreadable: {exc}")
                return  # the reader cannot resynchronise after a broken quote or encoding
            if not any(cell.strip() for cell in cells):
                line = reader.line_num + 1
                continue
            if len(cells) != len(header):
                yield SourceRow(line, None, f"{len(cells)} cells, the header has {len(header)}")
            else:
                yield SourceRow(line, dict(zip(header, cells, strict=True)))
            line = reader.line_num + 1


def _jsonl_rows(path: Path) -> Iterator[SourceRow]:
    with path.open(encoding="utf-8-sig") as handle:
        try:
            for number, text in enumerate(handle, start=1):
                if not text.strip():
                    continue
                try:
                    value = json.loads(text, parse_float=Decimal)  # money stays exact
                except json.JSONDecodeError as exc:
                    yield SourceRow(number, None, f"not JSON: {exc.msg} (column {exc.colno})")
                    continue
                if not isinstance(value, dict):
                    yield SourceRow(number, None, "not a JSON object")
                    continue
                yield SourceRow(number, value)
        except UnicodeDecodeError as exc:
            raise UnsupportedFile(f"{path.name}: not UTF-8 text: {exc}") from exc
