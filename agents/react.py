"""Model-driven agents: ReAct (tool calling) and budget-aware (BATS), with TTI's interaction
scaling (per-episode horizons, "check again before you submit", horizon curricula).

One env step per model turn: the assistant's tool calls go to the env exactly as the model wrote
them (malformed JSON included: the env reports it, by its published rule). The env's observation
comes back as the ``tool`` message of those calls. A turn that has no tool call is nudged (no env
turn spent) up to ``max_nudges`` times, then either submitted as the final answer
(``no_tool_call="answer"``, when the env's submit tool takes one string) or passed to the env as
text, which reports it as a malformed action.
"""

from __future__ import annotations

import os

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agentgym.actions import ToolCall
from agentgym.budget import Budget, BudgetTracker, Usage
from agentgym.transcript import ModelTurn, Transcript, tools_hash
from agentgym.models import (
    ChatResult,
    ChatUsage,
    ModelBackend,
    TokenPrices,
    make_backend,
    run_sync,
)

SYSTEM_PROMPT = (
    "You are an agent acting in an environment through tools. Read the task, use the tools to "
    "explore and act, and call submit when you are done. Call exactly one tool per turn."
)
CHECK_AGAIN_PROMPT = (
    "Before you submit, check again: verify your result with the tools (re-run, re-read, test "
    "edge cases). Extra turns spent checking are worth it; only submit once you have verified."
)
CHECK_AGAIN_INTERCEPT = (
    "Not submitted yet. Check again before you submit: verify your result with the tools. "
    "If you are sure it is right, call submit again."
)
NUDGE = "You did not call a tool. Continue by calling one of the tools; call submit when you are done."


class AgentConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    system_prompt: str = SYSTEM_PROMPT
    temperature: float = 0.0
    max_tokens: int | None = 1024
    seed: int | None = None
    no_tool_call: Literal["nudge", "answer"] = "nudge"
    max_nudges: int = Field(2, ge=0)
    check_before_submit: bool = Field(False, description="TTI: prompt to re-check, and bounce the first submit once")
    prices: TokenPrices = Field(default_factory=TokenPrices)
    charge_env: bool = Field(True, description="also record tokens and cost in the env's tracker, so its token/cost limits apply")


