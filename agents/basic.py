"""Agents that need no model: the oracle (reference solution) and a random baseline."""

from __future__ import annotations

from typing import Any

from agentgym.policy import DeferredPolicy


def OracleAgent(env: Any) -> DeferredPolicy:
    """The env's reference solution, rebuilt at each episode start (the task is known only then)."""
    return DeferredPolicy(env.unwrapped.reference_policy)


def NullAgent(env: Any) -> DeferredPolicy:
    """The env's do-nothing policy (what `validate` checks never passes)."""
    return DeferredPolicy(env.unwrapped.null_policy)


class RandomAgent:
    def __init__(self, env: Any, seed: int | None = None):
        self.space = env.action_space
        self.space.seed(seed)

    def reset(self, obs: dict[str, Any], info: dict[str, Any]) -> None:
        pass

    def act(self, obs: dict[str, Any], info: dict[str, Any]) -> Any:
        return self.space.sample()
