"""Run a sweep: every (config, task, sample) not yet in the store, concurrently, stored as it ends.

Env work runs in worker threads (parallel.run_episode_async); the store is written from the
event loop's thread only, one transaction per episode, so a SIGKILL loses at most the episodes
in flight, and a restart skips every key already stored.

Infrastructure errors (a dead model server, a sandbox that died) are stored too, marked, and never
scored, with every step and message up to the failure (rollout.errored_trajectory); `retry_errors`
re-runs exactly those keys and replaces them. With a price table, the model-driven agents price
tokens at it (priced) and each stored per-call cost is at it (reprice), as the cost column is.

Before anything runs, a preflight makes every env once (plan() needs its task ids anyway) and probes every model endpoint
the pending episodes use (models/preflight.py), so a dead endpoint fails in seconds, not after
every episode's retries.
"""

from __future__ import annotations

import asyncio
import inspect
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from agentgym.budget import Usage
from agentgym.models.pricing import PriceTable
from agentgym.parallel import RolloutSpec, derive_seed, policy_usage, run_episode_async
from agentgym.rollout import Trajectory, errored_trajectory
from agentgym.sweep.config import Episode, RunConfig, SweepConfig, episode_seed
from agentgym.sweep.store import EpisodeRecord, Store


class SweepSummary(BaseModel):
    out: str
    total: int = Field(..., description="episodes in the plan")
    skipped: int = Field(..., description="already stored, not run now")
    ran: int = Field(..., description="run now (retried errors included)")
    passed: int = Field(..., description="of those run now")
    infra_errors: int = Field(..., description="of those run now: infrastructure errors (not scored)")
    retried: int = Field(0, description="errored keys of the store run again now")
    stored_errors: int = Field(0, description="keys of the plan whose stored episode is an infrastructure error, after this run")
    first_error: str | None = Field(None, description="the first line of the first error seen now")

    @property
    def failed(self) -> int:
        return self.ran - self.passed - self.infra_errors


def plan(cfg: SweepConfig, runtime: str | None = None, executor: Any = None) -> tuple[list[RunConfig], list[Episode]]:
    """The configs and every episode of the sweep (task lists come from the envs; an executor with
    `preflight_envs`, e.g. Ray's, makes them where their episodes will run instead of here)."""
    import agentgym

    configs = cfg.configs()
    tasks: dict[str, list[str]] = {}
    k_of = {sel.id: sel.k or cfg.k for sel in cfg.envs}
    remote = getattr(executor, "preflight_envs", None)
    made_there = remote([(sel.id, dict(sel.kwargs)) for sel in cfg.envs], runtime or cfg.runtime) if remote else {}
    for sel in cfg.envs:
        available = made_there[sel.id] if sel.id in made_there else env_preflight(sel.id, runtime or cfg.runtime, dict(sel.kwargs))
        ids = list(sel.tasks) if sel.tasks is not None else available
        unknown = [t for t in ids if t not in available]
        if unknown:
            raise ValueError(f"env {sel.id}: no tasks {unknown[:5]}; run `agentgym info {sel.id}` for its task ids")
        tasks[sel.id] = ids[: sel.max_tasks] if sel.max_tasks else ids
    episodes = [Episode(config_id=rc.config_id, task_id=t, sample=s, seed=episode_seed(cfg.seed, rc.env, t, s))
                for rc in configs for t in tasks[rc.env] for s in range(k_of[rc.env])]
    return configs, episodes


def env_preflight(env_id: str, runtime: str, kwargs: dict[str, Any]) -> list[str]:
    """The env preflight (here, or on a Ray node: worker.env_task_ids): make the env, list its task
    ids, close it; before any episode. An env that cannot be made is one line (PreflightError);
    an unknown id raises agentgym.UnknownEnvError."""
    import agentgym
    from agentgym.models.preflight import PreflightError

    try:
        env = agentgym.make(env_id, runtime=runtime, **kwargs)
    except agentgym.UnknownEnvError:
        raise
    except Exception as exc:  # noqa: BLE001 - reported as one line, before anything runs
        raise PreflightError(f"env {env_id} could not be made on runtime {runtime!r} ({type(exc).__name__}: "
                             f"{str(exc).strip()}); check it with `agentgym info {env_id} -r {runtime}`") from exc
    try:
        return [str(t) for t in env.task_ids()]
    finally:
        env.close()


