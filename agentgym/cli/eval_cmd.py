"""`agentgym eval ENV --model M`: one-line evaluation (the `vf-eval` / `inspect eval` habit).

It is a sweep of one config (env x agent x model x budget, k samples per task) written to a run
directory of its own, printed first, so `agentgym report DIR` and a resume (`--out DIR`) work on it
as on any sweep; the results table is printed at the end, infrastructure errors apart.
"""

from __future__ import annotations

import re
import shlex
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from agentgym.cli.boundary import fail
from agentgym.cli.sweep_cmd import PreflightOpt, RetryOpt, execute, resume_command

MODEL_AGENTS = ("react", "budget-aware")


def eval_cmd(
    ctx: typer.Context,
    env_id: Annotated[str, typer.Argument(metavar="ENV", help="a registered env id (`agentgym list`)")],
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="model name the endpoint serves (react, budget-aware)")] = None,
    base_url: Annotated[Optional[str], typer.Option(help="OpenAI-compatible endpoint up to /v1 (default $OPENAI_BASE_URL, "
                                                    "else http://127.0.0.1:8000/v1)")] = None,
    agent: Annotated[str, typer.Option("--agent", "-a", help="react, budget-aware, or any registered agent (oracle, null, ...)")] = "react",
    k: Annotated[int, typer.Option("-k", min=1, help="samples per task")] = 1,
    tasks: Annotated[Optional[str], typer.Option(help="comma-separated task ids (default: all)")] = None,
    max_tasks: Annotated[Optional[int], typer.Option(min=1, help="only the first N tasks")] = None,
    max_turns: Annotated[Optional[int], typer.Option(min=1, help="turn budget per episode (default: the env's)")] = None,
    env_arg: Annotated[Optional[list[str]], typer.Option("--env-arg", "-e", help="KEY=VALUE for the env's constructor (repeatable)")] = None,
    runtime: Annotated[str, typer.Option("--runtime", "-r", help="docker, local, or auto")] = "auto",
    concurrency: Annotated[int, typer.Option(min=1, help="episodes in flight")] = 4,
    seed: Annotated[int, typer.Option(help="base seed of the episodes")] = 0,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="run directory (default runs/eval/ENV-MODEL-TIME); "
                                                "an existing one is resumed")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")] = False,
    retry_errors: RetryOpt = False,
    preflight: PreflightOpt = True,
) -> None:
    """Evaluate one agent/model on one env: k samples per task, then the table (pass@1, pass@k, errors apart)."""
    from agentgym.cli.app import _env_args
    from agentgym.sweep import SweepConfig

    if agent in MODEL_AGENTS and not model:
        fail(f"agent {agent} needs --model NAME (the name the endpoint serves); or pick --agent oracle/null to check the env")
    if model and agent not in MODEL_AGENTS:
        fail(f"--model is for the react and budget-aware agents, not {agent!r}")
    kwargs = _env_args(env_arg)
    env: dict = {"id": env_id, **({"tasks": tasks.split(",")} if tasks else {}), **({"max_tasks": max_tasks} if max_tasks else {})}
    if kwargs:
        env["kwargs"] = kwargs
    label = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{env_id}-{model or agent}")[:80]
    spec = {"name": label, "envs": [env], "agents": [agent], "k": k, "seed": seed, "runtime": runtime,
            "concurrency": concurrency, "budgets": [max_turns] if max_turns else None,
            "models": [{"model": model, **({"base_url": base_url} if base_url else {})}] if model else []}
    cfg = SweepConfig.model_validate(spec)
    cfg.check(where="eval")  # env id, -e options and agent name, before anything is built
    root = out if out is not None else Path("runs") / "eval" / f"{label}-{time.strftime('%Y%m%d-%H%M%S')}"
    execute(cfg, root, resume_command(ctx, root), runtime, quiet, retry_errors, preflight,
            on_start=lambda path, n: typer.echo(f"run directory: {path} ({n} episodes to run)", err=True))
    typer.echo(f"report: agentgym report {shlex.quote(str(root))}", err=True)


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_cmd)
