"""agentgym.rl.toolmethods: the env-tools-as-methods shape both trainer adapters (TRL's
environment_factory, verifiers' Toolset) hand to their frameworks. No env is made here: the schemas
are written out as an env publishes them."""

from __future__ import annotations

import asyncio
import inspect
from typing import Optional

import pytest

from agentgym.rl.toolmethods import py_type, tool_methods

SCHEMAS = [
    {"type": "function", "function": {"name": "bash", "description": "Run a\n  command.", "parameters": {
        "type": "object", "required": ["command"],
        "properties": {"command": {"type": "string", "description": "the command"},
                       "timeout": {"anyOf": [{"type": "integer"}, {"type": "null"}], "description": "seconds"}}}}},
    {"type": "function", "function": {"name": "submit", "description": "Submit.", "parameters": {"type": "object", "properties": {}}}},
]


class Recorder:
    def __init__(self):
        self.calls = []

    def _call(self, name, arguments):
        self.calls.append((name, arguments))
        return f"ran {name}"


def test_signature_docstring_and_forwarding():
    cls = type("E", (Recorder,), tool_methods("x", SCHEMAS, "_call"))
    sig = inspect.signature(cls.bash)
    assert list(sig.parameters) == ["self", "command", "timeout"]
    assert sig.parameters["command"].default is inspect.Parameter.empty and sig.parameters["timeout"].default is None
    assert sig.parameters["timeout"].annotation == Optional[int] and sig.return_annotation is inspect.Signature.empty
    assert cls.bash.__doc__ == "Run a command.\n\nArgs:\n    command: the command\n    timeout: seconds"
    assert cls.submit.__doc__ == "Submit."
    e = cls()
    assert e.bash(command="ls", bogus=1) == "ran bash"  # a wrong argument reaches the env, not a TypeError
    assert e.calls == [("bash", {"command": "ls", "bogus": 1})]


def test_get_json_schema_reads_back_the_env_schema():
    transformers = pytest.importorskip("transformers")
    cls = type("E", (Recorder,), tool_methods("x", SCHEMAS, "_call"))
    got = transformers.utils.get_json_schema(cls.bash)["function"]
    assert got["description"] == "Run a command." and got["parameters"]["required"] == ["command"]
    assert got["parameters"]["properties"]["timeout"]["type"] == "integer" and "return" not in got


def test_async_drop_unset_and_return_annotation():
    cls = type("E", (Recorder,), tool_methods("x", SCHEMAS, "_call", is_async=True, args_doc=False, returns=str, drop_unset=True))
    assert inspect.iscoroutinefunction(cls.bash) and inspect.signature(cls.bash).return_annotation is str
    assert cls.bash.__doc__ == "Run a command."
    e = cls()
    assert asyncio.run(e.bash(command="ls", timeout=None)) == "ran bash"
    assert e.calls == [("bash", {"command": "ls"})]


@pytest.mark.parametrize("name", ["run", "_hidden", "not-an-ident", "1st"])
def test_names_that_cannot_be_methods_are_refused(name):
    schema = {"function": {"name": name, "parameters": {}}}
    with pytest.raises(ValueError, match=f"x: tool '{name}' cannot be a method"):
        tool_methods("x", [schema], "_call", reserved={"run"})


def test_py_type():
    assert py_type({"type": "array"}) is list and py_type({"type": "weird"}) is str
    assert py_type({"oneOf": [{"type": "string"}, {"type": "integer"}]}) is str
