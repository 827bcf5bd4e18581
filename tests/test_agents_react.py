"""ReAct and budget-aware agents over the real HTTP path, against the local test server."""

import pytest

pytest.importorskip("httpx")

from agentgym.agents import make_agent
from agentgym.agents.react import (
    CHECK_AGAIN_INTERCEPT,
    NUDGE,
    BudgetAwareAgent,
    HorizonCurriculum,
    ReActAgent,
)
from toy_env import ToyEnv

from agentgym import run_episode
from agentgym.models import TokenPrices
from agentgym.models.testing import OpenAITestServer, Reply


@pytest.fixture
def server():
    with OpenAITestServer() as srv:
        yield srv


@pytest.fixture
def env():
    e = ToyEnv()
    yield e
    e.close()


def agent(cls, env, srv, **kw):
    return cls(env, base_url=srv.base_url, model="m", backend_kwargs={"backoff_s": 0.01}, **kw)


def tool_ids_are_tied(messages):
    asked = [c["id"] for m in messages if m["role"] == "assistant" for c in m.get("tool_calls", [])]
    answered = [m["tool_call_id"] for m in messages if m["role"] == "tool"]
    return set(answered) <= set(asked)


def test_react_solves_toy_task_and_builds_openai_history(env, server):
    server.push(Reply.call("add", {"a": 1, "b": 2}), Reply.call("submit", {"answer": 6}))
    a = agent(ReActAgent, env, server)
    traj = run_episode(env, a, options={"task_id": "sum-3"})
    assert traj.passed and traj.turns == 2
    req = server.requests[1]
    assert req["tools"] == env.tools and [m["role"] for m in req["messages"]] == ["system", "user", "assistant", "tool"]
    tool_msg = req["messages"][3]
    assert tool_msg["tool_call_id"] == req["messages"][2]["tool_calls"][0]["id"] and tool_msg["content"].startswith("3")
    assert "1 + 2 + ... + 3" in req["messages"][1]["content"]


def test_nudges_then_tool_call_costs_no_env_turn(env, server):
    server.push(Reply.text("let me think"), Reply.call("submit", {"answer": 3}))
    a = agent(ReActAgent, env, server)
    traj = run_episode(env, a, options={"task_id": "sum-2"})
    assert traj.passed and traj.turns == 1
    assert server.requests[1]["messages"][-1] == {"role": "user", "content": NUDGE}


def test_text_after_nudges_goes_to_env_which_reports_it(env, server):
    server.push(Reply.text("the answer is 3"), Reply.call("submit", {"answer": 3}))
    a = agent(ReActAgent, env, server, max_nudges=0)
    traj = run_episode(env, a, options={"task_id": "sum-2"})
    assert traj.turns == 2 and traj.passed
    assert "not valid JSON" in traj.steps[0].observation
    last = server.requests[1]["messages"][-1]
    assert last["role"] == "user" and "not valid JSON" in last["content"]


def test_text_as_final_answer_when_submit_takes_one_string(server):
    from pydantic import BaseModel

    from agentgym import Tool, ToolResult

    class Ans(BaseModel):
        text: str

    class TextEnv(ToyEnv):
        def _tools(self):
            return [Tool(name="submit", description="s", params=Ans, handler=lambda a: ToolResult(output="ok", terminated=True, reward=float(a.text == "42")))]

    e = TextEnv()
    server.push(Reply.text("42"))
    traj = run_episode(e, agent(ReActAgent, e, server, max_nudges=0, no_tool_call="answer"))
    assert traj.passed and traj.steps[0].action["arguments"] == {"text": "42"}


def test_malformed_tool_call_reaches_env_and_model_sees_the_error(env, server):
    server.push(Reply.call("add", '{"a": 1,'), Reply.call("submit", {"answer": 3}))
    traj = run_episode(env, agent(ReActAgent, env, server), options={"task_id": "sum-2"})
    assert traj.passed and traj.steps[0].info["usage"]["tool_calls"] == {"_malformed": 1}
    tool_msg = server.requests[1]["messages"][-1]
    assert tool_msg["role"] == "tool" and "not valid JSON" in tool_msg["content"]


def test_parallel_calls_get_one_tool_message_each(env, server):
    server.push(Reply(tool_calls=[("echo", {"text": "a"}), ("echo", {"text": "b"})]), Reply.call("submit", {"answer": 3}))
    run_episode(env, agent(ReActAgent, env, server), options={"task_id": "sum-2"})
    msgs = server.requests[1]["messages"]
    assert [m["role"] for m in msgs[-2:]] == ["tool", "tool"] and tool_ids_are_tied(msgs)
    assert "[echo]\na" in msgs[-2]["content"] and "included in the result" in msgs[-1]["content"]


def test_check_again_bounces_the_first_submit(env, server):
    server.push(Reply.call("submit", {"answer": 3}), Reply.call("add", {"a": 1, "b": 2}), Reply.call("submit", {"answer": 3}))
    a = agent(ReActAgent, env, server, check_before_submit=True)
    traj = run_episode(env, a, options={"task_id": "sum-2"})
    assert traj.passed and traj.turns == 2 and len(server.requests) == 3
    assert "check again" in server.requests[0]["messages"][0]["content"].lower()
    assert server.requests[1]["messages"][-1]["content"] == CHECK_AGAIN_INTERCEPT
    assert tool_ids_are_tied(server.requests[2]["messages"])


