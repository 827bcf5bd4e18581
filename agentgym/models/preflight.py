"""Preflight: does an OpenAI-compatible endpoint answer, and does it serve the model, BEFORE a
sweep or an episode starts?

Why: without it, a dead or mistyped endpoint costs every episode its full retry schedule (about
30 s each) and fills the store with infrastructure errors. One bounded probe per endpoint fails in
seconds with one line naming the URL and what to do.

The probe: GET {base_url}/models (what vLLM, SGLang, llama.cpp, OpenAI and most providers serve).
When it lists models and ours is among them, done. When the route is missing, or the list does not
name ours (some providers list a subset), one chat request with max_tokens=1 decides.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

DEFAULT_BASE_URL = "http://127.0.0.1:8000/v1"


class PreflightError(RuntimeError):
    """An endpoint or an env that is not usable; the message says which and what to do."""


@dataclass(frozen=True)
class Endpoint:
    base_url: str
    model: str
    api_key: str | None = None

    @classmethod
    def from_kwargs(cls, kwargs: dict[str, Any]) -> Endpoint | None:
        """The endpoint a model-driven agent's kwargs point at (the ReAct agent's own defaults), or
        None when the agent does not talk HTTP (an in-process backend, a ready `backend`)."""
        if kwargs.get("backend") is not None or kwargs.get("backend_kind", "openai") != "openai":
            return None
        base = kwargs.get("base_url") or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
        key = kwargs.get("api_key") if kwargs.get("api_key") is not None else os.environ.get("OPENAI_API_KEY")
        return cls(base_url=str(base).rstrip("/"), model=str(kwargs.get("model") or "default"), api_key=key)


def check_endpoint(ep: Endpoint, timeout_s: float = 5.0) -> None:
    """Raise PreflightError unless `ep` answers and serves `ep.model` (at most ~2 x timeout_s)."""
    import httpx

    headers = {"Authorization": f"Bearer {ep.api_key}"} if ep.api_key else {}
    try:
        with httpx.Client(base_url=ep.base_url, headers=headers, timeout=timeout_s) as client:
            listed = _listed_models(client, ep)
            if listed is not None and ep.model in listed:
                return
            _one_token(client, ep, listed)
    except httpx.TimeoutException:
        raise PreflightError(f"model endpoint {ep.base_url} did not answer within {timeout_s:.0f}s; start the "
                             "server (e.g. `vllm serve MODEL`) or pass the right --base-url / models: base_url") from None
    except (httpx.TransportError, httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
        raise PreflightError(f"cannot reach model endpoint {ep.base_url} ({type(exc).__name__}: {exc}); start the "
                             "server (e.g. `vllm serve MODEL`) or pass the right --base-url / models: base_url") from None


def _listed_models(client: Any, ep: Endpoint) -> list[str] | None:
    resp = client.get("/models")
    _refuse_auth(resp, ep)
    if resp.status_code != 200:
        return None
    try:
        data = resp.json().get("data")
        return [str(m.get("id")) for m in data if isinstance(m, dict)]
    except (ValueError, AttributeError, TypeError):
        return None


def _one_token(client: Any, ep: Endpoint, listed: list[str] | None) -> None:
    body = {"model": ep.model, "messages": [{"role": "user", "content": "ping"}], "max_tokens": 1, "temperature": 0}
    resp = client.post("/chat/completions", json=body)
    _refuse_auth(resp, ep)
    if resp.status_code == 200:
        return
    served = f"; it serves: {', '.join(listed[:8])}" if listed else ""
    if resp.status_code in (400, 404, 422):
        raise PreflightError(f"model endpoint {ep.base_url} refused model {ep.model!r} (HTTP {resp.status_code}: "
                             f"{resp.text[:200].strip()}){served}; pass a model it serves (--model / models: model)")
    raise PreflightError(f"model endpoint {ep.base_url} answered a 1-token request with HTTP {resp.status_code} "
                         f"({resp.text[:200].strip()}); check the server's log, then retry")


def _refuse_auth(resp: Any, ep: Endpoint) -> None:
    if resp.status_code in (401, 403):
        raise PreflightError(f"model endpoint {ep.base_url} refused the API key (HTTP {resp.status_code}); set "
                             "OPENAI_API_KEY or models: api_key")


def check_endpoints(endpoints: list[Endpoint], timeout_s: float = 5.0) -> None:
    """Each distinct endpoint once."""
    for ep in dict.fromkeys(endpoints):
        check_endpoint(ep, timeout_s)


__all__ = ["DEFAULT_BASE_URL", "Endpoint", "PreflightError", "check_endpoint", "check_endpoints"]
