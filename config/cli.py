"""The ``loan-offers`` command line (console script ``loan-offers = config.cli:app``).

One function per command. Amounts are parsed as decimal text, never as floats, and bad input
ends with a one-line ``error: ...`` on stderr and exit code 2.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer

from domain.finance.key_facts import GST_RATE_DEFAULT, KeyFacts, compute_key_facts
from domain.finance.money import as_fraction, to_paise, to_rupees
from domain.finance.schedule import Instalment

USAGE_ERROR = 2
_TWO_PLACES = Decimal("0.01")

app = typer.Typer(
    name="loan-offers",
    help="Dynamic loan offer engine.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


@app.callback()
def main() -> None:
    """Dynamic loan offer engine: risk, behaviour and fair pricing of loan offers."""


class _InputError(ValueError):
    pass


@app.command()
def quote(
    amount: Annotated[str, typer.Option(help="Principal in rupees, e.g. 47000 or 47000.50.")],
    tenure: Annotated[int, typer.Option(help="Tenure in months (1-600).")],
    roi: Annotated[str, typer.Option(help="Interest rate, percent a year (21 means 21%).")],
    processing_fee: Annotated[str, typer.Option(help="Processing fee in rupees, before GST.")],
    gst_rate: Annotated[str, typer.Option(help="GST on the fee, percent.")] = str(GST_RATE_DEFAULT),
    other_charges: Annotated[str, typer.Option(help="Other upfront charges in rupees.")] = "0",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """EMI, APR (RBI Key Facts Statement) and the amortisation schedule of a loan."""
    try:
        facts = compute_key_facts(
            principal_paise=_paise("--amount", amount, positive=True),
            roi_percent=_percent("--roi", roi),
            tenure_months=tenure,
            processing_fee_paise=_paise("--processing-fee", processing_fee),
            gst_rate_percent=_percent("--gst-rate", gst_rate),
            other_charges_paise=_paise("--other-charges", other_charges),
        )
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(USAGE_ERROR) from None
    typer.echo(_quote_json(facts) if as_json else _quote_text(facts))


def _paise(option: str, text: str, *, positive: bool = False) -> int:
    try:
        paise = to_paise(text.strip())
    except ValueError as exc:
        raise _InputError(f"{option}: {exc}") from None
    if paise < 0 or (positive and paise == 0):
        raise _InputError(
            f"{option} must be {'positive' if positive else 'zero or more'}, got {text}"
        )
    return paise


def _percent(option: str, text: str) -> Decimal:
    try:
        as_fraction(text.strip())
    except ValueError:
        raise _InputError(f"{option}: not a number: {text!r}") from None
    return Decimal(text.strip())


def _quote_text(facts: KeyFacts) -> str:
    header = [
        ("Principal", _inr(facts.principal)),
        ("Interest rate", f"{_pct(facts.roi_percent)} % a year"),
        ("Tenure", f"{facts.tenure} months"),
        ("Processing fee", _inr(facts.processing_fee)),
        ("GST on fee", _inr(facts.gst_on_fee)),
        ("Other charges", _inr(facts.other_charges)),
        ("Net disbursal", _inr(facts.net_disbursal)),
        ("EMI", _inr(facts.emi)),
        ("Last instalment", _inr(facts.schedule.last_instalment)),
        ("APR", f"{facts.apr_percent} %"),
        ("Total interest", _inr(facts.total_interest)),
        ("Total payable", _inr(facts.total_payable)),
    ]
    width = max(len(label) for label, _ in header)
    lines = [f"{label:<{width}}  {value}" for label, value in header]
    return "\n".join([*lines, "", _schedule_table(facts.schedule.rows)])


def _schedule_table(rows: tuple[Instalment, ...]) -> str:
    titles = ("Month", "Opening", "EMI", "Interest", "Principal", "Closing")
    cells = [
        (
            str(r.month),
            *(
                _inr(v)
                for v in (r.opening_balance, r.emi, r.interest, r.principal, r.closing_balance)
            ),
        )
        for r in rows
    ]
    widths = [max(len(title), *(len(row[i]) for row in cells)) for i, title in enumerate(titles)]
    return "\n".join(
        "  ".join(cell.rjust(width) for cell, width in zip(line, widths, strict=True))
        for line in [titles, *cells]
    )


def _inr(paise: int) -> str:
    """Rupees with Indian digit grouping: 1,00,000.00."""
    sign = "-" if paise < 0 else ""
    rupees, fraction = divmod(abs(paise), 100)
    digits = str(rupees)
    head, tail = digits[:-3], digits[-3:]
    groups = []
    while len(head) > 2:
        groups.insert(0, head[-2:])
        head = head[:-2]
    grouped = ",".join([g for g in [head, *groups] if g] + [tail])
    return f"{sign}{grouped}.{fraction:02d}"


def _pct(value: Decimal) -> Decimal:
    return value.quantize(_TWO_PLACES) if value == value.quantize(_TWO_PLACES) else value


def _quote_json(facts: KeyFacts) -> str:
    money = to_rupees
    return _dumps(
        {
            "principal": money(facts.principal),
            "roi": _pct(facts.roi_percent),
            "tenure": facts.tenure,
            "processingFee": money(facts.processing_fee),
            "gstOnFee": money(facts.gst_on_fee),
            "otherCharges": money(facts.other_charges),
            "netDisbursal": money(facts.net_disbursal),
            "emi": money(facts.emi),
            "lastInstalment": money(facts.schedule.last_instalment),
            "apr": facts.apr_percent,
            "totalInterest": money(facts.total_interest),
            "totalPayable": money(facts.total_payable),
            "schedule": [
                {
                    "month": r.month,
                    "openingBalance": money(r.opening_balance),
                    "emi": money(r.emi),
                    "interest": money(r.interest),
                    "principal": money(r.principal),
                    "closingBalance": money(r.closing_balance),
                }
                for r in facts.schedule.rows
            ],
        }
    )


def _dumps(value: Any) -> str:
    """JSON with ``Decimal`` written as the number it is (``47000.00``, not ``47000.0``)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {_dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_dumps(v) for v in value) + "]"
    if isinstance(value, Decimal):
        return str(value)
    return json.dumps(value)


