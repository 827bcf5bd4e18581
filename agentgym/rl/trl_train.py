"""`agentgym train CONFIG.yaml`: the config, its checks, and the run (SFT or GRPO through TRL).

Why checks first and a staging directory: a training run is long, and a typo found after the
model loaded wastes minutes, while a crash half-way must not leave an output directory that looks
like a finished run. So every input is checked before anything is written (unknown keys, unknown
env or split, a model path that does not exist, an SFT export that is not there), each failure is
one line that says what to do, and the run writes into a hidden .OUT.tmp-* beside it that becomes
OUT only when it finished (removed when it failed). Ctrl-C says at which step it stopped and what
was kept: checkpoints already written (`save_steps`) are not thrown away with the staging folder but
kept, with the step log, in OUT.interrupted (a checkpoint is a model directory: `model:` of the next
config; one cut mid-save is named incomplete and refused as `model:`); with none, nothing is kept. A
rerun of the same config is never refused because of it. A finished run whose OUT was filled
meanwhile is kept in OUT.done (agentgym.rl.train_keep).

Relative paths (model, sft_data, env_kwargs values) are read as a sweep config reads them: from the
config file's folder first, then the working directory; `out` is the working directory's (as every
command's --out). Settings of the other algorithm (`grpo:` in an SFT config, `sft:`/`sft_data:` in a
GRPO one) are refused, not ignored: a user who wrote both usually meant SFT then GRPO, which is two
configs, and a warning would scroll away under the trainer's output.

Config (YAML)::

    model: runs/tiny-model        # a local transformers model directory (save_pretrained)
    env: shell-fixture            # a registered agentgym id
    split: train                  # the env's train or test split (never mixed); or `tasks: [...]`
    env_kwargs: {runtime: local}  # for agentgym.make
    algorithm: grpo               # sft | grpo
    sft_data: exports/sft         # sft only: an `agentgym export --format sft` directory;
                                  # default: the env's reference trajectories of the split
    sft: {steps: 30}              # sft only: SFTSettings
    grpo: {steps: 4}              # grpo only: GRPOSettings; both take device: cpu | cuda | auto, bf16, save_steps
    out: runs/train-shell         # final/, results.sqlite (train_steps, meta train_config), train_log.jsonl,
                                  # checkpoints/ (only with save_steps)
"""

from __future__ import annotations

import difflib
import json
import os
import sqlite3
import tempfile
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from agentgym.paths import beside
from agentgym.rl.device import DeviceError, resolve_device
from agentgym.rl.trl_grpo import GRPOSettings
from agentgym.rl.train_keep import TrainInterrupted, incomplete_checkpoint, keep_finished, keep_interrupted, logged_steps, out_taken
from agentgym.rl.trl_sft import SFTSettings, sft_export_files
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
    _base: Path | None = PrivateAttr(None)  # the config file's folder: relative paths are looked up there first


SECTIONS: dict[str, type[BaseModel]] = {"sft": SFTSettings, "grpo": GRPOSettings}


def _first_error(exc: ValidationError) -> str:
    """One line for the most useful error: an unknown key before a missing one (a typo of a
    required key reports both, and the typo is the news)."""
    errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
    e = errors[0]
    loc = [str(p) for p in e["loc"]]
    where = ".".join(loc) or "config"
    if e["type"] == "extra_forbidden":
        section = loc[0] if len(loc) == 2 and loc[0] in SECTIONS else None
        allowed = list(SECTIONS[section].model_fields) if section else list(TrainConfig.model_fields)
        near = difflib.get_close_matches(loc[-1], allowed, n=1)
        hint = f"; did you mean {near[0]!r}?" if near else ""
        scope = f"allowed under {section}:" if section else "allowed:"
        tail = "" if section else " (sft:/grpo: take their settings)"
        return f"unknown config key {where!r}{hint} {scope} {', '.join(allowed)}{tail}"
    if e["type"] == "missing":
        return f"config key {where!r} is missing"
    return f"config key {where!r}: {e['msg']}"


def _other_algorithm(cfg: TrainConfig) -> str | None:
    given = cfg.model_fields_set
    unused = [k for k in (("sft", "sft_data") if cfg.algorithm == "grpo" else ("grpo",)) if k in given]
    if not unused:
        return None
    keys = " and ".join(f"{k}:" for k in unused)
    return (f"{keys} {'is' if len(unused) == 1 else 'are'} for algorithm {'sft' if cfg.algorithm == 'grpo' else 'grpo'}, "
            f"unused with algorithm {cfg.algorithm}: remove {'it' if len(unused) == 1 else 'them'} (SFT then GRPO is two "
            "configs, the second's model: the first's OUT/final)")


