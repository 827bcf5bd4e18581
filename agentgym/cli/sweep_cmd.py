"""`agentgym sweep` and `agentgym report` (the HTML report of any run: sweep, eval or training).

A sweep resumes by default; episodes that ended in infrastructure errors are stored but never
scored, and `--retry-errors` re-runs exactly those (a plain resume asks, or says the flag exists).
Nothing runs before the preflight passed (every env made once, every model endpoint probed).
Ctrl-C prints the command that resumes; a sweep whose episodes all errored exits 1.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from agentgym.cli.boundary import fail

console = Console(width=None if sys.stdout.isatty() else 200)  # a table piped to a file keeps one line per row
err = Console(stderr=True, soft_wrap=True)

RetryOpt = Annotated[bool, typer.Option("--retry-errors", help="re-run the stored episodes that ended in infrastructure "
                                        "errors (dead model server, sandbox crash) and replace them")]
PreflightOpt = Annotated[bool, typer.Option("--preflight/--no-preflight", help="probe each model endpoint before any "
                                            "episode runs (a dead one fails in seconds)")]


def load_config(path: Path) -> Any:
    """The sweep config, or one line saying what is wrong with the file."""
    import yaml

    from agentgym.sweep import SweepConfig

    try:
        return SweepConfig.from_yaml(path)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        fail(f"{path}: not valid YAML{where}: {problem}; fix the syntax (see demos/demo.yaml)")
    except (FileNotFoundError, ValueError) as exc:
        fail(str(exc))


def ask_retry(resume: str) -> Any:
    """run_sweep's retry_errors for a plain resume: ask at a terminal, else say the flag exists."""

    def decide(n: int) -> bool:
        if sys.stdin.isatty() and sys.stdout.isatty():
            return typer.confirm(f"{n} stored episodes of this run ended in infrastructure errors (not scored); "
                                 "re-run them now?", default=False, err=True)
        typer.echo(f"note: {n} stored episodes ended in infrastructure errors and are not scored; re-run them with "
                   f"`{resume} --retry-errors`", err=True)
        return False

    return decide


def resume_command(ctx: typer.Context, root: Path) -> str:
    """The command that resumes this run: the command line as parsed (see `command_line`), with
    `--out ROOT` pinned and without --retry-errors or --quiet."""
    return shlex.join([*command_line(ctx, ("out", "retry_errors", "quiet")), "--out", str(root)])


def command_line(ctx: typer.Context, leave: tuple[str, ...] = ()) -> list[str]:
    """The command line as parsed: `agentgym`, the root's global options such as --import, the
    command, every argument and every option not at its default (so whatever changes what runs is
    kept), less the options named in `leave`."""
    names, c = [], ctx
    while c.parent is not None:  # the command's names below the root (not command_path: `python -m agentgym`)
        names.insert(0, c.info_name)
        c = c.parent
    return ["agentgym", *(_given(c, ()) if c is not ctx else []), *names, *_given(ctx, leave)]


def _given(ctx: Any, leave: tuple[str, ...]) -> list[str]:
    """ctx's parameters as arguments: positionals as given, options whose value is not the default
    (typer carries its own copy of click: parameters are told apart by kind, not by class)."""
    out: list[str] = []
    for p in ctx.command.params:
        value = ctx.params.get(p.name)
        if p.name in leave or value is None or getattr(p, "hidden", False):
            continue
        values = list(value) if isinstance(value, (list, tuple)) else [value]
        if p.param_type_name == "argument":
            out += [str(v) for v in values]
            continue
        if p.param_type_name != "option" or value == p.default or (p.multiple and not values):
            continue
        name = next((o for o in p.opts if o.startswith("--")), p.opts[0])
        if p.is_flag:
            out.append(name if value else next(iter(p.secondary_opts), name))
        else:
            out += [a for v in values for a in (name, str(v))]
    return out


