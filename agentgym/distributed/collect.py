"""RL collection on a Ray cluster: env workers are Ray actors on the nodes, generation stays with
the driver's model backend, and the records are the in-process collector's own.

Design (what Ray RL users expect): SkyRL and verl run env workers as Ray actors and keep
generation in a separate engine (the trainer's vLLM/transformers, itself often a group of Ray GPU
actors or an inference server). Envs are where the weight is on our side (containers, Postgres,
Chromium), and generation is where the GPU is; shipping a model to every env node would copy
weights and split the sampler's batch. So:

* each task group is played by `agentgym.rl.collect.acollect_group`, unchanged, on the driver,
  against `RemoteEnv`: a proxy whose reset/step/tools/passed/split_of run on an `EnvWorker`
  actor that made the env on its node (placed by the executor's resources: `docker` on the
  docker runtime, custom ones per env id, SPREAD over nodes);
* token ids never leave the driver: per turn only the action and the observation travel, so the
  prompt ids, masks, logprobs, rewards, group and seed of every record are what the in-process
  collector gives for the same seeds with a deterministic backend (the same code makes them);
* actors are pooled per env id (up to `max_concurrency` of them), reused across groups; a group
  plays its n episodes one after another on one actor, as in-process on one env;
* an actor lost with its worker or node ends the episode it was playing as an infrastructure
  error (`infra_error`, dropped from batches and counted by `agentgym.rl.groups.make_batch`,
  exactly as an in-process infra failure), and the group goes on on a fresh actor (at most
  `executor.max_retries` replacements per group).

The env factory is shipped to the nodes with cloudpickle after the executor's `imports` (the
user's plugin files) are imported there, so a factory that uses a class from such a file works.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from agentgym.models.base import ModelBackend
from agentgym.rl.chat_format import ChatFormat
from agentgym.rl.collect import CollectConfig, acollect_group
from agentgym.rl.records import TokenEpisode


class GroupSpec(BaseModel):
    """One GRPO group: n rollouts of task_id on env_id, seeds seed..seed+n-1."""

    model_config = ConfigDict(extra="forbid")

    env_id: str
    task_id: str
    n: int = 1
    seed: int = 0
    group_id: str | None = None


class EnvWorker:
    """The actor body: one env, made on this node, stepped on the driver's behalf."""

    def __init__(self, factory: bytes, env_id: str, imports: tuple[str, ...], prepare: Any = None):
        import ray

        from agentgym.distributed.worker import _import

        _import(imports)  # first: the factory may use a class a plugin file defines
        self.env = ray.cloudpickle.loads(factory)(env_id)
        if prepare is not None:
            prepare(self.env)  # images on this node (agentgym.distributed.images)
        self._task: str | None = None

    def describe(self) -> dict[str, Any]:
        import ray

        base = self.env.unwrapped
        return {"env_id": getattr(base, "env_id", "") or type(base).__name__,
                "node_id": ray.get_runtime_context().get_node_id()}

    def reset(self, seed: int | None, options: dict[str, Any] | None) -> tuple[Any, dict[str, Any], Any, str | None]:
        from agentgym.rl.splits import split_of

        obs, info = self.env.reset(seed=seed, options=options)
        task = info.get("task_id") or (options or {}).get("task_id")
        return obs, info, self.env.unwrapped.tools, split_of(self.env, task) if task else None

    def step(self, action: Any) -> Any:
        return self.env.step(action)

    def passed(self, reward: float, info: dict[str, Any]) -> bool:
        return bool(self.env.unwrapped.passed(reward, info))

    def split_of(self, task_id: str) -> str:
        from agentgym.rl.splits import split_of

        return split_of(self.env, task_id)

    def close(self) -> None:
        self.env.close()


class RemoteEnv:
    """What acollect_group sees: an env whose calls run on an EnvWorker actor (blocking calls,
    as an env's are; the collector runs reset and step in threads). A call the actor raised
    re-raises its own exception, so records read as in-process ones."""

    def __init__(self, pool: _Pool, env_id: str, retries: int):
        self.pool, self.env_id, self.retries = pool, env_id, retries
        self.actor: Any = None
        self.node_id: str | None = None
        self.tools: list[dict[str, Any]] = []
        self._split: tuple[str | None, str | None] = (None, None)

    @property
    def unwrapped(self) -> RemoteEnv:
        return self

    def _get(self, ref: Any) -> Any:
        import ray

        try:
            return ray.get(ref)
        except ray.exceptions.RayTaskError as exc:  # the env itself raised: that exception, as in-process
            cause = getattr(exc, "cause", None)
            raise (cause if isinstance(cause, BaseException) else exc) from None
        except ray.exceptions.RayError:
            self.actor = None  # the actor (its worker or node) is gone (it was never idle): a fresh one next time
            raise

    def _actor(self) -> Any:
        if self.actor is None:
            if self.retries < 0:
                raise RuntimeError(f"ray: env actors for {self.env_id} lost more times than max_retries allows")
            self.retries -= 1
            self.actor = self.pool.new_actor_sync(self.env_id)
        return self.actor

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        obs, info, self.tools, split = self._get(self._actor().reset.remote(seed, options))
        self._split = (info.get("task_id") or (options or {}).get("task_id"), split)
        return obs, info

    def step(self, action: Any) -> Any:
        if self.actor is None:
            raise RuntimeError("ray: the env actor was lost")
        return self._get(self.actor.step.remote(action))

    def passed(self, reward: float, info: dict[str, Any]) -> bool:
        return self._get(self._actor().passed.remote(reward, info))

    def split_of(self, task_id: str) -> str | None:
        if self._split[0] == task_id:
            return self._split[1]
        return self._get(self._actor().split_of.remote(task_id))


