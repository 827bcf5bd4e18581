"""The `agentgym` command.

Commands defined in other modules register at the bottom, one line each. The root group's class is
cli.boundary.BoundaryGroup: whatever a command raises ends as one line on stderr and exit 2.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from agentgym.cli.boundary import BoundaryGroup, describe, fail

app = typer.Typer(
    cls=BoundaryGroup,
    name="agentgym",
    help="Containerized, interactive Gymnasium environments for LLM agents.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
images_app = typer.Typer(help="Build and list the Docker images environments run in.", no_args_is_help=True)
app.add_typer(images_app, name="images")

console = Console()
err = Console(stderr=True)

RuntimeOpt = Annotated[str, typer.Option("--runtime", "-r", help="docker, local, or auto (docker when an engine answers)")]
EnvArgOpt = Annotated[Optional[list[str]], typer.Option(
    "--env-arg", "-e", help="KEY=VALUE passed to the env's constructor (repeatable; VALUE read as JSON when it parses, "
    "else as text), e.g. -e browser=container")]


_fail = fail  # one line on stderr, then exit (2 unless told)


def _env_args(pairs: list[str] | None) -> dict:
    """--env-arg KEY=VALUE pairs as constructor kwargs (JSON values where they parse)."""
    out: dict = {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        if not sep or not key.isidentifier():
            _fail(f"--env-arg {pair!r}: write KEY=VALUE, e.g. --env-arg browser=container")
        try:
            out[key] = json.loads(raw)
        except ValueError:
            out[key] = raw
    return out


def _make(env_id: str, runtime: str, **kwargs):
    import agentgym

    try:
        return agentgym.make(env_id, runtime=runtime, **kwargs)
    except agentgym.UnknownEnvError as exc:
        _fail(str(exc))
    except (TypeError, ValueError) as exc:  # a bad --env-arg: say which, not a traceback
        _fail(f"{env_id}: {describe(exc) if isinstance(exc, ValueError) else exc}")


def _check_tasks(env_id: str, env, ids: list[str]) -> list[str]:
    """`ids` when the env has them all; else one line naming the first unknown one."""
    import difflib

    known = list(env.task_ids())
    for tid in ids:
        if tid not in known:
            close = difflib.get_close_matches(tid, known, n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else f"; e.g. {', '.join(known[:5])}"
            _fail(f"{env_id} has no task {tid!r}{hint}; `agentgym info {env_id}` lists its {len(known)} tasks")
    return ids


def _preflight_agent(agent: str, model_kwargs: dict) -> None:
    """A model-driven agent's endpoint must answer before the episode starts (seconds, not the
    backend's full retry schedule)."""
    from agentgym.models.preflight import Endpoint, PreflightError, check_endpoint

    if agent not in ("react", "budget-aware") and not model_kwargs:
        return
    ep = Endpoint.from_kwargs(model_kwargs)
    if ep is not None:
        try:
            check_endpoint(ep)
        except PreflightError as exc:
            _fail(str(exc))


@app.command("list")
def list_cmd(as_json: Annotated[bool, typer.Option("--json", help="one JSON object per env")] = False) -> None:
    """List registered environments."""
    import agentgym

    infos = [agentgym.env_info(i) for i in agentgym.list_envs()]
    if as_json:
        for info in infos:
            print(info.model_dump_json())
        return
    table = Table("id", "gymnasium id", "description")
    for info in infos:  # as text: a plugin's "[beta] ..." is not rich markup
        table.add_row(*map(Text, (info.id, info.gym_id, info.description)))
    console.print(table)


