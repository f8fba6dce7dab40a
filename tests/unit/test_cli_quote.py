import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from config.cli import app

EXAMPLE = [
    "quote",
    "--amount",
    "47000",
    "--tenure",
    "24",
    "--roi",
    "21",
    "--processing-fee",
    "1175",
]
runner = CliRunner()


def test_quote_json_for_the_documented_example():
    result = runner.invoke(app, [*EXAMPLE, "--json"])
    assert result.exit_code == 0, result.output
    quote = json.loads(result.stdout)
    assert quote["emi"] == 2415.13
    assert quote["apr"] == 24.15
    assert quote["totalInterest"] == 10963.01
    assert quote["totalPayable"] == 57963.01
    assert quote["principal"] == 47000 and quote["roi"] == 21 and quote["tenure"] == 24
    assert quote["processingFee"] == 1175 and quote["gstOnFee"] == 211.5
    assert quote["netDisbursal"] == 45613.5
    schedule = quote["schedule"]
    assert [row["month"] for row in schedule] == list(range(1, 25))
    assert set(schedule[0]) == {
        "month",
        "openingBalance",
        "emi",
        "interest",
        "principal",
        "closingBalance",
    }
    assert schedule[0] == {
        "month": 1,
        "openingBalance": 47000,
        "emi": 2415.13,
        "interest": 822.5,
        "principal": 1592.63,
        "closingBalance": 45407.37,
    }
    assert schedule[-1]["closingBalance"] == 0 and schedule[-1]["emi"] == 2415.02


def test_quote_json_writes_money_with_two_decimals():
    stdout = runner.invoke(app, [*EXAMPLE, "--json"]).stdout
    assert '"principal": 47000.00,' in stdout
    assert '"gstOnFee": 211.50,' in stdout
    assert '"closingBalance": 0.00}' in stdout
    assert stdout.count("\n") == 1  # exactly one JSON object on one line


def test_quote_options_change_the_figures():
    stdout = runner.invoke(
        app, [*EXAMPLE, "--gst-rate", "0", "--other-charges", "500", "--json"]
    ).stdout
    quote = json.loads(stdout)
    assert quote["gstOnFee"] == 0
    assert quote["netDisbursal"] == 47000 - 1175 - 500
    assert quote["emi"] == 2415.13


def test_quote_human_output_has_a_header_and_an_aligned_schedule():
    result = runner.invoke(app, EXAMPLE)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    header = dict(line.split(None, 1) for line in lines[:3])
    assert header["Principal"].strip() == "47,000.00"
    assert any(line.startswith("EMI") and line.endswith("2,415.13") for line in lines)
    assert any(line.startswith("APR") and "24.15 %" in line for line in lines)
    assert any(line.startswith("Net disbursal") and line.endswith("45,613.50") for line in lines)
    table_start = next(i for i, line in enumerate(lines) if line.split()[:1] == ["Month"])
    table = lines[table_start:]
    assert len(table) == 25
    assert len({len(line) for line in table}) == 1  # right-aligned columns
    assert table[1].split() == ["1", "47,000.00", "2,415.13", "822.50", "1,592.63", "45,407.37"]
    assert table[-1].split()[-1] == "0.00"


def test_indian_digit_grouping():
    result = runner.invoke(
        app,
        [
            "quote",
            "--amount",
            "1234567.5",
            "--tenure",
            "12",
            "--roi",
            "12",
            "--processing-fee",
            "0",
        ],
    )
    assert "12,34,567.50" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--amount", "-5"], "--amount must be positive"),
        (["--amount=-47000"], "--amount must be positive"),
        (["--amount", "0"], "--amount must be positive"),
        (["--amount", "47000.123"], "more than 2 decimal places"),
        (["--amount", "lots"], "not a number"),
        (["--tenure", "0"], "tenure must be 1 to 600"),
        (["--roi", "abc"], "--roi: not a number"),
        (["--roi", "101"], "roi must be between 0 and 100"),
        (["--processing-fee", "47000"], "net disbursal must be positive"),
    ],
)
def test_bad_input_gives_one_line_on_stderr_and_exit_2(args, message):
    result = runner.invoke(app, [*EXAMPLE, *args])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_no_arguments_shows_help():
    result = runner.invoke(app, [])
    assert "quote" in result.output
    assert "Usage" in result.output


def test_console_script_quote_json():
    script = Path(sys.executable).with_name("loan-offers")
    assert script.exists(), f"{script} missing: run `python -m pip install -e '.[dev]'`"
    completed = subprocess.run(
        [str(script), *EXAMPLE, "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    quote = json.loads(completed.stdout)
    assert (quote["emi"], quote["apr"], len(quote["schedule"])) == (2415.13, 24.15, 24)


def test_console_script_bad_input_exits_2_without_traceback():
    script = Path(sys.executable).with_name("loan-offers")
    completed = subprocess.run(
        [
            str(script),
            "quote",
            "--amount",
            "47000.123",
            "--tenure",
            "24",
            "--roi",
            "21",
            "--processing-fee",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 2
    assert completed.stderr.strip().splitlines() == [
        "error: --amount: 47000.123 rupees has more than 2 decimal places"
    ]
