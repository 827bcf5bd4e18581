"""Tool-call actions: the one action type of every agentgym environment.

An action is a call of one of the env's published tools. We accept it in the shapes agents
actually produce: a ToolCall, a plain dict ``{"name", "arguments"}``, an OpenAI-style tool_call
(dict or SDK object, with JSON-encoded ``function.arguments``), a JSON string of any of those, or
a list of them (parallel tool calls in one turn). Anything else is an ActionError, which the env
turns into an observation, never an exception out of step().
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

#: Longest action payload we parse at all; bigger ones are rejected before json.loads sees them.
MAX_ACTION_CHARS = 1_000_000


class ActionError(ValueError):
    """A malformed action. Its message is shown to the agent as-is, so it says what to fix."""


class ToolCall(BaseModel):
    """One call of a published tool."""

    model_config = ConfigDict(frozen=True)

    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    id: str | None = Field(None, description="the caller's id for this call (OpenAI tool_call_id)")

    def to_openai(self) -> dict[str, Any]:
        return {
            "id": self.id or "call_0",
            "type": "function",
            "function": {"name": self.name, "arguments": json.dumps(self.arguments)},
        }


class ToolResult(BaseModel):
    """What a tool returns to the env: text for the agent, plus episode effects."""

    output: str
    is_error: bool = False
    terminated: bool = False
    reward: float | None = None
    info: dict[str, Any] = Field(default_factory=dict)


class Tool(BaseModel):
    """A tool an env publishes: its name, description and argument model (-> JSON schema)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    name: str
    description: str
    params: type[BaseModel]
    handler: Callable[[Any], ToolResult] | None = Field(None, exclude=True)

    def schema_json(self) -> dict[str, Any]:
        """The tool in OpenAI function-calling format."""
        params = self.params.model_json_schema()
        params.pop("title", None)
        params.setdefault("properties", {})
        params.setdefault("type", "object")
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": params},
        }

    def validate_args(self, arguments: Mapping[str, Any]) -> BaseModel:
        bad = _not_unicode(arguments)
        if bad is not None:
            raise ActionError(f"invalid arguments for tool '{self.name}': {bad} holds a lone UTF-16 surrogate "
                              "(a \\ud800-\\udfff escape without its pair), which is not text; write the character itself")
        try:
            return self.params.model_validate(dict(arguments))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or '(arguments)'}: {e['msg']}" for e in exc.errors()
            )
            raise ActionError(f"invalid arguments for tool '{self.name}': {problems}") from None


class NoArgs(BaseModel):
    """For tools that take no arguments."""

    model_config = ConfigDict(extra="forbid")


def _not_unicode(arguments: Mapping[str, Any]) -> str | None:
    """The path of the first key or string in `arguments` that cannot be encoded as UTF-8 (a lone
    surrogate, which JSON's \\udXXX escapes can make), else None. Such a string reached the
    sandbox's channel, a file write or a driver and raised UnicodeEncodeError there: an
    infrastructure error, dropped from scores, for a character the model chose."""
    stack: list[tuple[str, Any]] = [("", arguments)]
    while stack:  # iterative: arguments may be nested as deep as JSON allows
        path, value = stack.pop()
        if isinstance(value, str):
            if not value.isascii():
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError:
                    return (path or "(arguments)").encode("utf-8", "backslashreplace").decode("utf-8")
        elif isinstance(value, Mapping):
            for k, v in value.items():
                stack.append((f"{path}.{k}" if path else str(k), k if isinstance(k, str) else ""))
                stack.append((f"{path}.{k}" if path else str(k), v))
        elif isinstance(value, (list, tuple)):
            stack.extend((f"{path}[{i}]", v) for i, v in enumerate(value))
    return None


