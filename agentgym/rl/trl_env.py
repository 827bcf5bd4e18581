"""An agentgym env as a TRL ``environment_factory`` environment (GRPOTrainer's multi-turn hook).

Why this shape: TRL 1.x's GRPOTrainer plays multi-turn episodes itself when given
``environment_factory``: it calls the env's ``reset(**dataset_row)``, exposes the env's public
methods as tools (their signatures and Google-style docstrings become the JSON schemas the chat
template renders), parses the model's tool calls, runs them, appends the results as tool messages
by token concatenation (no re-tokenization; tool tokens are masked out of the loss) and finally
asks ``get_reward()``. So the bridge is a class with one method per agentgym tool, built from
``env.tools``: the model sees the env's own tool names, descriptions and argument types, and each
call goes through ``env.step`` (the env validates arguments and counts malformed calls by its own
published rule).

Rewards: ``get_reward`` returns the episode's total env reward, or ``None`` when an
infrastructure error (``info["error"]``, or a reset that could not start the task) ended it: TRL
treats a rollout whose every reward is None as unscorable (left out of the group baseline, zero
advantage), so an infra failure is never trained on as a zero, and never stops the run. A step
reward that is not a finite number is the env's bug: an infrastructure error too
(agentgym.rl.episode_bounds). Every finished rollout is also reported to ``on_episode`` (pass
rate, turns, errors for the run store).

Time: each rollout has ``max_seconds`` of wall-clock time from its reset (default
``DEFAULT_MAX_SECONDS``); a command is cut at what is left, and then the episode ends truncated
``'max_seconds'`` and is scored (a budget the policy spent, not an infrastructure error).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from agentgym.rl.episode_bounds import DEFAULT_MAX_SECONDS, EpisodeDeadline, non_finite_reward
from agentgym.rl.toolmethods import env_tool_schemas, tool_methods

#: names a tool cannot take: TRL's hooks and the attributes _Base keeps per episode (a method named
#: like one would be listed as a tool from the class, then shadowed by the attribute on the instance)
RESERVED = {"reset", "get_reward", "env", "total_reward", "turns", "done", "terminated", "truncated", "error",
            "passed_info", "task_id", "seed", "truncation_reason"}


class EpisodeStat(BaseModel):
    """One rollout TRL played, as the env saw it."""

    env_id: str
    task_id: str | None
    seed: int | None = None
    reward: float
    passed: bool
    turns: int
    terminated: bool
    truncated: bool
    truncation_reason: str | None = None
    infra_error: str | None = None


class _Base:
    """Shared behaviour of the generated classes (see environment_class)."""

    _env_id: str = ""
    _env_kwargs: dict[str, Any] = {}
    _max_turns: int | None = None
    _max_seconds: float | None = DEFAULT_MAX_SECONDS
    _on_episode: Callable[[EpisodeStat], None] | None = None

    def __init__(self) -> None:
        import agentgym

        self.env = agentgym.make(self._env_id, **self._env_kwargs)
        self._split_pools: dict[str, list[str]] = {}  # a split's task ids, listed once per instance (task_of_split)
        self._clear()

    def _clear(self) -> None:
        self.total_reward, self.turns, self.done, self.terminated, self.truncated = 0.0, 0, False, False, False
        self.error: str | None = None
        self.truncation_reason: str | None = None
        self._deadline = EpisodeDeadline(self._max_seconds)
        self.passed_info: dict[str, Any] = {}
        self.task_id: str | None = None
        self.seed: int | None = None
        self._reported = False

    def reset(self, **row: Any) -> str:
        """Start the row's task (``task_id``, ``seed`` columns; without ``task_id`` one of the row's
        ``split``, default train, chosen by the seed); return its statement (TRL appends it to the
        prompt's last user message)."""
        self._clear()
        seed = row.get("seed")
        self.seed = int(seed) if seed is not None else None
        options: dict[str, Any] = {}
        if self._max_turns is not None:
            options["max_turns"] = self._max_turns
        try:
            if row.get("task_id") is not None:
                options["task_id"] = str(row["task_id"])
            else:  # a task of the row's split (default train): the env's own pick ranged over held-out tasks too;
                # a task listing that fails (its backend down) is this rollout's infrastructure error, as a reset's
                from agentgym.rl.splits import task_of_split

                options["task_id"] = task_of_split(self.env, str(row.get("split") or "train"), self.seed,
                                                   cache=self._split_pools)
            obs, info = self.env.reset(seed=self.seed, options=options)
        except ValueError:
            raise  # a bad task id or options: the caller's mistake, said as is
        except Exception as exc:  # noqa: BLE001 - the task could not start (a sandbox, a database): infrastructure
            # It raised out of TRL's generation step and ended the whole training run; now the rollout
            # is unscored (get_reward None), as an infrastructure error during the episode is.
            self.error, self.done = f"reset failed: {type(exc).__name__}: {exc}", True
            self.task_id = options.get("task_id")
            return "Infrastructure error (not your fault): the task could not start. This episode is not scored."
        self.task_id = info.get("task_id")
        self._deadline.start(self.env)
        return obs["text"]

    def _call(self, name: str, arguments: dict[str, Any]) -> str:
        if self.done:
            return "The episode is over; nothing more runs. Stop calling tools."
        if self._deadline.over():  # the time ran out between calls (generation counts too)
            self._time_up()
            return self._deadline.message()
        try:
            obs, reward, terminated, truncated, info = self.env.step({"name": name, "arguments": arguments})
        except Exception as exc:  # noqa: BLE001 - step must not raise (the env contract): infrastructure, as the
            # collector reads it. TRL caught it, showed the model an error and scored the episode as if nothing broke.
            self.error, self.done = f"step raised: {type(exc).__name__}: {exc}", True
            return "Infrastructure error (not your fault); this episode is not scored."
        self.turns += 1
        if (bad := non_finite_reward(reward)) is not None:  # the env's bug: unscored, nothing more runs
            self.error, self.done = bad, True
            return "Infrastructure error (not your fault); this episode is not scored."
        self.total_reward += float(reward)
        if info.get("error"):
            self.error = str(info["error"])
        if terminated or truncated:
            self.done, self.terminated, self.truncated, self.passed_info = True, terminated, truncated, info
            self.truncation_reason = info.get("truncated_reason") if truncated else None
        elif self._deadline.over():
            self._time_up()
            return f"{obs['text']}\n{self._deadline.message()}"
        return obs["text"]

    def _time_up(self) -> None:
        self.done, self.truncated, self.truncation_reason = True, True, "max_seconds"

    def get_reward(self) -> float | None:
        """The episode's env reward; None (unscorable in TRL) when an infrastructure error ended it.
        A rollout that never ended its episode (no submit) scores what the env gave so far."""
        stat = EpisodeStat(
            env_id=self._env_id, task_id=self.task_id, seed=self.seed, reward=self.total_reward,
            passed=self.error is None and self.terminated and bool(self.env.unwrapped.passed(self.total_reward, self.passed_info)),
            turns=self.turns, terminated=self.terminated, truncated=self.truncated,
            truncation_reason=self.truncation_reason, infra_error=self.error,
        )
        if self._on_episode is not None and not self._reported:
            self._reported = True
            type(self)._on_episode(stat)  # type: ignore[misc]
        return None if self.error is not None else self.total_reward

    def _close(self) -> None:
        """Not public: TRL would take every public method for a tool."""
        self.env.close()


def environment_class(env_id: str, *, env_kwargs: dict[str, Any] | None = None, max_turns: int | None = None,
                      on_episode: Callable[[EpisodeStat], None] | None = None,
                      max_seconds: float | None = DEFAULT_MAX_SECONDS) -> type:
    """A class for ``GRPOTrainer(environment_factory=cls)``: each instance owns one agentgym env.

    Args:
        env_id: a registered agentgym id (``agentgym list``).
        env_kwargs: passed to ``agentgym.make`` (``runtime="local"``, ...).
        max_turns: the episode's horizon (reset option); also bound TRL's tool loop with
            ``GRPOConfig(max_tool_calling_iterations=...)``.
        on_episode: called with an EpisodeStat for every rollout TRL scores.
        max_seconds: wall-clock seconds per rollout from its reset (None: no bound of ours).

    Raises:
        agentgym.UnknownEnvError: an unknown env id.
        ValueError: a tool whose name is no Python identifier or clashes with RESERVED.
    """
    kwargs = dict(env_kwargs or {})
    methods = tool_methods(env_id, env_tool_schemas(env_id, kwargs), "_call", reserved=RESERVED)
    EpisodeDeadline(max_seconds)  # a bad value is one error here, not one per rollout
    attrs = {"_env_id": env_id, "_env_kwargs": kwargs, "_max_turns": max_turns, "_max_seconds": max_seconds,
             "_on_episode": staticmethod(on_episode) if on_episode else None, **methods}
    cls_name = "AgentGym_" + re.sub(r"\W", "_", env_id)
    return type(cls_name, (_Base,), attrs)


def tool_schemas(env_cls: type) -> list[dict[str, Any]]:
    """The tool schemas GRPOTrainer renders for ``env_cls`` (its methods through transformers'
    get_json_schema, in TRL's order): SFT rows and evaluations render these too, so the model sees
    the same system prompt in every stage."""
    from transformers.utils import get_json_schema

    names = sorted(n for n, _ in inspect.getmembers(env_cls, predicate=inspect.isfunction)
                   if n not in RESERVED and not n.startswith("_"))
    return [get_json_schema(getattr(env_cls, n)) for n in names]


__all__ = ["EpisodeStat", "environment_class", "tool_schemas"]