@app.command()
def info(env_id: str, runtime: RuntimeOpt = "auto", env_arg: EnvArgOpt = None) -> None:
    """Describe an environment: tasks, tools and their argument schemas, default budget."""
    import agentgym

    try:
        meta = agentgym.env_info(env_id)
    except agentgym.UnknownEnvError as exc:
        _fail(str(exc))
    env = _make(env_id, runtime, **_env_args(env_arg))
    try:
        ids = list(env.task_ids())
        console.print(f"[bold]{meta.id}[/]  ({meta.gym_id})\n{meta.description}\n")
        console.print(f"entry point: {meta.entry_point}")
        console.print(f"runtime: {getattr(env, 'runtime', '-')} (supports: {', '.join(meta.runtimes)})")
        console.print(f"tasks: {len(ids)}  e.g. {', '.join(ids[:6])}", markup=False)
        console.print(f"default budget: {env.default_budget.model_dump(exclude_none=True)}")
        console.print(f"options (-e KEY=VALUE, a sweep's kwargs:): {agentgym.registry.describe_options(env_id)}", markup=False)
        console.print(f"malformed actions: {agentgym.env.MALFORMED_ACTION_RULE}\n")
        table = Table("tool", "description", "arguments (JSON schema)")
        for tool in env.tools:  # as text, not rich markup: "[start, end]" in a description vanished
            fn = tool["function"]
            table.add_row(*map(Text, (fn["name"], fn["description"], json.dumps(fn["parameters"].get("properties", {})))))
        console.print(table)
    finally:
        env.close()


@app.command()
def validate(
    env_id: str,
    runtime: RuntimeOpt = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="last line: one JSON object with the summary")] = False,
    tasks: Annotated[Optional[str], typer.Option(help="comma-separated task ids (default: all)")] = None,
    sample: Annotated[Optional[int], typer.Option(min=1, help="only N tasks, spread evenly over the id list (a quick check of a large env)")] = None,
    env_arg: EnvArgOpt = None,
) -> None:
    """Run every task's reference solution and a null solution; gold must pass, null must fail."""
    from rich.markup import escape  # an error's text is not markup ('[pid 12]' vanished)

    import agentgym
    from agentgym.validate import spread_sample
    from agentgym.validate import validate as run_validate

    try:
        meta = agentgym.env_info(env_id)
    except agentgym.UnknownEnvError as exc:
        _fail(str(exc))
    kwargs = _env_args(env_arg)
    probe = _make(env_id, runtime, **kwargs)
    try:
        ids = _check_tasks(env_id, probe, tasks.split(",")) if tasks else list(probe.task_ids())
    finally:
        probe.close()
    if sample is not None:
        ids = spread_sample(ids, sample)
    out = err if as_json else console
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=out, transient=as_json) as progress:
        bar = progress.add_task(f"validating {meta.id}", total=len(ids))
        report = run_validate(env_id, task_ids=ids, runtime=runtime, on_task=lambda row: progress.advance(bar), **kwargs)
    table = Table("task", "gold reward", "gold", "null reward", "null", "infra error (not scored)", "s", title=f"{meta.id} ({report.runtime})")
    for r in report.rows:
        mark = lambda ok, good: "[green]pass[/]" if ok == good else ("[red]pass[/]" if ok else "[red]fail[/]")
        gold, null = ("[yellow]error[/]",) * 2 if r.error else (mark(r.gold_pass, True), mark(r.null_pass, False))
        table.add_row(escape(r.task_id), f"{r.gold_reward}", gold, f"{r.null_reward}", null, escape((r.error or "")[:300]),
                      f"{r.seconds:.2f}")
    out.print(table)
    rate = lambda v: "-" if v is None else f"{v:.3f}"
    out.print(f"gold pass rate {rate(report.gold_pass_rate)}, null pass rate {rate(report.null_pass_rate)} "
              f"(over {report.tasks - report.errors} tasks), infra errors {report.errors} (not scored)")
    if as_json:
        print(json.dumps(report.summary()))
    if not report.ok():
        raise typer.Exit(1)


