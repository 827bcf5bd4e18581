"""GRPO with TRL's GRPOTrainer against an agentgym env, through TRL's ``environment_factory``.

Why TRL's own hook and not a rollout of ours: GRPOTrainer (trl 1.x) plays tool-calling episodes
itself when it is given an environment class (agentgym.rl.trl_env builds one from any registered
env): token-in/token-out concatenation of tool results, tool tokens masked from the loss, group
advantages, and rewards from ``get_reward``. What we add: the dataset of the split's tasks (one
row per task and seed, the prompt our system message, the statement from ``reset``), CPU-safe
settings, checkpoints, and one row per step in the run store (reward, pass rate, mean turns,
tokens) through agentgym.rl.trl_log. Infra-error rollouts return None from get_reward, which TRL
leaves out of the group baseline with zero advantage: never trained on as a zero.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agentgym.rl.device import Device, trainer_device_args
from agentgym.rl.episode_bounds import DEFAULT_MAX_SECONDS
from agentgym.rl.tinymodel import SYSTEM_PROMPT
from agentgym.rl.trl_env import EpisodeStat, environment_class
from agentgym.rl.trl_log import StepRow, TrainLog


class GRPOSettings(BaseModel):
    """What `agentgym train` takes under `grpo:` (unknown keys are refused)."""

    model_config = ConfigDict(extra="forbid")

    # upper bounds: a value that multiplies memory or time, generous for real GPU runs; past them a typo
    # (num_generations: 1000000000) is one line from --check, not a machine out of memory
    steps: int = Field(4, ge=1, le=1_000_000, description="optimizer steps (at most 1000000)")
    num_generations: int = Field(4, ge=2, le=1024, description="rollouts per task in a group (at most 1024)")
    prompts_per_step: int = Field(1, ge=1, le=1024, description="tasks per step (batch = prompts_per_step x num_generations; "
                                  "at most 1024)")
    learning_rate: float = Field(1e-4, gt=0, allow_inf_nan=False)
    temperature: float = Field(1.0, gt=0, le=100, allow_inf_nan=False)
    max_completion_length: int = Field(192, ge=8, le=131072, description="tokens of a whole multi-turn completion (tool results "
                                       "included; at most 131072)")
    max_turns: int = Field(4, ge=1, le=10_000, description="the env's horizon and TRL's tool-calling iterations (at most 10000)")
    max_seconds: float | None = Field(DEFAULT_MAX_SECONDS, gt=0, le=86_400, allow_inf_nan=False,
                                      description="wall-clock seconds per rollout from its reset, then it ends truncated "
                                      "'max_seconds' and is scored (agentgym.rl.episode_bounds; null: no bound; at most 86400)")
    beta: float = Field(0.0, ge=0, allow_inf_nan=False, description="KL coefficient toward the policy GRPO starts from; 0 loads no reference model")
    loss_type: Literal["dapo", "grpo", "dr_grpo", "bnpo"] = Field("dapo", description="TRL's loss normalisation (TRL's default: dapo)")
    mask_truncated_completions: bool = Field(False, description="leave completions cut at max_completion_length out of the loss")
    scale_rewards: Literal["group", "batch", "none"] = "group"
    save_steps: int | None = Field(None, ge=1, le=1_000_000, description="checkpoint every N steps (the final model is always saved)")
    seed: int = Field(0, ge=0, le=2**32 - 1, description="the trainer's seed (numpy's range: 0 to 2**32-1)")
    seeds_per_task: int = Field(1, ge=1, le=100_000, description="distinct env seeds per task in the dataset (at most 100000)")
    format_reward: float = Field(0.0, ge=0, allow_inf_nan=False, description="weight of a shaping reward for a parseable tool call (0: env reward only); "
                                 "logged apart from the env's reward")
    device: Device = Field("cpu", description="cpu | cuda | auto (the GPU when torch sees one)")
    bf16: bool = Field(False, description="bf16 mixed precision, on a GPU that supports it (ignored on the CPU)")


class GRPOOutcome(BaseModel):
    final_model: str
    steps: int
    episodes: int
    rows: list[StepRow]


def grpo_dataset(task_ids: Sequence[str], seeds_per_task: int = 1, seed: int = 0):
    """One row per task and seed: the prompt (our system message, an empty user turn that TRL
    fills with the statement ``reset`` returns), and the columns ``reset`` reads."""
    import datasets

    rows = [{"prompt": [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": ""}],
             "task_id": t, "seed": seed + k} for k in range(seeds_per_task) for t in task_ids]
    return datasets.Dataset.from_list(rows)


def tool_call_format(completions: list[Any], environments: list[Any] | None = None, **kwargs: Any) -> list[float | None]:
    """Shaping reward (TRL reward function): 1 when the rollout made at least one parseable tool
    call, else 0. A tiny or fresh model rarely solves a task, and groups whose env rewards are all
    equal carry no gradient; this gives them one toward the call format (DeepSeek-R1's format reward).
    None where an infrastructure error ended the rollout's episode: TRL leaves a rollout unscored
    only when every reward function returns None, and a format score beside the env's None had it
    trained on (the env's part summed as 0)."""
    envs = environments if environments is not None else [None] * len(completions)
    return [None if getattr(e, "error", None) is not None else
            float(any(isinstance(m, dict) and m.get("role") == "assistant" and m.get("tool_calls") for m in c))
            if isinstance(c, list) else 0.0 for c, e in zip(completions, envs)]


def _store_callback(log: TrainLog, stats: list[EpisodeStat], algorithm: str, env_key: str):
    from transformers import TrainerCallback

    class StoreCallback(TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kw: Any) -> None:
            if not logs or "reward" not in logs:
                return  # the end-of-training summary, not a step
            done = list(stats)
            stats.clear()
            scored = [s for s in done if s.infra_error is None]
            n = len(scored)
            log.add(StepRow(  # the env's own reward, apart from any shaping reward TRL adds to it
                algorithm=algorithm, step=int(state.global_step), reward=float(logs.get(env_key, logs["reward"])),
                pass_rate=sum(s.passed for s in scored) / n if n else None,
                mean_turns=sum(s.turns for s in scored) / n if n else None,
                tokens=logs.get("completions/mean_length"), loss=logs.get("loss"), episodes=len(done),
                infra_errors=len(done) - n,
                extra={k: v for k, v in logs.items() if isinstance(v, (int, float)) and k not in ("reward", "loss")},
            ))

    return StoreCallback()


def reference_snapshot(model: Any, folder: Path) -> Any:
    """With beta > 0 GRPOTrainer loads its KL reference from ``model.config._name_or_path``: empty
    for a model built in memory (TRL then asks the hub for '' and fails), and the pre-training
    weights for one trained in memory after loading (SFT then GRPO would take KL to the model before
    SFT). Save the policy as it is now and point the config there, so the reference is the policy
    GRPO starts from. A path (str) is returned as is."""
    if isinstance(model, (str, Path)):
        return model
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(folder))
    model.config._name_or_path = str(folder)
    return model


def train_grpo(model: Any, tokenizer: Any, env_id: str, task_ids: Sequence[str], out_dir: str | Path,
               settings: GRPOSettings | None = None, *, env_kwargs: dict[str, Any] | None = None,
               log: TrainLog | None = None) -> GRPOOutcome:
    """Run GRPOTrainer on ``task_ids`` of ``env_id``; save the final model under OUT/final.

    Args:
        model: a path or a transformers causal LM (trained in place).
        tokenizer: its tokenizer, with a tool-calling chat template TRL can parse.
        env_id, task_ids: the env and the tasks to train on (one split; never mix test tasks in).
        out_dir: run directory: checkpoints/, final/, results.sqlite (train_steps), train_log.jsonl.
        env_kwargs: for agentgym.make (``{"runtime": "local"}``...).
    """
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    from trl import GRPOConfig, GRPOTrainer

    s = settings or GRPOSettings()
    out = Path(out_dir)
    device_args = trainer_device_args(s.device, s.bf16)  # cuda without a GPU: refused before anything is opened or written
    stats: list[EpisodeStat] = []
    env_cls = environment_class(env_id, env_kwargs=env_kwargs, max_turns=s.max_turns, on_episode=stats.append,
                                max_seconds=s.max_seconds)
    own_log = log is None
    log = log or TrainLog(out)
    tokenizer.padding_side = "left"
    config = GRPOConfig(
        output_dir=str(out / "checkpoints"), max_steps=s.steps, per_device_train_batch_size=s.num_generations * s.prompts_per_step,
        num_generations=s.num_generations, learning_rate=s.learning_rate, temperature=s.temperature,
        max_completion_length=s.max_completion_length, max_tool_calling_iterations=s.max_turns, beta=s.beta,
        scale_rewards=s.scale_rewards, logging_steps=1, report_to="none", seed=s.seed,
        save_strategy="steps" if s.save_steps else "no", save_steps=s.save_steps or 500, disable_tqdm=True,
        dataloader_num_workers=0, gradient_checkpointing=False, log_completions=False,
        reward_weights=[s.format_reward] if s.format_reward else None,
        loss_type=s.loss_type, mask_truncated_completions=s.mask_truncated_completions,
        **device_args,
    )
    if s.beta > 0:
        model = reference_snapshot(model, out / "reference")
    trainer = GRPOTrainer(model=model, args=config, train_dataset=grpo_dataset(task_ids, s.seeds_per_task, s.seed),
                          reward_funcs=[tool_call_format] if s.format_reward else None,
                          processing_class=tokenizer, environment_factory=env_cls,
                          callbacks=[_store_callback(log, stats, "grpo", f"rewards/{env_cls.__name__}/mean")])
    try:
        trainer.train()
        final = out / "final"
        trainer.save_model(str(final))
        tokenizer.save_pretrained(str(final))
        rows = log.rows("grpo")
    finally:
        for pool in (getattr(trainer, "_environment_pool", None) or {}).values():
            for env in pool:
                env._close()
        if own_log:
            log.close()
    return GRPOOutcome(final_model=str(final), steps=int(trainer.state.global_step),
                       episodes=sum(r.episodes for r in rows), rows=rows)


__all__ = ["GRPOOutcome", "GRPOSettings", "grpo_dataset", "reference_snapshot", "tool_call_format", "train_grpo"]