def _beside(base: Path | None, value: str | None) -> str | None:
    """model/sft_data: a relative path that exists in the config file's folder, made absolute (the
    sweep rule: agentgym.paths); any other value as it is (read from the working directory)."""
    return beside(base, value, any_text=True)


def _where(cfg: TrainConfig, value: str) -> str:
    """Where a path that was not found was looked for (one place, or both for a relative one)."""
    if Path(value).is_absolute() or cfg._base is None:
        return value
    return f"{value} (looked in the config's folder {cfg._base} and the working directory {Path.cwd()})"


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
        cfg = TrainConfig.model_validate(raw)
    except ValidationError as exc:
        raise TrainConfigError(f"{path}: {_first_error(exc)}") from None
    if (unused := _other_algorithm(cfg)) is not None:
        raise TrainConfigError(f"{path}: {unused}")
    base = p.resolve().parent
    cfg = cfg.model_copy(update={"model": _beside(base, cfg.model), "sft_data": _beside(base, cfg.sft_data),
                                 "env_kwargs": {k: beside(base, v) for k, v in cfg.env_kwargs.items()}})
    cfg._base = base
    return cfg


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
        raise TrainConfigError(f"model path {_where(cfg, cfg.model)} does not exist or holds no config.json; give a local "
                               "model directory written by save_pretrained (no hub is reached)")
    if incomplete_checkpoint(model):
        raise TrainConfigError(f"model path {cfg.model} is an incomplete checkpoint (cut mid-save: no trainer_state.json, which "
                               "the trainer writes last); give an earlier checkpoint or a run's final/")
    if cfg.algorithm == "sft" and cfg.sft_data is not None:
        if not Path(cfg.sft_data).exists():
            raise TrainConfigError(f"sft_data {_where(cfg, cfg.sft_data)} does not exist; {SFT_HINT}")
        if (problem := sft_data_problem(cfg.sft_data, cfg.split)) is not None:
            raise TrainConfigError(f"sft_data {problem}; {SFT_HINT}")
    try:  # cuda where torch sees no GPU: said now, not after the env and model loaded
        resolve_device(getattr(cfg, cfg.algorithm).device)
    except DeviceError as exc:
        raise TrainConfigError(f"{cfg.algorithm}.device: {exc}") from None
    if (problem := out_problem(cfg.out)) is not None:
        raise TrainConfigError(problem)
    return resolve_tasks(cfg)


def out_problem(value: str) -> str | None:
    """Why ``out`` cannot become the run's folder, or None: it is no empty folder (a file, /dev/null),
    a folder above it is a file, or where the run is staged cannot be written (a probe folder made
    and removed there: os.access says yes to root on /proc)."""
    do = "choose an `out` that is a new or empty folder you can write"
    out = Path(value)
    try:
        if out.is_symlink() or out.exists():
            if not out.is_dir():
                kind = ("a file" if out.is_file() else "a link to nothing" if not out.exists()
                        else "not a folder (a device or other special file)")
                return f"output path {value} is {kind}; {do}"
            if any(out.iterdir()):
                return f"output directory {value} exists and is not empty; choose a new `out`"
        above = out.absolute().parent
        while not (above.exists() or above.is_symlink()):
            above = above.parent
        if not above.is_dir():
            return f"output path {value} cannot become a folder: {above} is not a folder; {do}"
        os.rmdir(tempfile.mkdtemp(prefix=".agentgym-check-", dir=above))
    except OSError as exc:
        return f"output path {value} cannot be written ({exc.strerror or exc}); {do}"
    return None


SFT_HINT = "write an SFT export with `agentgym export RUN --format sft --out DIR`"
#: the first row of an export file is read up to this many bytes to tell what the file holds
FIRST_ROW_BYTES = 64 * 1024 * 1024


def sft_data_problem(path: str, split: str | None) -> str | None:
    """Why ``path`` is not an SFT export (`agentgym export --format sft`: SPLIT.jsonl files of rows
    with ``messages``), said as what it holds; None when its first row is an SFT row."""
    p = Path(path)
    files = sft_export_files(p, split)  # the files the SFT run will read (load_sft_export's rule)
    if not files or not all(f.is_file() for f in files):
        others = sorted(p.glob("*.jsonl"))
        if split and others and sft_data_problem(str(others[0]), None) is None:  # an SFT export, of other splits
            splits = ", ".join(f.stem for f in others)
            return f"{path} is an SFT export with no {split} split: it has no {split}.jsonl (its splits: {splits})"
        held = sorted(c.name + ("/" if c.is_dir() else "") for c in p.iterdir())
        shown = ", ".join(held[:6]) + (" ..." if len(held) > 6 else "") if held else "nothing"
        return f"{path} holds no {files[0].name if files else '*.jsonl'} (it holds: {shown}), not an SFT export"
    with open(files[0], "rb") as fh:
        line = b""
        while not line.strip():
            line = fh.readline(FIRST_ROW_BYTES)
            if not line:
                return f"{files[0]} is empty, not an SFT export"
    try:
        row = json.loads(line)
    except ValueError:
        return f"{files[0]} holds no JSON rows (first line is not JSON), not an SFT export"
    if not isinstance(row, dict):
        return f"{files[0]} holds JSON {type(row).__name__}s, not SFT rows"
    if "messages" in row:
        return None
    if "prompt_ids" in row:
        return f"{path} holds RL token rows (prompt_ids, response_ids, advantage: `--format rl`), not an SFT export"
    return f"{path} holds rows with keys {', '.join(list(row)[:6])}, not SFT rows (messages, tools)"