# --- service commands: heavy imports stay inside the functions so `quote` starts fast ---


def _settings():
    from config.settings import Settings

    return Settings()


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default: settings).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: settings, 8000).")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes.")] = None,
    ssl_certfile: Annotated[Path | None, typer.Option(
        help="Serve HTTPS/WSS with this PEM certificate chain (default: settings).")] = None,
    ssl_keyfile: Annotated[Path | None, typer.Option(
        help="The certificate's PEM private key (default: settings).")] = None,
) -> None:
    """Serve GraphQL (and GraphiQL in the dev profile) on http(s)://HOST:PORT/graphql."""
    from config.serving import serve as run_server
    from config.serving import uvicorn_options

    settings = _settings()
    try:
        options = uvicorn_options(settings, host, port, workers, ssl_certfile, ssl_keyfile)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(USAGE_ERROR) from None
    scheme = "https" if options.get("ssl_certfile") else "http"
    typer.echo(f"loan-offers ({settings.profile.value} profile) on "
               f"{scheme}://{options['host']}:{options['port']}/graphql", err=True)
    run_server("config.asgi:create_app", options, settings.reuse_port)


@app.command()
def migrate() -> None:
    """Bring the database schema to the latest revision (Alembic)."""
    from adapters.crypto.keys import KeyMaterialError
    from adapters.sql.migrate import current_revision, upgrade_to_head
    from config.pii_keys import pii_protection
    from config.settings import InsecureConfiguration

    settings = _settings()
    try:
        pii = pii_protection(settings)  # revisions that seal personal data need the keys
    except (InsecureConfiguration, KeyMaterialError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(USAGE_ERROR) from None
    upgrade_to_head(settings.database_url, pii)
    typer.echo(f"database at revision {current_revision(settings.database_url)}")


@app.command()
def seed(
    count: Annotated[int, typer.Option(help="How many demo applicants (user-000001...).")] = 10_000,
) -> None:
    """Load the deterministic demo portfolio and the default policy (idempotent)."""
    import asyncio

    from adapters.demo.portfolio import generate_applicants
    from config.container import build_container

    if count < 0:
        typer.echo("error: --count must be >= 0", err=True)
        raise typer.Exit(USAGE_ERROR)

    async def run() -> tuple[int, int]:
        container = build_container(_settings())
        try:
            policy = await container.bootstrap_policy().execute(
                container.settings().policy_file.read_text())
            inserted = await container.seed_applicants().execute(generate_applicants(count))
            return inserted, policy.version
        finally:
            await container.engine().dispose()

    inserted, version = asyncio.run(run())
    typer.echo(f"seeded {inserted} new applicants ({count - inserted} already present); "
               f"active policy version {version}")


@app.command("import")
def import_(
    file: Annotated[str, typer.Argument(help="Applicant records: FILE.csv, or FILE.jsonl "
                                             "(JSON Lines; also .ndjson).")],
    partial: Annotated[bool, typer.Option(
        "--partial", help="Store the valid rows even if some are invalid (default: all or "
                          "nothing).")] = False,
) -> None:
    """Import applicants and behaviour counters from a lender system (validated, one transaction).

    Every invalid row is reported on stderr as "line N (userId): field: problem". Exit 0 when
    every row was stored, 1 when any row was rejected (nothing stored unless --partial),
    2 when the file cannot be read.
    """
    import asyncio
    from pathlib import Path

    from adapters.ingest.record_files import UnsupportedFile, read_records
    from config.container import build_container, shutdown

    path = Path(file)
    if not path.is_file():
        typer.echo(f"error: {file}: no such file", err=True)
        raise typer.Exit(USAGE_ERROR)

    async def run():
        container = build_container(_settings())
        try:
            return await container.import_applicants().execute(read_records(path), partial)
        finally:
            await shutdown(container)

    try:
        report = asyncio.run(run())
    except (UnsupportedFile, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(USAGE_ERROR) from None
    except Exception as exc:  # the database refused the transaction: it was rolled back whole
        cause = getattr(exc, "orig", None) or exc
        typer.echo(f"error: nothing imported, the database refused the import: "
                   f"{type(cause).__name__}: {cause}", err=True)
        raise typer.Exit(1) from None
    for error in report.errors:
        typer.echo(str(error), err=True)
    rejected = len({e.line for e in report.errors})
    if report.committed:
        typer.echo(f"imported {report.imported} applicants ({report.created} new, "
                   f"{report.updated} updated) from {report.rows} rows; {rejected} rows rejected")
    else:
        typer.echo(f"nothing imported: {rejected} of {report.rows} rows rejected"
                   + ("" if report.rows else " (the file holds no records)"))
    if rejected or not report.committed:
        raise typer.Exit(1)


@app.command("export-schema")
def export_schema(
    output: Annotated[str | None, typer.Option(help="File to write (default: stdout).")] = None,
) -> None:
    """Print the GraphQL schema (SDL) that clients generate types from."""
    from graphql_api.schema import SchemaOptions, build_schema

    sdl = build_schema(SchemaOptions()).as_str() + "\n"
    if output is None:
        typer.echo(sdl, nl=False)
    else:
        with open(output, "w", encoding="utf-8") as handle:
            handle.write(sdl)


@app.command()
def token(
    sub: Annotated[str, typer.Option(help="Subject: the user id (a customer's userId).")],
    role: Annotated[list[str], typer.Option(
        help="Role, repeatable: CUSTOMER, AGENT, ANALYST, ADMIN.")],
    ttl: Annotated[int, typer.Option(help="Lifetime in seconds.")] = 3600,
) -> None:
    """Mint a bearer token with the configured signing key (dev secret, or a PEM key file)."""
    from datetime import UTC, datetime, timedelta

    from application.security import Role
    from config.container import token_issuer

    roles = {r.upper() for r in role}
    unknown = roles - {r.value for r in Role}
    if unknown or not roles or ttl <= 0 or not sub.strip():
        problem = (f"unknown role(s) {', '.join(sorted(unknown))}" if unknown
                   else "--ttl must be positive" if ttl <= 0 else "--sub and --role are required")
        typer.echo(f"error: {problem}", err=True)
        raise typer.Exit(USAGE_ERROR)
    try:
        issuer = token_issuer(_settings())
    except (ValueError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(USAGE_ERROR) from None
    typer.echo(issuer.mint(sub.strip(), roles, datetime.now(UTC), timedelta(seconds=ttl)))


audit_app = typer.Typer(help="The append-only, hash-chained audit trail.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify() -> None:
    """Re-compute the audit chain: exit 1 naming every edited, inserted or deleted record."""
    import asyncio

    from config.container import build_container

    async def run():
        container = build_container(_settings())
        try:
            return await container.audit_trail().verify()
        finally:
            await container.engine().dispose()

    result = asyncio.run(run())
    if result.ok:
        typer.echo(f"audit trail OK: {result.records} records, head {result.head}")
        return
    for problem in result.problems:
        typer.echo(f"audit trail BROKEN: {problem}", err=True)
    raise typer.Exit(1)


def _register_feature_commands() -> None:
    from config import cli_keys, cli_simulation

    cli_simulation.register(app)
    cli_keys.register(app)


_register_feature_commands()