def test_tokens_are_recorded_priced_and_charged_to_env_budget(env, server):
    server.push(Reply.call("echo", {"text": "x"}, prompt_tokens=40, cached_tokens=30, completion_tokens=20), Reply.call("submit", {"answer": 3}))
    prices = TokenPrices(input_per_mtok=1e6, cached_input_per_mtok=0.5e6, output_per_mtok=2e6)
    a = agent(ReActAgent, env, server, prices=prices)
    traj = run_episode(env, a, options={"task_id": "sum-2", "budget": {"max_turns": 5, "max_tokens": 50}})
    assert traj.truncated and traj.steps[-1].info["truncated_reason"] == "max_tokens" and traj.turns == 1
    u = a.usage()
    assert (u.input_tokens, u.cached_input_tokens, u.output_tokens) == (40, 30, 20)
    assert u.cost == pytest.approx(10 * 1 + 30 * 0.5 + 20 * 2)


def test_budget_aware_agent_shows_budget_and_adapts(env, server):
    server.push(*[Reply.call("add", {"a": 1, "b": "x"})] * 3, Reply.call("submit", {"answer": 3}))
    a = agent(BudgetAwareAgent, env, server)
    traj = run_episode(env, a, options={"task_id": "sum-2", "max_turns": 5})
    assert traj.passed
    texts = [m["content"] for m in server.requests[-1]["messages"] if m["role"] == "tool"]
    assert all("[Budget] turns: " in t for t in texts)
    assert "turns: 4 left (80%)" in texts[0] and "dig deeper" in texts[0]
    assert "turns: 2 left (40%)" in texts[2] and "single most likely fix" in texts[2]
    assert "model tokens used: input 60 (cached 0), output 14" in texts[1]  # 20 + 40 prompt, 7 + 7 output
    hint = a.strategy_hint({"remaining": {"turns": 1}})
    assert "verify your best answer once and submit" in hint


def test_registered_factories_and_horizon_curriculum(env, server):
    cur = HorizonCurriculum(episodes_per_stage=2)
    assert [cur.horizon(e) for e in range(8)] == [10, 10, 20, 20, 30, 30, 30, 30]
    server.push(Reply.call("submit", {"answer": 1}), Reply.call("submit", {"answer": 1}))
    for name in ("react", "budget-aware"):
        a = make_agent(name, env, base_url=server.base_url, model="m")
        _, info = env.reset(options=cur.options(3, task_id="sum-1"))
        assert info["budget"]["max_turns"] == 20
        traj = run_episode(env, a, options=cur.options(3, task_id="sum-1"))
        assert traj.passed


def test_react_agents_in_parallel_rollouts_use_the_async_path():
    import re

    from agentgym.parallel import rollout_specs, run_rollouts_sync

    def solve(req):
        n = int(re.search(r"\+ (\d+) and submit", req["messages"][1]["content"]).group(1))
        return Reply.call("submit", {"answer": n * (n + 1) // 2}, delay_s=0.05)

    with OpenAITestServer(solve) as srv:
        specs = rollout_specs("toy", ToyEnv().task_ids(), k=4)
        res = run_rollouts_sync(specs, lambda _: ToyEnv(), lambda env, spec: ReActAgent(env, base_url=srv.base_url, backend_kwargs={"max_concurrency": 4}),
                                max_concurrency=8)
        assert all(r.trajectory.passed for r in res) and len(res) == 20
        assert srv.max_in_flight >= 2, "model calls of different rollouts overlap"


def test_unified_cost_of_a_scripted_run_equals_the_hand_computed_value(env, server):
    from agentgym.budget import Usage
    from agentgym.models import PriceTable

    server.push(
        Reply.call("add", {"a": 1, "b": 2}, prompt_tokens=1000, cached_tokens=600, completion_tokens=50),
        Reply.call("add", {"a": 3}, prompt_tokens=2000, cached_tokens=1000, completion_tokens=30),  # bad args: '_malformed'
        Reply.call("submit", {"answer": 3}, prompt_tokens=3000, cached_tokens=2500, completion_tokens=20),
    )
    table = PriceTable(version="test-2026-11", tokens=TokenPrices(input_per_mtok=3.0, cached_input_per_mtok=0.3, output_per_mtok=15.0),
                       tool_calls={"add": 0.01, "submit": 0.1}, default_tool_call=0.002, sandbox_second=0.001)
    a = agent(ReActAgent, env, server, prices=table.tokens)
    traj = run_episode(env, a, options={"task_id": "sum-2"})
    env_usage = traj.steps[-1].info["usage"]
    assert env_usage["tool_calls"] == {"add": 1, "_malformed": 1, "submit": 1}
    usage = Usage(**{**a.usage().model_dump(), "tool_calls": env_usage["tool_calls"]})
    fresh, cached, out = (1000 - 600) + (2000 - 1000) + (3000 - 2500), 600 + 1000 + 2500, 50 + 30 + 20
    by_hand = (fresh * 3.0 + cached * 0.3 + out * 15.0) / 1e6 + 0.01 + 0.002 + 0.1 + 12.5 * 0.001
    assert table.unified_cost(usage, sandbox_seconds=12.5) == pytest.approx(by_hand)
    assert a.usage().cost == pytest.approx(table.breakdown(usage)["tokens"])
