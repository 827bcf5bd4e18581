import json
from types import SimpleNamespace

import pytest

from agentgym.actions import MAX_ACTION_CHARS, ActionError, ToolCall, parse_action


def test_every_accepted_shape_gives_the_same_call():
    want = ToolCall(name="bash", arguments={"command": "ls"})
    shapes = [
        want,
        {"name": "bash", "arguments": {"command": "ls"}},
        {"name": "bash", "arguments": '{"command": "ls"}'},
        '{"name": "bash", "arguments": {"command": "ls"}}',
        {"id": "call_1", "type": "function", "function": {"name": "bash", "arguments": '{"command": "ls"}'}},
        json.dumps({"type": "function", "function": {"name": "bash", "arguments": '{"command": "ls"}'}}),
        SimpleNamespace(id="c", function=SimpleNamespace(name="bash", arguments='{"command": "ls"}')),
        {"role": "assistant", "tool_calls": [{"function": {"name": "bash", "arguments": '{"command": "ls"}'}}]},
        b'{"name": "bash", "arguments": {"command": "ls"}}',
    ]
    for shape in shapes:
        calls = parse_action(shape)
        assert [(c.name, c.arguments) for c in calls] == [("bash", {"command": "ls"})], shape


def test_parallel_calls_in_one_turn():
    calls = parse_action([{"name": "a"}, {"name": "b", "arguments": {"x": 1}}])
    assert [c.name for c in calls] == ["a", "b"]
    assert calls[0].arguments == {}


@pytest.mark.parametrize(
    "bad, fragment",
    [
        ("not json", "not valid JSON"),
        ("42", "cannot read an action of type int"),
        ('{"arguments": {}}', "needs a 'name'"),
        ('{"name": "x", "arguments": "{broken"}', "arguments are not valid JSON"),
        ('{"name": "x", "arguments": [1, 2]}', "must be a JSON object"),
        ("[]", "empty list"),
        ([[{"name": "a"}]], "nested lists"),
        ({"function": "bash"}, "'function' must be an object"),
        (b"\xff\xfe", "not UTF-8"),
        (None, "cannot read an action of type NoneType"),
        ("x" * (MAX_ACTION_CHARS + 1), "limit is"),
    ],
)
def test_malformed_actions_raise_action_error_with_a_clear_message(bad, fragment):
    with pytest.raises(ActionError, match=fragment):
        parse_action(bad)


def test_openai_roundtrip():
    call = ToolCall(name="bash", arguments={"command": "echo hi"}, id="call_9")
    assert parse_action(call.to_openai())[0] == call
