"""The Ray executor's figures (`python benchmarks/rollouts.py --executor ray --json`), on a Ray
cluster of 1 and then 2 nodes started on this machine (agentgym.distributed.local_cluster).

The same sweep (shell-fixture, oracle agent, local runtime: episodes of a few steps) runs on
  - the local executor, one episode in flight, then `concurrency` in flight;
  - the Ray executor with 1 node, one in flight (per-episode overhead against the local run),
    then `concurrency` in flight (throughput), then with a second node added (throughput);
and the driver's own CPU time (process_time: Ray's driver threads included) per 1000 episodes.
Estimate of the nodes one driver can feed: a driver core handles 1/d episodes/s (d = driver CPU s
per episode); a node finishes c/e episodes/s (c in flight, e s each): nodes = e / (c * d).
On one machine both nodes share its cores: the 2-node figure shows the executor spreads work,
not a speedup. The script prints figures; it does not judge them.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

ENV = "shell-fixture"


def _sweep(out: Path, k: int, concurrency: int, executor: Any = None) -> dict[str, Any]:
    from agentgym.sweep import SweepConfig, run_sweep

    cfg = SweepConfig.model_validate({"name": "bench-ray", "envs": [{"id": ENV}], "agents": ["oracle"], "budgets": [None],
                                      "k": k, "runtime": "local", "concurrency": concurrency})
    cpu0, t0 = time.process_time(), time.perf_counter()
    s = run_sweep(cfg, out=out, progress=False, preflight=False, executor=executor)
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    return {"episodes": s.ran, "seconds": wall, "episodes_per_s": s.ran / wall, "driver_cpu_s_per_1000": 1000 * cpu / max(s.ran, 1),
            "passed": s.passed, "infra_errors": s.infra_errors}


def bench(k: int = 8, concurrency: int = 4) -> dict[str, Any]:
    from agentgym.distributed import RayExecutor
    from agentgym.distributed.local_cluster import Cluster

    out: dict[str, Any] = {"env": ENV, "agent": "oracle", "k": k, "concurrency": concurrency}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        out["local_1"] = _sweep(root / "l1", k, 1)
        out["local_n"] = _sweep(root / "ln", k, concurrency)
        c = Cluster()
        try:
            c.start_head(num_cpus=concurrency)
            c.wait_nodes(1)
            ex = RayExecutor(c.address, num_cpus=1)
            ex.connect()
            try:
                _sweep(root / "warm", 1, concurrency, ex)  # worker processes start once, not in the figures
                out["ray_1node_1"] = _sweep(root / "r1", k, 1, ex)
                out["ray_1node_n"] = _sweep(root / "rn", k, concurrency, ex)
                c.add_node(num_cpus=concurrency)
                c.wait_nodes(2)
                _sweep(root / "warm2", 1, 2 * concurrency, ex)
                out["ray_2nodes_n"] = _sweep(root / "r2", k, 2 * concurrency, ex)
            finally:
                ex.close()
        finally:
            c.stop()
    per_local = out["local_1"]["seconds"] / out["local_1"]["episodes"]
    per_ray = out["ray_1node_1"]["seconds"] / out["ray_1node_1"]["episodes"]
    out["overhead_ms_per_episode"] = 1e3 * (per_ray - per_local)
    d = out["ray_1node_n"]["driver_cpu_s_per_1000"] / 1000
    out["estimate"] = {
        "driver_cpu_s_per_episode": d,
        "nodes_fed_by_one_driver_core": {
            # e / (c * d): this benchmark's episodes, and a SWE-like node (60 s episodes, 16 in flight)
            "these_episodes": per_local / (1 * d) if d else None,
            "swe_like_60s_x16": 60 / (16 * d) if d else None,
        },
    }
    return out


def print_report(r: dict[str, Any]) -> None:
    print(f"Ray executor on {r['env']} (oracle, k={r['k']}), one machine:")
    for key in ("local_1", "local_n", "ray_1node_1", "ray_1node_n", "ray_2nodes_n"):
        v = r[key]
        print(f"  {key:13s} {v['episodes']:4d} episodes {v['seconds']:7.2f} s {v['episodes_per_s']:7.2f} ep/s  "
              f"driver CPU {v['driver_cpu_s_per_1000']:7.1f} s/1000 ep  infra errors {v['infra_errors']}")
    e = r["estimate"]["nodes_fed_by_one_driver_core"]
    print(f"  Ray overhead per episode (1 in flight): {r['overhead_ms_per_episode']:.0f} ms")
    print(f"  nodes one driver core can feed: {e['these_episodes']:.1f} with these episodes, "
          f"{e['swe_like_60s_x16']:.0f} with 60 s episodes x 16 per node")
