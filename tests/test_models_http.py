"""OpenAICompatibleBackend against a real local HTTP server (agentgym.models.testing)."""

import asyncio
import time

import pytest

pytest.importorskip("httpx")

from toy_env import ToyEnv

from agentgym.models import (
    ChatUsage,
    ModelError,
    OpenAICompatibleBackend,
    TokenPrices,
    extract_tool_calls,
    run_sync,
)
from agentgym.models.testing import OpenAITestServer, Reply


@pytest.fixture
def server():
    with OpenAITestServer() as srv:
        yield srv


def backend(srv, **kw):
    kw.setdefault("backoff_s", 0.01)
    return OpenAICompatibleBackend(base_url=srv.base_url, model="m", **kw)


def test_tool_calls_usage_and_request_shape(server):
    server.push(Reply.call("add", {"a": 1, "b": 2}, prompt_tokens=100, cached_tokens=64, completion_tokens=9, token_ids=[5, 6]))
    tools = ToyEnv().tools
    res = run_sync(backend(server).chat([{"role": "user", "content": "hi"}], tools=tools, temperature=0.7, max_tokens=50, seed=3))
    call = res.message.tool_calls[0]
    assert (call.name, call.arguments) == ("add", {"a": 1, "b": 2}) and call.id
    assert res.choices[0].finish_reason == "tool_calls" and res.choices[0].token_ids == [5, 6]
    assert res.usage == ChatUsage(input_tokens=100, cached_input_tokens=64, output_tokens=9)
    req = server.requests[0]
    assert req["tools"] == tools and req["seed"] == 3 and req["max_tokens"] == 50 and req["temperature"] == 0.7


def test_n_samples(server):
    server.push(Reply(samples=[Reply.text("a"), Reply.call("submit", {"answer": 1})]))
    res = run_sync(backend(server).chat([{"role": "user", "content": "x"}], n=4))
    assert [c.message.content for c in res.choices] == ["a", None, "a", None]
    assert [len(c.message.tool_calls) for c in res.choices] == [0, 1, 0, 1]
    assert server.requests[0]["n"] == 4


def test_malformed_tool_call_json_is_kept_raw_and_the_env_reports_it(server):
    server.push(Reply.call("add", '{"a": 1, "b": '))
    res = run_sync(backend(server).chat([{"role": "user", "content": "x"}]))
    msg = res.message
    assert msg.tool_calls == [] and len(msg.malformed_tool_calls) == 1
    env = ToyEnv()
    env.reset(options={"task_id": "sum-2"})
    obs, _, term, trunc, info = env.step(msg.raw_tool_calls)
    assert "not valid JSON" in info["action_error"] and "not valid JSON" in obs["text"]
    assert not term and not trunc and info["usage"]["tool_calls"] == {"_malformed": 1}


def test_retries_429_and_500_then_succeeds(server):
    server.push(Reply.fault(429), Reply.fault(500), Reply.fault(503), Reply.text("ok"))
    b = backend(server, max_retries=3)
    res = run_sync(b.chat([{"role": "user", "content": "x"}]))
    assert res.message.content == "ok" and b.attempts == 4 and len(server.requests) == 4


def test_gives_up_after_max_retries_with_a_clear_error(server):
    server.push(*[Reply.fault(500)] * 3)
    with pytest.raises(ModelError, match="after 3 attempts.*HTTP 500"):
        run_sync(backend(server, max_retries=2).chat([{"role": "user", "content": "x"}]))


def test_client_error_is_not_retried(server):
    server.push(Reply.fault(400), Reply.text("never"))
    b = backend(server, max_retries=3)
    with pytest.raises(ModelError, match="HTTP 400"):
        run_sync(b.chat([{"role": "user", "content": "x"}]))
    assert b.attempts == 1


def test_timeout_is_retried(server):
    server.push(Reply.slow(3.0), Reply.text("fast"))
    b = backend(server, timeout_s=0.2, max_retries=1)
    t0 = time.perf_counter()
    res = run_sync(b.chat([{"role": "user", "content": "x"}]))
    assert res.message.content == "fast" and b.attempts == 2
    assert time.perf_counter() - t0 < 2.0, "the slow attempt must be cut at the timeout"


def test_connection_refused_is_retried_then_reported():
    b = OpenAICompatibleBackend(base_url="http://127.0.0.1:9/v1", max_retries=1, backoff_s=0.01)
    with pytest.raises(ModelError, match="2 attempts.*Connect"):
        run_sync(b.chat([{"role": "user", "content": "x"}]))


def test_concurrency_limit_limits_requests_in_flight():
    with OpenAITestServer(default=Reply.slow(0.15)) as srv:
        b = OpenAICompatibleBackend(base_url=srv.base_url, max_concurrency=3)

        async def main():
            t0 = time.perf_counter()
            await asyncio.gather(*[b.chat([{"role": "user", "content": str(i)}]) for i in range(9)])
            return time.perf_counter() - t0

        elapsed = asyncio.run(main())
        assert srv.max_in_flight == 3 and b.max_in_flight == 3
        assert elapsed >= 0.4, "9 requests of 0.15 s, 3 at a time, take 3 rounds"


def test_run_sync_refuses_inside_a_loop(server):
    async def inner():
        with pytest.raises(RuntimeError, match="await"):
            run_sync(backend(server).chat([]))

    asyncio.run(inner())


def test_token_prices_charge_cached_input_at_its_price():
    p = TokenPrices(input_per_mtok=2.0, cached_input_per_mtok=0.5, output_per_mtok=8.0)
    assert p.cost(ChatUsage(input_tokens=1_000_000, cached_input_tokens=400_000, output_tokens=100_000)) == pytest.approx(1.2 + 0.2 + 0.8)


def test_extract_tool_calls_for_in_process_backends():
    content, calls = extract_tool_calls('thinking <tool_call>{"name": "add", "arguments": {"a": 1, "b": 2}}</tool_call>')
    assert content == "thinking" and calls[0]["function"]["name"] == "add"
    _, bad = extract_tool_calls("<tool_call>{oops</tool_call>")
    assert bad[0]["function"]["arguments"] == "{oops"
    assert extract_tool_calls("just text") == ("just text", [])
