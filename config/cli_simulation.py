"""``loan-offers simulate``: what-if simulation of a policy file against the live policy."""

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
) -> None:
    """Simulate POLICY_FILE over a sample of the stored portfolio and compare it with the live
    policy: prints a table, writes OUT/simulation.png (chart) and OUT/simulation.txt (table)."""
    import asyncio

    from adapters.reporting.simulation_report import report_table, write_chart
    from application.errors import ApplicationError
    from application.use_cases.simulate_policy import InvalidPolicy, SimulationCommand
    from config.container import build_container
    from config.settings import Settings

    settings = Settings()
    if not 1 <= sample <= CLI_MAX_SAMPLE:
        typer.echo(f"error: --sample must be between 1 and {CLI_MAX_SAMPLE}", err=True)
        raise typer.Exit(USAGE_ERROR)

    async def run():
        container = build_container(settings.model_copy(
            update={"simulation_max_sample": CLI_MAX_SAMPLE}))
        try:
            return await container.simulate_policy().execute(
                SimulationCommand(policy_file.read_text(encoding="utf-8"), sample, seed,
                                  target_take_up))
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


def register(app: typer.Typer) -> None:
    app.command()(simulate)
