"""The unified cost of an episode (design.md section 5, BATS): token cost (fresh input, cached
input and output at their prices) + for each tool, calls x its price + sandbox seconds x price.

Prices live in a versioned table so a report can say which prices its costs were computed with;
load one from YAML/JSON config with ``PriceTable.model_validate(data)``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agentgym.budget import Usage
from agentgym.models.base import ChatUsage, TokenPrices


class PriceTable(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str = Field("unpriced-0", description="name/date of the price list; recorded next to every cost")
    currency: str = "USD"
    tokens: TokenPrices = Field(default_factory=TokenPrices)
    tool_calls: dict[str, float] = Field(default_factory=dict, description="price per call, by tool name")
    default_tool_call: float = Field(0.0, description="price of a call of a tool not listed (including '_malformed')")
    sandbox_second: float = 0.0

    def token_cost(self, usage: ChatUsage | Usage) -> float:
        return self.tokens.cost(ChatUsage(input_tokens=usage.input_tokens, cached_input_tokens=usage.cached_input_tokens, output_tokens=usage.output_tokens))

    def tool_cost(self, calls: dict[str, int]) -> float:
        return sum(n * self.tool_calls.get(name, self.default_tool_call) for name, n in calls.items())

    def unified_cost(self, usage: Usage | dict[str, Any], sandbox_seconds: float = 0.0) -> float:
        """Cost of one episode from its Usage (the env's info["usage"] plus the agent's tokens)."""
        u = Usage.model_validate(usage) if isinstance(usage, dict) else usage
        return self.token_cost(u) + self.tool_cost(u.tool_calls) + sandbox_seconds * self.sandbox_second

    def breakdown(self, usage: Usage | dict[str, Any], sandbox_seconds: float = 0.0) -> dict[str, float]:
        u = Usage.model_validate(usage) if isinstance(usage, dict) else usage
        return {"tokens": self.token_cost(u), "tools": self.tool_cost(u.tool_calls), "sandbox": sandbox_seconds * self.sandbox_second}
