"""`agentgym train CONFIG.yaml`: SFT or GRPO with TRL on an agentgym env (agentgym.rl.trl_train).

Bad input (unknown keys, env, split or tasks, a model path that does not exist, an occupied output
directory) is one line on stderr, exit 2, and nothing is written; a run writes into a staging
directory that becomes the output directory only when it finished.
"""

from __future__ import annotations

import json
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
    from agentgym.rl.trl_train import TrainConfigError, check, load_config, run_train

    try:
        cfg = load_config(config)
        if check_only:
            tasks = check(cfg)
            typer.echo(f"ok: {cfg.algorithm} on {len(tasks)} {cfg.split or ''} tasks of {cfg.env} -> {cfg.out}")
            return
        result = run_train(cfg)
    except TrainConfigError as exc:
        fail(str(exc))
    except ImportError as exc:
        fail(f"{exc}; training needs the rl extra: pip install 'agentgym[rl]'")
    if as_json:
        typer.echo(json.dumps(result))
    else:
        typer.echo(f"{result['algorithm']} on {len(result['tasks'])} tasks of {result['env']}: {result.get('steps')} steps; "
                   f"final model {result['final_model']}; curve in {result['out']}/train_log.jsonl")


def register(app: typer.Typer) -> None:
    app.command("train")(train)