@app.command()
def run(
    env_id: str,
    agent: Annotated[str, typer.Option("--agent", "-a", help="agent name: oracle, null, random, simulated, react, budget-aware")] = "oracle",
    model: Annotated[Optional[str], typer.Option(help="model name, for react and budget-aware")] = None,
    base_url: Annotated[Optional[str], typer.Option(help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1 (vLLM)")] = None,
    task: Annotated[Optional[str], typer.Option(help="task id (default: picked by the seed)")] = None,
    seed: Annotated[Optional[int], typer.Option(help="reset seed")] = None,
    max_turns: Annotated[Optional[int], typer.Option(min=1, help="horizon for this episode")] = None,
    runtime: RuntimeOpt = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="print the trajectory as one JSON object")] = False,
    env_arg: EnvArgOpt = None,
) -> None:
    """Play one episode with an agent and print the trajectory."""
    import agentgym
    from agentgym.agents import make_agent

    env = _make(env_id, runtime, **_env_args(env_arg))
    try:
        if task is not None:
            _check_tasks(env_id, env, [task])
        model_kwargs = {k: v for k, v in {"model": model, "base_url": base_url}.items() if v is not None}
        try:
            policy = make_agent(agent, env, **model_kwargs)
        except KeyError as exc:
            _fail(str(exc.args[0]))
        except TypeError:
            if not model_kwargs:
                raise
            _fail(f"agent {agent!r} takes no --model/--base-url; those are for react and budget-aware")
        _preflight_agent(agent, model_kwargs)
        options = {k: v for k, v in {"task_id": task, "max_turns": max_turns}.items() if v is not None}
        traj = agentgym.run_episode(env, policy, seed=seed, options=options)
    finally:
        env.close()
    if as_json:
        from agentgym.sweep.store import trajectory_json  # a lone surrogate in the model's text: '?', not a crash

        print(trajectory_json(traj))
        if traj.error:
            raise typer.Exit(1)
        return
    from rich.markup import escape  # actions and errors hold the model's text: '[/]' in it is not markup

    console.rule(escape(f"{traj.env_id} / {traj.task_id} / agent {agent}"))
    console.print(traj.first_observation, markup=False)
    for i, s in enumerate(traj.steps, 1):
        console.rule(f"turn {i}", style="dim")
        console.print(f"[bold cyan]action:[/] {escape(json.dumps(s.action)[:2000])}", highlight=False)
        console.print(s.observation, markup=False)
    console.rule()
    status = "infra error (not scored): " + traj.error if traj.error else ("passed" if traj.passed else "not passed")
    console.print(f"reward {traj.total_reward}  turns {traj.turns}  {status}  ({traj.seconds:.2f}s)", markup=False)
    if traj.error:  # the episode did not run to a verdict
        raise typer.Exit(1)


@app.command()
def gc(
    all_: Annotated[bool, typer.Option("--all", help="remove every agentgym resource, not only orphans")] = False,
    run_id: Annotated[Optional[str], typer.Option("--run", help="remove what one run id left")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="list, remove nothing")] = False,
    sweep: Annotated[Optional[str], typer.Option("--sweep", metavar="ID|RUN_DIR", help="only what one sweep left "
                                                 "(label agentgym.sweep=ID; a run directory, a path with '/' or a folder "
                                                 "here holding results.sqlite, names its sweep on the machine that drove "
                                                 "it), and only where the owner process is dead")] = None,
) -> None:
    """Remove containers, networks, volumes and snapshots left by agentgym processes that died.

    --sweep is for Ray sweeps: only the Ray executor labels what it starts with its sweep; a local
    sweep's sandboxes belong to its own process, which removes them (plain `agentgym gc` once it died)."""
    from agentgym.sandbox.reaper import gc as run_gc

    where = None
    if sweep is not None:
        if all_ or run_id is not None:
            _fail("--sweep removes only what that sweep's dead processes left; drop --all / --run")
        where = {"agentgym.sweep": _sweep_id(sweep)}
        console.print(f"sweep {where['agentgym.sweep']}: resources whose owner process is dead", highlight=False)
    report = run_gc(all=all_, run=run_id, dry_run=dry_run, where=where)
    verb = "would remove" if dry_run else "removed"
    for kind in ("containers", "images", "networks", "volumes", "local_dirs"):
        items = getattr(report, kind)
        console.print(f"{verb} {len(items)} {kind}" + (f": {', '.join(map(str, items[:10]))}" if items else ""))
    if where is not None and not any(getattr(report, k) for k in ("containers", "images", "networks", "volumes", "local_dirs")):
        console.print(f"nothing here is labelled agentgym.sweep={where['agentgym.sweep']} with a dead owner: only Ray sweeps "
                      "label their resources (a local sweep's sandboxes are removed by their owner, or by plain `agentgym gc` "
                      "once it died), and a run directory names its sweep only on the machine that drove it", highlight=False,
                      soft_wrap=True)
    for e in report.errors:
        err.print(f"[red]could not remove:[/] {e}")
    if report.errors:
        raise typer.Exit(1)


