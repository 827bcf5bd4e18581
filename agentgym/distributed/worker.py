"""What runs on a Ray node: one sweep episode, start to end, on that node.

The env is made, played and closed inside the Ray task, so its sandbox (containers, Postgres,
Chromium) belongs to the node that runs it and never crosses the network; only the result (a
plain dict: the trajectory, the agent's usage, where it ran) travels back to the driver. The
episode is built exactly as the local executor builds it (same agent kwargs, same seeds, same
budget option), so a deterministic policy gives the same result on either executor.
"""

from __future__ import annotations

import asyncio
import os
import traceback
from typing import Any


_IMPORTED: set[str] = set()


def play_episode(rc: Any, ep: Any, runtime: str, max_steps: int, imports: tuple[str, ...] = ()) -> dict[str, Any]:
    """Play one episode here; never raises for an env or agent failure (it becomes an
    infrastructure error on the trajectory, as on the local executor). `imports`: the user's
    plugin modules or .py files (`agentgym --import`), imported once per worker process first,
    so the envs and agents they register exist on this node too."""
    import agentgym
    from agentgym.agents import make_agent
    from agentgym.parallel import RolloutSpec, run_episode_async
    from agentgym.rollout import Trajectory
    from agentgym.sweep.runner import _agent_kwargs

    env, usage = None, None
    try:
        _import(imports)
        env = agentgym.make(rc.env, runtime=runtime, **rc.env_kwargs)
        policy = make_agent(rc.agent.name, env, **_agent_kwargs(rc, ep))
        options: dict[str, Any] = {"budget": rc.budget} if rc.budget is not None else {}
        spec = RolloutSpec(env_id=rc.env, task_id=ep.task_id, sample=ep.sample, seed=ep.seed, options=options)
        traj = asyncio.run(run_episode_async(env, policy, spec, max_steps))
        if callable(getattr(policy, "usage", None)):
            usage = policy.usage().model_dump()
    except Exception as exc:  # noqa: BLE001 - one broken episode is recorded, the sweep goes on
        traj = Trajectory(env_id=rc.env, task_id=ep.task_id, seed=ep.seed, first_observation="",
                          error=f"infrastructure error: {type(exc).__name__}: {exc}\n{traceback.format_exc(limit=6)}")
    finally:
        if env is not None:
            try:
                env.close()
            except Exception:  # noqa: BLE001 - closing is best effort; the result stands
                pass
    return {"trajectory": traj.model_dump(mode="json"), "usage": usage, "node_id": _node_id(), "pid": os.getpid()}


def play_rollout(spec: Any, env_factory: Any, policy_factory: Any, max_steps: int,
                 imports: tuple[str, ...] = ()) -> dict[str, Any]:
    """One rollout of the Python API (parallel.run_rollouts' unit) here, its env made and closed here."""
    from agentgym.parallel import RolloutResult, run_episode_async
    from agentgym.rollout import Trajectory

    env = None
    try:
        _import(imports)
        env = env_factory(spec.env_id)
        policy = policy_factory(env, spec)
        traj = asyncio.run(run_episode_async(env, policy, spec, max_steps))
        usage = policy.usage().model_dump() if callable(getattr(policy, "usage", None)) else None
        result = RolloutResult(spec=spec, trajectory=traj, infra_error=traj.error is not None, agent_usage=usage)
    except Exception as exc:  # noqa: BLE001 - isolation, as parallel.run_rollouts: one rollout never sinks the rest
        traj = Trajectory(env_id=spec.env_id, task_id=spec.task_id, seed=spec.seed, first_observation="",
                          error=f"infrastructure error: {type(exc).__name__}: {exc}\n{traceback.format_exc(limit=6)}")
        result = RolloutResult(spec=spec, trajectory=traj, infra_error=True)
    finally:
        if env is not None:
            try:
                env.close()
            except Exception:  # noqa: BLE001 - closing is best effort; the result stands
                pass
    return {"result": result.model_dump(mode="json"), "node_id": _node_id()}


def _import(imports: tuple[str, ...]) -> None:
    from agentgym import plugins

    for target in imports:
        if target not in _IMPORTED:
            plugins.import_module(target)
            _IMPORTED.add(target)


def _node_id() -> str | None:
    try:
        import ray

        return ray.get_runtime_context().get_node_id()
    except Exception:  # noqa: BLE001 - called outside Ray (tests): no node
        return None
