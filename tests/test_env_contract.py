"""The Gymnasium contract of AgentEnv, checked exactly on a sandbox-free toy env."""

import gymnasium
import pytest
from gymnasium.utils.env_checker import check_env

import agentgym
from agentgym import Budget, ToolCall, ToolResult
from agentgym.env import MALFORMED
from toy_env import ToyEnv


@pytest.fixture
def env():
    e = ToyEnv()
    yield e
    e.close()


def test_check_env_passes(env):
    check_env(env, skip_render_check=True)


def test_first_observation_has_the_task_and_info_names_tools(env):
    obs, info = env.reset(seed=3, options={"task_id": "sum-4"})
    assert "1 + 2 + ... + 4" in obs["text"]
    assert info["task_id"] == "sum-4" and info["tools"] == ["echo", "add", "submit"]
    assert env.observation_space.contains(obs)


def test_tools_are_openai_json_schemas(env):
    tools = {t["function"]["name"]: t for t in env.tools}
    add = tools["add"]["function"]["parameters"]
    assert add["type"] == "object" and set(add["required"]) == {"a", "b"}
    assert add["properties"]["a"]["type"] == "integer"


def test_turn_limit_truncates_exactly_at_the_limit(env):
    env.reset(options={"task_id": "sum-2", "max_turns": 3})
    for turn in (1, 2):
        _, _, term, trunc, info = env.step({"name": "echo", "arguments": {"text": str(turn)}})
        assert not term and not trunc and info["remaining"]["turns"] == 3 - turn
    obs, _, term, trunc, info = env.step({"name": "echo", "arguments": {"text": "3"}})
    assert trunc and not term and info["truncated_reason"] == "max_turns"
    assert "turns 3/3" in obs["text"]


def test_tool_call_limit_refuses_the_call_past_it(env):
    env.reset(options={"task_id": "sum-2", "budget": {"max_turns": 10, "max_tool_calls": 2}})
    _, _, _, trunc, info = env.step([{"name": "echo", "arguments": {"text": t}} for t in "abc"])
    assert trunc and info["truncated_reason"] == "max_tool_calls"
    assert env.state == ["a", "b"], "the third call must not run"


def test_per_tool_limit(env):
    env.reset(options={"task_id": "sum-2", "budget": {"max_tool_calls_per_tool": {"add": 1}}})
    _, _, _, trunc, _ = env.step({"name": "add", "arguments": {"a": 1, "b": 2}})
    assert not trunc
    obs, _, _, trunc, info = env.step({"name": "add", "arguments": {"a": 1, "b": 2}})
    assert trunc and info["truncated_reason"] == "max_tool_calls_per_tool" and "Not run" in obs["text"]


def test_wall_time_limit_truncates_before_running_anything():
    now = [0.0]
    env = ToyEnv()
    env.clock = lambda: now[0]
    env.reset(options={"task_id": "sum-1", "budget": {"max_seconds": 5}})
    _, _, _, trunc, _ = env.step({"name": "echo", "arguments": {"text": "early"}})
    assert not trunc
    now[0] = 5.0
    _, _, _, trunc, info = env.step({"name": "echo", "arguments": {"text": "late"}})
    assert trunc and info["truncated_reason"] == "max_seconds"
    assert env.state == ["early"]


def test_malformed_action_is_an_observation_and_costs_a_turn(env):
    env.reset(options={"task_id": "sum-1", "max_turns": 5})
    for bad in ["{nope", {"name": "rm_rf"}, {"name": "add", "arguments": {"a": "x"}}]:
        obs, reward, term, trunc, info = env.step(bad)
        assert obs["text"].startswith("Error:") and reward == 0.0 and not term and not trunc
        assert "action_error" in info and "error" not in info
    assert info["usage"]["turns"] == 3 and info["usage"]["tool_calls"] == {MALFORMED: 3}
    assert "available tools: echo, add, submit" in env.step({"name": "nope"})[0]["text"]


def test_submit_terminates_with_reward(env):
    env.reset(options={"task_id": "sum-3"})
    obs, reward, term, trunc, info = env.step({"name": "submit", "arguments": {"answer": 6}})
    assert (reward, term, trunc) == (1.0, True, False) and info["terminated_reason"] == "tool:submit"
    obs, reward, term, _, info = env.step({"name": "echo", "arguments": {"text": "after"}})
    assert term and reward == 0.0 and "reset()" in obs["text"]


def test_crashing_tool_is_an_infrastructure_error_not_a_zero(env):
    env.reset(options={"task_id": "sum-1"})
    env._tool_map["add"].handler = lambda a: 1 / 0
    obs, reward, term, trunc, info = env.step({"name": "add", "arguments": {"a": 1, "b": 1}})
    assert term and info["error"].startswith("ZeroDivisionError") and "Infrastructure error" in obs["text"]


