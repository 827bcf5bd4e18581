"""One verifiers (v1) episode around an agentgym Toolset, without a model: shared by
tests/test_rl_adapters_verifiers.py and tests/adversarial/test_redteam_train.py.

The task's toolset is served on a real MCP server (the `mcp` package's MCPServer) with verifiers'
state channel (its InterceptionServer's /state routes, reached through VF_STATE_URL and
VF_STATE_SECRET as a launched tool server reaches them); the calls go through MCP's own dispatch;
the trace is scored with verifiers' Task.score. The env is closed on every path (a call that
raises included), so no sandbox is left to the reaper."""

from __future__ import annotations

import asyncio
from typing import Any


async def vf_episode(task: Any, calls: list[Any], monkeypatch: Any, *, break_sandbox: bool = False,
                     wrap_step: Any = None) -> tuple[Any, set[str], list[Any], Exception | None]:
    """Make ``calls`` in order: a (name, args) pair is one call (its result a str), a list of pairs
    is a batch made concurrently (its result a list, as MCP serves a model's parallel calls).
    break_sandbox: the sandbox's exec raises SandboxError; wrap_step(step) -> the env's step.
    Returns (trace, the tool names listed, the results, the vf.SandboxError Task.score raised or None)."""
    import verifiers.v1 as vf
    from mcp.server.mcpserver import MCPServer
    from verifiers.v1.interception.server import InterceptionServer
    from verifiers.v1.session import RolloutSession

    from agentgym.rl.adapters.verifiers import AgentGymState

    trace = vf.Trace(task=vf.TraceTask(type=type(task).__name__, data=task.data),
                     agent=vf.AgentInfo(config=vf.AgentConfig()), state=AgentGymState())
    ctx = vf.ModelContext(model="none", client=vf.EvalClientConfig(base_url="http://127.0.0.1:9/v1"))
    server = InterceptionServer()
    await server.start()
    results: list[Any] = []
    raised = None
    try:
        async with server.acquire(RolloutSession(ctx=ctx, trace=trace)) as (base_url, _model_secret, state_secret):
            monkeypatch.setenv("VF_STATE_URL", base_url + "/state")
            monkeypatch.setenv("VF_STATE_SECRET", state_secret)
            (toolset,) = type(task).toolsets(task.config)
            await toolset.setup()
            await toolset.setup_task(task.data)
            try:
                if break_sandbox:
                    from agentgym.sandbox import SandboxError

                    def broken(*a: Any, **k: Any) -> Any:
                        raise SandboxError("the sandbox died")

                    monkeypatch.setattr(toolset.env.sandbox, "exec", broken)
                if wrap_step is not None:
                    monkeypatch.setattr(toolset.env, "step", wrap_step(toolset.env.step))
                mcp = MCPServer("agentgym")
                toolset.register(mcp)
                listed = {t.name for t in await mcp.list_tools()}
                for call in calls:
                    if isinstance(call, list):
                        batch = await asyncio.gather(*(mcp.call_tool(name, args) for name, args in call))
                        results.append([r.content[0].text for r in batch])
                    else:
                        results.append((await mcp.call_tool(*call)).content[0].text)
            finally:
                toolset.env.close()
        try:
            await task.score(trace)
        except vf.SandboxError as exc:
            raised = exc
    finally:
        await server.stop() if hasattr(server, "stop") else None
    return trace, listed, results, raised
