"""Run stores for the viewer and report tests, written through the sweep store's own API.

- ``demo_like_run``: the shape of `make demo` (8 envs x 3 agents x 3 turn budgets = 72 configs,
  long labels, 2 tasks x 4 samples each) with known outcomes and a few infra errors; trajectories
  are a mix of old (v1, steps only) and new records with grader reports.
- ``errors_run``: real ReAct episodes (the HTTP test model server, ToyEnv) for two models on three
  tasks: model "good" passes, model "bad" fails with a wrong answer, and on one task the
  endpoint answers HTTP 500, so those episodes are infra errors, stored as the sweep runner does.
"""

from __future__ import annotations

import hashlib
import re
import traceback
from pathlib import Path
from types import SimpleNamespace

from toy_env import ToyEnv

from agentgym.agents.react import ReActAgent
from agentgym.models.testing import OpenAITestServer, Reply
from agentgym.rollout import StepRecord, Trajectory, run_episode
from agentgym.sweep.store import EpisodeRecord, Store
from agentgym.transcript import GraderReport, GradedTest

DEMO_ENVS = ["shell-fixture", "sql-c-lite", "sql-a-lite", "sql-c", "sql-a", "swe-synth-lite", "web-lite", "ts-lite"]
LONG_AGENT = "simulated p=0.8 with a long descriptive label"  # longer than the old report's 26-character cut


def _config(env: str, agent: str, model: str, budget: int) -> SimpleNamespace:
    cid = hashlib.sha256(f"{env}|{agent}|{model}|{budget}".encode()).hexdigest()[:12]
    return SimpleNamespace(config_id=cid, env=env, agent_label=agent, model_label=model, budget_label=f"turns={budget}",
                           budget=SimpleNamespace(max_turns=budget), model_dump_json=lambda: "{}")


def _coin(*parts: object) -> float:
    return int(hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:8], 16) / 16**8


def demo_like_run(root: Path, tasks: int = 2, k: int = 4) -> dict[str, int]:
    """Write the run; returns counts by outcome."""
    store = Store(root)
    counts = {"passed": 0, "failed": 0, "error": 0}
    try:
        store.set_meta("sweep", {"name": "demo-like"})
        for env in DEMO_ENVS:
            for agent, p in (("simulated p=0.2", 0.2), ("simulated p=0.5", 0.5), (LONG_AGENT, 0.8)):
                for budget in (4, 8, 16):
                    rc = _config(env, agent, "-", budget)
                    store.add_config(rc)
                    for t in range(tasks):
                        task = f"{env}-task-{t}"
                        for s in range(k):
                            err = env == "web-lite" and budget == 16 and s == 3
                            passed = not err and _coin(rc.config_id, task, s) < p * min(1.0, budget / 8)
                            traj = _demo_traj(env, task, s, passed, err, new=bool(s % 2))
                            store.record(EpisodeRecord(config_id=rc.config_id, task_id=task, sample=s, seed=s, passed=passed,
                                                       reward=float(passed), turns=traj.turns, cost=0.0, seconds=0.1,
                                                       infra_error=err, error=traj.error), traj)
                            counts["error" if err else "passed" if passed else "failed"] += 1
    finally:
        store.close()
    return counts


def _demo_traj(env: str, task: str, sample: int, passed: bool, err: bool, new: bool) -> Trajectory:
    verdict = "Passed" if passed else "Failed"
    steps = [StepRecord(action={"name": "submit", "arguments": {}}, observation=f"Submitted. {verdict}: {task}", reward=float(passed),
                        terminated=True, truncated=False, info={"usage": {"turns": 1, "tool_calls": {"submit": 1}}, "remaining": {"turns": 3}})]
    traj = Trajectory(env_id=env, task_id=task, seed=sample, first_observation=f"Solve {task}.", steps=[] if err else steps,
                      total_reward=float(passed), terminated=not err, passed=passed,
                      error="infrastructure error: SandboxError: container died\n(traceback)" if err else None)
    if new and not err:
        traj.schema_version = 2
        traj.grader_report = GraderReport(verdict="passed" if passed else "failed", summary=f"{verdict} on {task}", source="submit",
                                          tests=[GradedTest(name="tests/test_x.py::test_a", group="FAIL_TO_PASS",
                                                            status="PASSED" if passed else "FAILED")])
    return traj


def errors_run(root: Path) -> dict[str, int]:
    """Real ReAct episodes; returns counts by outcome."""

    def script(req: dict) -> Reply:
        text = req["messages"][1]["content"] if len(req["messages"]) > 1 else ""
        n = int(m.group(1)) if (m := re.search(r"\+ (\d+) and submit", text)) else 1
        if n == 3 and req.get("model") == "bad":
            return Reply.fault(500)
        if len(req["messages"]) == 2:  # first turn: look around once, then answer
            return Reply.call("add", {"a": 1, "b": 2}, prompt_tokens=120, completion_tokens=11)
        answer = n * (n + 1) // 2 + (0 if req.get("model") == "good" else 1)
        return Reply(content="<script>alert('x')</script> I am sure.", tool_calls=[("submit", {"answer": answer})],
                     prompt_tokens=300, completion_tokens=17)

    store = Store(root)
    counts = {"passed": 0, "failed": 0, "error": 0}
    env = ToyEnv(n_tasks=3)
    try:
        store.set_meta("sweep", {"name": "errors"})
        with OpenAITestServer(script) as srv:
            for model in ("good", "bad"):
                rc = _config("toy", "react", model, 6)
                store.add_config(rc)
                for task in env.task_ids():
                    for s in range(2):
                        agent = ReActAgent(env, base_url=srv.base_url, model=model, backend_kwargs={"backoff_s": 0.0, "max_retries": 0})
                        try:
                            traj = run_episode(env, agent, seed=s, options={"task_id": task, "max_turns": 6})
                        except Exception as exc:  # noqa: BLE001 - as the sweep runner records a dead endpoint
                            traj = Trajectory(env_id="toy", task_id=task, seed=s, first_observation="",
                                              error=f"infrastructure error: {type(exc).__name__}: {exc}\n{traceback.format_exc(limit=2)}")
                        infra = traj.error is not None
                        store.record(EpisodeRecord(config_id=rc.config_id, task_id=task, sample=s, seed=s, passed=traj.passed,
                                                   reward=traj.total_reward, turns=traj.turns, cost=0.0, seconds=traj.seconds,
                                                   infra_error=infra, error=traj.error), traj)
                        counts["error" if infra else "passed" if traj.passed else "failed"] += 1
    finally:
        env.close()
        store.close()
    return counts
