"""What runs on a Ray node: one sweep episode (or one rollout), start to end, on that node.

The env is made, played and closed inside the Ray task, so its sandbox (containers, Postgres,
Chromium) belongs to the node that runs it and never crosses the network; only the result (a
plain dict: the trajectory, the agent's usage, where it ran) travels back to the driver. The
episode is built exactly as the local executor builds it (same agent kwargs, same seeds, same
budget option), so a deterministic policy gives the same result on either executor.

Leaks: everything an episode starts carries the labels the driver gives (its sweep) plus this
node's id, next to the owner pid the sandbox reaper always writes. Before a worker process's
first episode it reaps what dead owners left on this host (a node killed mid-sweep and started
again cleans up after itself), and the driver calls reap_here on the surviving nodes at the end
of a run that lost episodes. Only resources whose owner process is provably dead are removed,
so two nodes sharing one Docker engine never remove each other's live containers.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Mapping
from typing import Any

_IMPORTED: set[str] = set()
_REAPED: set[bool] = set()  # {docker?} kinds of reap this worker process already ran
SWEEP_LABEL, NODE_LABEL = "agentgym.sweep", "agentgym.node"


class _Box:
    """What an episode's block leaves behind: the env to close, then the trajectory or the failure."""

    env: Any = None
    policy: Any = None
    trajectory: Any = None
    exc: Exception | None = None


def hosted(body: Callable[[_Box], None], imports: tuple[str, ...], labels: Mapping[str, str] | None,
           docker: bool | None) -> _Box:
    """Run `body` as one episode on this node (play_episode and play_rollout share this frame):
    plugins imported, a first-episode reap, what the episode starts labelled; an exception is kept
    in `box.exc` (the episode's infrastructure error, as on the local executor: one broken episode
    never sinks the run); `box.env`, once the body set it, is closed at the end, best effort."""
    from agentgym.sandbox import reaper

    box = _Box()
    try:
        _import(imports)
        reap_once(docker)
        with reaper.owner_context({**(labels or {}), NODE_LABEL: _node_id() or ""}):
            body(box)
    except Exception as exc:  # noqa: BLE001 - recorded on the trajectory; the run goes on
        box.exc = exc
    finally:
        if box.env is not None:
            try:
                box.env.close()
            except Exception:  # noqa: BLE001 - closing is best effort; the result stands
                pass
    return box


def play_episode(rc: Any, ep: Any, runtime: str, max_steps: int, imports: tuple[str, ...] = (),
                 labels: Mapping[str, str] | None = None, prepare: Callable[[Any], None] | None = None) -> dict[str, Any]:
    """Play one episode here; never raises for an env or agent failure (it becomes an
    infrastructure error on the trajectory, keeping every step and message up to the failure, as
    on the local executor). `imports`: the user's plugin modules or .py files (`agentgym
    --import`), imported once per worker process first, so the envs and agents they register exist
    on this node too. `labels`: added to everything the episode starts (the driver's sweep label).
    `prepare(env)`: called once the env is made, before it is played (e.g. its images on this node)."""
    import agentgym
    from agentgym.agents import make_agent
    from agentgym.parallel import RolloutSpec, policy_usage, run_episode_async
    from agentgym.rollout import errored_trajectory
    from agentgym.sweep.runner import _agent_kwargs

    def body(box: _Box) -> None:
        box.env = agentgym.make(rc.env, runtime=runtime, **rc.env_kwargs)
        if prepare is not None:
            prepare(box.env)
        box.policy = make_agent(rc.agent.name, box.env, **_agent_kwargs(rc, ep))
        options: dict[str, Any] = {"budget": rc.budget} if rc.budget is not None else {}
        spec = RolloutSpec(env_id=rc.env, task_id=ep.task_id, sample=ep.sample, seed=ep.seed, options=options)
        box.trajectory = asyncio.run(run_episode_async(box.env, box.policy, spec, max_steps))

    box = hosted(body, imports, labels, runtime == "docker")
    traj = box.trajectory if box.exc is None else errored_trajectory(box.exc, env_id=rc.env, task_id=ep.task_id, seed=ep.seed)
    return {"trajectory": traj.model_dump(mode="json"), "usage": policy_usage(box.policy), "node_id": _node_id(),
            "pid": os.getpid()}


