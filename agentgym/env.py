"""AgentEnv: the Gymnasium environment every agentgym domain builds on.

The contract (design.md section 3):
- reset(seed, options) -> (obs, info); the task statement is in the first observation.
- step(action) -> (obs, reward, terminated, truncated, info); actions are tool calls in any shape
  actions.parse_action reads. A malformed action is an observation, never an exception.
- terminated: the task ended (submit, finish, unrecoverable). truncated: a budget ran out.
  info["truncated_reason"] / info["terminated_reason"] say why; an infrastructure failure is
  info["error"], never a silent zero; a failure the agent caused (agentgym.guard.AgentFault) is
  info["agent_failure"], reward 0 where it ends the episode, never info["error"].
- Observations are {"text": str}; domains may add keys (and space entries).

A domain subclass implements: task_ids(), _start_episode(task_id) -> statement, _tools() and,
when it holds resources, _end_episode() and _fork_episode(clone).
"""

from __future__ import annotations

import copy
import time
import traceback
from collections.abc import Callable, Sequence
from typing import Any

import gymnasium
from gymnasium import spaces
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agentgym.actions import ActionError, Tool, ToolCall, ToolResult, parse_action
from agentgym.budget import Budget, BudgetTracker
from agentgym.guard import AgentFault
from agentgym.policy import Policy, ScriptedPolicy
from agentgym.sandbox import SandboxError
from agentgym.spaces import TextSpace, ToolCallSpace

#: Published rule for malformed actions (unparseable, unknown tool, bad arguments).
MALFORMED_ACTION_RULE = (
    "a malformed action (not a tool call, unknown tool, invalid arguments) costs one turn and one "
    "tool call, recorded under the name '_malformed'; nothing runs"
)
MALFORMED = "_malformed"
_NAME_SHOWN = 80  # characters of a bad tool name echoed back, so a megabyte name isn't


class ResetOptions(BaseModel):
    """What reset(options=...) may choose without a new env instance (curricula, sweeps)."""

    model_config = ConfigDict(extra="forbid")

    task_id: str | None = None
    max_turns: int | None = Field(None, ge=1, description="horizon; shorthand for budget.max_turns")
    budget: Budget | None = None


class InfraError(RuntimeError):
    """Raised by a domain when its infrastructure (not the agent) failed."""


