"""Chat formats at token level: how messages become ids, and what to append between turns.

Why: a token-level rollout must never re-tokenize what the model sampled, yet the env's answer
and the template's glue around it (end-of-message tail, tool-result markers, generation prompt)
must be the ids the chat template would give. A ``ChatFormat`` renders whole conversations to ids;
``delta_ids`` takes the difference between the rendering before and after the new messages, so
only template/env ids are produced and the sampled ids stay as sampled. A template that is not
append-only (it rewrites earlier turns when a message is added) is refused with a clear error,
since no single token sequence would then be what the model saw.

Two implementations: ``HFChatFormat`` (a transformers tokenizer with a Jinja chat template) and
``MistralChatFormat`` (Mistral's official tokenizers and formatting, from the mistral-common
package, which ships the tokenizer files: no hub).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from agentgym.models.local import extract_tool_calls


class ChatFormatError(ValueError):
    """The chat template cannot give an append-only token sequence for this conversation."""


@runtime_checkable
class ChatFormat(Protocol):
    name: str
    stop_ids: list[int]

    def render_ids(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None, *, add_generation_prompt: bool) -> list[int]: ...

    def decode(self, ids: Sequence[int]) -> str: ...


def delta_ids(fmt: ChatFormat, history: list[dict[str, Any]], new: list[dict[str, Any]], tools: list[dict[str, Any]] | None,
              *, sampled_stop: bool) -> list[int]:
    """Ids to append after a sampled assistant turn (the last message of ``history``) so that the
    sequence continues exactly as the template renders ``history + new`` with a generation prompt.

    The template's tail of the assistant message (what follows its stop id, e.g. a newline) is
    included; when the sample did not end with a stop id (cut by max_tokens), the stop id is too.
    """
    before = fmt.render_ids(history, tools, add_generation_prompt=False)
    after = fmt.render_ids(history + new, tools, add_generation_prompt=True)
    if after[: len(before)] != before:
        at = next((i for i, (a, b) in enumerate(zip(before, after)) if a != b), min(len(before), len(after)))
        raise ChatFormatError(
            f"{fmt.name}: the chat template is not append-only (adding {[m['role'] for m in new]} messages changes "
            f"token {at} of the earlier conversation); token-level rollouts need a template that only appends"
        )
    stops = set(fmt.stop_ids)
    # the stop id that ends the assistant turn itself, not one of an earlier message: were it looked
    # for in the whole conversation, a turn rendered without one took an earlier message's tail
    turn_start = len(fmt.render_ids(history[:-1], tools, add_generation_prompt=True))
    last = max((i for i, t in enumerate(before) if t in stops and i >= turn_start), default=None)
    if last is None:
        raise ChatFormatError(
            f"{fmt.name}: the chat template ends an assistant turn with none of the stop ids {sorted(stops)}; "
            "give the token that ends a turn as a stop id (e.g. HFChatFormat(tokenizer, stop_ids=[...]))"
        )
    tail = before[last + 1 :] if sampled_stop else before[last:]
    return tail + after[len(before) :]


def parse_reply(fmt: ChatFormat, ids: Sequence[int]) -> tuple[str, str | None, list[dict[str, Any]]]:
    """(decoded text, content, raw OpenAI-style tool calls) of sampled ids, stop id left out."""
    body = list(ids)
    if body and body[-1] in set(fmt.stop_ids):
        body = body[:-1]
    text = fmt.decode(body)
    content, calls = extract_tool_calls(text)
    return text, content, calls


class HFChatFormat:
    """A transformers tokenizer and its Jinja chat template."""

    def __init__(self, tokenizer: Any, stop_ids: Sequence[int] = ()):
        if not getattr(tokenizer, "chat_template", None):
            raise ChatFormatError(f"tokenizer {getattr(tokenizer, 'name_or_path', '?')!r} has no chat template")
        self.tokenizer = tokenizer
        self.name = str(getattr(tokenizer, "name_or_path", "") or type(tokenizer).__name__)
        self.stop_ids = sorted({*stop_ids, *([tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else [])})

    def render_ids(self, messages, tools, *, add_generation_prompt):
        enc = self.tokenizer.apply_chat_template(messages, tools=tools or None, add_generation_prompt=add_generation_prompt, tokenize=True, return_dict=True)
        return list(enc["input_ids"])

    def decode(self, ids):
        return self.tokenizer.decode(list(ids), skip_special_tokens=False)


def mistral_tokenizer_file(name: str = "mistral_instruct_tokenizer_240323.model.v3") -> Path:
    """A tokenizer file mistral-common ships (the default: Mistral 7B Instruct v0.3's, with tool calls)."""
    try:
        import mistral_common
    except ImportError as exc:
        raise ImportError("MistralChatFormat needs mistral-common: pip install 'agentgym[rl]'") from exc
    path = Path(mistral_common.__file__).parent / "data" / name
    if not path.is_file():
        raise FileNotFoundError(f"mistral-common ships no {name}; it has {sorted(p.name for p in path.parent.iterdir())}")
    return path


class MistralChatFormat:
    """Mistral's own tokenizer and chat formatting (mistral-common): [AVAILABLE_TOOLS], [INST],
    [TOOL_CALLS], [TOOL_RESULTS]. Tool call ids must be 9 letters or digits (the format's rule)."""

    def __init__(self, path: str | Path | None = None):
        from mistral_common.protocol.instruct.validator import ValidationMode
        from mistral_common.tokens.tokenizers.mistral import MistralTokenizer

        path = Path(path) if path is not None else mistral_tokenizer_file()
        self.name = f"mistral-common:{path.name}"
        self.serving = MistralTokenizer.from_file(str(path))
        self.finetuning = MistralTokenizer.from_file(str(path), mode=ValidationMode.finetuning)
        raw = self.serving.instruct_tokenizer.tokenizer
        self.raw = raw
        self.stop_ids = [raw.eos_id]
        self.vocab_size = raw.n_words

    def render_ids(self, messages, tools, *, add_generation_prompt):
        from mistral_common.protocol.instruct.request import ChatCompletionRequest

        # Mistral's format has no generation prompt: the model continues after [/INST] or
        # [/TOOL_RESULTS]. A conversation that ends with an assistant turn is rendered whole.
        ends_assistant = bool(messages) and messages[-1]["role"] == "assistant"
        tok = self.finetuning if ends_assistant else self.serving
        req = ChatCompletionRequest(messages=[_mistral_message(m) for m in messages], tools=[_mistral_tool(t) for t in tools or []] or None)
        return list(tok.encode_chat_completion(req).tokens)

    def decode(self, ids):
        """Text with control tokens ([TOOL_CALLS]...) kept as their names and the rest decoded
        (mistral-common's KEEP policy would leave SentencePiece pieces, '▁' included)."""
        from mistral_common.tokens.tokenizers.base import SpecialTokenPolicy

        out, run = [], []
        for i in ids:
            if self.raw.is_special(i):
                out.append(self.raw.decode(run, special_token_policy=SpecialTokenPolicy.IGNORE) + self.raw.id_to_piece(i))
                run = []
            else:
                run.append(i)
        return "".join(out) + self.raw.decode(run, special_token_policy=SpecialTokenPolicy.IGNORE)


def _mistral_message(m: dict[str, Any]) -> Any:
    from mistral_common.protocol.instruct import messages as mm
    from mistral_common.protocol.instruct.tool_calls import FunctionCall, ToolCall

    role = m["role"]
    if role == "system":
        return mm.SystemMessage(content=m["content"])
    if role == "user":
        return mm.UserMessage(content=m["content"])
    if role == "tool":
        return mm.ToolMessage(content=m["content"], tool_call_id=m.get("tool_call_id"))
    calls = [
        ToolCall(id=c["id"], function=FunctionCall(name=c["function"]["name"], arguments=_args_text(c["function"].get("arguments"))))
        for c in m.get("tool_calls") or []
    ]
    return mm.AssistantMessage(content=m.get("content"), tool_calls=calls or None)


def _args_text(args: Any) -> str:
    return args if isinstance(args, str) else json.dumps(args or {})


def _mistral_tool(t: dict[str, Any]) -> Any:
    from mistral_common.protocol.instruct.tool_calls import Function, Tool

    fn = t["function"]
    return Tool(function=Function(name=fn["name"], description=fn.get("description", ""), parameters=fn.get("parameters") or {}))


__all__ = ["ChatFormat", "ChatFormatError", "HFChatFormat", "MistralChatFormat", "delta_ids", "mistral_tokenizer_file", "parse_reply"]
