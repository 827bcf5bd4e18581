"""The SkyRL-gym adapter against the real skyrl-gym package: made through skyrl_gym.make with a
dataset row as extras (as SkyRL's generator does), init -> step(model text) -> reward/done, on the
shell fixture (local runtime). Gold replies (the env's reference calls written as <tool_call>
text) earn 1, a bare submit 0, text with no call is the env's malformed-action answer."""

from __future__ import annotations

import json

import pytest
from omegaconf import OmegaConf

from conftest import IN_CI

try:
    import skyrl_gym
except ImportError:
    if IN_CI:
        raise
    pytest.skip("needs skyrl-gym: pip install 'agentgym[rl]'", allow_module_level=True)

from agentgym.rl.adapters.skyrl import AgentGymTextEnv, register_skyrl

CONFIG = OmegaConf.create({"runtime": "local"})  # SkyRL hands env_config as an OmegaConf section


def _row(task: str) -> dict:
    return {"env_class": "agentgym", "extra_info": {"env_id": "shell-fixture", "task_id": task, "seed": 0}, "max_turns": 4}


def _as_text(call) -> str:
    return f"<tool_call>\n{json.dumps({'name': call.name, 'arguments': call.arguments})}\n</tool_call>"


@pytest.mark.parametrize("task", ["count-lines", "reverse-script"])
def test_gold_reaches_reward_one(task):
    env = skyrl_gym.make(register_skyrl(), env_config=CONFIG, extras=_row(task))
    assert isinstance(env, AgentGymTextEnv) and isinstance(env, skyrl_gym.Env)
    try:
        chat, meta = env.init([])
        assert chat[0]["role"] == "system" and '"name": "bash"' in chat[0]["content"]
        assert chat[-1]["role"] == "user" and task in chat[-1]["content"] and meta["task_id"] == task
        policy = env.env.reference_policy()
        rewards, out = [], None
        for _ in range(4):
            out = env.step(_as_text(policy.act({}, {})))
            rewards.append(out["reward"])
            if out["done"]:
                break
        assert out["done"] and sum(rewards) == 1.0 and out["observations"] == []
        assert env.get_metrics()["passed"] == 1.0 and out["metadata"]["infra_error"] is None
    finally:
        env.close()


def test_null_scores_zero_and_text_without_a_call_is_a_malformed_action():
    env = skyrl_gym.make("agentgym", env_config=CONFIG, extras=_row("count-lines"))
    try:
        env.init([{"role": "system", "content": "own system prompt"}])
        out = env.step("I think the answer is 42.")
        assert not out["done"] and out["reward"] == 0.0
        assert out["observations"][0]["role"] == "user" and out["observations"][0]["content"].startswith("Error:")
        assert "action_error" in out["metadata"]
        out = env.step('<tool_call>{"name": "submit", "arguments": {}}</tool_call>')
        assert out["done"] and out["reward"] == 0.0 and env.get_metrics()["passed"] == 0.0
    finally:
        env.close()


def test_missing_env_id_is_one_clear_error():
    with pytest.raises(ValueError, match="give env_id"):
        AgentGymTextEnv(CONFIG, {"extra_info": {"task_id": "x"}})
