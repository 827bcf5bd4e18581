"""SFT with TRL's SFTTrainer on passed trajectories (rejection sampling, R2E-Gym's recipe).

Why prompt/completion rows rendered here: the SFT export holds chat ``messages`` (assistant tool
calls with their arguments as objects) and the env's ``tools``. Loaded into an Arrow dataset as
they are, tool calls of different tools get one merged struct type (every argument of every tool,
null-filled), and the template would render arguments the model never sees at GRPO time. So each
assistant turn becomes one row: the prompt is the conversation before it rendered by the
tokenizer's own chat template with generation prompt, the completion is exactly what the template
renders for that turn (`<tool_call>...</tool_call><|im_end|>`): the tokens the policy emits when
it plays the env, trained completion-only.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agentgym.guard import AgentFault, parse_json
from agentgym.rl.device import Device, trainer_device_args
from agentgym.rl.tinymodel import SYSTEM_PROMPT
from agentgym.rl.trl_log import StepRow, TrainLog


class SFTSettings(BaseModel):
    """What `agentgym train` takes under `sft:` (unknown keys are refused)."""

    model_config = ConfigDict(extra="forbid")

    # upper bounds: a value that multiplies memory or time, generous for real GPU runs; past them a typo
    # is one line from --check, not a machine out of memory
    steps: int = Field(30, ge=1, le=1_000_000, description="optimizer steps (at most 1000000)")
    learning_rate: float = Field(2e-3, gt=0, allow_inf_nan=False)
    batch_size: int = Field(4, ge=1, le=4096, description="rows per optimizer step (at most 4096)")
    max_length: int = Field(2048, ge=16, le=131072, description="tokens of a row (prompt + completion; at most 131072)")
    seed: int = Field(0, ge=0, le=2**32 - 1, description="the trainer's seed (numpy's range: 0 to 2**32-1)")
    save_steps: int | None = Field(None, ge=1, le=1_000_000, description="checkpoint every N steps into OUT/checkpoints (the final model is always saved)")
    max_turns: int = Field(4, ge=1, le=10_000, description="horizon of the env's reference episodes (used when no sft_data is "
                           "given; at most 10000)")
    device: Device = Field("cpu", description="cpu | cuda | auto (the GPU when torch sees one)")
    bf16: bool = Field(False, description="bf16 mixed precision, on a GPU that supports it (ignored on the CPU)")


class SFTOutcome(BaseModel):
    final_model: str
    rows: int
    steps: int
    final_loss: float | None


def reference_trajectories(env_id: str, task_ids: Sequence[str], *, env_kwargs: dict[str, Any] | None = None,
                           max_turns: int = 4, seed: int = 0, repeats: int = 1) -> list[Any]:
    """The env's reference policy played ``repeats`` times on each of ``task_ids`` (seeds
    seed..seed+repeats-1: statements may differ between episodes, e.g. the sandbox's directory);
    passed episodes only (rejection sampling)."""
    import agentgym
    from agentgym.policy import DeferredPolicy
    from agentgym.rollout import run_episode

    trajs = []
    for r in range(repeats):
        with agentgym.make(env_id, **(env_kwargs or {})) as env:  # a fresh env: a fresh sandbox
            trajs += [run_episode(env, DeferredPolicy(env.reference_policy), seed=seed + r,
                                  options={"task_id": t, "max_turns": max_turns}, max_steps=max_turns) for t in task_ids]
    return [t for t in trajs if t.passed]


def reference_conversations(env_id: str, task_ids: Sequence[str], *, env_kwargs: dict[str, Any] | None = None,
                            max_turns: int = 4, seed: int = 0, repeats: int = 1) -> list[dict[str, Any]]:
    """Passed reference episodes as SFT rows ``{"messages", "tools", "task_id"}``, converted as
    `agentgym export --format sft` converts trajectories (agentgym.rl.export.sft_messages)."""
    import agentgym
    from agentgym.rl.export import sft_messages

    with agentgym.make(env_id, **(env_kwargs or {})) as env:
        tools = env.tools
    return [{"messages": sft_messages(t), "tools": tools, "task_id": t.task_id}
            for t in reference_trajectories(env_id, task_ids, env_kwargs=env_kwargs, max_turns=max_turns, seed=seed, repeats=repeats)]


def sft_export_files(path: str | Path, split: str | None = None) -> list[Path]:
    """The files an SFT export's reader takes: a file itself; in a folder ``SPLIT.jsonl`` when
    ``split`` is given, else every ``*.jsonl`` (they may not exist: the caller checks)."""
    p = Path(path)
    return ([p / f"{split}.jsonl"] if split else sorted(p.glob("*.jsonl"))) if p.is_dir() else [p]


def load_sft_export(path: str | Path, split: str | None = None) -> list[dict[str, Any]]:
    """Rows of an SFT export (`agentgym export --format sft`): JSONL files with ``messages`` and
    ``tools`` (a list, or a JSON string of one). A directory is read file by file (only
    ``SPLIT.jsonl`` when ``split`` is given); rows of another split are left out."""
    files = sft_export_files(path, split)
    if not files or not all(f.is_file() for f in files):
        raise FileNotFoundError(f"{path}: no SFT export here (JSONL rows with 'messages' and 'tools'); write one with `agentgym export RUN --format sft`")
    rows = []
    for f in files:
        for line in f.read_text().splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            tools = row.get("tools")
            row["tools"] = json.loads(tools) if isinstance(tools, str) else (tools or [])
            if split is None or row.get("split") in (None, split):
                rows.append(row)
    return rows


def _normalise(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tool-call arguments as objects (the template dumps them with tojson); our system message
    first when the conversation has none (the prompt GRPO and the evaluation use)."""
    out = [] if messages and messages[0].get("role") == "system" else [{"role": "system", "content": SYSTEM_PROMPT}]
    for m in messages:
        m = dict(m)
        m.setdefault("content", "")
        if m.get("tool_calls"):
            calls = []
            for c in m["tool_calls"]:
                fn = dict(c.get("function") or c)
                if isinstance(fn.get("arguments"), str):  # the model's own text: bounded parse
                    try:
                        fn["arguments"] = parse_json(fn["arguments"] or "{}", what="tool-call arguments")
                    except AgentFault as exc:
                        raise ValueError(exc.reason) from None
                calls.append({"type": "function", "function": {"name": fn["name"], "arguments": fn.get("arguments") or {}}})
            m["tool_calls"] = calls
        out.append(m)
    return out


