"""loads_or: the one lenient json.loads for model-written text (tool-call blocks and arguments).

Each reader of a model's text (the in-process backends' tool-call parser, the collector, the SFT
export, the TRL evaluation) reads text that is not JSON its own documented way, and must still do
so for every kind of failure: bad syntax, nesting past the recursion limit, an integer past int()'s
digit limit, and a value that is not text. The parser, the collector and the SFT export go through
loads_or; the TRL evaluation goes through guard.parse_json (a depth limit of 64, so that arguments
the chat template's tojson cannot render are read as none), with the same fallbacks tested here."""

from __future__ import annotations

import json

import pytest

from agentgym.actions import NOT_JSON, loads_or
from agentgym.models.local import extract_tool_calls
from agentgym.rl.collect import _with_object_args
from agentgym.rl.export import _call_with_object_args
from agentgym.rl.trl_eval import _assistant_message

BAD = {"syntax": "{oops", "deep": "[" * 5000 + "]" * 5000, "huge_int": '{"a": ' + "9" * 5000 + "}"}


@pytest.mark.parametrize("kind", sorted(BAD))
def test_every_failure_gives_the_default(kind):
    assert loads_or(BAD[kind]) is NOT_JSON and loads_or(BAD[kind], {}) == {}
    assert not NOT_JSON and repr(NOT_JSON) == "NOT_JSON"


def test_json_and_non_text():
    assert loads_or('{"a": [1, null]}') == {"a": [1, None]} and loads_or("null") is None  # null is not a failure
    assert loads_or({"a": 1}, "d") == "d" and loads_or(None, "d") == "d"


@pytest.mark.parametrize("kind", sorted(BAD))
def test_each_reader_keeps_its_own_fallback(kind):
    text = BAD[kind]
    _, calls = extract_tool_calls(f"<tool_call>{text}</tool_call>")
    assert calls[0]["function"] == {"name": "", "arguments": text}  # the env reports the raw block
    _, calls = extract_tool_calls(f"[TOOL_CALLS]{text}")
    assert calls[0]["function"] == {"name": "", "arguments": text}
    call = {"id": "c", "function": {"name": "f", "arguments": text}}
    assert _with_object_args(call)["function"]["arguments"] == text  # the collector: kept as the model wrote it
    assert _call_with_object_args(call)["function"]["arguments"] == text  # the SFT export: kept as written
    msg, _ = _assistant_message(f"<tool_call>{json.dumps({'name': 'f', 'arguments': text})}</tool_call>")
    assert msg["tool_calls"][0]["function"] == {"name": "f", "arguments": {}}  # the evaluation: no arguments


def test_readers_parse_what_parses():
    _, calls = extract_tool_calls('[TOOL_CALLS][{"name": "f", "arguments": {"x": 1}}]')
    assert calls[0]["function"]["name"] == "f"
    call = {"id": "c", "function": {"name": "f", "arguments": '{"x": 1}'}}
    assert _with_object_args(call)["function"]["arguments"] == {"x": 1}
    assert _with_object_args({"id": "c", "function": {"name": "f", "arguments": {"y": 2}}})["function"]["arguments"] == {"y": 2}
    assert _with_object_args({"id": "c", "function": {"name": "f"}})["function"]["arguments"] == {}
    assert _call_with_object_args({"function": {"name": "f", "arguments": "[1]"}})["function"]["arguments"] == [1]


def test_the_viewer_reads_a_stored_trajectory_too_deep_to_parse_as_a_note():
    """A trajectory stored nested past the recursion limit (the model's tool-call arguments are kept
    as objects) raised RecursionError out of the viewer's and report's episode reads."""
    from agentgym.view.data import _with_trajectory

    ep = _with_trajectory({"passed": 1, "infra_error": 0, "trajectory": BAD["deep"]})
    assert "nested too deeply" in ep["trajectory"]["error"] and ep["outcome"] == "passed"
