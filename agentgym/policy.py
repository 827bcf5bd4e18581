"""The Policy protocol: what acts in an env. Agents (agentgym.agents) and env-provided reference
policies both implement it, so rollouts and `agentgym validate` treat them alike."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol, runtime_checkable

from agentgym.actions import ToolCall


@runtime_checkable
class Policy(Protocol):
    def reset(self, obs: dict[str, Any], info: dict[str, Any]) -> None:
        """Called with the first observation of an episode."""

    def act(self, obs: dict[str, Any], info: dict[str, Any]) -> Any:
        """The next action (any shape the env's step() accepts)."""


class ScriptedPolicy:
    """Plays a fixed list of actions, then repeats `then` (default: a 'submit' call) forever."""

    def __init__(self, actions: Iterable[Any], then: Any = None):
        self.actions = list(actions)
        self.then = then if then is not None else ToolCall(name="submit")
        self._i = 0

    def reset(self, obs: dict[str, Any], info: dict[str, Any]) -> None:
        self._i = 0

    def act(self, obs: dict[str, Any], info: dict[str, Any]) -> Any:
        if self._i < len(self.actions):
            self._i += 1
            return self.actions[self._i - 1]
        return self.then


class DeferredPolicy:
    """Builds its real policy at each episode start, from a factory that may look at the env's
    current task (reference and null policies only exist once reset() picked a task)."""

    def __init__(self, factory: Callable[[], Policy]):
        self.factory = factory
        self._inner: Policy | None = None

    def reset(self, obs: dict[str, Any], info: dict[str, Any]) -> None:
        self._inner = self.factory()
        self._inner.reset(obs, info)

    def act(self, obs: dict[str, Any], info: dict[str, Any]) -> Any:
        if self._inner is None:
            raise RuntimeError("DeferredPolicy.act() before reset()")
        return self._inner.act(obs, info)
