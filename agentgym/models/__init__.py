"""Model backends behind one async interface (``ModelBackend.chat``).

    backend = make_backend(base_url="http://127.0.0.1:8000/v1", model="Qwen/Qwen3-8B")
    result = await backend.chat(messages, tools=env.tools, n=4)

In-process backends (``VLLMBackend``, ``TransformersBackend``) import their heavy dependency
only when constructed.
"""

from __future__ import annotations

from typing import Any, Literal

from agentgym.models.base import (
    ChatMessage,
    ChatResult,
    ChatUsage,
    Choice,
    ContextWindowExceeded,
    ModelBackend,
    ModelError,
    TokenIdsUnavailable,
    TokenPrices,
    TokenSample,
    parse_tool_calls,
    run_sync,
)
from agentgym.models.local import TransformersBackend, VLLMBackend, extract_tool_calls
from agentgym.models.pricing import PriceTable
from agentgym.models.openai_compat import (
    HTTPBackendConfig,
    OpenAICompatibleBackend,
    parse_completion,
)


def make_backend(kind: Literal["openai", "vllm", "transformers"] = "openai", **kwargs: Any) -> ModelBackend:
    """A backend by kind; kwargs go to its constructor (base_url, model, api_key, timeout_s...)."""
    if kind == "openai":
        return OpenAICompatibleBackend(**kwargs)
    if kind == "vllm":
        return VLLMBackend(**kwargs)
    if kind == "transformers":
        return TransformersBackend(**kwargs)
    raise ValueError(f"unknown backend kind {kind!r}; use 'openai', 'vllm' or 'transformers'")


__all__ = [
    "ChatMessage", "ChatResult", "ChatUsage", "Choice", "ContextWindowExceeded", "HTTPBackendConfig", "ModelBackend", "ModelError",
    "OpenAICompatibleBackend", "PriceTable", "TokenIdsUnavailable", "TokenPrices", "TokenSample", "TransformersBackend", "VLLMBackend", "extract_tool_calls",
    "make_backend", "parse_completion", "parse_tool_calls", "run_sync",
]
