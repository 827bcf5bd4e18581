"""The Ray executor: a sweep's episodes as Ray tasks on whichever nodes have the resources.

Why Ray: the trainers our users scale with (SkyRL, verl, OpenRLHF, AgentLab) already run on Ray,
so a sweep joins the cluster they have instead of a scheduler of our own. Each episode is one Ray
task (worker.play_episode) that makes, plays and closes its env on the node Ray picked; only the
result comes back. The driver stays the single writer of the store: it writes each result as it
arrives, keyed by (config, task, sample), so exactly-once and resume hold as on the local executor.

Placement: every episode asks for `num_cpus` CPUs, plus `{"docker": 0.01}` on the docker runtime
(a node that did not declare a `docker` resource never gets one), plus any custom resources the
user gives per env id (e.g. `{"web-lite": {"chromium": 1}}`). A plan that no alive node can run
fails before anything runs.

Faults: a task lost to a dead worker process or node is retried by the driver (up to
`max_retries` more times); an episode that still has no result is stored as an infrastructure
error. Where each stored episode ran, and after how many attempts, goes into the store's
`ray_placements` table (placement.py). What an episode starts carries its sweep's label
(sweep_label) and its node's id; after a run that lost episodes, the driver has every alive node
remove what that sweep's dead workers left on its host (worker.reap_here: owner provably dead
only), and a restarted node's workers reap before their first episode.

Preflight: the sweep's env preflight (make each env, read its task ids) runs on the cluster, as a
task placed like the env's episodes (preflight_envs), and a model endpoint the driver cannot reach
is probed from a node (check_endpoints): the driver needs neither Docker nor the env's data.
"""

from __future__ import annotations

import asyncio
import hashlib
import socket
import traceback
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from agentgym.distributed.placement import record_placement

DOCKER_SHARE = 0.01  # one `docker` unit on a node = 100 concurrent docker-runtime episodes


class RayExecutorError(RuntimeError):
    """A cluster the sweep cannot use (unreachable, wrong version, no node for an env); one line."""


def sweep_label(root: str | Path) -> str:
    """The `agentgym.sweep` label of what a sweep stored in `root` starts on the nodes (the same for
    every driver that resumes it, so `docker ps --filter label=agentgym.sweep=ID` finds them all)."""
    return hashlib.sha256(f"{socket.gethostname()}:{Path(root).resolve()}".encode()).hexdigest()[:16]


def _same(a: str, b: str, my_ip: str) -> bool:
    """Do two HOST:PORT name the same GCS (127.0.0.1 and this node's IP are the same host)?"""
    (ha, _, pa), (hb, _, pb) = (x.removeprefix("ray://").rpartition(":") for x in (a, b))
    local = {"", "localhost", "127.0.0.1", my_ip}
    return pa == pb and (ha == hb or {ha, hb} <= local)


