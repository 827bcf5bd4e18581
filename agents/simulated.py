"""Known-skill simulated policies: the scaling machinery (pass@k, selection, sweeps) tested
without an LLM, against ground truth we know.

SimulatedPolicy(env, p, seed) solves the current task with probability p by playing the env's
reference policy, and otherwise takes a plausible wrong path: a few exploratory calls of the
env's tools that change nothing (read-only ones when the env marks any; else none), then the
env's null policy, which `agentgym validate` guarantees never passes. The coin is a hash of
(seed, task_id), so a rollout is reproducible and samples with different seeds are independent.
"""

from __future__ import annotations

import hashlib
from typing import Any

from agentgym.actions import ToolCall
from agentgym.policy import Policy


def skill_coin(seed: int, task_id: str, salt: str = "") -> float:
    """A uniform number in [0, 1) fixed by (seed, task_id): deterministic across processes
    (Python's hash() of a str is not)."""
    digest = hashlib.sha256(f"{salt}|{seed}|{task_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


class SimulatedPolicy:
    def __init__(self, env: Any, p: float = 0.5, seed: int = 0, wrong_path_probes: list[ToolCall] | None = None):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"skill p must be in [0, 1], got {p}")
        self.env = env.unwrapped if hasattr(env, "unwrapped") else env
        self.p = p
        self.seed = seed
        # Calls made before giving up on a wrong path. Empty by default: a generic probe could
        # change state and pass by accident; envs or tests pass ones known to be harmless.
        self.wrong_path_probes = list(wrong_path_probes or [])
        self.solves: bool | None = None  # what the coin said for the current episode
        self._inner: Policy | None = None

    def reset(self, obs: dict[str, Any], info: dict[str, Any]) -> None:
        task_id = str(info.get("task_id") or self.env.task_id)
        self.solves = skill_coin(self.seed, task_id) < self.p
        if self.solves:
            self._inner = self.env.reference_policy()
        else:
            self._inner = _Then(self.wrong_path_probes, self.env.null_policy())
        self._inner.reset(obs, info)

    def act(self, obs: dict[str, Any], info: dict[str, Any]) -> Any:
        if self._inner is None:
            raise RuntimeError("SimulatedPolicy.act() before reset()")
        return self._inner.act(obs, info)


class _Then:
    """Plays fixed actions, then hands over to a policy (reset with the observation it sees then)."""

    def __init__(self, first: list[Any], then: Policy):
        self.first, self.then, self._i = first, then, 0

    def reset(self, obs: dict[str, Any], info: dict[str, Any]) -> None:
        self._i = 0
        if not self.first:
            self.then.reset(obs, info)

    def act(self, obs: dict[str, Any], info: dict[str, Any]) -> Any:
        if self._i < len(self.first):
            self._i += 1
            return self.first[self._i - 1]
        if self._i == len(self.first) and self.first:
            self.then.reset(obs, info)
            self._i += 1
        return self.then.act(obs, info)
