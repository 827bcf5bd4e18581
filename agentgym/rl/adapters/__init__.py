"""Adapters that put an agentgym env behind the environment interfaces RL frameworks plug into.

- ``agentgym.rl.adapters.skyrl``: SkyRL-gym's ``BaseTextEnv`` (text in, chat messages out), for
  SkyRL's trainers (``register_skyrl()`` then ``skyrl_gym.make("agentgym", extras=...)``).
- ``agentgym.rl.adapters.verifiers``: the verifiers package's environment interface, for
  prime-rl/verifiers training.

Both drive the env only through its public API (reset/step/tools), so its grading stays outside
the agent's reach, and both parse tool calls from model text the same way (``text_action``).
Each module imports its framework lazily: importing this package needs neither.
"""

from __future__ import annotations

import json
from typing import Any

TOOL_FORMAT = (
    "Call a tool by writing a JSON object with the tool's name and arguments inside <tool_call></tool_call> tags:\n"
    '<tool_call>\n{"name": <tool-name>, "arguments": <args-json-object>}\n</tool_call>'
)


def tools_prompt(tools: list[dict[str, Any]]) -> str:
    """A system message that lists the env's tools (JSON schemas) and the call format."""
    listed = "\n".join(json.dumps(t) for t in tools)
    return f"You are an agent in a sandbox. You have these tools:\n<tools>\n{listed}\n</tools>\n\n{TOOL_FORMAT}"


def text_action(text: str) -> Any:
    """What env.step gets for a model's text: its tool calls (Hermes/Qwen `<tool_call>` blocks, or
    one bare JSON call) as OpenAI-style calls, or the text itself when it holds none, so that the
    env answers it as a malformed action by its own published rule (never dropped or guessed)."""
    from agentgym.models.local import extract_tool_calls

    _, calls = extract_tool_calls(text)
    return calls if calls else text


__all__ = ["TOOL_FORMAT", "text_action", "tools_prompt"]
