"""What the training red team left open (issue 17): an `out` that cannot become a folder, settings
that would eat the machine, NaN/inf rewards from a faulty env, and an episode with no time bound.

A non-finite reward is the env's bug (its grader is out of the agent's reach): every training
loop (collector, TRL's environment, the SkyRL and verifiers adapters) records it as an
infrastructure error, and make_batch drops such an episode and counts it, never scoring it.
A policy that sleeps is bounded by the loops' per-episode wall clock: truncated 'max_seconds',
scored (the agent spent the budget), never dropped.
"""

from __future__ import annotations

import asyncio
import json
import math
import time

import pytest
import yaml

from conftest import IN_CI

try:
    import transformers  # noqa: F401
except ImportError:
    if IN_CI:
        raise
    pytest.skip("needs transformers (a tokenizer with a chat template)", allow_module_level=True)

from rl_fakes import GuessEnv, ScriptedTokens, byte_tokenizer, call_text  # noqa: E402

from agentgym.actions import ToolResult  # noqa: E402
from agentgym.rl.chat_format import HFChatFormat  # noqa: E402
from agentgym.rl.collect import CollectConfig, acollect_episode, acollect_group  # noqa: E402
from agentgym.rl.groups import make_batch  # noqa: E402

KW = {"runtime": "local"}
NAN_SEEDS = {1: float("nan"), 2: float("inf")}


class NanGuessEnv(GuessEnv):
    """GuessEnv whose grader returns NaN (seed 1) or +inf (seed 2): the env's bug."""

    def _submit(self, args):
        result = super()._submit(args)
        bad = NAN_SEEDS.get(self._seed)
        return result.model_copy(update={"reward": bad}) if bad is not None else result


@pytest.fixture(scope="module")
def fmt():
    return HFChatFormat(byte_tokenizer())


# -- 1. out that cannot become a folder ---------------------------------------------------------
@pytest.mark.parametrize("where, expect", [
    ("/etc/passwd/x", "cannot become a folder: /etc/passwd is not a folder"),
    ("/dev/null", "is not a folder (a device or other special file)"),
    ("FILE", "is a file;"),
    ("FILE/run", "is not a folder"),
    ("/proc/agentgym-out", "cannot be written"),
])
def test_check_refuses_an_out_that_cannot_become_a_folder(tmp_path, where, expect):
    from typer.testing import CliRunner

    from agentgym.cli.app import app

    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text(json.dumps({"model_type": "llama"}))
    (tmp_path / "FILE").write_text("mine")
    out = where.replace("FILE", str(tmp_path / "FILE"))
    cfg = {"model": str(tmp_path / "model"), "env": "shell-fixture", "split": "train", "env_kwargs": KW,
           "algorithm": "grpo", "out": out}
    (tmp_path / "train.yaml").write_text(yaml.safe_dump(cfg))
    res = CliRunner().invoke(app, ["train", str(tmp_path / "train.yaml"), "--check"])
    assert res.exit_code == 2 and res.stdout == "", res.stdout
    err = res.stderr.strip()
    assert len(err.splitlines()) == 1 and expect in err and "choose an `out`" in err, err
    assert (tmp_path / "FILE").read_text() == "mine" and sorted(p.name for p in tmp_path.iterdir()) == ["FILE", "model", "train.yaml"]


