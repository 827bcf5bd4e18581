"""TRL for real, on the CPU: SFTTrainer on an SFT export, GRPOTrainer against an agentgym env.

The model is a tiny Llama built here (agentgym.rl.tinymodel: a BPE tokenizer trained on the env's
texts, Qwen2.5's chat template as the trl package ships it). The export is made the way a user
makes one: reference episodes of the shell fixture written as trajectories JSONL, then
`agentgym.rl.export.export_run(..., "sft")` (what `agentgym export --format sft` runs). SFT runs
TRL's SFTTrainer on that export; GRPO then runs TRL's GRPOTrainer with `environment_factory`
against the shell-fixture env on the local runtime (its statement without the sandbox's
temporary path, `show_workdir=False`, so every episode of a task has the same prompt). The GRPO
model is first SFT'd on right and wrong answers alike, so it solves the task about half the time
and its groups hold both rewards: the weights must move (GRPO's gradient comes only from reward
differences inside a group, and the env's is the only reward), every env reward TRL logs must be
the mean of the env's own episode rewards, and the run store must hold one row per step.
"""

from __future__ import annotations

import json
import os

import pytest

from conftest import IN_CI

try:
    import torch
    import trl  # noqa: F401
except ImportError:
    if IN_CI:  # the rl extra is installed by make install; a skip would hide its absence
        raise
    pytest.skip("needs the rl extra (trl, torch): pip install 'agentgym[rl]'", allow_module_level=True)

from agentgym.rl import tinymodel
from agentgym.rl.export import export_run
from agentgym.rl.trl_env import EpisodeStat, environment_class, tool_schemas
from agentgym.rl.trl_grpo import GRPOSettings, tool_call_format, train_grpo
from agentgym.rl.trl_log import read_train_steps
from agentgym.rl.trl_sft import SFTSettings, load_sft_export, reference_trajectories, sft_rows, train_sft

pytestmark = pytest.mark.slow

ENV, KW = "shell-fixture", {"runtime": "local", "show_workdir": False}
TASKS = ["hello"]


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    """An SFT export written by agentgym's exporter from a trajectories file of passed episodes."""
    root = tmp_path_factory.mktemp("export")
    trajs = reference_trajectories(ENV, TASKS, env_kwargs=KW, max_turns=3, repeats=3)
    (root / "run.jsonl").write_text("".join(t.model_dump_json() + "\n" for t in trajs))
    summary = export_run(root / "run.jsonl", "sft", root / "sft", split="train", runtime="local")
    assert summary.rows["train"] == 3 * len(TASKS)
    return root / "sft"


@pytest.fixture(scope="module")
def tiny(export):
    torch.set_num_threads(1)  # a tiny model: more threads only add contention
    convs = load_sft_export(export, split="train")
    corpus = [tinymodel.chat_template()] + [json.dumps(c["messages"]) + json.dumps(c["tools"]) for c in convs]
    tok = tinymodel.build_tokenizer(corpus, vocab_size=800)
    model = tinymodel.build_model(tok, hidden=48, layers=2, heads=4, seed=0)
    return tok, model, convs


def test_sft_trainer_learns_the_export(tiny, tmp_path):
    tok, model, convs = tiny
    shown = tool_schemas(environment_class(ENV, env_kwargs=KW))  # the tools as GRPOTrainer will render them
    rows = sft_rows(convs, tok, shown)
    assert len(rows) == 6 and all(r["completion"].startswith("<tool_call>") and r["completion"].endswith("<|im_end|>") for r in rows)
    assert all(r["prompt"].startswith("<|im_start|>system\n" + tinymodel.SYSTEM_PROMPT) for r in rows)
    out = train_sft(model, tok, convs, tmp_path / "sft", SFTSettings(steps=30, learning_rate=1e-2, batch_size=4), tools=shown)
    losses = [r.loss for r in read_train_steps(tmp_path / "sft") if r.algorithm == "sft"]
    assert out.steps == 30 and len(losses) == 30
    assert losses[-1] < losses[0] / 4, losses
    assert (tmp_path / "sft" / "final" / "config.json").is_file()


def _half_right(convs):
    """The export's passed conversations plus as many copies whose write_file content misses the
    comma: SFT on both gives a policy that solves 'hello' about half the time, so GRPO's groups
    hold both rewards (all-equal groups carry no gradient)."""
    wrong = json.loads(json.dumps(convs))
    for c in wrong:
        for m in c["messages"]:
            for call in m.get("tool_calls") or []:
                args = call["function"]["arguments"]
                if "content" in args:
                    args["content"] = "hello world\n"
    return convs + wrong


def test_tool_call_format_reward():
    call = {"role": "assistant", "tool_calls": [{"type": "function", "function": {"name": "submit", "arguments": {}}}]}
    assert tool_call_format([[call], [{"role": "assistant", "content": "hi"}], "text"]) == [1.0, 0.0, 0.0]


def test_grpo_trainer_trains_against_the_env(tiny, tmp_path, monkeypatch):
    tok, _, convs = tiny
    shown = tool_schemas(environment_class(ENV, env_kwargs=KW))
    model = tinymodel.build_model(tok, hidden=48, layers=2, heads=4, seed=1)
    train_sft(model, tok, _half_right(convs), tmp_path / "sft", SFTSettings(steps=60, learning_rate=1e-2, batch_size=4), tools=shown)
    seen: list[EpisodeStat] = []
    import agentgym.rl.trl_grpo as grpo_mod

    real = grpo_mod.environment_class

    def spying(*a, on_episode=None, **k):  # see every episode the env scored, next to what TRL logs
        return real(*a, on_episode=lambda s: (seen.append(s), on_episode(s)), **k)

    monkeypatch.setattr(grpo_mod, "environment_class", spying)
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    n = 8
    out = train_grpo(model, tok, ENV, TASKS, tmp_path / "grpo",
                     GRPOSettings(steps=2, num_generations=n, max_completion_length=192, max_turns=2,
                                  learning_rate=5e-3, temperature=1.0, seed=1), env_kwargs=KW)
    rows = read_train_steps(tmp_path / "grpo")
    assert out.steps == 2 and [r.step for r in rows] == [1, 2]
    assert len(seen) == 2 * n and all(r.episodes == n and r.infra_errors == 0 for r in rows)
    for i, r in enumerate(rows):  # the env's reward as TRL logged it is the mean of the env's own episode rewards
        assert r.reward == pytest.approx(sum(s.reward for s in seen[n * i: n * i + n]) / n)
    assert {s.task_id for s in seen} == set(TASKS)
    groups = [{s.reward for s in seen[n * i: n * i + n]} for i in range(2)]
    assert any(len(g) > 1 for g in groups), groups  # mixed groups: the env's rewards differ inside a group
    assert min(r.extra["frac_reward_zero_std"] for r in rows) < 1.0
    changed = [k for k, v in model.state_dict().items() if not torch.equal(v, before[k])]
    assert changed  # the only reward is the env's: its differences moved the weights
    assert (tmp_path / "grpo" / "final" / "model.safetensors").is_file()
