"""The unified cost of an episode (design.md section 5, BATS): token cost (fresh input, cached
input and output at their prices) + for each tool, calls x its price + sandbox seconds x price.

Prices live in a versioned table so a report can say which prices its costs were computed with.
Load one from a YAML or JSON file with ``PriceTable.from_file(path)``, or by name or path with
``PriceTable.load("default")`` (names are files shipped in agentgym/prices/, e.g. default.yaml,
whose numbers are placeholders to replace with your provider's prices).

A file looks like::

    version: my-prices-2026-01
    date: "2026-01-15"
    currency: USD
    tokens: {input_per_mtok: 1.0, cached_input_per_mtok: 0.25, output_per_mtok: 4.0}  # unlisted models
    models:
      my-model: {input_per_mtok: 3.0, cached_input_per_mtok: 0.75, output_per_mtok: 15.0}
    tool_calls: {bash: 0.0001}
    default_tool_call: 0.0
    sandbox_second: 0.00001
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from agentgym.budget import Usage
from agentgym.models.base import ChatUsage, TokenPrices


class PriceTable(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str = Field("unpriced-0", min_length=1, description="name/date of the price list; recorded next to every cost")
    date: str | None = Field(None, description="when these prices were taken (ISO date)")
    currency: str = "USD"
    tokens: TokenPrices = Field(default_factory=TokenPrices, description="token prices of a model not listed in `models`")
    models: dict[str, TokenPrices] = Field(default_factory=dict, description="token prices by model name")
    tool_calls: dict[str, float] = Field(default_factory=dict, description="price per call, by tool name")
    default_tool_call: float = Field(0.0, ge=0, description="price of a call of a tool not listed (including '_malformed')")
    sandbox_second: float = Field(0.0, ge=0, description="price of one second of an episode's sandbox")

    @model_validator(mode="after")
    def _non_negative(self) -> PriceTable:
        bad = [f"tool_calls.{name}={v}" for name, v in self.tool_calls.items() if v < 0]
        for where, tp in [("tokens", self.tokens), *((f"models.{m}", tp) for m, tp in self.models.items())]:
            for key in ("input_per_mtok", "cached_input_per_mtok", "output_per_mtok"):
                v = getattr(tp, key)
                if v is not None and v < 0:
                    bad.append(f"{where}.{key}={v}")
        if bad:
            raise ValueError(f"prices must be >= 0; negative: {', '.join(bad)}")
        return self

    # -- loading ------------------------------------------------------------------------------------
    @classmethod
    def from_file(cls, path: str | Path) -> PriceTable:
        """A table from a YAML or JSON file (.json is read as JSON, anything else as YAML). The file
        must name its `version`: costs are recorded with it."""
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"price table {p} not found; pass a YAML/JSON file or a shipped name ({', '.join(cls.shipped())})")
        text = p.read_text(encoding="utf-8")
        try:
            data = json.loads(text) if p.suffix.lower() == ".json" else yaml.safe_load(text)
        except (json.JSONDecodeError, yaml.YAMLError) as exc:
            raise ValueError(f"{p}: not valid {'JSON' if p.suffix.lower() == '.json' else 'YAML'}: {exc}") from None
        if not isinstance(data, dict):  # ValueError, not TypeError: a bad file, reported like any other
            raise ValueError(f"{p}: a price table is a mapping with version, tokens, models, tool_calls, sandbox_second")  # noqa: TRY004
        if not data.get("version"):
            raise ValueError(f"{p}: a price table file must set `version` (e.g. 'my-prices-2026-01'); it is recorded with every cost")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            fields = "version, date, currency, tokens, models, tool_calls, default_tool_call, sandbox_second"
            raise ValueError(f"{p}: invalid price table (fields: {fields}; token prices are per million tokens):\n{exc}") from None

    @classmethod
    def load(cls, name_or_path: str | Path) -> PriceTable:
        """A shipped table by name (``"default"`` is agentgym/prices/default.yaml) or a file by path."""
        s = str(name_or_path)
        p = Path(s)
        if p.is_file() or p.suffix.lower() in (".yaml", ".yml", ".json") or "/" in s or "\\" in s:
            return cls.from_file(p)
        shipped = cls.shipped()
        if s not in shipped:
            raise ValueError(f"no price table named {s!r}; shipped: {', '.join(shipped) or 'none'}; or pass a path to a YAML/JSON file")
        with resources.as_file(resources.files("agentgym") / "prices" / f"{s}.yaml") as f:
            return cls.from_file(f)

    @staticmethod
    def shipped() -> list[str]:
        """Names of the tables shipped in agentgym/prices/."""
        d = resources.files("agentgym") / "prices"
        try:
            return sorted(e.name.rsplit(".", 1)[0] for e in d.iterdir() if e.name.endswith(".yaml"))
        except (FileNotFoundError, NotADirectoryError):
            return []

    # -- costs --------------------------------------------------------------------------------------
    def prices_for(self, model: str | None = None) -> TokenPrices:
        """Token prices of `model` (exact name in `models`); `tokens` for None or a model not listed."""
        return self.models.get(model, self.tokens) if model else self.tokens

    def token_cost(self, usage: ChatUsage | Usage, model: str | None = None) -> float:
        return self.prices_for(model).cost(ChatUsage(input_tokens=usage.input_tokens, cached_input_tokens=usage.cached_input_tokens, output_tokens=usage.output_tokens))

    def tool_cost(self, calls: dict[str, int]) -> float:
        return sum(n * self.tool_calls.get(name, self.default_tool_call) for name, n in calls.items())

    def unified_cost(self, usage: Usage | dict[str, Any], sandbox_seconds: float = 0.0, model: str | None = None) -> float:
        """Cost of one episode from its Usage (the env's info["usage"] plus the agent's tokens)."""
        return sum(self.breakdown(usage, sandbox_seconds, model).values())

    def breakdown(self, usage: Usage | dict[str, Any], sandbox_seconds: float = 0.0, model: str | None = None) -> dict[str, float]:
        u = Usage.model_validate(usage) if isinstance(usage, dict) else usage
        return {"tokens": self.token_cost(u, model), "tools": self.tool_cost(u.tool_calls), "sandbox": sandbox_seconds * self.sandbox_second}