def _loads(text: str, message: str) -> Any:
    """json.loads whose every failure is an ActionError (the model wrote the text): not only bad
    syntax, but nesting past the interpreter's recursion limit (RecursionError) and an integer of
    more digits than int() converts (a ValueError that is no JSONDecodeError). Escaping step() as
    an exception, those ended the episode as an infrastructure error: dropped from scores."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ActionError(message.format(f"{exc.msg} at position {exc.pos}")) from None
    except RecursionError:
        raise ActionError(message.format("nested too deeply")) from None
    except ValueError as exc:  # e.g. an integer past sys.get_int_max_str_digits()
        raise ActionError(message.format(str(exc).split(";")[0][:200])) from None


#: What ``loads_or`` returns by default for text that is not JSON (None is valid JSON: ``null``).
NOT_JSON: Any = type("NotJson", (), {"__repr__": lambda self: "NOT_JSON", "__bool__": lambda self: False})()


def loads_or(text: Any, default: Any = NOT_JSON) -> Any:
    """json.loads, or ``default`` where it cannot parse: a model's text read leniently (the caller
    keeps the raw text, or reads no arguments). Every failure counts: bad syntax, nesting past the
    interpreter's recursion limit (RecursionError), an integer of more digits than int() converts
    (a ValueError that is no JSONDecodeError), and a value that is not text at all (TypeError)."""
    try:
        return json.loads(text)
    except (TypeError, ValueError, RecursionError):
        return default


def _decode_arguments(raw: Any) -> dict[str, Any]:
    if raw is None or raw == "":
        return {}
    if isinstance(raw, str):
        raw = _loads(raw, "tool arguments are not valid JSON: {}")
    if not isinstance(raw, Mapping):
        raise ActionError(f"tool arguments must be a JSON object, got {type(raw).__name__}")
    if not all(isinstance(k, str) for k in raw):
        raise ActionError("tool argument names must be strings")
    return dict(raw)


def _from_mapping(obj: Mapping[str, Any]) -> ToolCall:
    call_id = obj.get("id")
    if "function" in obj:  # OpenAI tool_call: {"id", "type": "function", "function": {...}}
        fn = obj["function"]
        if not isinstance(fn, Mapping):
            raise ActionError("'function' must be an object with 'name' and 'arguments'")
        name, raw_args = fn.get("name"), fn.get("arguments")
    else:
        name = obj.get("name", obj.get("tool"))
        raw_args = obj.get("arguments", obj.get("args", obj.get("parameters")))
    if not isinstance(name, str) or not name:
        raise ActionError("a tool call needs a 'name' (string), e.g. {\"name\": \"bash\", \"arguments\": {...}}")
    return ToolCall(name=name, arguments=_decode_arguments(raw_args), id=call_id if isinstance(call_id, str) else None)


def parse_action(action: Any) -> list[ToolCall]:
    """Normalise any accepted action shape to a list of ToolCalls (one per call in the turn)."""
    if isinstance(action, ToolCall):
        return [action]
    if isinstance(action, (bytes, bytearray)):
        try:
            action = action.decode("utf-8")
        except UnicodeDecodeError:
            raise ActionError("action bytes are not UTF-8 text") from None
    if isinstance(action, str):
        if len(action) > MAX_ACTION_CHARS:
            raise ActionError(f"action is {len(action)} characters; the limit is {MAX_ACTION_CHARS}")
        action = _loads(action, "action is not valid JSON ({}); send a tool call like "
                                '{{"name": "TOOL", "arguments": {{...}}}}')
    if isinstance(action, Mapping):
        if "tool_calls" in action:  # a whole assistant message
            return parse_action(action["tool_calls"])
        return [_from_mapping(action)]
    if isinstance(action, Sequence) and not isinstance(action, str):
        if not action:
            raise ActionError("empty list of tool calls")
        calls: list[ToolCall] = []
        for item in action:
            if isinstance(item, Sequence) and not isinstance(item, (str, Mapping)):
                raise ActionError("nested lists of tool calls are not accepted")
            calls.extend(parse_action(item))
        return calls
    fn = getattr(action, "function", None)  # openai SDK ChatCompletionMessageToolCall
    if fn is not None and hasattr(fn, "name"):
        return [ToolCall(name=fn.name, arguments=_decode_arguments(getattr(fn, "arguments", None)), id=getattr(action, "id", None))]
    raise ActionError(f"cannot read an action of type {type(action).__name__}; send a tool call")