def _sweep_id(value: str) -> str:
    """gc --sweep's label value: a sweep's run directory (as the Ray executor labels it) when the
    value is a path (has a '/') or a folder here that holds a run (results.sqlite), else the ID
    itself: a sweep ID that happens to name some folder in the working directory stays the ID."""
    import os
    from pathlib import Path

    from agentgym.distributed.ray_executor import sweep_label

    if "/" in value or os.sep in value or (Path(value) / "results.sqlite").is_file():
        if not Path(value).is_dir():
            _fail(f"--sweep {value!r}: no such run directory; give an existing run directory or a sweep ID")
        return sweep_label(value)
    if not value.strip():
        _fail(f"--sweep {value!r}: give a sweep ID (the agentgym.sweep label, e.g. `docker ps --filter label=agentgym.sweep "
              "--format '{{.Label \"agentgym.sweep\"}}'`) or an existing run directory")
    return value


@images_app.command("build")
def images_build(
    names: Annotated[Optional[list[str]], typer.Argument(help="image folders under images/ (default: all)")] = None,
    force: Annotated[bool, typer.Option(help="rebuild even when the content hash is unchanged")] = False,
) -> None:
    """Build images/*/Dockerfile (bootstrapping the base image when no registry is reachable)."""
    from agentgym import images

    try:
        results = images.build(names or None, force=force, progress=console)
    except images.ImageError as exc:  # build failure, unknown name, no engine, bootstrap failure
        _fail(str(exc), code=1)
    table = Table("image", "tag", "built", "seconds", "size MB")
    for r in results:
        table.add_row(r.name, r.hash_tag, "yes" if r.built else "cached", f"{r.seconds:.1f}", f"{r.size_bytes / 1e6:.0f}")
    console.print(table)


@images_app.command("ls")
def images_ls() -> None:
    """List agentgym images, their content hashes and whether they are current."""
    from agentgym import images

    table = Table("image", "tags", "hash", "current", "size MB")
    try:
        found = images.list_images()
    except images.ImageError as exc:
        _fail(str(exc), code=1)
    for i in found:
        table.add_row(i.name, ", ".join(i.tags), i.hash or "-", "yes" if i.current else "no", f"{i.size_bytes / 1e6:.0f}")
    console.print(table)


# -- commands defined in other modules: one line each (each module has register(app)) -----------
def _register(module: str) -> None:
    import importlib

    try:
        importlib.import_module(module).register(app)
    except ImportError as exc:  # one module's missing dependency must not take every other command down
        print(f"agentgym: the commands of {module} are unavailable ({type(exc).__name__}: {exc}); "
              "reinstall agentgym with its extras", file=sys.stderr)


_register("agentgym.cli.sweep_cmd")  # sweep, report
_register("agentgym.cli.plugins_cmd")  # the global --import MODULE option, plugins
_register("agentgym.cli.swe_cmd")  # swe evaluate: SWE-bench predictions -> SWE-bench report JSON
_register("agentgym.cli.eval_cmd")  # eval
_register("agentgym.cli.view_cmd")  # view
_register("agentgym.cli.export_cmd")  # export
_register("agentgym.cli.train_cmd")  # train


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:  # outside any command (the boundary handles those)
        print("interrupted", file=sys.stderr)
        sys.exit(130)