class RayExecutor:
    """Run sweep episodes on a Ray cluster.

    Args:
        address: the cluster (``HOST:PORT`` of the head's GCS, or ``auto``); None starts a
            local one-node Ray (or joins $RAY_ADDRESS).
        num_cpus: CPUs each episode asks for.
        resources: env id -> extra custom resources each of its episodes asks for.
        max_retries: how many times an episode lost to a dead worker or node is run again.
        spread: spread episodes over the nodes (Ray's SPREAD strategy) rather than filling one.
        imports: plugin modules or .py files (as `agentgym --import` takes them) every node imports
            before its first episode; a file must be at the same path on every node.
        prepare: called on the node with each env once it is made, before it is played (e.g. to
            make sure the env's images exist there); shipped to the nodes, so it must pickle.
            Default: agentgym.distributed.images.NodeImages(registry, images).
        registry: HOST[:PORT][/PATH] the nodes pull missing images from (REGISTRY/<image>).
        images: env id -> images its docker-runtime episodes need besides those the env declares.
    """

    def __init__(self, address: str | None = None, *, num_cpus: float = 1.0,
                 resources: Mapping[str, Mapping[str, float]] | None = None, max_retries: int = 2,
                 spread: bool = True, connect_timeout: float = 5.0, imports: list[str] | None = None,
                 prepare: Callable[[Any], None] | None = None, registry: str | None = None,
                 images: Mapping[str, list[str]] | None = None):
        self.address, self.num_cpus, self.max_retries, self.spread = address, num_cpus, max_retries, spread
        self.resources = {k: dict(v) for k, v in (resources or {}).items()}
        self.connect_timeout = connect_timeout
        # files by absolute path: a node's worker does not start in the driver's directory
        self.imports = tuple(str(Path(t).resolve()) if t.endswith(".py") else t for t in imports or ())
        if prepare is None:  # images on new nodes: made before a node's first docker-runtime episode
            from agentgym.distributed.images import NodeImages

            prepare = NodeImages(registry, images)
        self.prepare = prepare
        self._inited = self._owns = self._lost = False
        self._remotes: dict[Any, Any] = {}
        self.nodes: list[str | None] = []
        self.reaped: list[dict[str, Any]] = []  # what the last run's reap removed, per node

    # -- cluster --------------------------------------------------------------------------
    def connect(self) -> None:
        """Join the cluster (once), or raise RayExecutorError with one line saying what to do."""
        if self._inited:
            return
        try:
            import ray
        except ImportError as exc:
            raise RayExecutorError("the ray executor needs Ray: pip install 'agentgym[ray]'") from exc
        if self.address and self.address != "auto":
            self._probe(self.address)
        if ray.is_initialized():  # the caller's own connection (a notebook, a trainer): use it, leave it open
            here = ray.get_runtime_context().gcs_address
            if self.address and self.address != "auto" and not _same(self.address, here, ray.util.get_node_ip_address()):
                raise RayExecutorError(f"this process is already connected to the Ray cluster at {here}, not "
                                       f"{self.address}; ray.shutdown() first or pass --address {here}")
            self._inited = True
            return
        try:
            ray.init(address=self.address, ignore_reinit_error=True, log_to_driver=False, include_dashboard=False,
                     logging_level="ERROR")
        except Exception as exc:  # noqa: BLE001 - version mismatch, no cluster at "auto", ...: one line
            first = " ".join(str(exc).split())[:400] or type(exc).__name__  # Ray's message spans lines: one line
            hint = " (the driver's Ray and Python must match the cluster's: pip install 'ray==<cluster version>')" \
                if "version" in str(exc).lower() else ""
            raise RayExecutorError(f"cannot join the Ray cluster at {self.address or 'a new local one'}: {first}{hint}") from exc
        self._inited = self._owns = True

    def _probe(self, address: str) -> None:
        host, _, port = address.rpartition(":")
        host = host.removeprefix("ray://") or "127.0.0.1"
        try:
            with socket.create_connection((host, int(port)), timeout=self.connect_timeout):
                pass
        except (OSError, ValueError) as exc:
            raise RayExecutorError(f"no Ray cluster answers at {address} ({type(exc).__name__}: {exc}); start one with "
                                   f"`ray start --head --port PORT` or pass the head's HOST:PORT to --address") from exc

    def close(self) -> None:
        """Leave the cluster if connect() joined it (a connection the caller made stays open)."""
        if self._owns:
            import ray

            ray.shutdown()
        self._inited = self._owns = False

    def request(self, env_id: str, runtime: str) -> dict[str, float]:
        """The custom resources one episode of `env_id` on `runtime` asks for."""
        need = dict(self.resources.get(env_id, {}))
        if runtime == "docker":
            need.setdefault("docker", DOCKER_SHARE)
        return need

    def check(self, env_ids: list[str], runtime: str) -> None:
        """Raise RayExecutorError unless some alive node can run each env's episodes."""
        import ray

        self.connect()
        nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
        for env_id in dict.fromkeys(env_ids):
            need = {"CPU": self.num_cpus, **self.request(env_id, runtime)}
            if not any(all(res.get(k, 0) >= v for k, v in need.items()) for res in nodes):
                raise RayExecutorError(
                    f"no node of the Ray cluster has {need} for {env_id} on runtime {runtime!r} "
                    f"({len(nodes)} alive nodes); start a node with those resources (e.g. `ray start ... --resources "
                    "'{\"docker\": 1}'` on a machine with Docker) or use another runtime")

    # -- running remote functions -----------------------------------------------------------
    def _options(self, env_id: str, runtime: str | None) -> dict[str, Any]:
        opts: dict[str, Any] = {"num_cpus": self.num_cpus, "resources": self.request(env_id, runtime or ""),
                                "max_retries": 0}  # retried here, so the store can say an episode was re-run
        if self.spread:
            opts["scheduling_strategy"] = "SPREAD"
        return opts

    async def _call(self, fn: Callable[..., Any], opts: dict[str, Any], *args: Any) -> tuple[Any, int, str]:
        """Run fn remotely, again (up to max_retries times) when its worker or node was lost:
        (result or None, attempts, the last error)."""
        import ray

        lost = tuple(getattr(ray.exceptions, n) for n in (
            "WorkerCrashedError", "NodeDiedError", "ObjectLostError", "LocalRayletDiedError", "RaySystemError",
            "OwnerDiedError", "ObjectFetchTimedOutError") if hasattr(ray.exceptions, n))
        remote = self._remote(fn)
        attempts, last = 0, ""
        while attempts <= self.max_retries:
            attempts += 1
            ref = remote.options(**opts).remote(*args)
            try:
                return await ref, attempts, last
            except asyncio.CancelledError:  # the driver stopped waiting (Ctrl-C): the episode must stop too
                _cancel(ref)
                raise
            except lost as exc:
                self._lost = True
                last = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
            except Exception as exc:  # noqa: BLE001 - the task itself failed (e.g. cannot import): no retry
                return None, attempts, f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=4)}"
        return None, attempts, last

    def _remote(self, fn: Callable[..., Any]) -> Any:
        import ray

        return self._remotes.get(fn) or self._remotes.setdefault(fn, ray.remote(fn))

    async def _reap_after_loss(self, where: Mapping[str, str], docker: bool | None) -> None:
        """After a run that lost episodes to dead workers or nodes: every alive node (with Docker,
        for a docker run) removes what this run's dead workers left on its host; a node on the dead
        one's machine thus cleans up after it. Best effort: what each removed is in `self.reaped`."""
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        from agentgym.distributed.worker import reap_here

        self.reaped = []
        if not self._lost:
            return
        nodes = [n["NodeID"] for n in ray.nodes() if n.get("Alive") and (not docker or n.get("Resources", {}).get("docker"))]
        refs = [self._remote(reap_here).options(num_cpus=0, max_retries=0, scheduling_strategy=NodeAffinitySchedulingStrategy(
            node, soft=False)).remote(dict(where), docker) for node in nodes]
        try:
            done = await asyncio.wait_for(asyncio.gather(*refs, return_exceptions=True), timeout=120)
        except asyncio.TimeoutError:
            done = []
        self.reaped = [{"node_id": node, **r} for node, r in zip(nodes, done) if isinstance(r, dict)]

    # -- the sweep's preflight hooks (agentgym.sweep.runner) ----------------------------------
    def preflight_envs(self, envs: Sequence[tuple[str, Mapping[str, Any]]], runtime: str) -> dict[str, list[str]]:
        """Make each env once on the cluster, in a task placed like its episodes (so on a node with
        Docker for a docker run), and close it there: env id -> its task ids.

        Raises:
            RayExecutorError: no alive node can run an env's episodes.
            UnknownEnvError: a node does not know the env (a plugin not imported there).
            PreflightError: the env cannot be made on the node (one line, with the node's IP).
        """
        import ray

        from agentgym.distributed.worker import env_task_ids
        from agentgym.models.preflight import PreflightError
        from agentgym.registry import UnknownEnvError

        self.check([env_id for env_id, _ in envs], runtime)
        refs = [self._remote(env_task_ids).options(**self._options(env_id, runtime)).remote(env_id, runtime, dict(kwargs),
                                                                                             self.imports)
                for env_id, kwargs in envs]
        out: dict[str, list[str]] = {}
        for (env_id, _), ref in zip(envs, refs):
            try:
                got = ray.get(ref, timeout=900)
            except Exception as exc:  # noqa: BLE001 - a lost node, a timeout: one line
                why = " ".join(str(exc).split())[:300]
                raise PreflightError(f"env {env_id}: its preflight task on the Ray cluster failed ({type(exc).__name__}: "
                                     f"{why}); check the nodes with `ray status` and retry") from None
            if "unknown" in got:
                raise UnknownEnvError(got["unknown"])
            if "error" in got:
                raise PreflightError(f"{got['error']} (on the Ray node at {got.get('ip')})")
            out[env_id] = got["task_ids"]
        return out

    def check_endpoints(self, endpoints: Sequence[Any], timeout_s: float = 5.0) -> None:
        """The sweep's endpoint probe: from the driver where it answers there, else from a node
        (the agents call it from the nodes); raises the node's PreflightError when it fails there too."""
        import ray

        from agentgym.distributed.worker import probe_endpoint
        from agentgym.models.preflight import PreflightError, check_endpoint

        for ep in dict.fromkeys(endpoints):
            try:
                check_endpoint(ep, timeout_s)
                continue
            except PreflightError:
                pass
            self.connect()
            ref = self._remote(probe_endpoint).options(num_cpus=0, max_retries=0).remote(ep, timeout_s)
            try:
                err = ray.get(ref, timeout=4 * timeout_s + 120)
            except Exception as exc:  # noqa: BLE001 - the probe task itself was lost: one line
                err = f"model endpoint {ep.base_url}: its probe on a Ray node failed ({type(exc).__name__})"
            if err:
                raise PreflightError(f"{err} (probed from the driver and from a Ray node)")

    # -- the sweep hook (agentgym.sweep.runner) -------------------------------------------
    async def run_episodes(self, runtime: str, max_steps: int, configs: Mapping[str, Any], todo: list[Any],
                           concurrency: int, finish: Callable[[Any, Any, dict[str, Any] | None], bool], store: Any) -> None:
        """Run `todo` on the cluster; `finish(ep, trajectory, usage)` stores each result (True if newly stored)."""
        from agentgym.distributed.worker import SWEEP_LABEL, play_episode
        from agentgym.rollout import Trajectory

        self.check([configs[ep.config_id].env for ep in todo], runtime)
        gate, labels = asyncio.Semaphore(concurrency), {SWEEP_LABEL: sweep_label(store.root)}
        self._lost = False

        async def one(ep: Any) -> None:
            rc = configs[ep.config_id]
            async with gate:
                out, attempts, last = await self._call(play_episode, self._options(rc.env, runtime), rc, ep, runtime,
                                                       max_steps, self.imports, labels, self.prepare)
            if out is None:
                traj = Trajectory(env_id=rc.env, task_id=ep.task_id, seed=ep.seed, first_observation="",
                                  error=f"infrastructure error: ray: no result after {attempts} attempts ({last})")
                usage, node = None, None
            else:
                traj, usage, node = Trajectory.model_validate(out["trajectory"]), out["usage"], out["node_id"]
            if finish(ep, traj, usage):
                record_placement(store, ep, node, attempts)

        await asyncio.gather(*(one(ep) for ep in todo))
        await self._reap_after_loss(labels, runtime == "docker")

    # -- the rollout API (agentgym.parallel) ----------------------------------------------
    async def arun_rollouts(self, specs: Sequence[Any], env_factory: Callable[[str], Any],
                            policy_factory: Callable[[Any, Any], Any], *, max_concurrency: int = 8,
                            max_steps: int = 10_000) -> list[Any]:
        """parallel.run_rollouts on the cluster: the factories are shipped to the nodes (cloudpickle:
        lambdas and closures work, open sockets and envs do not), results come back in the order of
        `specs`; `self.nodes` then holds the node id each ran on (None when it has no result)."""
        from agentgym.distributed.worker import SWEEP_LABEL, play_rollout
        from agentgym.parallel import RolloutResult
        from agentgym.rollout import Trajectory

        self.connect()
        self.check([s.env_id for s in specs], "")
        gate, labels = asyncio.Semaphore(max_concurrency), {SWEEP_LABEL: uuid.uuid4().hex[:16]}
        self._lost = False

        async def one(spec: Any) -> tuple[Any, str | None]:
            async with gate:
                out, attempts, last = await self._call(play_rollout, self._options(spec.env_id, None), spec, env_factory,
                                                       policy_factory, max_steps, self.imports, labels, self.prepare)
            if out is None:
                traj = Trajectory(env_id=spec.env_id, task_id=spec.task_id, seed=spec.seed, first_observation="",
                                  error=f"infrastructure error: ray: no result after {attempts} attempts ({last})")
                return RolloutResult(spec=spec, trajectory=traj, infra_error=True), None
            return RolloutResult.model_validate(out["result"]), out["node_id"]

        done = await asyncio.gather(*(one(s) for s in specs))
        await self._reap_after_loss(labels, None)
        self.nodes = [n for _, n in done]
        return [r for r, _ in done]

    def run_rollouts(self, specs: Sequence[Any], env_factory: Callable[[str], Any], policy_factory: Callable[[Any, Any], Any],
                     **kwargs: Any) -> list[Any]:
        """arun_rollouts from sync code."""
        return asyncio.run(self.arun_rollouts(specs, env_factory, policy_factory, **kwargs))


def _cancel(ref: Any) -> None:
    """Stop a Ray task whose result nobody waits for any more (force: its worker process is
    killed, so what the episode started is reaped as a dead owner's); best effort, as the
    cluster may be going away too."""
    import ray

    try:
        ray.cancel(ref, force=True)
    except Exception:  # noqa: BLE001 - already finished, or the cluster is gone
        pass


__all__ = ["RayExecutor", "RayExecutorError"]
