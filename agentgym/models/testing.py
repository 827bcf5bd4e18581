"""A real OpenAI-compatible chat-completions server for tests and demos (no model, no GPU).

It listens on 127.0.0.1 on a free port in a background thread and answers POST
/v1/chat/completions from a script: a queue of Reply objects, or a function of the request.
Replies can be tool calls (well-formed or deliberately malformed JSON), text, several samples
(n), any usage including cached tokens, or faults (HTTP status, delay) to test retries and
timeouts. Everything the server received and reported is kept for assertions.

    with OpenAITestServer([Reply.call("submit", {"answer": 3})]) as srv:
        backend = OpenAICompatibleBackend(base_url=srv.base_url)
"""

from __future__ import annotations

import collections
import json
import threading
import time
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

from pydantic import BaseModel, Field

from agentgym.models.base import tool_call_dict


class Reply(BaseModel):
    """One scripted answer. ``tool_calls`` are (name, arguments) pairs; a str argument is sent
    verbatim, so malformed JSON can be scripted."""

    content: str | None = None
    tool_calls: list[tuple[str, dict[str, Any] | str]] = Field(default_factory=list)
    finish_reason: str | None = None
    prompt_tokens: int | None = Field(None, description="None: 10 per request message")
    cached_tokens: int = 0
    completion_tokens: int = 7
    status: int = 200
    delay_s: float = 0.0
    samples: list[Reply] | None = Field(None, description="one per choice for n > 1; else the reply repeats")
    token_ids: list[int] | None = None
    logprobs: list[float] | None = Field(None, description="/v1/completions: one per token id (vLLM's logprobs.token_logprobs)")
    error_message: str | None = Field(None, description="a fault's error message (default: 'scripted HTTP <status>')")
    ids_as_logprob_tokens: bool = Field(False, description="/v1/completions: ids only as 'token_id:N' logprob tokens (vLLM's return_tokens_as_token_ids), no token_ids field")

    @classmethod
    def call(cls, name: str, arguments: dict[str, Any] | str | None = None, **kw: Any) -> Reply:
        return cls(tool_calls=[(name, arguments if arguments is not None else {})], **kw)

    @classmethod
    def text(cls, content: str, **kw: Any) -> Reply:
        return cls(content=content, **kw)

    @classmethod
    def fault(cls, status: int = 500, delay_s: float = 0.0, message: str | None = None) -> Reply:
        return cls(status=status, delay_s=delay_s, error_message=message)

    @classmethod
    def slow(cls, delay_s: float, **kw: Any) -> Reply:
        return cls(delay_s=delay_s, content="slow", **kw)


Script = Iterable[Reply] | Callable[[dict[str, Any]], Reply]


class OpenAITestServer:
    def __init__(self, script: Script = (), default: Reply | None = None):
        self._fn = script if callable(script) else None
        self._queue: collections.deque[Reply] = collections.deque([] if callable(script) else script)
        self.default = default  # when the queue runs dry; None answers HTTP 500 with a clear message
        self.requests: list[dict[str, Any]] = []
        self.reported_usage: list[dict[str, Any]] = []  # usage of every 200 answer, in order
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._counter = 0

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> Self:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions", "/v1/completions"):
                    return self._send(404, {"error": {"message": f"no route {self.path}"}})
                try:
                    req = json.loads(body)
                except json.JSONDecodeError:
                    return self._send(400, {"error": {"message": "body is not JSON"}})
                status, payload = server._answer(req, legacy=self.path.rstrip("/") == "/v1/completions")
                self._send(status, payload)

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
                    pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, name="openai-test-server", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._httpd is not None, "start() the server first"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def push(self, *replies: Reply) -> None:
        with self._lock:
            self._queue.extend(replies)

    # -- answering -------------------------------------------------------------------------------
    def _next_reply(self, req: dict[str, Any]) -> Reply | None:
        with self._lock:
            self.requests.append(req)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            if self._fn is not None:
                return None
            return self._queue.popleft() if self._queue else self.default

    def _answer(self, req: dict[str, Any], legacy: bool = False) -> tuple[int, dict[str, Any]]:
        try:
            reply = self._next_reply(req)
            if self._fn is not None:
                reply = self._fn(req)
            if reply is None:
                return 500, {"error": {"message": "OpenAITestServer: script exhausted"}}
            if reply.delay_s:
                time.sleep(reply.delay_s)  # a handler thread per request: only this one waits
            if reply.status != 200:
                return reply.status, {"error": {"message": reply.error_message or f"scripted HTTP {reply.status}"}}
            return 200, self._legacy_completion(req, reply) if legacy else self._completion(req, reply)
        finally:
            with self._lock:
                self.in_flight -= 1

    def _completion(self, req: dict[str, Any], reply: Reply) -> dict[str, Any]:
        n = int(req.get("n") or 1)
        samples = reply.samples or [reply]
        choices = []
        with self._lock:
            self._counter += 1
            rid = self._counter
        for i in range(n):
            r = samples[i % len(samples)]
            calls = [tool_call_dict(name, args, f"call_{rid}_{i}_{j}") for j, (name, args) in enumerate(r.tool_calls)]
            msg: dict[str, Any] = {"role": "assistant", "content": r.content}
            if calls:
                msg["tool_calls"] = calls
            choice: dict[str, Any] = {"index": i, "message": msg, "finish_reason": r.finish_reason or ("tool_calls" if calls else "stop")}
            if r.token_ids is not None:
                choice["token_ids"] = r.token_ids
            choices.append(choice)
        prompt = reply.prompt_tokens if reply.prompt_tokens is not None else 10 * len(req.get("messages") or [])
        usage = {
            "prompt_tokens": prompt,
            "completion_tokens": reply.completion_tokens * n,
            "total_tokens": prompt + reply.completion_tokens * n,
            "prompt_tokens_details": {"cached_tokens": reply.cached_tokens},
        }
        with self._lock:
            self.reported_usage.append(usage)
        return {"id": f"chatcmpl-{rid}", "object": "chat.completion", "created": int(time.time()), "model": req.get("model", "test"), "choices": choices, "usage": usage}

    def _legacy_completion(self, req: dict[str, Any], reply: Reply) -> dict[str, Any]:
        """/v1/completions the way vLLM answers a token-id prompt: ids and logprobs when scripted."""
        choice: dict[str, Any] = {"index": 0, "text": reply.content or "", "finish_reason": reply.finish_reason or "stop", "logprobs": None}
        if reply.token_ids is not None:
            lps = reply.logprobs if reply.logprobs is not None else [0.0] * len(reply.token_ids)
            choice["logprobs"] = {"tokens": [f"token_id:{i}" for i in reply.token_ids], "token_logprobs": lps}
            if not reply.ids_as_logprob_tokens:
                choice["token_ids"] = reply.token_ids
                choice["prompt_token_ids"] = req.get("prompt")
        n_out = len(reply.token_ids or []) or reply.completion_tokens
        prompt = req.get("prompt")
        usage = {"prompt_tokens": len(prompt) if isinstance(prompt, list) else 10, "completion_tokens": n_out}
        with self._lock:
            self.reported_usage.append(usage)
        return {"id": "cmpl-test", "object": "text_completion", "created": int(time.time()), "model": req.get("model", "test"), "choices": [choice], "usage": usage}
