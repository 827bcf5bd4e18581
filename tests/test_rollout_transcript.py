"""Full transcripts and the grader's report on stored trajectories: the messages exactly as the
model saw them (checked against what the real HTTP test server received), per-call usage as the
server reported it, bounded text, old records still loading, and verdicts that explain a failure."""

import asyncio
import json

import pytest

pytest.importorskip("httpx")

from agentgym.agents.react import BudgetAwareAgent, ReActAgent
from agentgym.parallel import RolloutSpec, run_episode_async
from agentgym.rollout import SCHEMA_VERSION, Trajectory, run_episode
from agentgym.transcript import TEXT_CAP, build_grader_report, clip, tools_hash
from toy_env import ToyEnv

from agentgym.actions import ToolResult
from agentgym.models import TokenPrices
from agentgym.models.testing import OpenAITestServer, Reply


@pytest.fixture
def env():
    e = ToyEnv()
    yield e
    e.close()


def agent(cls, env, srv, **kw):
    return cls(env, base_url=srv.base_url, model="m", backend_kwargs={"backoff_s": 0.01}, **kw)


def test_transcript_is_what_the_model_saw_with_usage_per_call(env):
    with OpenAITestServer([Reply.call("add", {"a": 1, "b": 2}, prompt_tokens=100, cached_tokens=40, completion_tokens=9),
                           Reply.text("thinking", prompt_tokens=200, completion_tokens=5),
                           Reply.call("submit", {"answer": 5}, prompt_tokens=300, completion_tokens=3)]) as srv:
        a = agent(ReActAgent, env, srv, prices=TokenPrices(input_per_mtok=1.0, output_per_mtok=2.0))
        traj = run_episode(env, a, options={"task_id": "sum-2"})
    t = Trajectory.model_validate_json(traj.model_dump_json()).transcript  # as stored
    assert traj.schema_version == SCHEMA_VERSION == 2 and t is not None
    last_request = srv.requests[-1]["messages"]
    assert t.messages[: len(last_request)] == last_request, "stored messages differ from what the model received"
    assert t.messages[-1]["role"] == "assistant" and t.messages[-1]["tool_calls"][0]["function"]["name"] == "submit"
    assert t.messages[0]["role"] == "system" and "thinking" in [m.get("content") for m in t.messages]
    assert t.tools_sha256 == tools_hash(srv.requests[0]["tools"]) and t.tool_names == ["echo", "add", "submit"]
    assert [(u.input_tokens, u.cached_input_tokens, u.output_tokens) for u in t.turns] == [(100, 40, 9), (200, 0, 5), (300, 0, 3)]
    assert [u.step for u in t.turns] == [0, 1, 1], "the nudged call and the submit both come after one env step"
    assert t.turns[0].cost == pytest.approx((60 * 1.0 + 40 * 1.0 + 9 * 2.0) / 1e6)
    assert all(t.messages[u.message_index]["role"] == "assistant" for u in t.turns)
    g = traj.grader_report
    assert g.verdict == "failed" and g.summary == "wrong" and g.source == "submit"


def test_budget_aware_transcript_keeps_the_budget_lines_the_model_read(env):
    with OpenAITestServer([Reply.call("add", {"a": 1, "b": 2}), Reply.call("submit", {"answer": 3})]) as srv:
        traj = run_episode(env, agent(BudgetAwareAgent, env, srv), options={"task_id": "sum-2"})
    tool_msgs = [m["content"] for m in traj.transcript.messages if m["role"] == "tool"]
    assert tool_msgs and "[Budget]" in tool_msgs[0] and tool_msgs[0] == srv.requests[-1]["messages"][-1]["content"]
    assert traj.grader_report.verdict == "passed"


def test_async_rollout_path_stores_the_transcript_too(env):
    with OpenAITestServer([Reply.call("submit", {"answer": 1})]) as srv:
        spec = RolloutSpec(env_id="toy", task_id="sum-1", sample=0, seed=0)
        traj = asyncio.run(run_episode_async(env, agent(ReActAgent, env, srv), spec))
    assert traj.passed and len(traj.transcript.messages) == 3 and traj.grader_report.verdict == "passed"


def test_old_records_load_and_policies_without_a_model_have_no_transcript(env):
    v1 = {"env_id": "toy", "task_id": "sum-1", "seed": 0, "first_observation": "x",
          "steps": [{"action": {"name": "submit"}, "observation": "ok", "reward": 1.0, "terminated": True, "truncated": False}],
          "total_reward": 1.0, "terminated": True, "passed": True, "seconds": 0.1}
    old = Trajectory.model_validate(v1)
    assert old.schema_version == 1 and old.transcript is None and old.grader_report is None
    from agentgym.agents import OracleAgent

    traj = run_episode(env, OracleAgent(env), options={"task_id": "sum-3"})
    assert traj.transcript is None and traj.grader_report.verdict == "passed"


