"""Agent policies, by name (what `agentgym run --agent NAME` picks from).

Agents depend on the core, never on a domain: they see an env's published tools, observations
and its reference/null policies only through the AgentEnv interface.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agentgym.agents.basic import NullAgent, OracleAgent, RandomAgent
from agentgym.policy import Policy

AgentFactory = Callable[..., Policy]

AGENTS: dict[str, tuple[AgentFactory, str]] = {
    "oracle": (OracleAgent, "the env's reference solution for the current task"),
    "null": (NullAgent, "the env's do-nothing policy (must never pass)"),
    "random": (RandomAgent, "samples tool calls from the env's action space (a fuzzing baseline)"),
}


def register_agent(name: str, factory: AgentFactory, description: str = "") -> None:
    AGENTS[name] = (factory, description)


def make_agent(name: str, env: Any, **kwargs: Any) -> Policy:
    """Build agent `name` for `env` (the bare AgentEnv)."""
    if name not in AGENTS:
        raise KeyError(f"no agent {name!r}; available: {', '.join(sorted(AGENTS))}")
    return AGENTS[name][0](env, **kwargs)


__all__ = ["AGENTS", "NullAgent", "OracleAgent", "RandomAgent", "make_agent", "register_agent"]
