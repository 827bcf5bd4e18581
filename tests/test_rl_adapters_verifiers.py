"""The verifiers adapter against the real verifiers package (0.4, the `verifiers.v1` stack).

What runs is the package's own machinery around an agentgym env, everything but a model: the
Taskset yields the split's tasks through verifiers' views; the Toolset is registered on a real MCP
server (the `mcp` package's MCPServer, as verifiers serves every toolset) and its tools are called
through MCP's own dispatch; the tool server syncs its State with the rollout's trace over
verifiers' state channel (its InterceptionServer's /state routes, reached as a launched server
reaches them, through VF_STATE_URL/VF_STATE_SECRET); and the Task scores the trace with
verifiers' own `Task.score`. Gold calls earn 1, a bare submit 0, and an infrastructure error is
left unscored (None), never 0.
"""

from __future__ import annotations

import asyncio
import pytest

from conftest import IN_CI

try:
    import verifiers.v1 as vf
except ImportError:
    if IN_CI:
        raise
    pytest.skip("needs verifiers: pip install 'agentgym[rl]'", allow_module_level=True)

from agentgym.rl.adapters.verifiers import AgentGymTasksetConfig, taskset_class  # noqa: E402
from vf_harness import vf_episode  # noqa: E402

KW = {"runtime": "local"}


@pytest.fixture(scope="module")
def taskset():
    return taskset_class("shell-fixture", KW)(AgentGymTasksetConfig(split="train", max_turns=4))


def _task(taskset, task_id):
    (task,) = list(taskset.include(ids=[task_id]))
    return task


def test_taskset_yields_the_split_through_verifiers_views(taskset):
    import agentgym
    from agentgym.rl.splits import split_of

    with agentgym.make("shell-fixture", **KW) as env:
        train = {t for t in env.task_ids() if split_of(env, t) == "train"}
    tasks = list(taskset)
    assert {t.data.task_id for t in tasks} == train and len(train) < 8  # the held-out tasks stay out
    assert [t.data.task_id for t in taskset.take(2)] == [t.data.task_id for t in tasks[:2]]
    task = _task(taskset, "count-lines")
    assert "data.txt" in task.data.prompt and task.data.split == "train" and task.data.env_id == "shell-fixture"
    # the prompt's env is not the Toolset's: no per-sandbox path in it (the local runtime's temp dir)
    assert "give paths relative to it" in task.data.prompt and task.data.env_kwargs["show_workdir"] is False


def test_gold_one_null_zero_infra_unscored(taskset, monkeypatch):
    task = _task(taskset, "count-lines")
    trace, listed, results, raised = asyncio.run(vf_episode(task, [("bash", {"command": "wc -l < data.txt > answer.txt"}),
                                                                   ("submit", {})], monkeypatch))
    assert listed == {"bash", "read_file", "write_file", "submit"}
    assert "Passed" in results[-1]
    assert trace.state.done and trace.state.passed and trace.state.turns == 2
    assert trace.rewards["env_reward"].score == 1.0 and trace.metrics["env_turns"] == 2.0
    (stop,) = task.hooks("stop")
    assert asyncio.run(stop(trace)) is True

    trace, _, results, raised = asyncio.run(vf_episode(task, [("bash", {"command": "wc -l data.txt > answer.txt"}), ("submit", {})],
                                                       monkeypatch))
    assert "Failed" in results[-1] and trace.rewards["env_reward"].score == 0.0 and not trace.state.passed and raised is None

    *_, raised = asyncio.run(vf_episode(task, [("bash", {"command": "echo hi"})], monkeypatch, break_sandbox=True))
    assert isinstance(raised, vf.SandboxError) and "sandbox died" in str(raised)


def test_a_tool_named_like_a_toolset_method_is_refused(monkeypatch):
    """A tool called ``run`` or ``state`` would silently replace the Toolset's own method."""
    import agentgym.rl.adapters.verifiers as adapter

    monkeypatch.setattr(adapter, "env_tool_schemas", lambda env_id, kw=None: [{"function": {"name": "run", "parameters": {}}}])
    with pytest.raises(ValueError, match="tool 'run' cannot be a method"):
        adapter.toolset_class("shell-fixture", KW)


def test_a_slow_step_leaves_the_tool_servers_event_loop_running(taskset, monkeypatch):
    """env.step blocks for as long as a container command or a grading run takes: run on the tool
    server's event loop, it froze the server (its MCP session, the state channel) meanwhile."""
    import time

    ticks, during = [0], []

    def wrap(step):
        def slow(*a, **k):
            before = ticks[0]
            time.sleep(0.5)
            during.append(ticks[0] - before)
            return step(*a, **k)
        return slow

    async def run():
        async def ticker():
            while True:
                ticks[0] += 1
                await asyncio.sleep(0.01)

        t = asyncio.create_task(ticker())
        try:
            return await vf_episode(_task(taskset, "count-lines"), [("bash", {"command": "true"})], monkeypatch, wrap_step=wrap)
        finally:
            t.cancel()

    trace, _, results, _ = asyncio.run(run())
    assert trace.state.turns == 1 and during and during[0] >= 3, during


def test_the_env_is_closed_when_the_tool_server_shuts_down(taskset):
    """The tool server's exit stack (what verifiers closes when the server stops) closes the env:
    its sandbox was left to the reaper."""
    task = _task(taskset, "count-lines")
    (toolset,) = type(task).toolsets(task.config)

    async def run():
        await toolset.setup_task(task.data)
        sandbox = toolset.env.sandbox
        assert sandbox.alive
        await toolset._exit_stack.aclose()
        return sandbox

    assert not asyncio.run(run()).alive
