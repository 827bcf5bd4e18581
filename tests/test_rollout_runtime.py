"""Every stored trajectory says which sandbox runtime it ran on (the local runtime is no security
boundary, so results from it must be told apart from docker's in a sweep's store)."""

import asyncio

import agentgym
from agentgym.agents import OracleAgent
from agentgym.parallel import RolloutSpec, run_episode_async
from agentgym.rollout import Trajectory, run_episode


def test_trajectories_record_the_runtime_reset_reports():
    env = agentgym.make("shell-fixture", runtime="local")
    try:
        traj = run_episode(env, OracleAgent(env), seed=0)
        assert traj.runtime == "local" and traj.passed
        spec = RolloutSpec(env_id="shell-fixture", task_id=traj.task_id, sample=0, seed=0)
        again = asyncio.run(run_episode_async(env, OracleAgent(env), spec))
        assert again.runtime == "local"
        assert Trajectory.model_validate_json(again.model_dump_json()).runtime == "local"
    finally:
        env.close()