def endpoints(configs: list[RunConfig]) -> list[Any]:
    """The model endpoints the configs' agents talk to (each once)."""
    from agentgym.models.preflight import Endpoint

    out = []
    for rc in configs:
        if rc.model is None and rc.agent.name not in ("react", "budget-aware"):
            continue
        ep = Endpoint.from_kwargs({**rc.agent.kwargs, **(rc.model.agent_kwargs() if rc.model else {})})
        if ep is not None:
            out.append(ep)
    return list(dict.fromkeys(out))


def _agent_kwargs(rc: RunConfig, ep: Episode) -> dict[str, Any]:
    from agentgym.agents import AGENTS

    kwargs = dict(rc.agent.kwargs)
    if rc.model is not None:
        kwargs.update(rc.model.agent_kwargs())
    try:
        takes_seed = "seed" in inspect.signature(AGENTS[rc.agent.name][0]).parameters
    except (TypeError, ValueError):
        takes_seed = False
    if takes_seed:
        # Every sample gets its own agent seed; a seed in the config shifts them all.
        kwargs["seed"] = derive_seed(int(kwargs.get("seed", 0)), rc.agent.name, ep.task_id, ep.sample) if "seed" in kwargs else ep.seed
    return kwargs


def _cost(traj: Trajectory, usage: dict[str, Any] | None, prices: PriceTable | None = None, model: str | None = None) -> float:
    env_usage = (traj.steps[-1].info.get("usage") or {}) if traj.steps else {}
    if prices is not None:
        # The unified cost from the sweep's price table: the agent's tokens, the env's tool calls,
        # and the episode's wall time as sandbox seconds.
        agent = usage or {}
        u = Usage(tool_calls=env_usage.get("tool_calls") or {}, input_tokens=agent.get("input_tokens", 0) or 0,
                  cached_input_tokens=agent.get("cached_input_tokens", 0) or 0, output_tokens=agent.get("output_tokens", 0) or 0)
        return prices.unified_cost(u, sandbox_seconds=traj.seconds or 0.0, model=model)
    env_cost = float(env_usage.get("cost", 0.0))
    return env_cost or float((usage or {}).get("cost", 0.0) or 0.0)


def priced(rc: RunConfig, prices: PriceTable | None) -> RunConfig:
    """`rc` whose model-driven agent (react, budget-aware) prices tokens at the sweep's table, so
    the cost it counts (what a max_cost budget and budget-aware's prompt see) is the table's;
    unchanged when the config sets the agent's `prices` itself, or there is no table."""
    if prices is None or rc.model is None or rc.agent.name not in ("react", "budget-aware"):
        return rc
    if "prices" in rc.agent.kwargs or "prices" in (rc.model.model_extra or {}):
        return rc
    model = type(rc.model).model_validate({**rc.model.model_dump(), "prices": prices.prices_for(rc.model.model).model_dump()})
    return rc.model_copy(update={"model": model})


def reprice(traj: Trajectory, prices: PriceTable | None, model: str | None) -> None:
    """Per-call costs in the stored transcript at the sweep's price table (the one its cost column
    uses), not the agent's own prices: their sum is the episode's token cost in the table."""
    if prices is None or traj.transcript is None:
        return
    for turn in traj.transcript.turns:
        turn.cost = prices.token_cost(Usage(input_tokens=turn.input_tokens, cached_input_tokens=turn.cached_input_tokens,
                                            output_tokens=turn.output_tokens), model)


