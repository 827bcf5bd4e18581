"""The one async interface every model backend implements, and the records it returns.

Agents talk to models only through ``ModelBackend.chat``; whether the tokens come from an HTTP
server (vLLM, any OpenAI-compatible provider), vLLM in-process or transformers is a constructor
choice. Records are pydantic so they can be logged into trajectories as they are.
"""

from __future__ import annotations

import abc
import asyncio
import json
import threading
from collections.abc import Coroutine, Sequence
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from agentgym.actions import ActionError, ToolCall, _decode_arguments

T = TypeVar("T")


class ChatUsage(BaseModel):
    """Token counts of one chat call, all choices together (what the server bills)."""

    input_tokens: int = 0
    cached_input_tokens: int = Field(0, description="prompt_tokens_details.cached_tokens: input served from the prefix cache")
    output_tokens: int = 0

    def __add__(self, other: ChatUsage) -> ChatUsage:
        return ChatUsage(
            input_tokens=self.input_tokens + other.input_tokens,
            cached_input_tokens=self.cached_input_tokens + other.cached_input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
        )


class ChatMessage(BaseModel):
    """An assistant message. ``raw_tool_calls`` are the calls exactly as the model wrote them
    (OpenAI shape, arguments a JSON string); ``tool_calls`` are those whose arguments parsed.
    Agents hand the raw ones to the env, so a model's malformed JSON is reported by the env
    (as an observation the model can learn from) instead of being dropped or 'fixed' here."""

    role: Literal["assistant"] = "assistant"
    content: str | None = None
    tool_calls: list[ToolCall] = Field(default_factory=list)
    raw_tool_calls: list[dict[str, Any]] = Field(default_factory=list)

    @property
    def malformed_tool_calls(self) -> list[dict[str, Any]]:
        ok = {c.id for c in self.tool_calls}
        return [c for c in self.raw_tool_calls if c.get("id") not in ok]

    def to_openai(self) -> dict[str, Any]:
        """The message as it goes back into the next request's history."""
        msg: dict[str, Any] = {"role": "assistant", "content": self.content}
        if self.raw_tool_calls:
            msg["tool_calls"] = self.raw_tool_calls
        return msg


class Choice(BaseModel):
    index: int = 0
    message: ChatMessage
    finish_reason: str | None = None
    token_ids: list[int] | None = Field(None, description="output token ids, when the server returns them")