class _Pool:
    """Idle EnvWorker actors per env id; at most `cap` alive in all."""

    def __init__(self, executor: Any, factory: bytes, runtime: str | None, cap: int):
        import ray

        self.ex, self.factory, self.runtime = executor, factory, runtime
        self.cls = ray.remote(EnvWorker)
        self.idle: dict[str, list[Any]] = {}
        self.all: list[Any] = []
        self.nodes: dict[Any, str | None] = {}
        self.gate = asyncio.Semaphore(cap)

    def new_actor_sync(self, env_id: str) -> Any:
        import ray

        opts = dict(self.ex._options(env_id, self.runtime))
        opts.pop("max_retries", None)  # a task option; an actor is replaced by RemoteEnv instead
        actor = self.cls.options(**opts, max_restarts=0).remote(
            self.factory, env_id, tuple(self.ex.imports), getattr(self.ex, "prepare", None))
        self.all.append(actor)
        self.nodes[actor] = ray.get(actor.describe.remote())["node_id"]
        return actor

    def take(self, env_id: str) -> Any | None:
        free = self.idle.get(env_id) or []
        return free.pop() if free else None

    def give(self, env_id: str, actor: Any) -> None:
        if actor is not None:
            self.idle.setdefault(env_id, []).append(actor)

    def close(self) -> None:
        import ray

        for actor in self.all:
            try:
                ray.get(actor.close.remote(), timeout=60)
            except Exception:  # noqa: BLE001 - a dead actor has nothing to close
                pass
            ray.kill(actor, no_restart=True)


async def acollect_groups(executor: Any, groups: Sequence[GroupSpec], env_factory: Callable[[str], Any],
                          backend: ModelBackend, fmt: ChatFormat, *, config: CollectConfig | None = None,
                          runtime: str | None = None, max_concurrency: int = 8) -> list[list[TokenEpisode]]:
    """Collect every group on the executor's cluster (RayExecutor): one list of TokenEpisodes per
    group, in the order of `groups`, equal to `acollect_group(env_factory(env_id), ...)` per group
    in-process. `runtime="docker"` asks for the `docker` resource (a node without it gets no env).
    `executor.nodes` then holds, per group, the node id its first actor ran on."""
    import ray

    executor.connect()
    executor.check([g.env_id for g in groups], runtime or "")
    pool = _Pool(executor, ray.cloudpickle.dumps(env_factory), runtime, max(1, max_concurrency))
    where: list[str | None] = [None] * len(groups)

    async def one(i: int, g: GroupSpec) -> list[TokenEpisode]:
        async with pool.gate:
            env = RemoteEnv(pool, g.env_id, executor.max_retries)
            env.actor = pool.take(g.env_id)
            if env.actor is None:
                try:  # making the first actor is not a retry: straight from the pool, not through env._actor
                    env.actor = await asyncio.to_thread(pool.new_actor_sync, g.env_id)
                except ray.exceptions.RayError as exc:  # the env could not be made on a node (its images, its data)
                    return _failed_group(g, backend, fmt, config or CollectConfig(), exc)
            where[i] = pool.nodes.get(env.actor)
            try:
                return await acollect_group(env, backend, fmt, task_id=g.task_id, n=g.n, group_id=g.group_id,
                                            seed=g.seed, config=config)
            finally:
                pool.give(g.env_id, env.actor)

    try:
        out = await asyncio.gather(*(one(i, g) for i, g in enumerate(groups)))
    finally:
        await asyncio.to_thread(pool.close)
    executor.nodes = where
    return list(out)


def _failed_group(g: GroupSpec, backend: ModelBackend, fmt: ChatFormat, cfg: CollectConfig, exc: Exception) -> list[TokenEpisode]:
    """The group's episodes as infrastructure errors (dropped and counted by make_batch)."""
    first = " ".join(str(getattr(exc, "cause", None) or exc).split())[:300]
    gid = g.group_id or f"{g.task_id}@{cfg.policy_version}"
    return [TokenEpisode(episode_id=f"{gid}/{i}", group_id=gid, env_id=g.env_id, task_id=g.task_id, seed=g.seed + i,
                         policy_version=cfg.policy_version, model=backend.model, tokenizer=fmt.name, temperature=cfg.temperature,
                         prompt_ids=[], infra_error=f"ray: the env actor could not start: {type(exc).__name__}: {first}")
            for i in range(g.n)]


def collect_groups(executor: Any, groups: Sequence[GroupSpec], env_factory: Callable[[str], Any], backend: ModelBackend,
                   fmt: ChatFormat, **kwargs: Any) -> list[list[TokenEpisode]]:
    """Sync acollect_groups (refuses inside a running event loop: await the async one there)."""
    from agentgym.models.base import run_sync

    return run_sync(acollect_groups(executor, groups, env_factory, backend, fmt, **kwargs))


__all__ = ["EnvWorker", "GroupSpec", "RemoteEnv", "acollect_groups", "collect_groups"]
