"""An agentgym env as a verifiers environment (the ``verifiers.v1`` stack: Taskset, Task, Toolset).

Why this shape: verifiers 0.4 (what prime-rl trains with) builds an environment from a
``Taskset`` (the tasks: prompts plus data), a ``Task`` per row (its ``@vf.reward``s and
``@vf.stop``s score and end a rollout from the trace) and ``Toolset``s (MCP tool servers launched
per rollout, whose ``@vf.tool`` methods the model calls; they share a typed ``State`` with the host
trace through verifiers' state channel). The multi-turn loop itself belongs to the agent harness.
So an agentgym env maps onto it as:

- ``taskset_class(env_id)``: one Task per task id of the chosen split, the env's task statement as
  the prompt, ``env_id``/``task_id``/``seed`` in the task data;
- a Toolset whose tools are the env's tools (names, descriptions, argument types from
  ``env.tools``); ``setup_task`` resets its own env to the task, each call goes through
  ``env.step`` and records reward, turns, termination and infrastructure errors in the state;
- the Task's ``env_reward`` returns the episode's env reward; when an infrastructure error ended
  the episode it raises verifiers' ``SandboxError``, so the rollout is recorded as errored with its
  reward unscored (retryable by verifiers' RetryConfig), never as a zero; ``episode_over`` stops the
  rollout once the env terminated or truncated. A step reward that is no finite number is an
  infrastructure error too (the env's bug; agentgym.rl.episode_bounds); ``max_seconds`` in the task
  data (default ``DEFAULT_MAX_SECONDS``) bounds each episode's wall-clock time from its reset, after
  which the episode is over (truncated, scored).

Grading stays the env's: the toolset process holds the env (its sandbox and grader); the model
only ever sees tool results.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import re
from typing import Any

import verifiers.v1 as vf

from agentgym.rl.episode_bounds import DEFAULT_MAX_SECONDS, EpisodeDeadline, non_finite_reward
from agentgym.rl.toolmethods import env_tool_schemas, tool_methods


class AgentGymState(vf.State):
    """The episode as the env scored it, shared between the tool server and the host trace."""

    reward: float = 0.0
    turns: int = 0
    done: bool = False
    passed: bool = False
    infra_error: str | None = None


class AgentGymTaskData(vf.TaskData):
    env_id: str
    task_id: str
    seed: int | None = None
    max_turns: int = 10
    max_seconds: float | None = DEFAULT_MAX_SECONDS
    split: str | None = None
    env_kwargs: dict[str, Any] = {}


class AgentGymToolsetConfig(vf.ToolsetConfig):
    pass


class _ToolsetBase(vf.Toolset[AgentGymToolsetConfig, AgentGymState]):
    TOOL_PREFIX = None  # the env's tool names, bare: what the statement tells the model to call
    env: Any = None
    _calls: asyncio.Lock | None = None
    _deadline: EpisodeDeadline | None = None

    def _with_state(self, fn: Any) -> Any:
        """One tool call at a time, state pull to state push included. A model's parallel tool
        calls reached the MCP server concurrently: env.step ran in two threads on one env (two
        submits both graded: 'Passed' twice), and each call pulled the state before the other
        pushed, so the channel's last write won (turns, reward, done or an infrastructure error
        lost). Serialised, they run as the model listed them: later ones see the episode over."""
        inner = super()._with_state(fn)

        @functools.wraps(inner)
        async def one_at_a_time(*args: Any, **kwargs: Any) -> Any:
            if self._calls is None:
                self._calls = asyncio.Lock()
            async with self._calls:
                return await inner(*args, **kwargs)

        one_at_a_time.__signature__ = inspect.signature(inner)  # type: ignore[attr-defined]
        return one_at_a_time

    async def setup_task(self, task: AgentGymTaskData) -> None:
        import agentgym

        # make, reset and step run in a worker thread: they block for seconds (a container start, a
        # grading run), and the tool server's event loop must keep answering meanwhile
        if self.env is None:
            self.env = await asyncio.to_thread(agentgym.make, task.env_id, **task.env_kwargs)
            # closed when the tool server shuts down (its exit stack), not left to the reaper
            self._exit_stack.push_async_callback(asyncio.to_thread, self.env.close)
        await asyncio.to_thread(self.env.reset, seed=task.seed, options={"task_id": task.task_id, "max_turns": task.max_turns})
        self._deadline = EpisodeDeadline(task.max_seconds)
        self._deadline.start(self.env)

    async def _step(self, name: str, arguments: dict[str, Any]) -> str:
        state = self.state
        if state.done:
            return "The episode is over; nothing more runs."
        if self._deadline is not None and self._deadline.over():  # a budget the policy spent: scored
            state.done = True
            return self._deadline.message()
        try:
            obs, reward, terminated, truncated, info = await asyncio.to_thread(self.env.step, {"name": name, "arguments": arguments})
        except Exception as exc:  # noqa: BLE001 - step must not raise (the env contract): infrastructure, as the
            # collector reads it; MCP showed the model the exception and the rollout was scored as if nothing broke
            state.infra_error, state.done = f"step raised: {type(exc).__name__}: {exc}", True
            return "Infrastructure error (not your fault); this episode is not scored."
        state.turns += 1
        if (bad := non_finite_reward(reward)) is not None:  # the env's bug: unscored (SandboxError), never NaN
            state.infra_error, state.done = bad, True
            return "Infrastructure error (not your fault); this episode is not scored."
        state.reward += float(reward)
        if info.get("error"):
            state.infra_error = str(info["error"])
        if terminated or truncated:
            state.done = True
            state.passed = state.infra_error is None and terminated and bool(self.env.unwrapped.passed(state.reward, info))
        elif self._deadline is not None and self._deadline.over():
            state.done = True
            return f"{obs['text']}\n{self._deadline.message()}"
        return obs["text"]


def toolset_class(env_id: str, env_kwargs: dict[str, Any] | None = None) -> type:
    """A Toolset class whose ``@vf.tool`` methods are ``env_id``'s tools.

    Raises:
        ValueError: a tool whose name is no Python identifier or would replace a Toolset attribute.
    """
    reserved = {n for n in dir(_ToolsetBase) if not n.startswith("_")}
    methods = tool_methods(env_id, env_tool_schemas(env_id, env_kwargs), "_step", reserved=reserved,
                           is_async=True, args_doc=False, returns=str, drop_unset=True)
    return type("AgentGymToolset_" + re.sub(r"\W", "_", env_id), (_ToolsetBase,),
                {name: vf.tool(method) for name, method in methods.items()})


class _TaskBase(vf.Task[AgentGymTaskData, AgentGymState]):
    _toolset: type | None = None

    @classmethod
    def toolsets(cls, config: Any) -> list[Any]:
        assert cls._toolset is not None
        return [cls._toolset(AgentGymToolsetConfig())]

    @vf.reward
    async def env_reward(self, trace: vf.Trace) -> float:
        """The env's total reward. An infrastructure error raises verifiers' SandboxError: the
        rollout ends as errored (``sandbox_error``, reward left unscored, retryable), never 0."""
        state = trace.state
        if state.infra_error:
            raise vf.SandboxError(f"agentgym env infrastructure error (not the agent's): {state.infra_error}")
        return float(state.reward)

    @vf.metric
    async def env_turns(self, trace: vf.Trace) -> float:
        return float(trace.state.turns)

    @vf.stop
    async def episode_over(self, trace: vf.Trace) -> bool:
        return bool(trace.state.done)


class AgentGymTasksetConfig(vf.TasksetConfig):
    split: str | None = "train"
    seed: int | None = 0
    max_turns: int = 10


def taskset_class(env_id: str, env_kwargs: dict[str, Any] | None = None) -> type:
    """A Taskset class over ``env_id`` (``cls(AgentGymTasksetConfig(split="train"))``).

    An env that can leave its sandbox's absolute path out of the statement (``show_workdir``) does,
    unless ``env_kwargs`` says otherwise: the prompt comes from one env and the tools run in another
    (the Toolset's own), whose path on the local runtime is a different temporary directory.
    """
    import agentgym

    kwargs = dict(env_kwargs or {})
    if "show_workdir" in agentgym.registry.env_options(env_id)[0]:
        kwargs.setdefault("show_workdir", False)
    task_cls = type("AgentGymTask_" + re.sub(r"\W", "_", env_id), (_TaskBase,),
                    {"_toolset": toolset_class(env_id, kwargs)})

    class AgentGymTaskset(vf.Taskset[task_cls, AgentGymTasksetConfig]):  # type: ignore[valid-type]
        def load(self):
            import agentgym
            from agentgym.rl.splits import split_of

            cfg = self.config
            with agentgym.make(env_id, **kwargs) as env:
                for tid in env.unwrapped.task_ids():
                    split = split_of(env, tid)
                    if cfg.split is not None and split != cfg.split:
                        continue
                    obs, _ = env.reset(seed=cfg.seed, options={"task_id": tid, "max_turns": cfg.max_turns})
                    yield task_cls(AgentGymTaskData(id=tid, name=tid, prompt=obs["text"], env_id=env_id, task_id=tid,
                                                    seed=cfg.seed, max_turns=cfg.max_turns, split=split, env_kwargs=kwargs))

    AgentGymTaskset.__name__ = AgentGymTaskset.__qualname__ = "AgentGymTaskset_" + re.sub(r"\W", "_", env_id)
    return AgentGymTaskset


__all__ = ["AgentGymState", "AgentGymTaskData", "AgentGymTasksetConfig", "AgentGymToolsetConfig", "taskset_class", "toolset_class"]
