"""Gymnasium spaces for text observations and tool-call actions.

gymnasium.spaces.Text only admits a fixed charset, while agents read and write arbitrary Unicode,
so we define two small spaces of our own. Both are real Space subclasses: env_checker samples them,
checks membership, and seeds them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium import spaces

from agentgym.actions import ActionError, ToolCall, parse_action

_SAMPLE_ALPHABET = np.array(list("abcdefghijklmnopqrstuvwxyz0123456789 _-./\n\"{}"))


class TextSpace(spaces.Space[str]):
    """Any Unicode string up to max_length characters."""

    def __init__(self, max_length: int = 10_000_000, seed: int | np.random.Generator | None = None):
        self.max_length = max_length
        super().__init__(shape=None, dtype=None, seed=seed)

    @property
    def is_np_flattenable(self) -> bool:
        return False

    def sample(self, mask: Any = None, probability: Any = None) -> str:
        n = int(self.np_random.integers(0, 64))
        return "".join(self.np_random.choice(_SAMPLE_ALPHABET, size=n))

    def contains(self, x: Any) -> bool:
        return isinstance(x, str) and len(x) <= self.max_length

    def __repr__(self) -> str:
        return f"TextSpace(max_length={self.max_length})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TextSpace) and other.max_length == self.max_length


class ToolCallSpace(spaces.Space[str]):
    """Tool calls of the given tools. Samples are JSON strings; contains() accepts every shape step() reads."""

    def __init__(self, tool_names: Sequence[str], seed: int | np.random.Generator | None = None):
        self.tool_names = tuple(tool_names)
        super().__init__(shape=None, dtype=None, seed=seed)

    @property
    def is_np_flattenable(self) -> bool:
        return False

    def sample(self, mask: Any = None, probability: Any = None) -> str:
        # Sampled calls have empty arguments: enough to exercise the env's validation path.
        name = str(self.np_random.choice(self.tool_names)) if self.tool_names else "noop"
        return json.dumps({"name": name, "arguments": {}})

    def contains(self, x: Any) -> bool:
        try:
            calls = parse_action(x)
        except ActionError:
            return False
        return all(isinstance(c, ToolCall) and c.name in self.tool_names for c in calls)

    def __repr__(self) -> str:
        return f"ToolCallSpace({list(self.tool_names)})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ToolCallSpace) and other.tool_names == self.tool_names
