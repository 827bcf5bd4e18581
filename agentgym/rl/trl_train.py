"""`agentgym train CONFIG.yaml`: the config, its checks, and the run (SFT or GRPO through TRL).

Why checks first and a staging directory: a training run is long, and a typo found after the
model loaded wastes minutes, while a crash half-way must not leave an output directory that looks
like a finished run. So every input is checked before anything is written (unknown keys, unknown
env or split, a model path that does not exist, an SFT export that is not there), each failure is
one line that says what to do, and the run writes into a hidden .OUT.tmp-* beside it that becomes
OUT only when it finished (removed when it failed).

Config (YAML)::

    model: runs/tiny-model        # a local transformers model directory (save_pretrained)
    env: shell-fixture            # a registered agentgym id
    split: train                  # the env's train or test split (never mixed); or `tasks: [...]`
    env_kwargs: {runtime: local}  # for agentgym.make
    algorithm: grpo               # sft | grpo
    sft_data: exports/sft         # sft only: an `agentgym export --format sft` directory;
                                  # default: the env's reference trajectories of the split
    sft: {steps: 30}              # SFTSettings
    grpo: {steps: 4}              # GRPOSettings; both take device: cpu | cuda | auto (default cpu), bf16
    out: runs/train-shell         # checkpoints/, final/, results.sqlite (train_steps), train_log.jsonl
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agentgym.rl.device import DeviceError, resolve_device
from agentgym.rl.trl_grpo import GRPOSettings
from agentgym.rl.trl_sft import SFTSettings
from agentgym.staging import staged_dir


class TrainConfigError(ValueError):
    """A config that cannot run; the message is one line that says what to fix."""


class TrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model: str = Field(description="local model directory (config.json, weights, tokenizer)")
    env: str
    split: str | None = Field("train", description="train | test; None with an explicit `tasks` list")
    tasks: list[str] | None = None
    env_kwargs: dict[str, Any] = Field(default_factory=dict)
    algorithm: Literal["sft", "grpo"]
    sft_data: str | None = None
    sft: SFTSettings = Field(default_factory=SFTSettings)
    grpo: GRPOSettings = Field(default_factory=GRPOSettings)
    out: str


def _first_error(exc: ValidationError) -> str:
    e = exc.errors()[0]
    where = ".".join(str(p) for p in e["loc"]) or "config"
    if e["type"] == "extra_forbidden":
        return f"unknown config key {where!r}; allowed: {', '.join(TrainConfig.model_fields)} (sft:/grpo: take their settings)"
    if e["type"] == "missing":
        return f"config key {where!r} is missing"
    return f"config key {where!r}: {e['msg']}"


#: a config's values, counted as the aliases expand them: a YAML bomb (an alias of an alias of a
#: list ...) loads as shared references in microseconds, then an error message that printed the
#: value (agentgym.make's 'unknown runtime ...') took minutes and gigabytes
MAX_CONFIG_VALUES = 100_000


def _values_over(raw: Any, limit: int) -> bool:
    stack, n = [raw], 0
    while stack:
        value = stack.pop()
        n += 1
        if n > limit:
            return True
        if isinstance(value, dict):
            stack += [*value.keys(), *value.values()]
        elif isinstance(value, list):
            stack += value
    return False


def load_config(path: str | Path) -> TrainConfig:
    p = Path(path)
    if not p.is_file():
        raise TrainConfigError(f"no config file {path}; write a YAML with model, env, split, algorithm, out")
    try:
        raw = yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        raise TrainConfigError(f"{path} is not valid YAML: {exc}") from None
    except RecursionError:  # PyYAML's composer recurses once per level
        raise TrainConfigError(f"{path} is nested too deeply to be a train config") from None
    if not isinstance(raw, dict):
        raise TrainConfigError(f"{path} must hold a mapping (model, env, split, algorithm, out)")
    if _values_over(raw, MAX_CONFIG_VALUES):
        raise TrainConfigError(f"{path} expands to more than {MAX_CONFIG_VALUES} values (YAML aliases repeating a structure?); "
                               "a train config is a few dozen keys and its task list")
    try:
        return TrainConfig.model_validate(raw)
    except ValidationError as exc:
        raise TrainConfigError(f"{path}: {_first_error(exc)}") from None


def split_tasks(env: Any, split: str) -> list[str]:
    """The env's task ids in ``split`` (agentgym.rl.splits decides each task's split)."""
    from agentgym.rl.splits import split_of

    base = env.unwrapped
    return [t for t in base.task_ids() if split_of(base, t) == split]


def resolve_tasks(cfg: TrainConfig) -> list[str]:
    """Check env, split, tasks; the task ids to train on."""
    import agentgym

    try:
        env = agentgym.make(cfg.env, **cfg.env_kwargs)
    except KeyError as exc:  # UnknownEnvError
        raise TrainConfigError(str(exc.args[0]) if exc.args else str(exc)) from None
    except TypeError as exc:
        raise TrainConfigError(f"env_kwargs for {cfg.env}: {exc}") from None
    try:
        ids = list(env.unwrapped.task_ids())
        if cfg.split is not None and cfg.split not in ("train", "test"):
            raise TrainConfigError(f"unknown split {cfg.split!r}; use train or test (or list `tasks:` and set split: null)")
        pool = split_tasks(env, cfg.split) if cfg.split else ids
        if cfg.tasks:
            outside = [t for t in cfg.tasks if t not in pool]
            if outside:
                where = f"the {cfg.split} split of {cfg.env}" if cfg.split else cfg.env
                raise TrainConfigError(f"tasks not in {where}: {outside[:5]}; it has {pool[:8]}")
            pool = list(cfg.tasks)
        if not pool:
            raise TrainConfigError(f"{cfg.env} has no tasks in split {cfg.split!r}")
        return pool
    finally:
        env.close()


def check(cfg: TrainConfig) -> list[str]:
    """Every check that needs no training; returns the task ids. Raises TrainConfigError."""
    model = Path(cfg.model)
    if not (model / "config.json").is_file():
        raise TrainConfigError(f"model path {cfg.model} does not exist or holds no config.json; give a local model "
                               "directory written by save_pretrained (no hub is reached)")
    if cfg.algorithm == "sft" and cfg.sft_data is not None and not Path(cfg.sft_data).exists():
        raise TrainConfigError(f"sft_data {cfg.sft_data} does not exist; write it with `agentgym export RUN --format sft --out DIR`")
    try:  # cuda where torch sees no GPU: said now, not after the env and model loaded
        resolve_device(getattr(cfg, cfg.algorithm).device)
    except DeviceError as exc:
        raise TrainConfigError(f"{cfg.algorithm}.device: {exc}") from None
    out = Path(cfg.out)
    if out.exists() and any(out.iterdir()):
        raise TrainConfigError(f"output directory {cfg.out} exists and is not empty; choose a new `out`")
    return resolve_tasks(cfg)


def run_train(cfg: TrainConfig) -> dict[str, Any]:
    """Check, then train into a staging directory that becomes ``cfg.out`` when done."""
    tasks = check(cfg)
    import transformers

    out = Path(cfg.out)
    with staged_dir(out) as stage:  # renamed onto out (absent, or the empty folder check() allowed) when done
        tok = transformers.AutoTokenizer.from_pretrained(cfg.model)
        model = transformers.AutoModelForCausalLM.from_pretrained(cfg.model)
        if cfg.algorithm == "sft":
            from agentgym.rl.trl_sft import load_sft_export, reference_conversations, train_sft

            if cfg.sft_data:
                convs = [c for c in load_sft_export(cfg.sft_data, split=cfg.split) if not cfg.tasks or c.get("task_id") in tasks]
            else:
                convs = reference_conversations(cfg.env, tasks, env_kwargs=cfg.env_kwargs, max_turns=cfg.grpo.max_turns)
            from agentgym.rl.trl_env import environment_class, tool_schemas

            shown = tool_schemas(environment_class(cfg.env, env_kwargs=cfg.env_kwargs))  # what GRPO will render
            result = train_sft(model, tok, convs, stage, cfg.sft, tools=shown).model_dump()
        else:
            from agentgym.rl.trl_grpo import train_grpo

            result = train_grpo(model, tok, cfg.env, tasks, stage, cfg.grpo, env_kwargs=cfg.env_kwargs).model_dump(exclude={"rows"})
    result["final_model"] = str(out / "final")
    return {"out": str(out), "algorithm": cfg.algorithm, "env": cfg.env, "split": cfg.split, "tasks": tasks, **result}


__all__ = ["TrainConfig", "TrainConfigError", "check", "load_config", "run_train", "split_tasks"]
