"""`agentgym train CONFIG.yaml`: SFT or GRPO with TRL on an agentgym env (agentgym.rl.trl_train).

Bad input (unknown keys, env, split or tasks, a model path that does not exist, an occupied output
directory) is one line on stderr, exit 2, and nothing is written; a run writes into a staging
directory that becomes the output directory only when it finished (one a killed run left is named
by --check and removed by the next run, in one line). Ctrl-C is one line (the step it stopped at,
what was kept, the command to rerun: the command line as parsed, global --import included), exit
130. --json prints one JSON object, for --check too, and {"ok": false, "error": LINE} when refused;
"out" is absolute in both.
"""

from __future__ import annotations

import contextlib
import json
import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer

from agentgym.cli.boundary import fail
from agentgym.cli.sweep_cmd import command_line


def train(
    ctx: typer.Context,
    config: Annotated[Path, typer.Argument(help="train config YAML: model, env, split, algorithm (sft|grpo), sft:/grpo: settings, out")],
    check_only: Annotated[bool, typer.Option("--check", help="check the config (env, split, model path, keys) and stop")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the result as one JSON object ({\"ok\": false, \"error\": ...} "
                                                  "when refused)")] = False,
) -> None:
    """Train a local model on an env's split with TRL (SFTTrainer or GRPOTrainer); logs per step into OUT.

    A staging folder a killed run left beside OUT (.OUT.tmp-*) is named by --check and removed by a new run."""
    from agentgym.rl.trl_train import TrainConfigError, TrainInterrupted, check, load_config, run_train
    from agentgym.staging import leftover_note

    def refuse(line: str) -> None:
        if as_json:
            typer.echo(json.dumps({"ok": False, "error": line}))
        fail(line)

    try:
        cfg = load_config(config)
        out = str(Path(cfg.out).resolve())
        if check_only:
            tasks = check(cfg)
            if note := leftover_note(cfg.out):
                typer.echo(note, err=True)
            if as_json:
                typer.echo(json.dumps({"ok": True, "out": out, "algorithm": cfg.algorithm, "env": cfg.env,
                                       "split": cfg.split, "model": cfg.model, "tasks": tasks}))
            else:
                typer.echo(f"ok: {cfg.algorithm} on {len(tasks)} {cfg.split or ''} tasks of {cfg.env} -> {out}")
            return
        if note := leftover_note(cfg.out, remove=True):
            typer.echo(note, err=True)
        with contextlib.redirect_stdout(sys.stderr) if as_json else contextlib.nullcontext():
            result = run_train(cfg)  # the trainers print their logs: with --json, stdout holds the one object
    except TrainConfigError as exc:
        refuse(str(exc))
    except ImportError as exc:
        refuse(f"{exc}; training needs the rl extra: pip install 'agentgym[rl]'")
    except TrainInterrupted as exc:
        typer.echo(exc.line(shlex.join(command_line(ctx))), err=True)
        raise typer.Exit(130) from None
    if as_json:
        typer.echo(json.dumps({**result, "out": out}))  # absolute, as --check --json reports it
    else:
        first, last = result.get("first_reward"), result.get("last_reward")
        reward = f"reward {first:.3g} -> {last:.3g}; " if first is not None and last is not None else ""
        typer.echo(f"{result['algorithm']} on {len(result['tasks'])} tasks of {result['env']}: {result.get('steps')} steps; {reward}"
                   f"final model {result['final_model']}; curve in {result['out']}/train_log.jsonl")


def register(app: typer.Typer) -> None:
    app.command("train")(train)