def _store_config(stage: Path, cfg: TrainConfig, tasks: list[str]) -> None:
    """The run's config in its store (meta 'train_config', the table a sweep keeps its own in):
    what the report and the viewer show beside the curves."""
    settings = getattr(cfg, cfg.algorithm).model_dump(mode="json")
    doc = {"model": str(Path(cfg.model).resolve()), "env": cfg.env, "split": cfg.split, "env_kwargs": cfg.env_kwargs,
           "algorithm": cfg.algorithm, "tasks": tasks, "out": cfg.out, "settings": settings,
           **({"sft_data": str(Path(cfg.sft_data).resolve())} if cfg.algorithm == "sft" and cfg.sft_data else {})}
    conn = sqlite3.connect(stage / "results.sqlite")
    try:
        with conn:
            conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", ("train_config", json.dumps(doc, default=str)))
    finally:
        conn.close()


def _summary(out: Path) -> dict[str, Any]:
    """First and last logged reward and loss of a finished run (None where no step logged one)."""
    rows = logged_steps(out)
    rewards = [r["reward"] for r in rows if r.get("reward") is not None]
    losses = [r["loss"] for r in rows if r.get("loss") is not None]
    return {"first_reward": rewards[0] if rewards else None, "last_reward": rewards[-1] if rewards else None,
            "first_loss": losses[0] if losses else None, "last_loss": losses[-1] if losses else None}


def run_train(cfg: TrainConfig) -> dict[str, Any]:
    """Check, then train into a staging directory that becomes ``cfg.out`` when done."""
    tasks = check(cfg)
    import transformers

    out = Path(cfg.out)
    with staged_dir(out) as stage:  # renamed onto out (absent, or the empty folder check() allowed) when done
        try:
            result = _train_into(stage, cfg, tasks, transformers)
        except KeyboardInterrupt:
            raise keep_interrupted(stage, out, getattr(cfg, cfg.algorithm).steps) from None
        ckpt = stage / "checkpoints"
        if ckpt.is_dir() and not any(ckpt.iterdir()):
            ckpt.rmdir()  # the trainer makes it; with no save_steps nothing is ever written there
        if out_taken(out):  # filled while it trained: the rename would fail and staging delete the finished run
            kept = keep_finished(stage, out)
            raise TrainConfigError(f"output directory {out} was filled while this run trained; the finished run is kept "
                                   f"in {kept} (final model: {kept / 'final'}): move it where you want it")
    result["final_model"] = str(out / "final")
    return {"out": str(out), "algorithm": cfg.algorithm, "env": cfg.env, "split": cfg.split, "tasks": tasks, **result,
            **_summary(out)}


def _train_into(stage: Path, cfg: TrainConfig, tasks: list[str], transformers: Any) -> dict[str, Any]:
    _store_config(stage, cfg, tasks)
    tok = transformers.AutoTokenizer.from_pretrained(cfg.model)
    model = transformers.AutoModelForCausalLM.from_pretrained(cfg.model)
    if cfg.algorithm == "sft":
        from agentgym.rl.trl_sft import load_sft_export, reference_conversations, train_sft

        if cfg.sft_data:
            convs = [c for c in load_sft_export(cfg.sft_data, split=cfg.split) if not cfg.tasks or c.get("task_id") in tasks]
        else:
            convs = reference_conversations(cfg.env, tasks, env_kwargs=cfg.env_kwargs, max_turns=cfg.sft.max_turns)
        from agentgym.rl.trl_env import environment_class, tool_schemas

        shown = tool_schemas(environment_class(cfg.env, env_kwargs=cfg.env_kwargs))  # what GRPO will render
        result = train_sft(model, tok, convs, stage, cfg.sft, tools=shown).model_dump()
    else:
        from agentgym.rl.trl_grpo import train_grpo

        result = train_grpo(model, tok, cfg.env, tasks, stage, cfg.grpo, env_kwargs=cfg.env_kwargs).model_dump(exclude={"rows"})
    return result


__all__ = ["TrainConfig", "TrainConfigError", "TrainInterrupted", "check", "load_config", "out_problem", "run_train", "sft_data_problem", "split_tasks"]