class AgentEnv(gymnasium.Env[dict[str, Any], Any]):
    metadata: dict[str, Any] = {"render_modes": ["ansi"], "malformed_action_rule": MALFORMED_ACTION_RULE}

    #: Short id this class is registered under (set by the registry when made through it).
    env_id: str = ""
    #: Clock for the wall-time budget; tests replace it to check limits exactly.
    clock: Callable[[], float] = staticmethod(time.monotonic)

    def __init__(
        self,
        *,
        budget: Budget | dict[str, Any] | None = None,
        max_turns: int | None = None,
        show_budget: bool = True,
        render_mode: str | None = None,
        env_id: str = "",
    ):
        # Subclasses set their own state first and call this last: it asks _tools() for the
        # action space.
        self.env_id = env_id or self.env_id
        if budget is not None and not isinstance(budget, (Budget, dict)):
            raise TypeError(f"budget must be a Budget or a dict of its fields (e.g. {{'max_turns': 8}}), not {budget!r}")
        base = Budget.model_validate(budget) if isinstance(budget, dict) else (budget or Budget())
        if max_turns is not None:
            # validated, not model_copy'd: max_turns=0 or -3 is one clear error here, not a silent horizon
            base = Budget.model_validate({**base.model_dump(), "max_turns": max_turns})
        self.default_budget = base
        self.show_budget = show_budget
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']}, not {render_mode!r}")
        self.render_mode = render_mode
        self.tracker = BudgetTracker(base, self.clock)
        self.task_id: str | None = None
        self._tool_map: dict[str, Tool] = {}
        self._done = False
        self._started = False
        self._last_text = ""
        names = [t.name for t in self._tools()]
        self.observation_space = spaces.Dict({"text": TextSpace()})
        self.action_space = ToolCallSpace(names)

    # ---- what a domain implements -------------------------------------------------------------
    def task_ids(self) -> Sequence[str]:
        raise NotImplementedError

    def _start_episode(self, task_id: str) -> str:
        """Prepare the episode for task_id (sandbox, database...) and return the task statement."""
        raise NotImplementedError

    def _tools(self) -> list[Tool]:
        """The tools with handlers bound to this env. Called at init and at every reset."""
        raise NotImplementedError

    def _end_episode(self) -> None:
        """Release per-episode resources (called before a new episode and at close)."""

    def _fork_episode(self, clone: AgentEnv) -> None:
        """Give `clone` independent copies of per-episode resources (sandbox.fork(), ...)."""

    def _close(self) -> None:
        """Release env-lifetime resources."""

    def reference_policy(self) -> Policy:
        """A policy that solves the current task (used by `agentgym validate`)."""
        raise NotImplementedError(f"{type(self).__name__} has no reference policy")

    def null_policy(self) -> Policy:
        """A policy that does nothing useful; must never pass. Default: submit at once."""
        if "submit" not in {t.name for t in self._tools()}:
            raise NotImplementedError(f"{type(self).__name__} has no submit tool; override null_policy()")
        return ScriptedPolicy([ToolCall(name="submit")])

    def command_timeout(self, asked: float | None, default: float) -> float:
        """Seconds for a command a tool runs: what was asked (else default), never past the wall-time
        budget left, so a long command cannot outlive the episode's max_seconds."""
        t = asked or default
        left = self.tracker.remaining_seconds()
        return max(0.1, min(t, left)) if left is not None else t

    def passed(self, reward: float, info: dict[str, Any]) -> bool:
        """Whether an episode's total reward counts as solving the task."""
        return reward >= 1.0 - 1e-9

    # ---- public API ---------------------------------------------------------------------------
    @property
    def tools(self) -> list[dict[str, Any]]:
        """The env's tools as OpenAI function-calling JSON schemas: a new copy per read (the caller's
        to change). Built once per tool set (pydantic's schema build costs ms, and collectors and
        exports read this every episode); ``_tools()`` is still asked each read (cheap), so an env
        whose tools differ per task or option is said right."""
        current = self._tools()
        key = tuple((t.name, t.description, t.params) for t in current)
        cached = self.__dict__.get("_tools_schemas")
        if cached is None or cached[0] != key:
            cached = self._tools_schemas = (key, [t.schema_json() for t in current])
        return copy.deepcopy(cached[1])

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        try:
            opts = ResetOptions.model_validate(options or {})
        except ValidationError as exc:
            raise ValueError(f"invalid reset options: {exc}") from None
        ids = list(self.task_ids())
        if not ids:
            raise RuntimeError(f"{type(self).__name__} has no tasks")
        if opts.task_id is not None:
            if opts.task_id not in ids:
                raise ValueError(f"unknown task_id {opts.task_id!r}; this env has {len(ids)} tasks, e.g. {ids[:5]}")
            task_id = opts.task_id
        else:
            task_id = ids[int(self.np_random.integers(len(ids)))]
        budget = opts.budget or self.default_budget
        if opts.max_turns is not None:
            budget = budget.model_copy(update={"max_turns": opts.max_turns})

        if self._started:
            self._end_episode()
        self.task_id = task_id
        self.tracker = BudgetTracker(budget, self.clock)
        self._done = False
        self._started = True
        self._tool_map = {t.name: t for t in self._tools()}
        try:
            statement = self._start_episode(task_id)
        except (SandboxError, InfraError) as exc:
            raise RuntimeError(f"could not start task {task_id!r}: {exc}") from exc
        text = statement
        if self.show_budget and (footer := self.tracker.footer()):
            text = f"{statement}\n\n{footer}"
        self._last_text = text
        info = {
            "task_id": task_id,
            "tools": list(self._tool_map),
            "budget": budget.model_dump(),
            "malformed_action_rule": MALFORMED_ACTION_RULE,
        }
        if isinstance(runtime := getattr(self, "runtime", None), str):
            info["runtime"] = runtime  # the one actually used: "auto" may have fallen back to local
        return {"text": text}, info

    def step(self, action: Any):
        if not self._started:
            raise gymnasium.error.ResetNeeded("call reset() before step()")
        if self._done:
            text = "The episode is over; call reset() to start another."
            return {"text": text}, 0.0, True, False, {"task_id": self.task_id, "action_error": text}

        info: dict[str, Any] = {"task_id": self.task_id}
        outputs: list[str] = []
        reward, terminated, truncated = 0.0, False, False

        time_out = self.tracker.budget.max_seconds is not None and self.tracker.remaining_seconds() == 0
        self.tracker.record_turn()
        try:
            calls = [] if time_out else parse_action(action)
        except ActionError as exc:
            calls = []
            self.tracker.record_tool_call(MALFORMED)
            info["action_error"] = str(exc)
            outputs.append(f"Error: {exc}")

        results: list[dict[str, Any]] = []
        for call in calls:
            refusal = self.tracker.call_refusal(call.name)
            if refusal is not None:
                truncated = True
                info["truncated_reason"] = refusal
                outputs.append(f"Not run: the {refusal} budget is used up.")
                break
            result = self._run_call(call, info)
            results.append({"name": call.name, "is_error": result.is_error, **result.info})
            outputs.append(result.output if len(calls) == 1 else f"[{call.name}]\n{result.output}")
            if result.reward is not None:
                reward += float(result.reward)
            if result.terminated:
                terminated = True
                info.setdefault("terminated_reason", "tool:" + call.name)
                break
            if "error" in info:  # infrastructure failure: nothing after it can be trusted
                terminated = True
                info.setdefault("terminated_reason", "infrastructure_error")
                break
        info["tool_results"] = results

        if not terminated and not truncated:
            reason = self.tracker.exhausted()
            if time_out:
                reason = "max_seconds"
            if reason is not None:
                truncated = True
                info["truncated_reason"] = reason
                outputs.append(f"The episode is over: the {reason} budget is used up.")
        self._done = terminated or truncated

        text = "\n".join(o for o in outputs if o)
        if self.show_budget and (footer := self.tracker.footer()):
            text = f"{text}\n\n{footer}" if text else footer
        self._last_text = text
        # Elapsed seconds only when time is budgeted: otherwise info stays deterministic for a seed
        # (gymnasium's checker compares it); trajectories time every step themselves.
        timed = self.tracker.budget.max_seconds is not None
        info["usage"] = self.tracker.usage().model_dump(exclude=None if timed else {"seconds"})
        info["remaining"] = self.tracker.remaining()
        return {"text": text}, reward, terminated, truncated, info

    def _run_call(self, call: ToolCall, info: dict[str, Any]) -> ToolResult:
        tool = self._tool_map.get(call.name)
        if tool is None:
            self.tracker.record_tool_call(MALFORMED)
            name = call.name if len(call.name) <= _NAME_SHOWN else call.name[:_NAME_SHOWN] + "..."
            msg = f"unknown tool {name!r}; available tools: {', '.join(self._tool_map)}"
            info["action_error"] = msg
            return ToolResult(output=f"Error: {msg}", is_error=True)
        try:
            args = tool.validate_args(call.arguments)
        except ActionError as exc:
            self.tracker.record_tool_call(MALFORMED)
            info["action_error"] = str(exc)
            return ToolResult(output=f"Error: {exc}", is_error=True)
        self.tracker.record_tool_call(call.name)
        assert tool.handler is not None, f"tool {tool.name} has no handler"
        try:
            return tool.handler(args)
        except ActionError as exc:  # a domain's own, later validation (e.g. path outside workdir)
            info["action_error"] = str(exc)
            return ToolResult(output=f"Error: {exc}", is_error=True)
        except AgentFault as exc:  # the agent caused it: its failure with a reason, never infrastructure
            info["agent_failure"] = exc.reason
            return ToolResult(output=f"Error: {exc.reason}", is_error=True, terminated=exc.terminal,
                              reward=0.0 if exc.terminal else None, info={"agent_failure": exc.reason})
        except (SandboxError, InfraError) as exc:
            info["error"] = f"{type(exc).__name__}: {exc}"
            return ToolResult(output=f"Infrastructure error (not your fault): {exc}", is_error=True)
        except Exception as exc:  # a bug in the env: report it as infrastructure, keep the loop alive
            info["error"] = f"{type(exc).__name__} in tool {call.name}: {exc}"
            info["traceback"] = traceback.format_exc(limit=8)
            return ToolResult(output=f"Infrastructure error (not your fault): {type(exc).__name__}", is_error=True)

    def fork(self) -> AgentEnv:
        """An independent env in the same state (tree search, backtracking)."""
        if not self._started:
            raise gymnasium.error.ResetNeeded("fork() needs a started episode; call reset() first")
        clone = copy.copy(self)
        clone.tracker = self.tracker.copy()
        clone._np_random = copy.deepcopy(self._np_random)
        clone.action_space = copy.deepcopy(self.action_space)
        clone.observation_space = copy.deepcopy(self.observation_space)
        self._fork_episode(clone)
        clone._tool_map = {t.name: t for t in clone._tools()}  # handlers bound to the clone
        return clone

    def render(self) -> str | None:
        if self.render_mode == "ansi":
            return self._last_text
        return None

    def close(self) -> None:
        if self._started:
            self._end_episode()
            self._started = False
        self._close()
        super().close()