class ReActAgent:
    """A tool-calling agent for any AgentEnv. Sync ``act`` for run_episode; async ``aact`` for
    callers that own an event loop (parallel rollouts)."""

    def __init__(self, env: Any, backend: ModelBackend | None = None, *, base_url: str | None = None, model: str = "default",
                 api_key: str | None = None, backend_kind: str = "openai", backend_kwargs: dict[str, Any] | None = None, **config: Any):
        self.env = env.unwrapped if hasattr(env, "unwrapped") else env
        if backend is None:
            kw = dict(backend_kwargs or {})
            if backend_kind == "openai":
                kw.update(base_url=base_url or os.environ.get("OPENAI_BASE_URL", "http://127.0.0.1:8000/v1"), api_key=api_key)
            backend = make_backend(backend_kind, model=model, **kw)  # type: ignore[arg-type]
        self.backend = backend
        self.config = AgentConfig(**config)
        self.messages: list[dict[str, Any]] = []
        self.tracker = BudgetTracker(Budget(max_turns=None))
        self.chat_usage: list[ChatUsage] = []  # one entry per model call, as the backend reported it
        self._pending: list[str] = []  # tool_call ids waiting for the env's answer
        self._submit_bounced = False
        self._budget_info: dict[str, Any] = {}
        self._tools: list[dict[str, Any]] = []
        self._turns: list[ModelTurn] = []  # one per model call, for the stored transcript
        self._steps = 0  # env steps this episode (actions returned)

    # -- Policy protocol ---------------------------------------------------------------------------
    def reset(self, obs: dict[str, Any], info: dict[str, Any]) -> None:
        self.tracker = BudgetTracker(Budget(max_turns=None))  # counts only; the env enforces limits
        self.chat_usage = []
        self._turns = []
        self._steps = 0
        self._pending = []
        self._submit_bounced = False
        self._budget_info = dict(info.get("budget") or {})
        self._tools = self.env.tools  # schemas are rebuilt on every access; once per episode is enough
        system = self.config.system_prompt + ("\n\n" + CHECK_AGAIN_PROMPT if self.config.check_before_submit else "")
        self.messages = [{"role": "system", "content": system}, {"role": "user", "content": obs["text"]}]

    def act(self, obs: dict[str, Any], info: dict[str, Any]) -> Any:
        return run_sync(self.aact(obs, info))

    async def aact(self, obs: dict[str, Any], info: dict[str, Any]) -> Any:
        if len(self.messages) > 2 or self._pending:  # not the first turn: the env answered our last action
            self._add_observation(obs, info)
        nudges = 0
        while True:
            result = await self._chat()
            msg = result.message
            self.messages.append(msg.to_openai())
            if msg.raw_tool_calls:
                if self._bounce_submit(msg.tool_calls, info):
                    continue
                self._pending = [c["id"] for c in msg.raw_tool_calls]
                self._steps += 1
                return msg.raw_tool_calls
            if nudges < self.config.max_nudges:
                nudges += 1
                self.messages.append({"role": "user", "content": NUDGE})
                continue
            self._pending = []
            self._steps += 1
            return self._final_answer(msg.content or "")

    def usage(self) -> Usage:
        """Tokens and money this agent spent in the current episode."""
        return self.tracker.usage()

    def transcript(self) -> Transcript:
        """The episode as the model saw it: every message sent or received, the tools offered
        (by hash and name), and each model call's tokens, cost and latency."""
        return Transcript(messages=[dict(m) for m in self.messages], tools_sha256=tools_hash(self._tools),
                          tool_names=[t.get("function", {}).get("name", "") for t in self._tools],
                          model=m if isinstance(m := getattr(self.backend, "model", None), str) else None, turns=list(self._turns))

    # -- pieces subclasses change --------------------------------------------------------------------
    def _observation_text(self, obs: dict[str, Any], info: dict[str, Any]) -> str:
        return obs["text"]

    # -- internals -----------------------------------------------------------------------------------
    async def _chat(self) -> ChatResult:
        c = self.config
        result = await self.backend.chat(self.messages, tools=self._tools, temperature=c.temperature, max_tokens=c.max_tokens, seed=c.seed)
        u = result.usage
        cost = c.prices.cost(u)
        self.chat_usage.append(u)
        self._turns.append(ModelTurn(step=self._steps, input_tokens=u.input_tokens, cached_input_tokens=u.cached_input_tokens,
                                     output_tokens=u.output_tokens, cost=cost, latency_s=result.latency_s,
                                     message_index=len(self.messages)))
        self.tracker.record_tokens(input=u.input_tokens, output=u.output_tokens, cached_input=u.cached_input_tokens)
        self.tracker.record_cost(cost)
        if c.charge_env and isinstance(getattr(self.env, "tracker", None), BudgetTracker):
            self.env.tracker.record_tokens(input=u.input_tokens, output=u.output_tokens, cached_input=u.cached_input_tokens)
            self.env.tracker.record_cost(cost)
        return result

    def _add_observation(self, obs: dict[str, Any], info: dict[str, Any]) -> None:
        text = self._observation_text(obs, info)
        if not self._pending:  # our last action was text, not a tool call: answer as the user
            self.messages.append({"role": "user", "content": text})
            return
        # One env step ran all calls of the turn and returned one observation: it goes with the
        # first call; the API needs a tool message for every call id, so the rest point to it.
        first, *rest = self._pending
        self.messages.append({"role": "tool", "tool_call_id": first, "content": text})
        for cid in rest:
            self.messages.append({"role": "tool", "tool_call_id": cid, "content": f"(output included in the result of call {first})"})
        self._pending = []

    def _bounce_submit(self, calls: list[ToolCall], info: dict[str, Any]) -> bool:
        """TTI check-again: the first submit of an episode is answered by the agent itself with a
        reminder to verify (no env turn spent), unless fewer than two turns remain."""
        if not self.config.check_before_submit or self._submit_bounced:
            return False
        if not any(c.name == "submit" for c in calls) or info.get("remaining", {}).get("turns", 2) < 2:
            return False
        self._submit_bounced = True
        for call in self.messages[-1]["tool_calls"]:
            self.messages.append({"role": "tool", "tool_call_id": call["id"], "content": CHECK_AGAIN_INTERCEPT})
        return True

    def _final_answer(self, text: str) -> Any:
        if self.config.no_tool_call == "answer":
            submit = next((t for t in self._tools if t["function"]["name"] == "submit"), None)
            props = (submit or {}).get("function", {}).get("parameters", {}).get("properties", {})
            if len(props) == 1 and next(iter(props.values())).get("type") == "string":
                return ToolCall(name="submit", arguments={next(iter(props)): text})
        return text  # the env reports it as a malformed action; its observation shows the model why