def test_huge_tool_output_is_stored_bounded_with_a_marker(env):
    big = "A" * 50_000 + "THE-END"
    env._tools = lambda: [t.__class__(name=t.name, description=t.description, params=t.params,
                                      handler=(lambda a: ToolResult(output=big)) if t.name == "echo" else t.handler)
                          for t in ToyEnv._tools(env)]
    with OpenAITestServer([Reply.call("echo", {"text": "x"}), Reply.call("submit", {"answer": 1})]) as srv:
        traj = run_episode(env, agent(ReActAgent, env, srv), options={"task_id": "sum-1"})
    stored = traj.steps[0].observation
    assert len(stored) < TEXT_CAP + 200 and "characters truncated" in stored and "THE-END" in stored[-100:]
    tool_msg = next(m for m in traj.transcript.messages if m["role"] == "tool")
    assert "characters truncated" in tool_msg["content"] and len(json.dumps(traj.model_dump())) < 3 * TEXT_CAP
    assert clip("short") == "short"


def test_grader_report_explains_swe_tests_scores_budgets_and_errors():
    swe = {"tool_results": [{"name": "submit", "is_error": False, "passed": False, "resolved": False,
                             "report": {"fail_to_pass": {"t::a": "FAILED"}, "pass_to_pass": {"t::b": "PASSED"}}}],
           "terminated_reason": "tool:submit"}
    g = build_grader_report(passed=False, error=None, truncated=False, last_info=swe, last_observation="Submitted. NOT resolved")
    assert [(t.group, t.name, t.status) for t in g.tests] == [("FAIL_TO_PASS", "t::a", "FAILED"), ("PASS_TO_PASS", "t::b", "PASSED")]
    ts = {"tool_results": [{"name": "submit", "grade": {"metric": "mase", "score": 1.4, "reward": 0.2, "pass_reward": 0.5,
                                                         "passed": False, "message": "ok"}}], "terminated_reason": "tool:submit"}
    c = build_grader_report(passed=False, error=None, truncated=False, last_info=ts, last_observation="Submitted.").checks[0]
    assert c.name == "mase" and c.passed is False and "0.5" in c.expected and "1.4" in c.got
    out = build_grader_report(passed=False, error=None, truncated=True, last_info={"truncated_reason": "max_turns"}, last_observation="")
    assert out.verdict == "unfinished" and "max_turns" in out.summary
    err = build_grader_report(passed=False, error="SandboxError: died\ntrace", truncated=False, last_info={}, last_observation="")
    assert err.verdict == "error" and err.summary == "infrastructure error: SandboxError: died"
    hooked = build_grader_report(passed=False, error=None, truncated=False, last_info=swe, last_observation="",
                                 env_report={"summary": "2 of 3 checks failed", "outcomes": [{"description": "rows", "passed": False,
                                                                                              "expected": [[1]], "got": [[2]]}]})
    assert hooked.source == "env" and hooked.summary == "2 of 3 checks failed" and hooked.checks[0].expected == [[1]]


def test_a_scored_submissions_check_names_the_metric_value_it_needed():
    """A failed time-series submission says the score that would have passed: reward is the gain
    over the floor as a share of the span to the reference, so the bar is floor + p * (ref - floor)."""
    def expected(**grade):
        info = {"tool_results": [{"name": "submit", "grade": {"metric": "m", "score": 1.0, "reward": 0.0, "passed": False, **grade}}]}
        return build_grader_report(passed=False, error=None, truncated=False, last_info=info, last_observation="").checks[0].expected

    assert expected(floor=2.0, reference=1.0, pass_reward=0.5, lower_is_better=True) == "reward >= 0.5 (m <= 1.5)"
    assert expected(floor=0.2, reference=0.8, pass_reward=0.25, lower_is_better=False) == "reward >= 0.25 (m >= 0.35)"
    assert expected(floor=2.0, reference=1.0, pass_reward=0.0) == "reward >= 0.0 (m < 2)"
    # the reference no better than the floor (nothing can pass), or inputs missing: the reward bar alone
    assert expected(floor=1.0, reference=1.0, pass_reward=0.5) == expected(pass_reward=0.5) == "reward >= 0.5"
    from agentgym.envs.timeseries.grading import reward_of  # the bar is where the grader's reward reaches pass_reward

    assert reward_of(1.5, 2.0, 1.0, True) == 0.5 and abs(reward_of(0.35, 0.2, 0.8, False) - 0.25) < 1e-12


