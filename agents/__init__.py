"""Agent policies, by name (what `agentgym run --agent NAME` picks from).

Agents depend on the core, never on a domain: they see an env's published tools, observations
and its reference/null policies only through the AgentEnv interface. Every factory takes
(env, **kwargs); model-driven agents take backend settings as kwargs (base_url, model, api_key,
backend_kind, backend_kwargs) or a ready `backend`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agentgym.agents.basic import NullAgent, OracleAgent, RandomAgent
from agentgym.agents.simulated import SimulatedPolicy, skill_coin

from agentgym.policy import Policy

AgentFactory = Callable[..., Policy]


def _react(env: Any, **kwargs: Any) -> Policy:
    from agentgym.agents.react import (
        ReActAgent,  # needs the models extra (httpx) only when used
    )

    return ReActAgent(env, **kwargs)


def _budget_aware(env: Any, **kwargs: Any) -> Policy:
    from agentgym.agents.react import BudgetAwareAgent

    return BudgetAwareAgent(env, **kwargs)


AGENTS: dict[str, tuple[AgentFactory, str]] = {
    "oracle": (OracleAgent, "the env's reference solution for the current task"),
    "null": (NullAgent, "the env's do-nothing policy (must never pass)"),
    "random": (RandomAgent, "samples tool calls from the env's action space (a fuzzing baseline)"),
    "react": (_react, "tool-calling ReAct agent over a model backend (kwargs: base_url, model, ...)"),
    "budget-aware": (_budget_aware, "ReAct plus BATS budget tracking and strategy hints after every tool response"),
    "simulated": (SimulatedPolicy, "solves with probability p via the reference, else the null path (kwargs: p, seed)"),
}


def register_agent(name: str, factory: AgentFactory, description: str = "") -> None:
    AGENTS[name] = (factory, description)


def make_agent(name: str, env: Any, **kwargs: Any) -> Policy:
    """Build agent `name` for `env` (the bare AgentEnv). Names not built in are looked up in the
    `agentgym.agents` entry-point group (agentgym.plugins) first."""
    if name not in AGENTS:
        from agentgym import plugins

        plugins.load(plugins.AGENT_GROUP)
        if name not in AGENTS:
            raise KeyError(f"no agent {name!r}; available: {', '.join(sorted(AGENTS))}." + plugins.failure_hint(plugins.AGENT_GROUP))
    return AGENTS[name][0](env, **kwargs)


__all__ = ["AGENTS", "NullAgent", "OracleAgent", "RandomAgent", "SimulatedPolicy", "make_agent", "register_agent", "skill_coin"]