def _fraction_left(key: str, left: Any, budget: dict[str, Any]) -> float | None:
    if key == "turns":
        total = budget.get("max_turns")
    elif key == "tool_calls":
        total = budget.get("max_tool_calls")
    elif key.endswith("_calls"):
        total = (budget.get("max_tool_calls_per_tool") or {}).get(key[: -len("_calls")])
    else:
        total = budget.get(f"max_{key}")
    if not total or left is None:
        return None
    return float(left) / float(total)


class BudgetAwareAgent(ReActAgent):
    """BATS: after every tool response, the agent sees what it used and what remains of each
    resource, and a strategy hint that follows from it."""

    LOW = 0.3  # below this fraction of any resource: stop exploring, verify and submit
    PLENTY = 0.5

    def budget_text(self, info: dict[str, Any]) -> str:
        used, remaining = info.get("usage") or {}, info.get("remaining") or {}
        parts = []
        for key, left in remaining.items():
            frac = _fraction_left(key, left, self._budget_info)
            shown = f"{left:.4f}" if isinstance(left, float) else str(left)
            parts.append(f"{key}: {shown} left" + (f" ({frac:.0%})" if frac is not None else ""))
        calls = used.get("tool_calls") or {}
        parts.append(f"turns used: {used.get('turns', 0)}; tool calls used: " + (", ".join(f"{k} {v}" for k, v in sorted(calls.items())) or "none"))
        u = self.tracker.usage()
        parts.append(f"model tokens used: input {u.input_tokens} (cached {u.cached_input_tokens}), output {u.output_tokens}; cost {u.cost:.6f}")
        return "[Budget] " + " | ".join(parts) + "\n[Strategy] " + self.strategy_hint(info)

    def strategy_hint(self, info: dict[str, Any]) -> str:
        fracs = [f for k, v in (info.get("remaining") or {}).items() if (f := _fraction_left(k, v, self._budget_info)) is not None]
        least = min(fracs) if fracs else None
        failed = bool(info.get("action_error")) or any(r.get("is_error") for r in info.get("tool_results") or [])
        if least is not None and least < self.LOW:
            return "Budget is nearly spent: stop exploring, verify your best answer once and submit."
        if failed:
            if least is None or least >= self.PLENTY:
                return "The last call failed and plenty of budget remains: dig deeper into why, or pivot to another approach."
            return "The last call failed and budget is limited: make the single most likely fix, verify, then submit."
        if least is None or least >= self.PLENTY:
            return "Budget is ample: explore and gather evidence before committing to an answer."
        return "Over half the budget is used: converge on an answer and verify it."

    def _observation_text(self, obs: dict[str, Any], info: dict[str, Any]) -> str:
        return f"{obs['text']}\n\n{self.budget_text(info)}"


class HorizonCurriculum(BaseModel):
    """TTI's horizon schedule: episodes get max_turns 10, then 20, then 30 (by default), each
    stage lasting ``episodes_per_stage`` episodes; the last horizon holds after that."""

    horizons: list[int] = Field(default_factory=lambda: [10, 20, 30], min_length=1)
    episodes_per_stage: int = Field(100, ge=1)

    def horizon(self, episode: int) -> int:
        return self.horizons[min(episode // self.episodes_per_stage, len(self.horizons) - 1)]

    def options(self, episode: int, **extra: Any) -> dict[str, Any]:
        """reset() options for episode number `episode` (0-based)."""
        return {**extra, "max_turns": self.horizon(episode)}
