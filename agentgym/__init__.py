"""agentgym: containerized, interactive Gymnasium environments for LLM agents.

    import agentgym
    env = agentgym.make("shell-fixture")
    obs, info = env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step({"name": "bash", "arguments": {"command": "ls"}})
"""

from agentgym.actions import ActionError, Tool, ToolCall, ToolResult, parse_action
from agentgym.budget import Budget, BudgetTracker, Usage
from agentgym.env import AgentEnv, InfraError, ResetOptions
from agentgym.policy import Policy, ScriptedPolicy
from agentgym.registry import EnvInfo, UnknownEnvError, env_info, gym_id, list_envs, make, register
from agentgym.rollout import StepRecord, Trajectory, run_episode

# Registers every domain's ids (string entry points only: no domain module is imported here).
import agentgym.envs  # noqa: E402,F401

__version__ = "0.1.0"

__all__ = [
    "ActionError", "AgentEnv", "Budget", "BudgetTracker", "EnvInfo", "InfraError", "Policy",
    "ResetOptions", "ScriptedPolicy", "StepRecord", "Tool", "ToolCall", "ToolResult", "Trajectory",
    "UnknownEnvError", "Usage", "env_info", "gym_id", "list_envs", "make", "parse_action", "register",
    "run_episode",
]
