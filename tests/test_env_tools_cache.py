"""`AgentEnv.tools` builds its JSON schemas once per tool set, and callers cannot poison them.

Why: pydantic rebuilt every tool's schema on each read (ms per read; a collector reads it every
episode, an export once per env). The cache is keyed by the tools `_tools()` gives now (name,
description, parameter model), so an env whose tools differ by task or option (the web env's
`coords`, a plugin's) is still said right, and every read is a copy of its own.
"""

from __future__ import annotations

from rl_fakes import GuessEnv

import agentgym
from agentgym.actions import NoArgs, Tool, ToolResult


def test_tools_are_built_once_equal_a_fresh_build_and_cannot_be_poisoned(monkeypatch):
    with agentgym.make("shell-fixture", runtime="local") as env:
        base = env.unwrapped
        fresh = [t.schema_json() for t in base._tools()]
        built = []
        real = Tool.schema_json
        monkeypatch.setattr(Tool, "schema_json", lambda self: built.append(self.name) or real(self))
        first = base.tools
        assert first == fresh
        first[0]["function"]["name"] = "evil"
        first[0]["function"]["parameters"]["properties"].clear()
        first.append({"type": "function"})
        assert base.tools == fresh and base.tools is not base.tools
        env.reset(options={"task_id": "hello"})
        assert base.tools == fresh
        assert built == [t["function"]["name"] for t in fresh]  # one build per tool, however many reads and resets


class Shifting(GuessEnv):
    """Offers `hint` only while `hinting` is on: tools that change after construction."""

    hinting = False

    def _tools(self):
        extra = [Tool(name="hint", description="a hint", params=NoArgs, handler=lambda _a: ToolResult(output="7"))]
        return super()._tools() + (extra if self.hinting else [])


def test_an_env_whose_tools_change_is_said_right():
    env = Shifting()
    assert [t["function"]["name"] for t in env.tools] == ["look", "submit"]
    env.hinting = True
    assert [t["function"]["name"] for t in env.tools] == ["look", "submit", "hint"]
    env.hinting = False
    assert [t["function"]["name"] for t in env.tools] == ["look", "submit"]