# -- 2. bounds on what multiplies memory or time ----------------------------------------------------
@pytest.mark.parametrize("section, key, value, expect", [
    ("grpo", "num_generations", 10**9, "less than or equal to 1024"),
    ("grpo", "prompts_per_step", 10**6, "less than or equal to 1024"),
    ("grpo", "max_completion_length", 10**7, "less than or equal to 131072"),
    ("grpo", "steps", 10**12, "less than or equal to 1000000"),
    ("grpo", "seeds_per_task", 10**9, "less than or equal to 100000"),
    ("grpo", "format_reward", float("inf"), "finite number"),
    ("grpo", "seed", -1, "greater than or equal to 0"),
    ("sft", "batch_size", 10**7, "less than or equal to 4096"),
    ("sft", "max_length", 10**8, "less than or equal to 131072"),
    ("sft", "max_turns", 10**9, "less than or equal to 10000"),
])
def test_settings_past_their_bounds_are_one_line(tmp_path, section, key, value, expect):
    from agentgym.rl.trl_grpo import GRPOSettings
    from agentgym.rl.trl_sft import SFTSettings
    from agentgym.rl.trl_train import TrainConfigError, load_config

    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump({"model": "m", "env": "shell-fixture", "algorithm": section, "out": "o", section: {key: value}}))
    with pytest.raises(TrainConfigError) as exc:
        load_config(path)
    msg = str(exc.value)
    assert "\n" not in msg and f"config key '{section}.{key}'" in msg and expect in msg, msg
    model = GRPOSettings if section == "grpo" else SFTSettings
    assert "at most" in (model.model_fields[key].description or "") or key in ("format_reward", "seed")
    GRPOSettings(num_generations=1024, max_completion_length=131072, prompts_per_step=64)  # a real GPU run's sizes pass


# -- 3. non-finite rewards ----------------------------------------------------------------------------
def test_non_finite_reward_is_an_infra_error_dropped_and_counted(fmt, tmp_path):
    from agentgym.rl.export import append_episodes, read_episodes

    env = NanGuessEnv()
    right = call_text("submit", {"answer": 7})
    eps = asyncio.run(acollect_group(env, ScriptedTokens(fmt.tokenizer, [right, right, right, call_text("submit", {"answer": 3})]),
                                     fmt, task_id="t1", n=4, seed=0))
    assert [e.infra_error is None for e in eps] == [True, False, False, True]
    assert "non-finite reward (nan)" in eps[1].infra_error and "non-finite reward (inf)" in eps[2].infra_error
    assert all(math.isfinite(e.reward) and all(math.isfinite(t.reward) for t in e.turns) for e in eps)
    append_episodes(tmp_path, eps)
    assert [e.episode_id for e in read_episodes(tmp_path)] == [e.episode_id for e in eps]  # a NaN was written as null

    batch = make_batch(eps)
    assert batch.dropped_infra == 2 and batch.dropped_episode_ids == ["t1@0/1", "t1@0/2"]
    assert [e.advantage for e in batch.episodes] == pytest.approx([0.5, -0.5])
    # records made elsewhere (reward assigned after validation): dropped and counted the same way
    poisoned = [e.model_copy(update={"infra_error": None, "reward": float("nan")}) if e.episode_id == "t1@0/1" else e for e in eps]
    batch = make_batch(poisoned, scale_std=True)
    assert batch.dropped_infra == 2 and all(math.isfinite(e.advantage) for e in batch.episodes)


def _nan_submit(env):
    tool = env.unwrapped._tool_map["submit"]  # rebuilt at every reset
    env.unwrapped._tool_map["submit"] = tool.model_copy(update={"handler": lambda _a: ToolResult(output="graded", reward=float("nan"), terminated=True)})


def test_trl_env_and_skyrl_leave_a_non_finite_reward_unscored():
    from agentgym.rl.trl_env import environment_class

    stats = []
    inst = environment_class("shell-fixture", env_kwargs=KW, max_turns=4, on_episode=stats.append)()
    try:
        inst.reset(task_id="hello", seed=0)
        _nan_submit(inst.env)
        assert "Infrastructure error" in inst.submit()
        assert inst.get_reward() is None and "non-finite" in stats[0].infra_error and stats[0].reward == 0.0
    finally:
        inst._close()

    skyrl_gym = pytest.importorskip("skyrl_gym")
    from agentgym.rl.adapters.skyrl import register_skyrl

    env = skyrl_gym.make(register_skyrl(), env_config={"runtime": "local"},
                         extras={"env_id": "shell-fixture", "task_id": "hello", "seed": 0})
    try:
        env.init([])
        _nan_submit(env.env)
        out = env.step(call_text("submit"))
        assert out["done"] and out["reward"] == 0.0 and "non-finite" in out["metadata"]["infra_error"]
        assert env.get_metrics()["infra_error"] == 1.0 and math.isfinite(env.get_metrics()["reward"])
    finally:
        env.close()


