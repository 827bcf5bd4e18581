"""Rollout orchestration benchmark: overhead per step with a null model, and throughput of
concurrent rollouts on the SQL env.

    python benchmarks/rollouts.py                 # local runtime (+ Docker/PostgreSQL when an engine answers)
    python benchmarks/rollouts.py --json          # last stdout line is one JSON object
    python benchmarks/rollouts.py --runtimes local --concurrency 1 8 32 64
    python benchmarks/rollouts.py --executor ray --json   # + the Ray executor's figures (benchmarks/rollouts_ray.py)

Overhead: a trivial env whose step does no work and a null policy (a fixed action, as a model that
answers instantly would); per episode, (episode wall time - time inside env.step - time inside
policy.act) / steps, p50 over episodes, for the sync loop (rollout.run_episode) and the async one
(parallel.run_episode_async: env work in worker threads). The same figure on sql-a-lite with its
reference policy shows it next to a real step's own time.
Throughput: run_rollouts with 1, 8, 32 and 64 rollouts in flight on sql-a-lite (the env's reference
policy, each rollout a full episode), episodes/s, steps/s and errors (infra errors + failed golds).
Issue targets, for reading the figures: overhead p50 <= 1 ms per step; 64 concurrent rollouts on
the SQL env with 0 errors. The script prints figures; it does not judge them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import agentgym
from agentgym.parallel import RolloutSpec, run_episode_async, run_rollouts_sync
from agentgym.rollout import run_episode

SQL_ENV = "sql-a-lite"


class TrivialEnv:
    """The least an env can do: constant observations, `steps` steps then terminated."""

    def __init__(self, steps: int = 50):
        self.n, self.i, self.step_seconds = steps, 0, 0.0
        self.unwrapped = self
        self.env_id = "trivial"

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None):
        self.i = 0
        return {"text": "ready"}, {"task_id": "t"}

    def step(self, action: Any):
        t0 = time.perf_counter()
        self.i += 1
        done = self.i >= self.n
        out = {"text": "ok"}, 0.0, done, False, {}
        self.step_seconds += time.perf_counter() - t0
        return out

    def passed(self, total_reward: float, info: dict[str, Any]) -> bool:
        return False

    def close(self) -> None:
        pass


class TimedPolicy:
    """Wraps a policy and times its act() (a null model: the fixed action costs ~nothing)."""

    def __init__(self, inner: Any = None):
        self.inner, self.act_seconds = inner, 0.0

    def reset(self, obs: dict[str, Any], info: dict[str, Any]) -> None:
        if self.inner is not None:
            self.inner.reset(obs, info)

    def act(self, obs: dict[str, Any], info: dict[str, Any]) -> Any:
        t0 = time.perf_counter()
        a = self.inner.act(obs, info) if self.inner is not None else {"name": "noop", "arguments": {}}
        self.act_seconds += time.perf_counter() - t0
        return a


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


def bench_overhead(episodes: int, steps: int) -> dict[str, Any]:
    from agentgym.agents import make_agent

    out: dict[str, Any] = {}
    for mode in ("sync", "async"):
        per_step = []
        for _ in range(episodes):
            env, pol = TrivialEnv(steps), TimedPolicy()
            t0 = time.perf_counter()
            if mode == "sync":
                traj = run_episode(env, pol)
            else:
                traj = asyncio.run(run_episode_async(env, pol, RolloutSpec(env_id="trivial")))
            wall = time.perf_counter() - t0
            per_step.append((wall - env.step_seconds - pol.act_seconds) / traj.turns)
        out[f"trivial_{mode}"] = {"episodes": episodes, "steps_per_episode": steps,
                                  "overhead_ms_p50": 1e3 * statistics.median(per_step), "overhead_ms_p90": 1e3 * _pct(per_step, 0.9)}
    # The same on the SQL env: a real step's own time next to what the loop adds.
    env = agentgym.make(SQL_ENV, runtime="local")
    try:
        tasks = list(env.task_ids())[:episodes]
        per_step, step_own = [], []
        for t in tasks:
            pol = TimedPolicy(make_agent("oracle", env))
            t0 = time.perf_counter()
            traj = run_episode(env, pol, options={"task_id": t})
            wall = time.perf_counter() - t0
            own = sum(s.seconds for s in traj.steps)
            # reset is env work too: time it separately so it is not counted as loop overhead
            r0 = time.perf_counter()
            env.reset(options={"task_id": t})
            reset_s = time.perf_counter() - r0
            per_step.append((wall - own - pol.act_seconds - reset_s) / traj.turns)
            step_own.append(own / traj.turns)
        out["sql_sync"] = {"env": SQL_ENV, "episodes": len(tasks), "overhead_ms_p50": 1e3 * statistics.median(per_step),
                           "env_step_ms_p50": 1e3 * statistics.median(step_own)}
    finally:
        env.close()
    return out


def bench_throughput(runtime: str, levels: list[int], rounds: int, seed: int) -> list[dict[str, Any]]:
    from agentgym.agents import make_agent

    probe = agentgym.make(SQL_ENV, runtime="local")
    tasks = list(probe.task_ids())
    probe.close()
    rows = []
    for c in levels:
        n = c * rounds
        specs = [RolloutSpec(env_id=SQL_ENV, task_id=tasks[i % len(tasks)], sample=i // len(tasks), seed=seed + i) for i in range(n)]
        t0 = time.perf_counter()
        results = run_rollouts_sync(specs, lambda e: agentgym.make(e, runtime=runtime),
                                    lambda env, spec: make_agent("oracle", env), max_concurrency=c)
        wall = time.perf_counter() - t0
        infra = [r for r in results if r.infra_error]
        failed = [r for r in results if not r.infra_error and not r.trajectory.passed]
        steps = sum(r.trajectory.turns for r in results)
        lat = [r.trajectory.seconds for r in results]
        rows.append({"runtime": runtime, "concurrency": c, "episodes": n, "seconds": wall, "episodes_per_s": n / wall,
                     "steps_per_s": steps / wall, "episode_s_p50": statistics.median(lat), "episode_s_p90": _pct(lat, 0.9),
                     "errors": len(infra) + len(failed), "infra_errors": len(infra), "gold_failures": len(failed),
                     "first_error": (infra[0].trajectory.error or "")[:300] if infra else None})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true", help="print one JSON object as the last stdout line")
    ap.add_argument("--episodes", type=int, default=30, help="episodes per overhead measurement")
    ap.add_argument("--steps", type=int, default=50, help="steps per trivial-env episode")
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32, 64], help="rollouts in flight")
    ap.add_argument("--rounds", type=int, default=2, help="episodes per level = concurrency x rounds")
    ap.add_argument("--runtimes", default="auto", help="comma list of local,docker; auto = local, plus docker when an engine answers")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--executor", choices=["local", "ray"], default="local",
                    help="ray: also the Ray executor against the local one on a 1- and 2-node cluster started here")
    args = ap.parse_args()
    from agentgym.sandbox import docker_available

    runtimes = args.runtimes.split(",") if args.runtimes != "auto" else ["local"] + (["docker"] if docker_available() else [])
    report: dict[str, Any] = {"overhead": bench_overhead(args.episodes, args.steps), "throughput": []}
    for rt in runtimes:
        try:
            report["throughput"] += bench_throughput(rt, args.concurrency, args.rounds, args.seed)
        except Exception as exc:  # noqa: BLE001 - a runtime that cannot start is reported, not fatal
            report["throughput"].append({"runtime": rt, "error": f"{type(exc).__name__}: {exc}"})
    o = report["overhead"]
    print("orchestration overhead per step (null model), p50 ms:")
    for k, v in o.items():
        extra = f"  (env step itself p50 {v['env_step_ms_p50']:.3f} ms)" if "env_step_ms_p50" in v else ""
        print(f"  {k:14s} {v['overhead_ms_p50']:.4f}{extra}")
    print(f"throughput on {SQL_ENV} (reference policy):")
    print(f"  {'runtime':8s} {'conc':>5s} {'episodes':>8s} {'s':>7s} {'ep/s':>8s} {'steps/s':>8s} {'ep p50 s':>9s} {'errors':>6s}")
    for r in report["throughput"]:
        if "error" in r:
            print(f"  {r['runtime']:8s} could not run: {r['error']}")
            continue
        print(f"  {r['runtime']:8s} {r['concurrency']:5d} {r['episodes']:8d} {r['seconds']:7.2f} {r['episodes_per_s']:8.1f} "
              f"{r['steps_per_s']:8.1f} {r['episode_s_p50']:9.3f} {r['errors']:6d}")
        if r["first_error"]:
            print(f"    first error: {r['first_error']}")
    if args.executor == "ray":
        import rollouts_ray

        report["ray"] = rollouts_ray.bench()
        rollouts_ray.print_report(report["ray"])
    if args.json:
        print(json.dumps(report))


if __name__ == "__main__":
    main()