def test_a_rollout_whose_model_dies_mid_episode_keeps_its_steps_and_messages():
    from agentgym.parallel import run_rollouts_sync

    with OpenAITestServer([Reply.call("add", {"a": 1, "b": 2}, prompt_tokens=50, completion_tokens=7), Reply.fault(503)]) as srv:
        spec = RolloutSpec(env_id="toy", task_id="sum-2", sample=0, seed=0)
        [res] = run_rollouts_sync([spec], lambda env_id: ToyEnv(),
                                  lambda env, s: ReActAgent(env, base_url=srv.base_url, model="m", backend_kwargs={"max_retries": 0}))
    t = res.trajectory
    assert res.infra_error and t.error.startswith("infrastructure error:") and "503" in t.error.splitlines()[0]
    assert t.task_id == "sum-2" and len(t.steps) == 1 and t.steps[0].action[0]["function"]["name"] == "add"
    assert [m["role"] for m in t.transcript.messages] == ["system", "user", "assistant", "tool"]
    assert [u.input_tokens for u in t.transcript.turns] == [50] and res.agent_usage["input_tokens"] == 50
    assert t.grader_report.verdict == "error" and t.schema_version == SCHEMA_VERSION


def test_an_env_failing_while_the_episode_closes_keeps_the_steps(env, monkeypatch):
    from agentgym.agents import OracleAgent
    from agentgym.rollout import errored_trajectory

    monkeypatch.setattr(type(env), "passed", lambda self, *a: (_ for _ in ()).throw(OSError("grader gone")))
    with pytest.raises(OSError) as caught:
        run_episode(env, OracleAgent(env), options={"task_id": "sum-3"})
    t = errored_trajectory(caught.value, env_id="toy", task_id="sum-3", seed=None)
    assert t.steps and t.steps[-1].terminated and t.error.startswith("infrastructure error: OSError: grader gone")
    assert t.grader_report.verdict == "error" and not t.passed


def test_a_partial_record_goes_only_to_its_own_episode():
    from agentgym.rollout import PARTIAL_ATTR, errored_trajectory

    exc = RuntimeError("cached and raised again")
    setattr(exc, PARTIAL_ATTR, Trajectory(env_id="toy", task_id="sum-1", seed=1, first_observation="x"))
    assert errored_trajectory(exc, env_id="toy", task_id="sum-2", seed=1).first_observation == "", "another task's"
    assert not hasattr(exc, PARTIAL_ATTR), "taken once"
    setattr(exc, PARTIAL_ATTR, Trajectory(env_id="toy", task_id="sum-1", seed=1, first_observation="x"))
    assert errored_trajectory(exc, env_id="toy", task_id="sum-1", seed=1).first_observation == "x"


def test_a_sweep_stores_a_full_context_window_as_a_scored_truncation(tmp_path):
    """Through the sweep runner: the server's 400 'maximum context length' at the second call is
    stored as a failed episode (scored, truncated 'max_context', transcript kept), not an
    infrastructure error left out of pass@k."""
    from agentgym.sweep import SweepConfig, Store, run_sweep

    full = "This model's maximum context length is 4096 tokens. However, you requested 4608 tokens."

    def script(req):
        if not req.get("tools"):  # the preflight's probe
            return Reply.text("ok")
        return Reply.call("bash", {"command": "echo hi"}) if len(req["messages"]) <= 2 else Reply.fault(400, message=full)

    with OpenAITestServer(script) as srv:
        cfg = SweepConfig.model_validate({"name": "ctx", "envs": [{"id": "shell-fixture", "tasks": ["hello"]}], "agents": ["react"],
                                          "models": [{"model": "m", "base_url": srv.base_url}], "budgets": [5], "k": 1,
                                          "runtime": "local", "concurrency": 1})
        summary = run_sweep(cfg, out=tmp_path / "run", progress=False)
    assert (summary.infra_errors, summary.failed) == (0, 1)
    store = Store(tmp_path / "run")
    try:
        [row] = store.conn.execute("SELECT infra_error, error, trajectory FROM episodes").fetchall()
    finally:
        store.close()
    traj = json.loads(row[2])
    assert not row[0] and row[1] is None and traj["truncated"] and len(traj["steps"]) == 1 and traj["transcript"]["messages"]
    assert traj["grader_report"]["verdict"] == "unfinished" and "max_context" in traj["grader_report"]["summary"]
