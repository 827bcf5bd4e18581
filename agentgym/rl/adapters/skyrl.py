"""An agentgym env as a SkyRL-gym environment (``skyrl_gym.envs.base_text_env.BaseTextEnv``).

Why: SkyRL's trainers play episodes through skyrl_gym: they build an env per dataset row with
``skyrl_gym.make(env_class, env_config=..., extras=row)``, call ``init(prompt)`` for the first
chat messages, then ``step(model_text)`` each turn for the observation messages, reward and done.
This class is that contract over any registered agentgym env:

- ``extras`` (the dataset row) picks ``env_id``, ``task_id``, ``seed`` and ``max_turns`` (at the
  top level or under ``extra_info``, as SkyRL datasets carry them); ``env_config`` (SkyRL's
  ``environment.skyrl_gym.<name>`` section) holds agentgym.make kwargs such as ``runtime``. A row
  without ``task_id`` gets a task of its ``split`` (the row's, else env_config's; default ``train``,
  never a held-out one by chance), chosen by its seed; ``split`` is never passed to agentgym.make. The
  split's task list is read once per env instance; a listing that fails is the rollout's
  infrastructure error, as a failed reset is.
- ``init`` resets the env and appends the task statement as a user message, after a system
  message listing the env's tools when the prompt has none.
- ``step`` parses the model's tool calls from its text and passes them to ``env.step``; text with
  no call goes to the env as it is, which answers it as a malformed action. The observation comes
  back as a user message (SkyRL's convention for tool output), the reward is the env's step reward
  (its sum over the episode is the env's total), done is terminated or truncated.
- An infrastructure error is reported in ``metadata["infra_error"]`` and ``get_metrics``; SkyRL
  has no "unscorable" reward, so a trainer must drop those episodes by that flag. A step reward that
  is no finite number is one (the env's bug; agentgym.rl.episode_bounds), returned as 0.0 and flagged.
- ``max_seconds`` (row or env_config; default ``DEFAULT_MAX_SECONDS``, None: no bound) is each
  episode's wall-clock time from ``init``: then it ends done with ``truncated_reason: 'max_seconds'``.

Use: ``register_skyrl()`` once in the training entry point, then name ``env_class: agentgym``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from skyrl_gym.envs.base_text_env import BaseTextEnv, BaseTextEnvStepOutput

from agentgym.rl.adapters import text_action, tools_prompt
from agentgym.rl.episode_bounds import DEFAULT_MAX_SECONDS, EpisodeDeadline, non_finite_reward

DEFAULT_ID = "agentgym"


def _pick(extras: Mapping[str, Any], key: str, default: Any = None) -> Any:
    if key in extras and extras[key] is not None:
        return extras[key]
    info = extras.get("extra_info") or {}
    return info.get(key, default) if isinstance(info, Mapping) else default


class AgentGymTextEnv(BaseTextEnv):
    """A registered agentgym env behind SkyRL-gym's text-env interface (see the module docstring)."""

    def __init__(self, env_config: Any = None, extras: Mapping[str, Any] | None = None):
        super().__init__()
        import agentgym

        extras = dict(extras or {})
        config = dict(env_config or {})
        self.env_id = _pick(extras, "env_id") or config.pop("env_id", None)
        if not self.env_id:
            raise ValueError("agentgym SkyRL env: give env_id in the dataset row (extras) or in env_config")
        config.pop("env_id", None)
        self.task_id = _pick(extras, "task_id")
        seed = _pick(extras, "seed")
        self.seed = int(seed) if seed is not None else None
        self.max_turns = int(_pick(extras, "max_turns", config.pop("max_turns", 10)))
        self.split = _pick(extras, "split") or config.pop("split", None) or "train"
        config.pop("split", None)  # agentgym.make takes no split: every env's __init__ raised on it
        self.deadline = EpisodeDeadline(_pick(extras, "max_seconds", config.pop("max_seconds", DEFAULT_MAX_SECONDS)))
        self.env = agentgym.make(self.env_id, **config)
        self.total_reward = 0.0
        self.passed = False
        self.infra_error: str | None = None
        self._split_pools: dict[str, list[str]] = {}  # the split's task ids, listed once per env (task_of_split)

    def init(self, prompt: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        options: dict[str, Any] = {"max_turns": self.max_turns}
        chat = list(prompt or [])
        try:
            if self.task_id is None:
                # a row without task_id: a task of the row's split (default train), picked by its seed; the env's
                # own random pick ranged over every task, held-out test tasks included, and trained on them
                from agentgym.rl.splits import task_of_split

                self.task_id = task_of_split(self.env, self.split, self.seed, cache=self._split_pools)
            options["task_id"] = str(self.task_id)
            obs, info = self.env.reset(seed=self.seed, options=options)
        except ValueError:
            raise  # a bad task id or options: the row's mistake, said as is
        except Exception as exc:  # noqa: BLE001 - the task could not start: flagged (the first step ends it), not an
            # exception out of SkyRL's generator
            self.infra_error = f"reset failed: {type(exc).__name__}: {exc}"
            chat.append({"role": "user", "content": "Infrastructure error (not your fault): the task could not start."})
            return chat, {"task_id": self.task_id, "env_id": self.env_id, "infra_error": self.infra_error}
        self.task_id = info.get("task_id")
        self.deadline.start(self.env)
        if not any(m.get("role") == "system" for m in chat):
            chat.insert(0, {"role": "system", "content": tools_prompt(self.env.tools)})
        chat.append({"role": "user", "content": obs["text"]})
        return chat, {"task_id": self.task_id, "env_id": self.env_id, "tools": self.env.tools}

    def step(self, action: str) -> BaseTextEnvStepOutput:
        self.turns += 1
        if self.infra_error is not None:  # the task never started, or an earlier step raised: nothing runs
            return BaseTextEnvStepOutput(observations=[], reward=0.0, done=True, metadata={"infra_error": self.infra_error})
        if self.deadline.over():  # the time ran out between steps (generation counts too): a budget, scored
            return BaseTextEnvStepOutput(observations=[], reward=0.0, done=True,
                                         metadata={"truncated_reason": "max_seconds", "infra_error": None})
        try:
            obs, reward, terminated, truncated, info = self.env.step(text_action(action))
        except Exception as exc:  # noqa: BLE001 - step must not raise (the env contract): infrastructure, flagged
            # as the collector reads it, instead of an exception out of SkyRL's generator (the whole batch)
            self.infra_error = f"step raised: {type(exc).__name__}: {exc}"
            return BaseTextEnvStepOutput(observations=[], reward=0.0, done=True, metadata={"infra_error": self.infra_error})
        if (bad := non_finite_reward(reward)) is not None:  # the env's bug: flagged, never a NaN in SkyRL's advantages
            self.infra_error = bad
            return BaseTextEnvStepOutput(observations=[], reward=0.0, done=True, metadata={"infra_error": self.infra_error})
        self.total_reward += float(reward)
        if info.get("error"):
            self.infra_error = str(info["error"])
        done = bool(terminated or truncated)
        if not done and self.deadline.over():
            done, info = True, {**info, "truncated_reason": "max_seconds"}
        if done:
            self.passed = self.infra_error is None and terminated and bool(self.env.unwrapped.passed(self.total_reward, info))
        metadata = {k: info[k] for k in ("task_id", "terminated_reason", "truncated_reason", "action_error", "agent_failure") if k in info}
        metadata["infra_error"] = self.infra_error
        return BaseTextEnvStepOutput(observations=[] if done else [{"role": "user", "content": obs["text"]}],
                                     reward=float(reward), done=done, metadata=metadata)

    def get_metrics(self) -> dict[str, Any]:
        return {"turns": self.turns, "reward": self.total_reward, "passed": float(self.passed),
                "infra_error": float(self.infra_error is not None)}

    def close(self) -> None:
        self.env.close()


def register_skyrl(id: str = DEFAULT_ID) -> str:
    """Register AgentGymTextEnv in skyrl_gym's registry under ``id``; returns the id."""
    import skyrl_gym

    if id not in skyrl_gym.registry:
        skyrl_gym.register(id=id, entry_point=f"{__name__}:AgentGymTextEnv")
    return id


__all__ = ["AgentGymTextEnv", "DEFAULT_ID", "register_skyrl"]