def test_verifiers_leaves_a_non_finite_reward_unscored(monkeypatch):
    vf = pytest.importorskip("verifiers.v1")
    from test_rl_adapters_verifiers import _task
    from vf_harness import vf_episode

    from agentgym.rl.adapters.verifiers import AgentGymTasksetConfig, taskset_class

    task = _task(taskset_class("shell-fixture", KW)(AgentGymTasksetConfig(split="train", max_turns=4)), "hello")

    def nan_reward(step):
        def wrapped(action):
            obs, reward, term, trunc, info = step(action)
            return obs, float("nan"), term, trunc, info
        return wrapped

    raised = asyncio.run(vf_episode(task, [("submit", {})], monkeypatch, wrap_step=nan_reward))[3]
    assert isinstance(raised, vf.SandboxError) and "non-finite reward" in str(raised)  # unscored, never a NaN score


# -- 4. a per-episode wall clock ------------------------------------------------------------------------
def test_a_sleeping_policy_is_truncated_at_the_episode_time_limit_and_scored(fmt):
    from agentgym.rl.trl_env import environment_class

    stats = []
    inst = environment_class("shell-fixture", env_kwargs=KW, max_turns=4, on_episode=stats.append, max_seconds=1.0)()
    try:
        inst.reset(task_id="hello", seed=0)
        t0 = time.monotonic()
        out = inst.bash(command="sleep 600")
        assert time.monotonic() - t0 < 20 and "time limit (1 s) is used up" in out
        assert "nothing more runs" in inst.bash(command="echo hi")
        assert inst.get_reward() == 0.0  # scored: the policy spent the budget (not None, not dropped)
        (stat,) = stats
        assert stat.truncated and stat.truncation_reason == "max_seconds" and stat.infra_error is None and not stat.passed
    finally:
        inst._close()

    import agentgym

    with agentgym.make("shell-fixture", **KW) as env:
        sleep = call_text("bash", {"command": "sleep 600"})
        t0 = time.monotonic()
        ep = asyncio.run(acollect_episode(env, ScriptedTokens(fmt.tokenizer, [sleep, sleep]), fmt, group_id="g", task_id="hello",
                                          seed=0, config=CollectConfig(max_seconds=1.0)))
        assert time.monotonic() - t0 < 20 and len(ep.turns) == 1
    assert ep.truncated and ep.truncation_reason == ep.end_reason == "max_seconds" and ep.usable and not ep.passed
    assert make_batch([ep]).dropped_infra == 0


def test_the_time_limit_hides_nothing_in_the_observation_and_refuses_bad_values():
    from agentgym.rl.episode_bounds import EpisodeDeadline
    from agentgym.rl.trl_env import environment_class

    with pytest.raises(ValueError, match="max_seconds must be a positive number"):
        environment_class("shell-fixture", env_kwargs=KW, max_seconds=0)
    with pytest.raises(ValueError):
        CollectConfig(max_seconds=float("inf"))
    now = [0.0]
    d = EpisodeDeadline(5.0, clock=lambda: now[0])
    import agentgym

    with agentgym.make("shell-fixture", **KW) as env:
        obs, _ = env.reset(options={"task_id": "hello"})
        d.start(env)
        now[0] = 3.0
        assert env.command_timeout(None, 30.0) == pytest.approx(2.0)  # a command is cut at what is left
        assert "time" not in obs["text"].rsplit("[budget used:", 1)[-1]  # the footer the SFT data and evaluations show
        now[0] = 5.0
        assert d.over()