def sft_rows(conversations: Iterable[dict[str, Any]], tokenizer: Any, tools: list[dict[str, Any]] | None = None) -> list[dict[str, str]]:
    """One prompt/completion text row per assistant turn (see the module docstring). ``tools``
    replaces each row's own schemas (pass agentgym.rl.trl_env.tool_schemas to render exactly what
    GRPOTrainer will render)."""
    rows = []
    for conv in conversations:
        try:
            messages = _normalise(conv["messages"])
        except ValueError:
            continue  # a call whose arguments are not JSON: no template renders it as the model wrote it
        tools_shown = tools or conv.get("tools") or None
        for i, m in enumerate(messages):
            if m["role"] != "assistant":
                continue
            try:
                prompt = tokenizer.apply_chat_template(messages[:i], tools=tools_shown, add_generation_prompt=True, tokenize=False)
                full = tokenizer.apply_chat_template(messages[: i + 1], tools=tools_shown, tokenize=False)
            except RecursionError:  # arguments nested past what the template's tojson recurses (~500 levels):
                break  # no row from here on (every later prompt holds them); the whole SFT run crashed on it
            if not full.startswith(prompt):
                raise ValueError("the chat template is not prefix-preserving; SFT rows cannot be cut per turn")
            completion = full[len(prompt):]
            eos = tokenizer.eos_token
            if eos and eos in completion:
                completion = completion[: completion.rindex(eos) + len(eos)]
            rows.append({"prompt": prompt, "completion": completion})
    return rows


def sft_config(s: SFTSettings, out: Path) -> Any:
    """TRL's SFTConfig for ``s`` (checkpoints under OUT/checkpoints with save_steps); the device's use_cpu and bf16
    come from agentgym.rl.device (DeviceError for cuda where torch sees no GPU)."""
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    from trl import SFTConfig

    return SFTConfig(
        output_dir=str(out / "checkpoints"), max_steps=s.steps, per_device_train_batch_size=s.batch_size,
        learning_rate=s.learning_rate, max_length=s.max_length, logging_steps=1, report_to="none",
        seed=s.seed, save_strategy="steps" if s.save_steps else "no", save_steps=s.save_steps or 500, disable_tqdm=True,
        dataloader_num_workers=0, gradient_checkpointing=False,
        completion_only_loss=True, lr_scheduler_type="constant", **trainer_device_args(s.device, s.bf16),
    )


def train_sft(model: Any, tokenizer: Any, conversations: list[dict[str, Any]], out_dir: str | Path,
              settings: SFTSettings | None = None, *, tools: list[dict[str, Any]] | None = None,
              log: TrainLog | None = None) -> SFTOutcome:
    """SFTTrainer, completion-only loss, on the conversations' assistant turns; final model in OUT/final.
    ``tools``: the schemas to render in every prompt (see sft_rows)."""
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    import datasets
    from transformers import TrainerCallback
    from trl import SFTTrainer

    s = settings or SFTSettings()
    rows = sft_rows(conversations, tokenizer, tools)
    if not rows:
        raise ValueError("no assistant turns to train on: the SFT data holds no passed trajectory")
    out = Path(out_dir)
    config = sft_config(s, out)  # a device that cannot be used fails here, before anything is written
    own_log = log is None
    log = log or TrainLog(out)

    class StoreCallback(TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kw: Any) -> None:
            if logs and "loss" in logs:
                log.add(StepRow(algorithm="sft", step=int(state.global_step), loss=float(logs["loss"]),
                                tokens=logs.get("num_tokens"), extra={k: v for k, v in logs.items() if isinstance(v, (int, float))}))

    trainer = SFTTrainer(model=model, args=config, train_dataset=datasets.Dataset.from_list(rows),
                         processing_class=tokenizer, callbacks=[StoreCallback()])
    try:
        trainer.train()
        final = out / "final"
        trainer.save_model(str(final))
        tokenizer.save_pretrained(str(final))
        losses = [r.loss for r in log.rows("sft") if r.loss is not None]
    finally:
        if own_log:
            log.close()
    return SFTOutcome(final_model=str(final), rows=len(rows), steps=int(trainer.state.global_step),
                      final_loss=losses[-1] if losses else None)


__all__ = ["SFTOutcome", "SFTSettings", "load_sft_export", "sft_export_files", "reference_conversations", "reference_trajectories", "sft_config", "sft_rows",
           "train_sft"]