async def _run(cfg: SweepConfig, runtime: str, configs: dict[str, RunConfig], todo: list[Episode], store: Store,
               on_done: Callable[[EpisodeRecord], None], prices: PriceTable | None = None,
               retry: frozenset[tuple[str, str, int]] = frozenset(), executor: Any = None) -> None:
    import agentgym
    from agentgym.agents import make_agent

    def finish(ep: Episode, traj: Trajectory, usage: dict[str, Any] | None) -> bool:
        """Store one result (another executor's too); True when newly stored."""
        rc = configs[ep.config_id]
        model = rc.model.model if rc.model else None
        reprice(traj, prices, model)
        rec = EpisodeRecord(config_id=ep.config_id, task_id=ep.task_id, sample=ep.sample, seed=ep.seed,
                            passed=traj.passed, reward=traj.total_reward, turns=traj.turns, cost=_cost(traj, usage, prices, model),
                            seconds=traj.seconds, infra_error=traj.error is not None, error=traj.error)
        stored = store.record(rec, traj, replace_error=(ep.config_id, ep.task_id, ep.sample) in retry)
        on_done(rec)
        return stored

    if executor is not None:  # episodes run elsewhere (e.g. agentgym.distributed.RayExecutor); stored here
        await executor.run_episodes(runtime, cfg.max_steps, configs, todo, cfg.concurrency, finish, store)
        return
    idle: dict[str, list[Any]] = {}
    made: list[Any] = []
    gate = asyncio.Semaphore(cfg.concurrency)

    async def one(ep: Episode) -> None:
        rc = configs[ep.config_id]
        async with gate:
            env, policy = None, None
            try:
                env = idle.get(rc.env, []).pop() if idle.get(rc.env) else None
                if env is None:
                    env = await asyncio.to_thread(agentgym.make, rc.env, runtime=runtime, **rc.env_kwargs)
                    made.append(env)
                policy = await asyncio.to_thread(make_agent, rc.agent.name, env, **_agent_kwargs(rc, ep))
                options: dict[str, Any] = {"budget": rc.budget} if rc.budget is not None else {}
                spec = RolloutSpec(env_id=rc.env, task_id=ep.task_id, sample=ep.sample, seed=ep.seed, options=options)
                traj = await run_episode_async(env, policy, spec, cfg.max_steps)
                idle.setdefault(rc.env, []).append(env)
            except Exception as exc:  # noqa: BLE001 - one broken episode is recorded, the sweep goes on
                if env is not None:
                    made.remove(env)
                    await asyncio.to_thread(_close_quietly, env)
                # Kept: every step and message up to the failure (the tokens it spent are costed too).
                traj = errored_trajectory(exc, env_id=rc.env, task_id=ep.task_id, seed=ep.seed)
            finish(ep, traj, policy_usage(policy))

    try:
        await asyncio.gather(*(one(ep) for ep in todo))
    finally:
        for env in made:
            await asyncio.to_thread(_close_quietly, env)


def _close_quietly(env: Any) -> None:
    try:
        env.close()
    except Exception as exc:  # noqa: BLE001 - closing is best effort, but say so
        warnings.warn(f"closing env failed: {type(exc).__name__}: {exc}", RuntimeWarning, stacklevel=1)


RetryChoice = bool | Callable[[int], bool]


def _stored(root: Path) -> tuple[Store | None, set[tuple[str, str, int]], set[tuple[str, str, int]]]:
    """(the store if one exists, its keys, its errored keys), creating nothing."""
    if not (root / Store.DB).is_file():
        return None, set(), set()
    store = Store(root)
    return store, store.done_keys(), store.error_keys()


