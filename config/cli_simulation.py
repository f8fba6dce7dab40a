"""Pricing-manager commands: ``simulate`` (what-if simulation of a policy file against the live
policy), ``policy-diff`` (what changed between two policy versions or files) and
``policy-rollback`` (make a stored earlier version active again)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

USAGE_ERROR = 2
#: The command line is an operator's tool: it may sample more than the API's bound.
CLI_MAX_SAMPLE = 200_000


def simulate(
    policy_file: Annotated[Path, typer.Argument(help="Draft policy (TOML).", exists=True,
                                                dir_okay=False, readable=True)],
    sample: Annotated[int, typer.Option(help="Applicants sampled from the database.")] = 10_000,
    seed: Annotated[int, typer.Option(help="Sampling seed (same seed, same sample).")] = 0,
    out: Annotated[Path, typer.Option(help="Directory for simulation.png and simulation.txt.")]
    = Path("simulation-results"),
    target_take_up: Annotated[float | None, typer.Option(
        help="Also re-price the draft for this mean take-up (0..1) at maximum profit.")] = None,
    income_multiple: Annotated[str | None, typer.Option(
        help="Every applicant asks for this multiple of their monthly income (full engine per "
             "applicant: counter-offers and fallbacks).")] = None,
    tenure: Annotated[int | None, typer.Option(help="Every applicant asks for this tenure.")]
    = None,
) -> None:
    """Simulate POLICY_FILE over a sample of the stored portfolio and compare it with the live
    policy: prints a table, writes OUT/simulation.png (chart) and OUT/simulation.txt (table)."""
    import asyncio
    from decimal import Decimal, InvalidOperation

    from adapters.reporting.simulation_report import report_table, write_chart
    from application.errors import ApplicationError
    from application.use_cases.simulate_policy import InvalidPolicy, SimulationCommand
    from config.container import build_container
    from config.settings import Settings
    from domain.simulation.requests import RequestScenario

    scenario = None
    if income_multiple is not None or tenure is not None:
        try:
            scenario = RequestScenario(
                None if income_multiple is None else Decimal(income_multiple), tenure)
        except (ValueError, InvalidOperation) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(USAGE_ERROR) from exc
    settings = Settings()
    if not 1 <= sample <= CLI_MAX_SAMPLE:
        typer.echo(f"error: --sample must be between 1 and {CLI_MAX_SAMPLE}", err=True)
        raise typer.Exit(USAGE_ERROR)

    async def run():
        container = build_container(settings.model_copy(
            update={"simulation_max_sample": CLI_MAX_SAMPLE,
                    "simulation_max_request_sample": CLI_MAX_SAMPLE}))
        try:
            return await container.simulate_policy().execute(
                SimulationCommand(policy_file.read_text(encoding="utf-8"), sample, seed,
                                  target_take_up, scenario))
        finally:
            await container.engine().dispose()

    try:
        report = asyncio.run(run())
    except InvalidPolicy as exc:
        typer.echo(f"error: {exc.message}", err=True)
        for path, message in exc.problems:
            typer.echo(f"  {path}: {message}", err=True)
        raise typer.Exit(USAGE_ERROR) from exc
    except ApplicationError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from exc
    table = report_table(report)
    out.mkdir(parents=True, exist_ok=True)
    (out / "simulation.txt").write_text(table, encoding="utf-8")
    chart = write_chart(report, out / "simulation.png")
    typer.echo(table, nl=False)
    typer.echo(f"wrote {chart} and {out / 'simulation.txt'}")


def policy_diff(
    before: Annotated[str, typer.Argument(help="A stored version number or a TOML file.")],
    after: Annotated[str, typer.Argument(help="A stored version number or a TOML file.")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per change.")] = False,
) -> None:
    """Field-by-field difference between two policies (bands and rules matched by name)."""
    import asyncio
    import json
    import tomllib

    from domain.policy.diff import diff_policy_toml

    async def sources() -> list[str]:
        texts: list[str | None] = []
        needs_db = [a for a in (before, after) if a.isdigit()]
        versions = None
        container = None
        if needs_db:
            from config.container import build_container
            from config.settings import Settings

            container = build_container(Settings())
            versions = container.policy_versions()
        try:
            for arg in (before, after):
                if arg.isdigit():
                    assert versions is not None
                    texts.append(await versions.source(int(arg)))
                    if texts[-1] is None:
                        typer.echo(f"error: policy version {arg} is not stored", err=True)
                        raise typer.Exit(USAGE_ERROR)
                else:
                    path = Path(arg)
                    if not path.is_file():
                        typer.echo(f"error: {arg} is neither a stored version nor a file", err=True)
                        raise typer.Exit(USAGE_ERROR)
                    texts.append(path.read_text(encoding="utf-8"))
        finally:
            if container is not None:
                await container.engine().dispose()
        return [t for t in texts if t is not None]

    first, second = asyncio.run(sources())
    try:
        changes = diff_policy_toml(first, second)
    except tomllib.TOMLDecodeError as exc:
        typer.echo(f"error: not TOML: {exc}", err=True)
        raise typer.Exit(USAGE_ERROR) from exc
    for change in changes:
        if as_json:
            typer.echo(json.dumps({"path": change.path, "kind": change.kind.value,
                                   "before": change.before, "after": change.after}))
        else:
            typer.echo(f"{change.kind.value:<8} {change.path}: {change.before or '-'} -> "
                       f"{change.after or '-'}")
    if not as_json:
        typer.echo(f"{len(changes)} change(s)")


def policy_rollback(
    version: Annotated[int, typer.Argument(help="The stored version to make active again.")],
    withdraw: Annotated[bool, typer.Option(
        "--withdraw", help="Withdraw the replaced version's open offers instead of re-pricing.")]
    = False,
) -> None:
    """Make a stored earlier policy version active again (publishPricingPolicy with that
    version's own TOML: versions are immutable, so the rollback is that version)."""
    import asyncio

    from application.errors import ApplicationError
    from application.use_cases.publish_pricing_policy import OpenOfferAction
    from config.container import build_container
    from config.settings import Settings

    async def run():
        container = build_container(Settings())
        try:
            record = await container.get_pricing_policy().execute(version)
            action = OpenOfferAction.WITHDRAW if withdraw else OpenOfferAction.REPRICE
            return await container.publish_pricing_policy().execute(record.source_toml, action)
        finally:
            await container.engine().dispose()

    try:
        report = asyncio.run(run())
    except ApplicationError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"active policy version {report.record.policy.version} (was "
               f"{report.previous_version}); open offers re-priced {report.repriced}, "
               f"withdrawn {report.withdrawn}, new {report.generated}")


def register(app: typer.Typer) -> None:
    app.command()(simulate)
    app.command("policy-diff")(policy_diff)
    app.command("policy-rollback")(policy_rollback)