def play_rollout(spec: Any, env_factory: Any, policy_factory: Any, max_steps: int, imports: tuple[str, ...] = (),
                 labels: Mapping[str, str] | None = None, prepare: Callable[[Any], None] | None = None) -> dict[str, Any]:
    """One rollout of the Python API (parallel.run_rollouts' unit) here, its env made and closed here."""
    from agentgym.parallel import RolloutResult, policy_usage, run_episode_async
    from agentgym.rollout import errored_trajectory

    def body(box: _Box) -> None:
        box.env = env_factory(spec.env_id)
        if prepare is not None:
            prepare(box.env)
        box.policy = policy_factory(box.env, spec)
        box.trajectory = asyncio.run(run_episode_async(box.env, box.policy, spec, max_steps))

    box = hosted(body, imports, labels, None)
    if box.exc is None:
        traj, infra = box.trajectory, box.trajectory.error is not None
    else:
        traj, infra = errored_trajectory(box.exc, env_id=spec.env_id, task_id=spec.task_id, seed=spec.seed), True
    result = RolloutResult(spec=spec, trajectory=traj, infra_error=infra, agent_usage=policy_usage(box.policy))
    return {"result": result.model_dump(mode="json"), "node_id": _node_id()}


def env_task_ids(env_id: str, runtime: str, kwargs: dict[str, Any], imports: tuple[str, ...] = ()) -> dict[str, Any]:
    """The sweep's env preflight here: {"task_ids": [...]}, or {"unknown": line} / {"error": line}
    (with this node's IP), never raising, so the driver words the failure itself."""
    import agentgym
    from agentgym.sweep.runner import env_preflight

    try:
        _import(imports)
        return {"task_ids": env_preflight(env_id, runtime, kwargs)}
    except agentgym.UnknownEnvError as exc:
        return {"unknown": str(exc)}
    except Exception as exc:  # noqa: BLE001 - reported by the driver as one line
        return {"error": " ".join(str(exc).split())[:1000] or type(exc).__name__, "ip": _node_ip()}


def probe_endpoint(ep: Any, timeout_s: float) -> str | None:
    """The endpoint preflight from this node: None when it answers, else the one-line reason."""
    from agentgym.models.preflight import PreflightError, check_endpoint

    try:
        check_endpoint(ep, timeout_s)
    except PreflightError as exc:
        return str(exc)
    return None


def reap_once(docker: bool | None) -> None:
    """Before this worker process's first episode (of each kind): remove what dead owners left on
    this host, Docker resources included when the episode uses Docker (None: if an engine answers)."""
    if docker is None:
        docker = _docker_answers()
    if docker in _REAPED:
        return
    _REAPED.add(docker)
    reap_here({}, docker)


def reap_here(where: Mapping[str, str], docker: bool | None = True) -> dict[str, Any]:
    """Remove the resources on this host that carry `where`'s labels and whose owner process is
    dead (a live episode's, on any node, is never touched); returns what was removed (a dict).
    docker=None: Docker resources too if an engine answers here."""
    from agentgym.sandbox import reaper

    try:
        return reaper.gc(where=dict(where), docker=_docker_answers() if docker is None else docker).model_dump()
    except Exception as exc:  # noqa: BLE001 - reaping is best effort; it never fails an episode
        return {"errors": [f"{type(exc).__name__}: {exc}"]}


def _docker_answers() -> bool:
    from agentgym.sandbox import docker_available

    return docker_available()


def _import(imports: tuple[str, ...]) -> None:
    from agentgym import plugins

    for target in imports:
        if target not in _IMPORTED:
            plugins.import_module(target)
            _IMPORTED.add(target)


def _node_ip() -> str | None:
    try:
        import ray

        return ray.util.get_node_ip_address()
    except Exception:  # noqa: BLE001 - outside Ray
        return None


def _node_id() -> str | None:
    try:
        import ray

        # Outside Ray, get_runtime_context() would start a local Ray instance (and Ray 2.60 then writes
        # ~/.ray/auth_token, which every later `ray start` cluster on this machine refuses): ask first.
        return ray.get_runtime_context().get_node_id() if ray.is_initialized() else None
    except Exception:  # noqa: BLE001 - called outside Ray (tests): no node
        return None


__all__ = ["NODE_LABEL", "SWEEP_LABEL", "env_task_ids", "hosted", "play_episode", "play_rollout", "probe_endpoint",
           "reap_here", "reap_once"]
