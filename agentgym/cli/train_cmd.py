"""`agentgym train CONFIG.yaml`: SFT or GRPO with TRL on an agentgym env (agentgym.rl.trl_train).

Bad input (unknown keys, env, split or tasks, a model path that does not exist, an occupied output
directory) is one line on stderr, exit 2, and nothing is written; a run writes into a staging
directory that becomes the output directory only when it finished. Ctrl-C is one line (the step it
stopped at, what was kept, the command to rerun), exit 130. --json prints one JSON object, for
--check too.
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


def train(
    config: Annotated[Path, typer.Argument(help="train config YAML: model, env, split, algorithm (sft|grpo), sft:/grpo: settings, out")],
    check_only: Annotated[bool, typer.Option("--check", help="check the config (env, split, model path, keys) and stop")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the result as one JSON object")] = False,
) -> None:
    """Train a local model on an env's split with TRL (SFTTrainer or GRPOTrainer); logs per step into OUT."""
    from agentgym.rl.trl_train import TrainConfigError, TrainInterrupted, check, load_config, run_train

    try:
        cfg = load_config(config)
        if check_only:
            tasks = check(cfg)
            if as_json:
                typer.echo(json.dumps({"ok": True, "out": str(Path(cfg.out).resolve()), "algorithm": cfg.algorithm, "env": cfg.env,
                                       "split": cfg.split, "model": cfg.model, "tasks": tasks}))
            else:
                typer.echo(f"ok: {cfg.algorithm} on {len(tasks)} {cfg.split or ''} tasks of {cfg.env} -> {Path(cfg.out).resolve()}")
            return
        with contextlib.redirect_stdout(sys.stderr) if as_json else contextlib.nullcontext():
            result = run_train(cfg)  # the trainers print their logs: with --json, stdout holds the one object
    except TrainConfigError as exc:
        fail(str(exc))
    except ImportError as exc:
        fail(f"{exc}; training needs the rl extra: pip install 'agentgym[rl]'")
    except TrainInterrupted as exc:
        typer.echo(exc.line(f"agentgym train {shlex.quote(str(config))}"), err=True)
        raise typer.Exit(130) from None
    if as_json:
        typer.echo(json.dumps(result))
    else:
        first, last = result.get("first_reward"), result.get("last_reward")
        reward = f"reward {first:.3g} -> {last:.3g}; " if first is not None and last is not None else ""
        typer.echo(f"{result['algorithm']} on {len(result['tasks'])} tasks of {result['env']}: {result.get('steps')} steps; {reward}"
                   f"final model {result['final_model']}; curve in {result['out']}/train_log.jsonl")


def register(app: typer.Typer) -> None:
    app.command("train")(train)
