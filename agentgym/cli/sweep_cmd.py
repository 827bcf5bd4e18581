"""`agentgym sweep` and `agentgym report`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

console = Console()
err = Console(stderr=True)


def _fail(msg: str, code: int = 2) -> None:
    err.print(f"[bold red]error:[/] {msg}", highlight=False)
    raise typer.Exit(code)


def sweep(
    config: Annotated[Path, typer.Argument(help="sweep config YAML (name, envs, agents, models, budgets, k, seed, runtime, concurrency)")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="run directory (default runs/<name>); an existing one is resumed")] = None,
    runtime: Annotated[str | None, typer.Option("--runtime", "-r", help="docker, local or auto; overrides the config's runtime")] = None,
    concurrency: Annotated[int | None, typer.Option(help="episodes in flight; overrides the config")] = None,
    report: Annotated[bool, typer.Option("--report/--no-report", help="write RUN_DIR/report.html at the end")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")] = False,
) -> None:
    """Run envs x agents x models x budgets x k episodes into a resumable store (re-run to resume)."""
    from agentgym.sweep import SweepConfig, run_sweep

    try:
        cfg = SweepConfig.from_yaml(config)
        if concurrency is not None:
            cfg = cfg.model_copy(update={"concurrency": max(1, concurrency)})
        summary = run_sweep(cfg, out=out, runtime=runtime, progress=not quiet)
    except (FileNotFoundError, ValueError) as exc:
        _fail(str(exc))
    except KeyError as exc:  # agentgym.UnknownEnvError: an env id the registry does not know
        _fail(str(exc.args[0]) if exc.args else str(exc))
    console.print(f"{summary.out}: {summary.total} episodes ({summary.skipped} already stored, {summary.ran} run now; "
                  f"{summary.passed} of those passed, {summary.infra_errors} infra errors)", highlight=False)
    if report:
        from agentgym.report import write_report

        console.print(f"report: {write_report(summary.out)}", highlight=False)


def report(
    run_dir: Annotated[Path, typer.Argument(help="a run directory written by `agentgym sweep` (e.g. runs/demo)")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="HTML file to write (default RUN_DIR/report.html)")] = None,
    max_trajectories: Annotated[int, typer.Option(help="episodes shown in the trajectory viewer")] = 500,
) -> None:
    """Write a static HTML report of a sweep: tables, scaling plots, trajectory viewer."""
    from agentgym.report import write_report

    try:
        path = write_report(run_dir, out, max_trajectories=max_trajectories)
    except FileNotFoundError as exc:
        _fail(str(exc))
    console.print(f"report: {path}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("sweep")(sweep)
    app.command("report")(report)
