"""LLM-judge verifiers (yes/no, list-wise) over HTTP against the test server, and the hybrid."""

import asyncio
import re

import pytest

pytest.importorskip("httpx")

from agentgym.agents import SimulatedPolicy
from toy_env import ToyEnv

from agentgym.models import OpenAICompatibleBackend
from agentgym.models.testing import OpenAITestServer, Reply
from agentgym.parallel import rollout_specs, run_rollouts_sync
from agentgym.select import JUDGE_LISTWISE, hybrid_select, judge_listwise, judge_score


def trajectories():
    res = run_rollouts_sync(rollout_specs("toy", ["sum-3"], k=8), lambda _: ToyEnv(), lambda env, spec: SimulatedPolicy(env, p=0.4, seed=spec.seed))
    trajs = [r.trajectory for r in res]
    assert any(t.passed for t in trajs) and not all(t.passed for t in trajs)
    return trajs


def oracle_judge(req):
    """Says YES exactly when the transcript shows the right submission; list-wise, names it."""
    system, user = req["messages"][0]["content"], req["messages"][1]["content"]
    if system == JUDGE_LISTWISE.format(n=len(re.findall(r"CANDIDATE \d+:", user))):
        for i, block in enumerate(re.split(r"CANDIDATE \d+:", user)[1:]):
            if "correct" in block and "wrong" not in block:
                return Reply.text(f"{i + 1}")
        return Reply.text("no idea")
    return Reply(samples=[Reply.text("YES" if "OBSERVATION: correct" in user else "NO")])


def test_yes_no_judge_scores_and_listwise_picks():
    trajs = trajectories()
    with OpenAITestServer(oracle_judge) as srv:
        b = OpenAICompatibleBackend(base_url=srv.base_url)

        async def main():
            scores = await asyncio.gather(*[judge_score(b, "sum 1..3", t, n=3) for t in trajs])
            pick = await judge_listwise(b, "sum 1..3", trajs)
            return scores, pick

        scores, pick = asyncio.run(main())
        assert scores == [1.0 if t.passed else 0.0 for t in trajs]
        assert trajs[pick].passed
        assert srv.requests[0]["n"] == 3 and "TRANSCRIPT:" in srv.requests[0]["messages"][1]["content"]


def test_listwise_falls_back_to_first_on_an_unreadable_answer():
    trajs = [t for t in trajectories() if not t.passed][:2]
    with OpenAITestServer(oracle_judge) as srv:
        assert asyncio.run(judge_listwise(OpenAICompatibleBackend(base_url=srv.base_url), "t", trajs)) == 0


def test_hybrid_select_filters_by_judge_then_executes():
    judge = [0.9, 0.8, 0.1, 0.7]
    execution = [0.0, 0.5, 1.0, 0.5]
    assert hybrid_select(judge, execution, keep=3) == 1  # candidate 2 has the best test score but the judge dropped it
    assert hybrid_select(judge, execution, keep=4) == 2
    with pytest.raises(ValueError):
        hybrid_select([0.1], [])
