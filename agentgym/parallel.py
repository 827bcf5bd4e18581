"""Parallel rollouts: k rollouts per task, concurrently, on one asyncio loop.

Env work (reset, step, construction, close) runs in worker threads (asyncio.to_thread), so a
slow sandbox call never blocks the loop that is also waiting on model servers. Policies with an
async ``aact`` (model-driven agents) are awaited on the loop; plain policies run in a thread too.
A global semaphore bounds rollouts in flight; a per-env limit bounds live instances of each env
(each rollout holds one env instance, reused across rollouts through a pool). Seeds derive from
(base_seed, env_id, task_id, sample), so a rollout's result does not depend on scheduling.
A rollout that raises is isolated: it is recorded as an infrastructure error on its Trajectory
(which keeps every step and message up to the failure: rollout.errored_trajectory), its env
instance is discarded, and the other rollouts go on.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, Field

from agentgym.models.base import ContextWindowExceeded
from agentgym.policy import Policy
from agentgym.rollout import MAX_CONTEXT, Trajectory, errored_trajectory

EnvFactory = Callable[[str], Any]
PolicyFactory = Callable[[Any, "RolloutSpec"], Policy]


def derive_seed(base_seed: int, env_id: str, task_id: str | None, sample: int) -> int:
    digest = hashlib.sha256(f"{base_seed}|{env_id}|{task_id}|{sample}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


class RolloutSpec(BaseModel):
    env_id: str
    task_id: str | None = None
    sample: int = Field(0, ge=0, description="which of the k rollouts of this task")
    seed: int | None = None
    options: dict[str, Any] = Field(default_factory=dict)


class RolloutResult(BaseModel):
    spec: RolloutSpec
    trajectory: Trajectory
    infra_error: bool = Field(False, description="the rollout failed outside the agent's control (raised, or env reported info['error'])")
    agent_usage: dict[str, Any] | None = Field(None, description="the policy's own usage() (model tokens, cost), when it has one")


def rollout_specs(env_id: str, task_ids: Sequence[str], k: int, base_seed: int = 0, options: Mapping[str, Any] | None = None) -> list[RolloutSpec]:
    """k rollouts of every task, each with its own derived seed."""
    return [
        RolloutSpec(env_id=env_id, task_id=t, sample=s, seed=derive_seed(base_seed, env_id, t, s), options=dict(options or {}))
        for t in task_ids for s in range(k)
    ]


class _EnvPool:
    def __init__(self, factory: EnvFactory, limits: Mapping[str, int], default_limit: int | None):
        self.factory = factory
        self.idle: dict[str, list[Any]] = {}
        self.all: list[Any] = []
        self.sems: dict[str, asyncio.Semaphore] = {}
        self.limits, self.default_limit = limits, default_limit

    def sem(self, env_id: str) -> asyncio.Semaphore | None:
        limit = self.limits.get(env_id, self.default_limit)
        if limit is None:
            return None
        return self.sems.setdefault(env_id, asyncio.Semaphore(limit))

    async def take(self, env_id: str) -> Any:
        idle = self.idle.setdefault(env_id, [])
        if idle:
            return idle.pop()
        env = await asyncio.to_thread(self.factory, env_id)
        self.all.append(env)
        return env

    def give(self, env_id: str, env: Any) -> None:
        self.idle.setdefault(env_id, []).append(env)

    async def discard(self, env: Any) -> None:
        if env in self.all:
            self.all.remove(env)
        try:
            await asyncio.to_thread(env.close)
        except Exception as exc:  # noqa: BLE001 - already broken; closing is best effort, but say so
            warnings.warn(f"closing a discarded env failed: {type(exc).__name__}: {exc}", RuntimeWarning, stacklevel=1)

    async def close(self) -> None:
        for env in list(self.all):
            await self.discard(env)


class _NoLimit:
    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc: object) -> None:
        return None


async def _act(policy: Any, obs: dict[str, Any], info: dict[str, Any]) -> Any:
    aact = getattr(policy, "aact", None)
    if aact is not None and inspect.iscoroutinefunction(aact):
        return await aact(obs, info)
    return await asyncio.to_thread(policy.act, obs, info)


async def run_episode_async(env: Any, policy: Policy, spec: RolloutSpec, max_steps: int = 10_000) -> Trajectory:
    """rollout.run_episode, with env work in threads and async policies awaited (a full context
    window ends it truncated, 'max_context', as there)."""
    t0 = time.perf_counter()
    options = {**spec.options, **({"task_id": spec.task_id} if spec.task_id is not None else {})}
    obs, info = await asyncio.to_thread(env.reset, seed=spec.seed, options=options)
    await asyncio.to_thread(policy.reset, obs, info)
    runtime = info.get("runtime") if isinstance(info.get("runtime"), str) else None
    traj = Trajectory(env_id=spec.env_id, task_id=info.get("task_id"), seed=spec.seed, runtime=runtime,
                      first_observation=obs["text"])
    ended, cut = False, None
    try:
        for _ in range(max_steps):
            try:
                action = await _act(policy, obs, info)
            except ContextWindowExceeded:  # the episode's own text filled the model's window: a budget
                cut = MAX_CONTEXT
                break
            ts = time.perf_counter()
            obs, reward, terminated, truncated, info = await asyncio.to_thread(env.step, action)
            if traj.record(action, obs, reward, terminated, truncated, info, time.perf_counter() - ts):
                ended = True
                break
        traj.finish(env, info, ended, max_steps, t0, policy=policy, cut=cut)
    except Exception as exc:  # the caller isolates it; the steps and messages so far go with it
        traj.keep_partial(exc, policy, t0)
        raise
    return traj


async def run_rollouts(
    specs: Sequence[RolloutSpec],
    env_factory: EnvFactory,
    policy_factory: PolicyFactory,
    *,
    max_concurrency: int = 8,
    per_env_limit: Mapping[str, int] | int | None = None,
    max_steps: int = 10_000,
) -> list[RolloutResult]:
    """Run every spec; results come back in the order of `specs`. Envs made here are closed here."""
    if max_concurrency < 1:
        raise ValueError("max_concurrency must be >= 1")
    limits = per_env_limit if isinstance(per_env_limit, Mapping) else {}
    pool = _EnvPool(env_factory, limits, per_env_limit if isinstance(per_env_limit, int) else None)
    gate = asyncio.Semaphore(max_concurrency)

    async def one(spec: RolloutSpec) -> RolloutResult:
        env_sem = pool.sem(spec.env_id) or _NoLimit()
        # The env's own limit first: waiting for it must not hold a global slot other envs could use.
        async with env_sem, gate:
            env, policy = None, None
            try:
                env = await pool.take(spec.env_id)
                policy = await asyncio.to_thread(policy_factory, env, spec)
                traj = await run_episode_async(env, policy, spec, max_steps)
                pool.give(spec.env_id, env)
                return RolloutResult(spec=spec, trajectory=traj, infra_error=traj.error is not None, agent_usage=policy_usage(policy))
            except Exception as exc:  # noqa: BLE001 - isolation is the point: one rollout never sinks the rest
                if env is not None:
                    await pool.discard(env)  # it may be mid-episode or broken: never reuse it
                traj = errored_trajectory(exc, env_id=spec.env_id, task_id=spec.task_id, seed=spec.seed)
                return RolloutResult(spec=spec, trajectory=traj, infra_error=True, agent_usage=policy_usage(policy))

    try:
        return list(await asyncio.gather(*(one(s) for s in specs)))
    finally:
        await pool.close()


def policy_usage(policy: Any) -> dict[str, Any] | None:
    """The policy's usage() as a dict (tokens spent before a failure count too), or None."""
    fn = getattr(policy, "usage", None)
    if not callable(fn):
        return None
    try:
        return fn().model_dump()
    except Exception:  # noqa: BLE001 - usage is extra detail; the result stands without it
        return None


def run_rollouts_sync(specs: Sequence[RolloutSpec], env_factory: EnvFactory, policy_factory: PolicyFactory, **kwargs: Any) -> list[RolloutResult]:
    """run_rollouts from sync code (scripts, the CLI)."""
    return asyncio.run(run_rollouts(specs, env_factory, policy_factory, **kwargs))


__all__ = ["RolloutResult", "RolloutSpec", "derive_seed", "policy_usage", "rollout_specs", "run_episode_async", "run_rollouts", "run_rollouts_sync"]
