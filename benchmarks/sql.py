"""SQL env benchmark: reset and step latency on SQLite and PostgreSQL, execute_sql overhead above the
query's own time, and concurrent PostgreSQL episodes (throughput, errors, memory, leftovers).

    python benchmarks/sql.py                  # both engines, rich table
    python benchmarks/sql.py --json           # last stdout line is one JSON object
    python benchmarks/sql.py --engines sqlite # SQLite only (no Docker needed)

Issue targets, for reading the figures: reset p50 <= 100 ms with template databases;
execute_sql overhead p50 <= 5 ms; 32 concurrent PostgreSQL episodes with 0 errors and nothing
left behind. The script prints figures; it does not judge them.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import agentgym  # noqa: E402 - after the sys.path line, so the checkout's copy is used
from agentgym.envs.sql import register_sql_envs  # noqa: E402

register_sql_envs()

ENV_ID = "sql-a-lite"
TASK = "retail_lite.top_entities.2022-top5"
#: The query timed directly and through env.step (a join + aggregate, a few ms of real work).
QUERY = ("SELECT c.segment, COUNT(*), SUM(o.total_amount) FROM orders o JOIN customers c "
         "ON c.customer_id = o.customer_id WHERE o.status = 'delivered' GROUP BY c.segment")
#: a-Interact's coin budget grows with `patience`: enough that no timed step is refused for coins.
COINS = 10**6
#: What each concurrent episode runs: reads, an error, a write (its own copy), a capped result.
MIX = [
    "SELECT COUNT(*) FROM orders",
    QUERY,
    "SELECT * FROM order_items",
    "SELECT nope FROM orders",
    "UPDATE orders SET status = 'x' WHERE order_id % 7 = 0",
    "SELECT status, COUNT(*) FROM orders GROUP BY status ORDER BY 2 DESC",
]


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def timings(xs: list[float]) -> dict[str, float]:
    return {"p50_ms": round(pct(xs, 0.5) * 1e3, 3), "p95_ms": round(pct(xs, 0.95) * 1e3, 3), "n": len(xs)}


def runtime_of(engine: str) -> str:
    return "docker" if engine == "postgres" else "local"


def call(sql: str) -> dict[str, Any]:
    return {"name": "execute_sql", "arguments": {"sql": sql}}


def rss_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def bench_engine(engine: str, n_reset: int, n_step: int, spares: int | None = None) -> dict[str, Any]:
    """Single-env figures for one engine (PostgreSQL: with `spares` warm copies per template)."""
    budget = {"max_turns": 100000, "max_tool_calls": 100000}
    options = {"spares": spares} if spares is not None else {}
    label = engine if spares is None else f"{engine} (spares={spares})"
    env = agentgym.make(ENV_ID, runtime=runtime_of(engine), budget=budget, engine_options=options, patience=COINS)
    try:
        env.reset(options={"task_id": TASK})  # the first reset builds the template: not counted
        env.step(call(QUERY))
        # Reset: what an episode start costs, with a short episode (3 steps) between resets as in a
        # rollout; the previous copy's drop and the spare refill overlap it.
        resets = []
        for _ in range(n_reset):
            t0 = time.perf_counter()
            env.reset(options={"task_id": TASK})
            resets.append(time.perf_counter() - t0)
            for _ in range(3):
                env.step(call(QUERY))
        # The template copy itself, never from a spare. SQLite: the backup API into a new in-memory
        # database; PostgreSQL: CREATE DATABASE ... TEMPLATE + its role + connecting to it.
        copies = []
        for _ in range(n_reset):
            if engine == "postgres":
                srv = env.engine.server
                template = srv.template("retail_lite")
                t0 = time.perf_counter()
                name = srv.create_episode(template)
                srv.connect_episode(name).close()
                copies.append(time.perf_counter() - t0)
                srv.drop_episode(name)
            else:
                t0 = time.perf_counter()
                d = env.engine.open("retail_lite")
                copies.append(time.perf_counter() - t0)
                d.close()
        # Steps, and the overhead above the query's own time: the same query on the episode's own
        # connection (direct) and through env.step, alternated so both see the same conditions.
        env.reset(options={"task_id": TASK})
        conn = env.db.connection if engine == "postgres" else env.db.conn
        for _ in range(5):
            env.step(call(QUERY))
            conn.execute(QUERY).fetchall()
        steps, direct, overhead = [], [], []
        for _ in range(n_step):
            t0 = time.perf_counter()
            conn.execute(QUERY).fetchall()
            d = time.perf_counter() - t0
            t0 = time.perf_counter()
            obs, _, _, _, info = env.step(call(QUERY))
            s = time.perf_counter() - t0
            assert "error" not in info and "rows)" in obs["text"], obs["text"][:300]  # the query really ran
            direct.append(d)
            steps.append(s)
            overhead.append(s - d)
        return {
            "engine": label,
            "reset": timings(resets),
            "copy": timings(copies),
            "step": timings(steps),
            "query_direct": timings(direct),
            "execute_sql_overhead": {"p50_ms": round(statistics.median(overhead) * 1e3, 3),
                                     "p95_ms": round(pct(overhead, 0.95) * 1e3, 3), "n": len(overhead)},
        }
    finally:
        env.close()


def own_pg_containers() -> int:
    from agentgym.sandbox import reaper

    return len(reaper.docker_client().api.containers(
        all=True, filters={"label": ["agentgym.kind=postgres", f"agentgym.pid={os.getpid()}"]}))


def bench_concurrent(n_episodes: int, resets: int, steps: int, seed: int) -> dict[str, Any]:
    """n_episodes threads, each with its own env: `resets` episodes and `steps` execute_sql calls."""
    from agentgym.envs.sql.engines.postgres import PostgresEngine

    task_ids = [t for t in agentgym.make(ENV_ID, runtime="local").task_ids()]
    holder = PostgresEngine()  # keeps the server up after the envs close, to count what they left
    holder.open("retail_lite").close()
    srv = holder.server
    errors: list[str] = []
    counts = {"resets": 0, "steps": 0}
    lock = threading.Lock()
    peak_rss = rss_bytes()
    done = threading.Event()

    def sample() -> None:
        nonlocal peak_rss
        while not done.wait(0.05):
            peak_rss = max(peak_rss, rss_bytes())

    def episode(i: int) -> None:
        rng = random.Random(seed + i)
        env = None
        try:
            env = agentgym.make(ENV_ID, runtime="docker", budget={"max_turns": 1000, "max_tool_calls": 1000},
                                patience=COINS)
            for r in range(resets):
                env.reset(options={"task_id": rng.choice(task_ids)})
                with lock:
                    counts["resets"] += 1
                for _ in range(steps // resets + (r < steps % resets)):  # `steps` in all
                    _, _, term, trunc, info = env.step(call(rng.choice(MIX)))
                    with lock:
                        counts["steps"] += 1
                    if "error" in info:
                        with lock:
                            errors.append(f"episode {i}: {info['error']}")
                    if term or trunc:
                        break
        except Exception as exc:  # noqa: BLE001 - counted, never hidden
            with lock:
                errors.append(f"episode {i}: {type(exc).__name__}: {exc}")
        finally:
            if env is not None:
                env.close()

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=n_episodes) as pool:
        list(pool.map(episode, range(n_episodes)))
    wall = time.perf_counter() - t0
    done.set()
    sampler.join()
    mem = srv.memory()
    srv.drain()
    spares = srv.spare_names()  # ready copies kept for the next resets, not leftovers
    left_dbs = [d for d in srv.databases() if d.startswith("ep_") and d not in spares]
    left_roles = [r for r in srv.episode_roles() if r not in spares]
    templates = [d for d in srv.databases() if d.startswith("tpl_")]
    holder.close()
    return {
        "episodes": n_episodes,
        "resets": counts["resets"],
        "steps": counts["steps"],
        "wall_s": round(wall, 3),
        "steps_per_s (whole run, resets included)": round(counts["steps"] / wall, 1),
        "resets_per_s (whole run)": round(counts["resets"] / wall, 1),
        "errors": len(errors),
        "error_samples": errors[:5],
        "container_mem_peak_mb": round(mem.get("max_usage", 0) / 2**20, 1),
        "container_mem_now_mb": round(mem.get("usage", 0) / 2**20, 1),
        "host_rss_peak_mb": round(peak_rss / 2**20, 1),
        "episode_dbs_left": len(left_dbs),
        "episode_roles_left": len(left_roles),
        "warm_spares_kept": len(spares),
        "template_dbs": len(templates),
        "containers_left_after_close": own_pg_containers(),
    }


def render(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(120, Console().width))
    t = Table(title=f"SQL env latency ({ENV_ID}, one env): p50 / p95 in ms")
    t.add_column("figure")
    for e in report["engines"]:
        t.add_column(e["engine"], justify="right")
    rows = [("reset (env.reset: fresh copy + statement)", "reset"),
            ("template copy alone, never a spare", "copy"),
            ("step (execute_sql through env.step)", "step"),
            ("same query on the episode's connection", "query_direct"),
            ("execute_sql overhead (step - direct, paired)", "execute_sql_overhead")]
    for label, key in rows:
        t.add_row(label, *[f"{e[key]['p50_ms']:.2f} / {e[key]['p95_ms']:.2f}" for e in report["engines"]])
    console.print(t)
    c = report.get("concurrent")
    if c:
        ct = Table(title=f"{c['episodes']} concurrent PostgreSQL episodes (threads)")
        ct.add_column("figure")
        ct.add_column("value", justify="right")
        for k, v in c.items():
            if k != "error_samples":
                ct.add_row(k, str(v))
        console.print(ct)
        for e in c["error_samples"]:
            console.print(f"[red]{e}[/red]")
    console.print("Targets (issue 3): reset p50 <= 100 ms; execute_sql overhead p50 <= 5 ms; "
                  "32 concurrent PostgreSQL episodes, 0 errors, nothing left.")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true", help="print one JSON object as the last stdout line")
    ap.add_argument("--engines", default="sqlite,postgres", help="comma-separated: sqlite, postgres")
    ap.add_argument("--resets", type=int, default=30, help="resets timed per engine")
    ap.add_argument("--steps", type=int, default=100, help="steps timed per engine")
    ap.add_argument("--concurrent", type=int, default=32, help="concurrent PostgreSQL episodes (0: skip)")
    ap.add_argument("--concurrent-resets", type=int, default=3, help="resets per concurrent episode")
    ap.add_argument("--concurrent-steps", type=int, default=20, help="execute_sql calls per concurrent episode")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = set(engines) - {"sqlite", "postgres"}
    if unknown:
        ap.error(f"unknown engine(s) {sorted(unknown)}; use sqlite and/or postgres")
    t0 = time.perf_counter()
    runs = []
    for e in engines:
        if e == "postgres":  # with warm spares (the default) and without (every reset copies)
            runs += [bench_engine(e, args.resets, args.steps), bench_engine(e, args.resets, args.steps, spares=0)]
        else:
            runs.append(bench_engine(e, args.resets, args.steps))
    report: dict[str, Any] = {"env": ENV_ID, "task": TASK, "query": QUERY, "engines": runs}
    if "postgres" in engines and args.concurrent > 0:
        report["concurrent"] = bench_concurrent(args.concurrent, args.concurrent_resets, args.concurrent_steps,
                                                args.seed)
    report["seconds"] = round(time.perf_counter() - t0, 1)
    if args.json:
        print(json.dumps(report))
    else:
        render(report)


if __name__ == "__main__":
    main()