def test_reset_options_are_validated(env):
    with pytest.raises(ValueError, match="unknown task_id"):
        env.reset(options={"task_id": "nope"})
    with pytest.raises(ValueError, match="invalid reset options"):
        env.reset(options={"max_turn": 3})


def test_step_before_reset_raises_reset_needed():
    with pytest.raises(gymnasium.error.ResetNeeded):
        ToyEnv().step({"name": "echo", "arguments": {"text": "x"}})


def test_seeded_reset_picks_tasks_deterministically(env):
    a = [env.reset(seed=s)[1]["task_id"] for s in range(10)]
    b = [env.reset(seed=s)[1]["task_id"] for s in range(10)]
    assert a == b and len(set(a)) > 1


def test_fork_is_independent(env):
    env.reset(options={"task_id": "sum-3", "max_turns": 5})
    env.step({"name": "echo", "arguments": {"text": "shared"}})
    child = env.fork()
    child.step({"name": "echo", "arguments": {"text": "child"}})
    assert env.state == ["shared"] and child.state == ["shared", "child"]
    assert env.tracker.turns == 1 and child.tracker.turns == 2
    _, r, term, _, _ = child.step({"name": "submit", "arguments": {"answer": 6}})
    assert term and r == 1.0
    _, _, term, _, _ = env.step({"name": "echo", "arguments": {"text": "parent goes on"}})
    assert not term


def test_context_manager_closes():
    with ToyEnv() as e:
        e.reset()
    assert e.closed


def test_registry_make_and_gymnasium_make():
    agentgym.register("toy", "toy_env:ToyEnv", description="test toy")
    try:
        env = agentgym.make("toy", n_tasks=2)
        assert isinstance(env, ToyEnv) and env.env_id == "toy" and env.task_ids() == ["sum-1", "sum-2"]
        wrapped = gymnasium.make("agentgym/toy-v0")
        assert isinstance(wrapped.unwrapped, ToyEnv)
        obs, _ = wrapped.reset(seed=0)
        assert "Compute" in obs["text"]
        assert agentgym.make("agentgym/toy-v0").env_id == "toy"
        assert "toy" in agentgym.list_envs()
    finally:
        gymnasium.registry.pop("agentgym/toy-v0", None)
        agentgym.registry._ENVS.pop("toy", None)


def test_unknown_id_lists_closest_ids():
    with pytest.raises(agentgym.UnknownEnvError) as exc:
        agentgym.make("shell-fixtur")
    assert "Did you mean: shell-fixture" in str(exc.value)


def test_tool_result_rewards_add_up_over_parallel_calls():
    env = ToyEnv()
    env.reset(options={"task_id": "sum-1"})
    env._tool_map["echo"].handler = lambda a: ToolResult(output="", reward=0.25)
    _, reward, *_ = env.step([{"name": "echo", "arguments": {"text": "x"}}] * 2)
    assert reward == 0.5


def test_budget_object_and_max_turns_kwarg():
    env = ToyEnv(budget=Budget(max_turns=7), max_turns=2)
    assert env.default_budget.max_turns == 2
    env.reset(options={"task_id": "sum-1"})
    env.step(ToolCall(name="echo", arguments={"text": "1"}))
    assert env.step(ToolCall(name="echo", arguments={"text": "2"}))[3]


def test_rollout_records_steps_and_flags_a_policy_that_never_ends():
    import asyncio

    from agentgym import run_episode
    from agentgym.parallel import RolloutSpec, run_episode_async
    from agentgym.policy import ScriptedPolicy

    env = ToyEnv(budget={"max_turns": None})  # no turn limit: only max_steps can stop this policy
    echo = ToolCall(name="echo", arguments={"text": "again"})
    looping = ScriptedPolicy([], then=echo)
    traj = run_episode(env, looping, options={"task_id": "sum-2"}, max_steps=5)
    assert traj.turns == 5 and traj.truncated and not traj.passed
    assert traj.error == "policy did not finish within 5 steps"
    spec = RolloutSpec(env_id="toy", task_id="sum-2", seed=0)
    atraj = asyncio.run(run_episode_async(env, ScriptedPolicy([], then=echo), spec, max_steps=5))
    assert (atraj.turns, atraj.error) == (5, traj.error)

    solved = run_episode(env, ScriptedPolicy([ToolCall(name="submit", arguments={"answer": 3})]), options={"task_id": "sum-2"})
    assert solved.passed and solved.terminated and solved.total_reward == 1.0 and solved.error is None
    assert solved.steps[0].action == {"name": "submit", "arguments": {"answer": 3}}
