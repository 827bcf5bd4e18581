"""A failed episode explains itself: the stored grader report has every check with what was
expected and what the agent's work gave (web: every check kind at once; shell: the hidden inputs'
outputs), while nothing of the expected side was in what the agent saw during the episode."""

from __future__ import annotations

import json

import pytest

import agentgym
from agentgym.actions import ToolCall
from agentgym.policy import ScriptedPolicy
from agentgym.rollout import run_episode

SECRET = "zebra-kettle-4711"  # the expected answer: on no page, in no statement


def seen_by_agent(traj) -> str:
    """Everything the policy was shown: the first observation and every step's observation and info."""
    return traj.first_observation + "".join(s.observation + json.dumps(s.info, default=str) for s in traj.steps)


@pytest.mark.slow
def test_a_failed_web_episode_reports_every_check_expected_vs_got():
    task = {"id": "report-0", "template": "report", "kind": "state", "sites": ["shop"], "start": ["shop", "/"],
            "intent": "Order product 3 for Nora Quist, open the cart, and tell me the code.", "min_steps": 1, "split": "test",
            "oracle": [], "checks": [
                {"kind": "answer", "mode": "exact", "expected": SECRET},
                {"kind": "url", "site": "shop", "path": "/cart"},
                {"kind": "tabs", "site": "shop", "paths": ["/cart", "/product/3"]},
                {"kind": "state", "site": "shop", "fn": "shop.order", "params": {
                    "items": {"3": 1}, "customer": "Nora Quist", "address": "4 Harbour Road", "shipping": "standard"}}]}
    env = agentgym.make("web", runtime="local", sites=["shop"], tasks=[task])
    try:
        traj = run_episode(env, ScriptedPolicy([ToolCall(name="send_msg_to_user", arguments={"text": "the code is 12"})]),
                           options={"task_id": "report-0"})
    finally:
        env.close()
    g = traj.grader_report
    assert not traj.passed and g.verdict == "failed" and g.source == "env"
    checks = {c.name: c for c in g.checks}
    assert [c.passed for c in g.checks] == [False] * 4, g.checks  # all four evaluated, not only the first failure
    answer = checks["answer (exact)"]
    assert SECRET in answer.expected and answer.got == "the code is 12"
    url = checks["shop: active tab's URL"]
    assert url.expected.endswith("/cart") and url.got.endswith("/")
    assert [p.rsplit("/", 1)[-1] for p in checks["shop: open tabs"].expected] == ["cart", "3"]
    order = checks["shop: shop.order"]
    assert order.expected["items"] == {"3": 1} and order.got == {"new orders": 0}
    assert "0 of 4 checks pass" in g.summary and "answer does not match" in g.summary
    assert SECRET not in seen_by_agent(traj)  # the expected answer only in the report written after the episode
    assert traj.steps[-1].info["tool_results"][-1]["detail"] == "answer does not match (exact)"  # as before


def test_a_failed_shell_episode_reports_the_hidden_inputs_expected_vs_got():
    env = agentgym.make("shell-fixture", runtime="local")
    try:
        hidden = env.unwrapped._tasks["reverse-script"].hidden
        policy = ScriptedPolicy([ToolCall(name="write_file", arguments={"path": "reverse.sh", "content": "echo \"$1\"\n"}),
                                 ToolCall(name="submit", arguments={})])
        traj = run_episode(env, policy, options={"task_id": "reverse-script"})
    finally:
        env.close()
    g = traj.grader_report
    assert not traj.passed and g.verdict == "failed" and len(g.checks) == 1
    c = g.checks[0]
    assert c.passed is False and c.expected == {w: w[::-1] for w in hidden}
    assert c.got == {hidden[0]: hidden[0]}  # the script echoed the first hidden input and grading stopped there
    assert not any(w in seen_by_agent(traj) or w[::-1] in seen_by_agent(traj) for w in hidden)


def test_shell_report_diffs_expected_and_got_text():
    from agentgym.envs.shell.tasks import Verdict

    report = Verdict(False, "sorted.txt is wrong", "sorted.txt", "a\nb\nc\n", "a\nc\n").report()
    (check,) = report["outcomes"]
    assert check["expected"] == "a\nb\nc\n" and check["got"] == "a\nc\n" and "\n-b\n" in check["reason"]
    assert len(Verdict(False, "x", "f", "y" * 10_000, "z").report()["outcomes"][0]["expected"]) < 2_100  # bounded


def test_web_report_of_a_page_reward_and_a_feasible_task_reported_infeasible():
    from agentgym.envs.web.report import grader_report
    from agentgym.envs.web.tasks.checks import EpisodeEnd, HookReading, grade_checks
    from agentgym.envs.web.tasks.models import AnswerCheck, HookCheck, StateCheck

    hook = HookCheck(above=True, min=0.0, attempts="WOB_EPISODE_ID")
    g = grade_checks([hook], EpisodeEnd(hooks={"agentgymReward/WOB_EPISODE_ID": HookReading(value=-1, attempts=1)}), {}, {}, dict)
    (c,) = grader_report(g)["outcomes"]
    assert (c["passed"], c["expected"], c["got"]) == (False, "agentgymReward > 0, WOB_EPISODE_ID <= 1",
                                                      "agentgymReward = -1, WOB_EPISODE_ID = 1")
    checks = [AnswerCheck(mode="exact", expected="42"), StateCheck(site="s", fn="no.such.check")]
    g = grade_checks(checks, EpisodeEnd(infeasible=True), {}, {}, dict)
    assert (g.passed, g.detail) == (False, "the task was feasible but was reported infeasible")  # the rule, as before
    assert [(o.name, o.passed) for o in g.outcomes] == [("feasible task", False), ("answer (exact)", False), ("s: no.such.check", None)]
    with pytest.raises(KeyError):  # a broken check still fails the grading when nothing failed before it
        grade_checks(checks[1:], EpisodeEnd(), {}, {}, dict)


def test_the_env_reports_checks_are_stored_once():
    """The outcomes an env report lists become the report's checks; its details keep the rest
    (summary, submissions), not a second copy of the outcomes."""
    from agentgym.transcript import build_grader_report

    outcomes = [{"description": "rows", "passed": False, "expected": "5 rows", "got": "4 rows", "reason": "short"}]
    env_report = {"summary": "failed", "outcomes": outcomes, "submissions": [{"sql": "SELECT 1"}]}
    g = build_grader_report(passed=False, error=None, truncated=False, last_info={}, last_observation="",
                            env_report=env_report)
    assert [(c.name, c.expected, c.got, c.detail) for c in g.checks] == [("rows", "5 rows", "4 rows", "short")]
    assert g.details == {"summary": "failed", "submissions": [{"sql": "SELECT 1"}]}
    odd = build_grader_report(passed=False, error=None, truncated=False, last_info={}, last_observation="",
                              env_report={"checks": [*outcomes, "not a check"]})
    assert len(odd.checks) == 1 and odd.details["checks"][1] == "not a check", "a list not wholly read as checks stays"