def run_sweep(cfg: SweepConfig, out: str | Path | None = None, runtime: str | None = None, progress: bool = True,
              retry_errors: RetryChoice = False, preflight: bool = True,
              on_start: Callable[[Path, int], None] | None = None, executor: Any = None) -> SweepSummary:
    """Run (or resume) `cfg` into `out` (default runs/<name>).

    Args:
        retry_errors: re-run the keys whose stored episode is an infrastructure error (replacing
            them); or a function given their count that decides (the CLI asks the user).
        preflight: probe each model endpoint the pending episodes use before running any.
        on_start: called with (run directory, episodes to run) once the preflight passed.
        executor: where episodes run; None: here (asyncio + threads). Another (e.g.
            agentgym.distributed.RayExecutor) runs them and hands each result back to be stored here.
    Raises:
        PreflightError: an env cannot be made or an endpoint does not answer (nothing ran).
    """
    from agentgym.models.preflight import check_endpoints

    check_endpoints = getattr(executor, "check_endpoints", check_endpoints)  # Ray's probes from a node when not from here
    root = Path(out) if out is not None else Path("runs") / cfg.name
    runtime = runtime or cfg.runtime
    fresh = not (root / Store.DB).is_file()
    if preflight and fresh:  # every config is pending: probe the endpoints before making any (slow) env
        check_endpoints(endpoints(cfg.configs()))
    configs, episodes = plan(cfg, runtime, executor)
    prices = cfg.price_table()
    store, done, errored = _stored(root)
    try:
        planned_errors = errored & {(e.config_id, e.task_id, e.sample) for e in episodes}
        retry = bool(planned_errors) and (retry_errors(len(planned_errors)) if callable(retry_errors) else bool(retry_errors))
        retrying = frozenset(planned_errors) if retry else frozenset()
        todo = [e for e in episodes if (e.config_id, e.task_id, e.sample) not in done or (e.config_id, e.task_id, e.sample) in retrying]
        if preflight and todo and not fresh:
            pending = {e.config_id for e in todo}
            check_endpoints(endpoints([rc for rc in configs if rc.config_id in pending]))
        store = store or Store(root)
        if on_start is not None:
            on_start(root, len(todo))
        _write_meta(store, cfg, root, prices, len(episodes), configs)
        counts: dict[str, Any] = {"passed": 0, "infra": 0, "first_error": None}

        def tally(rec: EpisodeRecord) -> None:
            counts["passed"] += rec.passed
            counts["infra"] += rec.infra_error
            if rec.error and counts["first_error"] is None:
                counts["first_error"] = next((ln for ln in rec.error.splitlines() if ln.strip()), rec.error)[:500]

        by_id = {rc.config_id: priced(rc, prices) for rc in configs}
        if progress and todo:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            with Progress(TextColumn(f"[bold]sweep {cfg.name}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                          TimeRemainingColumn(), TextColumn("{task.fields[stats]}")) as bar:
                task = bar.add_task("episodes", total=len(episodes), completed=len(episodes) - len(todo), stats="")

                def tick(rec: EpisodeRecord) -> None:
                    tally(rec)
                    bar.update(task, advance=1, stats=f"passed {counts['passed']}  infra errors {counts['infra']}")

                asyncio.run(_run(cfg, runtime, by_id, todo, store, tick, prices, retrying, executor))
        else:
            asyncio.run(_run(cfg, runtime, by_id, todo, store, tally, prices, retrying, executor))
        left = store.error_keys() & {(e.config_id, e.task_id, e.sample) for e in episodes}
        return SweepSummary(out=str(root), total=len(episodes), skipped=len(episodes) - len(todo), ran=len(todo),
                            passed=counts["passed"], infra_errors=counts["infra"], retried=len(retrying),
                            stored_errors=len(left), first_error=counts["first_error"] if counts["infra"] else None)
    finally:
        if store is not None:
            store.close()


def _write_meta(store: Store, cfg: SweepConfig, root: Path, prices: PriceTable | None, planned: int,
                configs: list[RunConfig]) -> None:
    store.set_meta("sweep", cfg.model_dump(mode="json"))
    before = store.meta("prices")
    if store.count() and (before or {}).get("version") != (prices.version if prices else None):
        warnings.warn(f"{root}: stored costs used price table {(before or {}).get('version')!r}, this run uses "
                      f"{prices.version if prices else None!r}; costs in the store now mix the two", RuntimeWarning, stacklevel=3)
    if prices is not None:  # costs in the store are in this table's currency, at this version
        store.set_meta("prices", {"version": prices.version, "date": prices.date, "currency": prices.currency, "source": cfg.prices})
    store.set_meta("planned", planned)
    for rc in configs:
        store.add_config(rc)


__all__ = ["SweepSummary", "endpoints", "env_preflight", "plan", "run_sweep"]