class ChatResult(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    choices: list[Choice]
    usage: ChatUsage = Field(default_factory=ChatUsage)
    model: str | None = None
    prompt_token_ids: list[int] | None = None
    latency_s: float = 0.0

    @property
    def message(self) -> ChatMessage:
        return self.choices[0].message


class TokenPrices(BaseModel):
    """Money per million tokens; cached input is usually cheaper than fresh input."""

    model_config = ConfigDict(extra="forbid")

    input_per_mtok: float = 0.0
    cached_input_per_mtok: float | None = Field(None, description="None: same as input")
    output_per_mtok: float = 0.0

    def cost(self, usage: ChatUsage) -> float:
        cached_price = self.input_per_mtok if self.cached_input_per_mtok is None else self.cached_input_per_mtok
        fresh = max(0, usage.input_tokens - usage.cached_input_tokens)
        return (fresh * self.input_per_mtok + usage.cached_input_tokens * cached_price + usage.output_tokens * self.output_per_mtok) / 1e6


class ModelError(RuntimeError):
    """The model backend failed after its retries (not the agent's fault, not the env's)."""


class ContextWindowExceeded(ModelError):
    """The server refused the request because the conversation no longer fits the model's context
    window (HTTP 400 'maximum context length ...'). What filled it is the episode's own text: the
    model's turns and the env's answers to its actions (a tool output it asked for, turn after
    turn). So it ends the episode like a budget (truncation, 'max_context'), never as an
    infrastructure error that leaves the episode out of scores and batches."""


class TokenSample(BaseModel):
    """One token-in/token-out generation: the sampled ids exactly as the sampler produced them."""

    ids: list[int] = Field(description="sampled ids; a sampled stop id is kept (it was sampled)")
    logprobs: list[float] = Field(description="the sampler's logprob of each id: log softmax(logits / T), T = 1 when greedy")
    finish_reason: str | None = Field(None, description="'stop' (a stop id ended it) or 'length' (max_tokens did)")


class TokenIdsUnavailable(RuntimeError):
    """A backend that cannot take token ids in and give sampled ids and logprobs out. Token-level
    rollouts refuse it instead of re-tokenizing text (re-tokenization drift corrupts the gradient).
    Not a ModelError: no retry or episode drop can fix it; the collector stops with this message."""


#: What a refusal tells the user to use instead.
TOKEN_BACKENDS_HINT = (
    "token-level rollouts need TransformersBackend (in process) or an OpenAI-compatible server that takes "
    "prompt token ids and returns the sampled ids with logprobs (vLLM: /v1/completions with return_token_ids)"
)


class ModelBackend(abc.ABC):
    """Async chat with tool calls. ``messages`` and ``tools`` use the OpenAI chat format."""

    model: str = ""

    @abc.abstractmethod
    async def chat(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None = None,
        *,
        n: int = 1,
        temperature: float = 0.0,
        max_tokens: int | None = None,
        seed: int | None = None,
    ) -> ChatResult: ...

    async def generate_ids(
        self,
        prompt_ids: list[int],
        *,
        max_tokens: int,
        temperature: float = 1.0,
        seed: int | None = None,
        stop_ids: Sequence[int] = (),
    ) -> TokenSample:
        """Token in, token out: continue ``prompt_ids`` exactly as given (no chat template, no
        re-tokenization) and return the sampled ids with their logprobs.

        Raises:
            TokenIdsUnavailable: this backend cannot (the default); never approximated from text.
        """
        raise TokenIdsUnavailable(f"{type(self).__name__} ({self.model or 'no model name'}) cannot generate from token ids; {TOKEN_BACKENDS_HINT}")

    async def aclose(self) -> None:
        """Release connections or GPU memory."""


def parse_tool_calls(raw: list[dict[str, Any]] | None) -> tuple[list[ToolCall], list[dict[str, Any]]]:
    """(well-formed ToolCalls, all calls as written). Ids are filled in when a server omits them,
    because tool messages must point at one."""
    parsed: list[ToolCall] = []
    kept: list[dict[str, Any]] = []
    for i, call in enumerate(raw or []):
        call = dict(call)
        call.setdefault("id", f"call_{i}")
        call.setdefault("type", "function")
        kept.append(call)
        fn = call.get("function") or {}
        try:
            args = _decode_arguments(fn.get("arguments"))
        except ActionError:
            continue
        if isinstance(fn.get("name"), str):
            parsed.append(ToolCall(name=fn["name"], arguments=args, id=call["id"]))
    return parsed, kept


def tool_call_dict(name: str, arguments: dict[str, Any] | str, call_id: str) -> dict[str, Any]:
    args = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": args}}


class _LoopThread:
    """One event loop in a daemon thread, for sync callers (the Policy protocol is sync). Every
    sync call goes through the same loop, so a backend's client and semaphore stay on one loop."""

    _lock = threading.Lock()
    _loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def loop(cls) -> asyncio.AbstractEventLoop:
        with cls._lock:
            if cls._loop is None or cls._loop.is_closed():
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="agentgym-models-loop", daemon=True).start()
                cls._loop = loop
            return cls._loop


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine from sync code. Refuses inside a running loop: blocking it would stall
    every other rollout; async callers should await the coroutine (e.g. ``agent.aact``)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run_coroutine_threadsafe(coro, _LoopThread.loop()).result()
    coro.close()
    raise RuntimeError("run_sync() called inside a running event loop; await the async method instead")