def execute(cfg: Any, out: Path, resume: str, runtime: str | None, quiet: bool, retry_errors: bool,
            preflight: bool, on_start: Any = None, executor: Any = None) -> Any:
    """run_sweep with the CLI's manners (preflight line, Ctrl-C line, all-errored exit), then the table."""
    from agentgym.models.preflight import PreflightError
    from agentgym.sweep import run_sweep
    from agentgym.sweep.table import rich_table, run_rows

    try:
        summary = run_sweep(cfg, out=out, runtime=runtime, progress=not quiet, preflight=preflight,
                            retry_errors=True if retry_errors else ask_retry(resume), on_start=on_start,
                            executor=executor)
    except PreflightError as exc:
        fail(f"preflight: {exc}")
    except KeyboardInterrupt:
        typer.echo(f"interrupted: finished episodes are stored; resume with `{resume}`", err=True)
        raise typer.Exit(130) from None
    retried = f", {summary.retried} of them retried errors" if summary.retried else ""
    console.print(f"{summary.out}: {summary.total} episodes ({summary.skipped} already stored, {summary.ran} run now{retried}: "
                  f"{summary.passed} passed, {summary.failed} failed, {summary.infra_errors} infra errors, not scored)",
                  highlight=False, soft_wrap=True)
    if summary.total:
        console.print(rich_table(run_rows(summary.out)))
    if summary.ran and summary.infra_errors == summary.ran:
        fail(f"every episode run now ended in an infrastructure error (first: {summary.first_error}); fix the cause, "
             f"then `{resume} --retry-errors`", code=1)
    if summary.stored_errors and summary.ran:  # (a plain resume that ran nothing has said so already)
        typer.echo(f"note: {summary.stored_errors} episodes of this run are infrastructure errors (not scored); "
                   f"re-run them with `{resume} --retry-errors`", err=True)
    return summary


def sweep(
    ctx: typer.Context,
    config: Annotated[Path, typer.Argument(help="sweep config YAML (name, envs, agents, models, budgets, k, seed, runtime, concurrency)")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="run directory (default runs/<name>); an existing one is resumed")] = None,
    runtime: Annotated[str | None, typer.Option("--runtime", "-r", help="docker, local or auto; overrides the config's runtime")] = None,
    concurrency: Annotated[int | None, typer.Option(min=1, help="episodes in flight; overrides the config")] = None,
    report: Annotated[bool, typer.Option("--report/--no-report", help="write RUN_DIR/report.html at the end")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")] = False,
    retry_errors: RetryOpt = False,
    preflight: PreflightOpt = True,
    executor: Annotated[str, typer.Option("--executor", help="where episodes run: local (this machine) or ray (a Ray "
                                          "cluster; needs agentgym[ray])")] = "local",
    address: Annotated[str | None, typer.Option("--address", help="the Ray cluster's head HOST:PORT (default: "
                                                "$RAY_ADDRESS, else a new local Ray)")] = None,
    image_registry: Annotated[str | None, typer.Option("--image-registry", help="HOST[:PORT][/PATH]: Ray nodes pull the "
                                                       "images they lack from it (else they build them)")] = None,
) -> None:
    """Run envs x agents x models x budgets x k episodes into a resumable store (re-run to resume)."""
    cfg = load_config(config)
    if concurrency is not None:
        cfg = cfg.model_copy(update={"concurrency": concurrency})
    root = out if out is not None else Path("runs") / cfg.name
    # the global --import modules: Ray nodes import them too, so the envs/agents they register exist there
    runner = _executor(executor, address, cfg, runtime, ctx.find_root().params.get("imports") or [], image_registry)
    try:
        summary = execute(cfg, root, resume_command(ctx, root), runtime, quiet, retry_errors, preflight,
                          executor=runner)
    finally:
        if runner is not None:
            runner.close()
    if report:
        from agentgym.report import write_report

        console.print(f"report: {write_report(summary.out)}", highlight=False, soft_wrap=True)


def _executor(name: str, address: str | None, cfg: Any, runtime: str | None, imports: list[str],
              registry: str | None = None) -> Any:
    """None for the local executor; a connected RayExecutor that can place every env; or one line, exit 2."""
    if name == "local":
        if address is not None:
            fail("--address names a Ray cluster; add `--executor ray`")
        if registry is not None:
            fail("--image-registry is for the Ray executor; add `--executor ray`")
        return None
    if name != "ray":
        fail(f"unknown executor {name!r}; use local or ray")
    from agentgym.distributed import RayExecutor, RayExecutorError

    try:
        ex = RayExecutor(address, imports=list(imports), registry=registry)
    except ValueError as exc:  # a registry Docker cannot name
        fail(str(exc))
    try:
        ex.check([e.id for e in cfg.envs], runtime or cfg.runtime)
    except RayExecutorError as exc:
        ex.close()
        fail(str(exc))
    return ex


def report(
    run_dir: Annotated[Path, typer.Argument(help="a run directory written by `agentgym sweep`, `eval` or `train` (e.g. runs/demo)")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="HTML file to write (default RUN_DIR/report.html)")] = None,
    max_trajectories: Annotated[int, typer.Option(min=1, help="trajectories per page (every episode is in the report; pages past the first go to OUT_files/)")] = 200,
) -> None:
    """Write a static HTML report of a run (sweep, eval or training): training curves, tables, scaling plots, trajectories."""
    from agentgym.report import write_report

    try:
        path = write_report(run_dir, out, max_trajectories=max_trajectories)
    except FileNotFoundError as exc:
        fail(str(exc))
    console.print(f"report: {path}", highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command("sweep")(sweep)
    app.command("report")(report)
