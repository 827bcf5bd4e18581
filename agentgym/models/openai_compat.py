"""A client for any OpenAI-compatible chat-completions server (vLLM's, SGLang's, a provider's).

Plain httpx instead of the openai SDK: we need the fields the SDK hides or renames (vLLM's token
ids, prompt_tokens_details.cached_tokens from any server) and our own retry policy.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agentgym.models.base import (
    ChatMessage,
    ChatResult,
    ChatUsage,
    ContextWindowExceeded,
    Choice,
    ModelBackend,
    ModelError,
    TOKEN_BACKENDS_HINT,
    TokenIdsUnavailable,
    TokenSample,
    parse_tool_calls,
)

try:
    import httpx
except ImportError:  # pragma: no cover - exercised only without the extra
    httpx = None  # type: ignore[assignment]

#: Statuses worth retrying: rate limits and server-side failures; 4xx other than these are our bug.
RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})


class HTTPBackendConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    base_url: str = Field("http://127.0.0.1:8000/v1", description="up to and including /v1")
    model: str = "default"
    api_key: str | None = None
    timeout_s: float = Field(120.0, gt=0, description="per request attempt")
    max_retries: int = Field(4, ge=0)
    backoff_s: float = Field(0.5, ge=0, description="first retry delay; doubles each retry, with jitter")
    max_backoff_s: float = Field(20.0, ge=0)
    max_concurrency: int = Field(16, ge=1, description="requests in flight at once from this backend")
    extra_body: dict[str, Any] = Field(default_factory=dict, description="merged into every request (e.g. vLLM's return_token_ids)")


class OpenAICompatibleBackend(ModelBackend):
    def __init__(self, base_url: str = "http://127.0.0.1:8000/v1", model: str = "default", api_key: str | None = None, **kwargs: Any):
        if httpx is None:
            raise ImportError("OpenAICompatibleBackend needs httpx: pip install 'agentgym[models]'")
        # The variables every OpenAI-compatible client reads; explicit arguments win.
        api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self.config = HTTPBackendConfig(base_url=base_url.rstrip("/"), model=model, api_key=api_key, **kwargs)
        self.model = self.config.model
        # Client and semaphore belong to one event loop; they are made on first use in that loop
        # and remade if the backend is later used from another loop (asyncio objects can't cross).
        self._client: Any = None
        self._sem: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.in_flight = 0
        self.max_in_flight = 0  # high-water mark, so tests and benchmarks can see the limit hold
        self.attempts = 0

    def _ensure(self) -> tuple[Any, asyncio.Semaphore]:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            headers = {"Authorization": f"Bearer {self.config.api_key}"} if self.config.api_key else {}
            limits = httpx.Limits(max_connections=self.config.max_concurrency)
            self._client = httpx.AsyncClient(base_url=self.config.base_url, headers=headers, limits=limits, timeout=self.config.timeout_s)
            self._sem = asyncio.Semaphore(self.config.max_concurrency)
            self._loop = loop
        assert self._sem is not None
        return self._client, self._sem

    async def chat(self, messages, tools=None, *, n=1, temperature=0.0, max_tokens=None, seed=None) -> ChatResult:
        body: dict[str, Any] = {"model": self.config.model, "messages": messages, "n": n, "temperature": temperature}
        if tools:
            body["tools"] = tools
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        if seed is not None:
            body["seed"] = seed
        body.update(self.config.extra_body)
        return await self._send(body)

    async def _send(self, body: dict[str, Any], *post_args: Any) -> Any:
        """One request under the concurrency limit, counted in flight, with retries."""
        client, sem = self._ensure()
        async with sem:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            try:
                return await self._post_with_retries(client, body, *post_args)
            finally:
                self.in_flight -= 1

    async def generate_ids(self, prompt_ids, *, max_tokens, temperature=1.0, seed=None, stop_ids=()) -> TokenSample:
        """Token in, token out through /v1/completions: the prompt goes as a list of ids (no
        template, no tokenizer on the server's side) and the answer must carry the sampled ids and
        their logprobs (vLLM: ``return_token_ids``, or ``return_tokens_as_token_ids`` with
        ``logprobs``). A server that answers without them is refused, never approximated.
        Start vLLM with ``--logprobs-mode processed_logprobs`` for logprobs of the distribution it
        sampled from (temperature applied), as TransformersBackend's are; its default is raw."""
        body: dict[str, Any] = {
            "model": self.config.model, "prompt": list(prompt_ids), "max_tokens": max_tokens, "temperature": temperature,
            "logprobs": 0, "return_token_ids": True, "return_tokens_as_token_ids": True, "skip_special_tokens": False,
        }
        if stop_ids:
            body["stop_token_ids"] = list(stop_ids)
        if seed is not None:
            body["seed"] = seed
        body.update(self.config.extra_body)
        return await self._send(body, "/completions", lambda d, _t: parse_token_completion(d, prompt_ids, self.config.base_url))

    async def _post_with_retries(self, client: Any, body: dict[str, Any], path: str = "/chat/completions", parse: Any = None) -> Any:
        parse = parse or (lambda data, t: parse_completion(data, latency_s=t))
        cfg = self.config
        last = ""
        for attempt in range(cfg.max_retries + 1):
            if attempt:
                delay = min(cfg.max_backoff_s, cfg.backoff_s * 2 ** (attempt - 1))
                await asyncio.sleep(delay * (0.5 + random.random() / 2))
            self.attempts += 1
            t0 = time.perf_counter()
            try:
                resp = await client.post(path, json=body)
            except (httpx.TransportError, httpx.TimeoutException) as exc:  # connection refused/reset, timeouts
                last = f"{type(exc).__name__}: {exc}"
                continue
            if resp.status_code in RETRY_STATUSES:
                last = f"HTTP {resp.status_code}: {resp.text[:300]}"
                continue
            if resp.status_code == 400 and _CONTEXT_FULL.search(resp.text[:2000]):
                raise ContextWindowExceeded(f"{cfg.base_url}{path}: the conversation no longer fits the model's context window "
                                            f"(HTTP 400: {resp.text[:300]})")
            if resp.status_code >= 400 and path == "/completions" and resp.status_code not in (401, 403, 404):
                raise TokenIdsUnavailable(f"{cfg.base_url}/completions refused a token-id prompt (HTTP {resp.status_code}: {resp.text[:200]}); {TOKEN_BACKENDS_HINT}")
            if resp.status_code >= 400:
                raise ModelError(f"{cfg.base_url}{path} answered HTTP {resp.status_code}: {resp.text[:500]} (check model name, request and API key)")
            try:
                data = resp.json()
            except ValueError:
                raise ModelError(f"{cfg.base_url} did not answer JSON: {resp.text[:300]!r}") from None
            return parse(data, time.perf_counter() - t0)
        raise ModelError(f"{cfg.base_url}{path} failed after {cfg.max_retries + 1} attempts; last: {last}. Is the server up and the rate limit sane?")

    async def aclose(self) -> None:
        if self._client is not None and self._loop is asyncio.get_running_loop():
            await self._client.aclose()
        self._client, self._loop = None, None


#: How servers say a prompt is past the context window: vLLM ("This model's maximum context length
#: is N tokens"; "... longer than the maximum model length"), OpenAI (context_length_exceeded),
#: llama.cpp ("exceeds the available context size"), TGI ("must have less than N tokens").
_CONTEXT_FULL = re.compile(r"maximum context length|context_length_exceeded|maximum model length|context size|"
                           r"context window|prompt is too long|must have less than \d+ tokens", re.IGNORECASE)


def parse_completion(data: dict[str, Any], latency_s: float = 0.0) -> ChatResult:
    """An OpenAI chat.completion JSON object -> ChatResult."""
    if not isinstance(data, dict) or not isinstance(data.get("choices"), list):
        raise ModelError(f"not a chat completion (no 'choices'): {str(data)[:300]}")
    choices = []
    for i, ch in enumerate(data["choices"]):
        msg = ch.get("message") or {}
        parsed, raw = parse_tool_calls(msg.get("tool_calls"))
        choices.append(
            Choice(
                index=ch.get("index", i),
                message=ChatMessage(content=msg.get("content"), tool_calls=parsed, raw_tool_calls=raw),
                finish_reason=ch.get("finish_reason"),
                token_ids=ch.get("token_ids"),
            )
        )
    u = data.get("usage") or {}
    details = u.get("prompt_tokens_details") or {}
    usage = ChatUsage(
        input_tokens=int(u.get("prompt_tokens") or 0),
        cached_input_tokens=int(details.get("cached_tokens") or 0),
        output_tokens=int(u.get("completion_tokens") or 0),
    )
    return ChatResult(choices=choices, usage=usage, model=data.get("model"), prompt_token_ids=data.get("prompt_token_ids"), latency_s=latency_s)


def _ids_from_logprob_tokens(tokens: Any) -> list[int] | None:
    """vLLM's ``return_tokens_as_token_ids``: logprobs.tokens are 'token_id:123' strings."""
    if not isinstance(tokens, list) or not tokens:
        return None
    ids = []
    for tok in tokens:
        if not (isinstance(tok, str) and tok.startswith("token_id:") and tok[9:].lstrip("-").isdigit()):
            return None
        ids.append(int(tok[9:]))
    return ids


def parse_token_completion(data: dict[str, Any], prompt_ids: list[int], base_url: str = "the server") -> TokenSample:
    """A /v1/completions answer -> TokenSample, or TokenIdsUnavailable when it lacks the ids or
    logprobs, or when the server says it saw another prompt than the ids we sent."""
    if not isinstance(data, dict) or not isinstance(data.get("choices"), list) or not data["choices"]:
        raise ModelError(f"not a completion (no 'choices'): {str(data)[:300]}")
    ch = data["choices"][0] if isinstance(data["choices"][0], dict) else {}
    lp = ch.get("logprobs") if isinstance(ch.get("logprobs"), dict) else {}
    ids = ch.get("token_ids") if isinstance(ch.get("token_ids"), list) else _ids_from_logprob_tokens(lp.get("tokens"))
    logprobs = lp.get("token_logprobs")
    if ids is None or not all(isinstance(i, int) for i in ids):
        raise TokenIdsUnavailable(f"{base_url} answered without the sampled token ids (no choices[0].token_ids, no 'token_id:N' logprob tokens); {TOKEN_BACKENDS_HINT}")
    if not isinstance(logprobs, list) or len(logprobs) != len(ids) or not all(isinstance(p, (int, float)) for p in logprobs):
        raise TokenIdsUnavailable(f"{base_url} answered without one logprob per sampled id (logprobs.token_logprobs); {TOKEN_BACKENDS_HINT}")
    seen = ch.get("prompt_token_ids", data.get("prompt_token_ids"))
    if isinstance(seen, list) and seen != list(prompt_ids):
        raise TokenIdsUnavailable(f"{base_url} conditioned on other prompt ids than those sent ({len(seen)} vs {len(prompt_ids)} ids): it re-tokenized the prompt")
    return TokenSample(ids=ids, logprobs=[float(p) for p in logprobs], finish_reason=ch.get("finish_reason"))
