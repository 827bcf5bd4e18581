"""Budgets and the tracker that enforces them.

A Budget says how much an episode may use; a BudgetTracker counts what it used and says, after
each step, whether a limit is reached and which. Environments truncate on it; agents read
``remaining()`` to adapt (BATS). Token and money fields are counted here so agent-side trackers
(model calls) and env-side trackers (turns, tools, time) share one record.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

LimitName = Literal["max_turns", "max_tool_calls", "max_tool_calls_per_tool", "max_seconds", "max_tokens", "max_cost"]


class Budget(BaseModel):
    """Limits for one episode. None means unlimited."""

    model_config = ConfigDict(extra="forbid")

    max_turns: int | None = Field(30, ge=1, description="steps (agent turns) per episode")
    max_tool_calls: int | None = Field(None, ge=1, description="tool calls per episode, all tools together")
    max_tool_calls_per_tool: dict[str, int] = Field(default_factory=dict, description="tool calls per episode, per tool")
    max_seconds: float | None = Field(None, gt=0, description="wall-clock seconds per episode")
    max_tokens: int | None = Field(None, ge=1, description="model tokens (input + output) per episode")
    max_cost: float | None = Field(None, gt=0, description="unified cost per episode, in the price table's currency")


class Usage(BaseModel):
    """What an episode has used so far."""

    turns: int = 0
    tool_calls: dict[str, int] = Field(default_factory=dict)
    seconds: float = 0.0
    input_tokens: int = 0
    cached_input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0

    @property
    def total_tool_calls(self) -> int:
        return sum(self.tool_calls.values())

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


class BudgetTracker:
    """Counts usage against a Budget. The clock is injectable so tests can be exact."""

    def __init__(self, budget: Budget | None = None, clock: Callable[[], float] = time.monotonic):
        self.budget = budget or Budget()
        self._clock = clock
        self._start = clock()
        self.turns = 0
        self.tool_calls: Counter[str] = Counter()
        self.input_tokens = 0
        self.cached_input_tokens = 0
        self.output_tokens = 0
        self.cost = 0.0

    # -- recording -------------------------------------------------------------------------
    def record_turn(self) -> None:
        self.turns += 1

    def record_tool_call(self, name: str) -> None:
        self.tool_calls[name] += 1

    def record_tokens(self, input: int = 0, output: int = 0, cached_input: int = 0) -> None:
        self.input_tokens += input
        self.output_tokens += output
        self.cached_input_tokens += cached_input

    def record_cost(self, amount: float) -> None:
        self.cost += amount

    # -- reading ---------------------------------------------------------------------------
    @property
    def elapsed(self) -> float:
        return self._clock() - self._start

    def usage(self) -> Usage:
        return Usage(
            turns=self.turns,
            tool_calls=dict(self.tool_calls),
            seconds=self.elapsed,
            input_tokens=self.input_tokens,
            cached_input_tokens=self.cached_input_tokens,
            output_tokens=self.output_tokens,
            cost=self.cost,
        )

    def remaining_seconds(self) -> float | None:
        if self.budget.max_seconds is None:
            return None
        return max(0.0, self.budget.max_seconds - self.elapsed)

    def call_refusal(self, name: str) -> LimitName | None:
        """The limit a further call of `name` would break, or None when it may run."""
        b = self.budget
        if b.max_tool_calls is not None and sum(self.tool_calls.values()) >= b.max_tool_calls:
            return "max_tool_calls"
        per_tool = b.max_tool_calls_per_tool.get(name)
        if per_tool is not None and self.tool_calls[name] >= per_tool:
            return "max_tool_calls_per_tool"
        return self.exhausted(include_turns=False)

    def exhausted(self, include_turns: bool = True) -> LimitName | None:
        """The first limit that is used up, or None."""
        b = self.budget
        if include_turns and b.max_turns is not None and self.turns >= b.max_turns:
            return "max_turns"
        if b.max_tool_calls is not None and sum(self.tool_calls.values()) >= b.max_tool_calls:
            return "max_tool_calls"
        if b.max_seconds is not None and self.elapsed >= b.max_seconds:
            return "max_seconds"
        if b.max_tokens is not None and self.input_tokens + self.output_tokens >= b.max_tokens:
            return "max_tokens"
        if b.max_cost is not None and self.cost >= b.max_cost:
            return "max_cost"
        return None

    def remaining(self) -> dict[str, Any]:
        """What is left of each limited resource (only the limited ones)."""
        b = self.budget
        out: dict[str, Any] = {}
        if b.max_turns is not None:
            out["turns"] = max(0, b.max_turns - self.turns)
        if b.max_tool_calls is not None:
            out["tool_calls"] = max(0, b.max_tool_calls - sum(self.tool_calls.values()))
        for name, limit in sorted(b.max_tool_calls_per_tool.items()):
            out[f"{name}_calls"] = max(0, limit - self.tool_calls[name])
        if b.max_seconds is not None:
            out["seconds"] = self.remaining_seconds()
        if b.max_tokens is not None:
            out["tokens"] = max(0, b.max_tokens - self.input_tokens - self.output_tokens)
        if b.max_cost is not None:
            out["cost"] = max(0.0, b.max_cost - self.cost)
        return out

    def footer(self) -> str:
        """One line for the end of an observation. Seconds are whole, so observations stay
        deterministic when no time limit is set (nothing time-based is shown then)."""
        parts = []
        b = self.budget
        if b.max_turns is not None:
            parts.append(f"turns {self.turns}/{b.max_turns}")
        if b.max_tool_calls is not None:
            parts.append(f"tool calls {sum(self.tool_calls.values())}/{b.max_tool_calls}")
        for name, limit in sorted(b.max_tool_calls_per_tool.items()):
            parts.append(f"{name} {self.tool_calls[name]}/{limit}")
        if b.max_seconds is not None:
            parts.append(f"time {int(self.elapsed)}s/{int(b.max_seconds)}s")
        if b.max_tokens is not None:
            parts.append(f"tokens {self.input_tokens + self.output_tokens}/{b.max_tokens}")
        if b.max_cost is not None:
            parts.append(f"cost {self.cost:.4f}/{b.max_cost:.4f}")
        return "[budget used: " + ", ".join(parts) + "]" if parts else ""

    def copy(self) -> BudgetTracker:
        """An independent tracker with the same counts and start time (for env.fork())."""
        clone = BudgetTracker(self.budget, self._clock)
        clone._start = self._start
        clone.turns = self.turns
        clone.tool_calls = Counter(self.tool_calls)
        clone.input_tokens, clone.output_tokens = self.input_tokens, self.output_tokens
        clone.cached_input_tokens, clone.cost = self.cached_input_tokens, self.cost
        return clone
