"""SWE env figures: reset, tool round trip, grading time, disk per task and per image, concurrency.

    python benchmarks/swe.py [--env swe-synth-lite] [--runtime docker] [--episodes 16] [--json]
    python benchmarks/swe.py --compare-bound 6    # docker: the disk bound's cost, on and off in one run

Targets (issue 5): reset p50 <= 500 ms; tool round trip p50 <= 2 ms; disk <= 20 MB per synthesized
task beyond its repository image; 16 concurrent episodes with 0 errors and nothing left behind.
The baseline in the same run: one `docker exec` per tool call (what peers pay) next to our channel.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import agentgym


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


def ms(xs: list[float]) -> dict[str, float]:
    return {"p50_ms": round(pct(xs, 0.5) * 1e3, 2), "p95_ms": round(pct(xs, 0.95) * 1e3, 2), "n": len(xs)}


def leftovers() -> int:
    from agentgym.sandbox.reaper import docker_client, owner_labels

    run = owner_labels().get("agentgym.run")
    return len(docker_client().containers.list(all=True, filters={"label": [f"agentgym.run={run}"]}))


def unbounded(env: object) -> None:
    """The SWE sandbox as it was before issue 13's disk bound: a writable root, /testbed read
    straight from the image's layer (an agent can fill the host's Docker disk)."""
    inner = env.unwrapped  # type: ignore[attr-defined]
    spec = inner._spec
    inner._spec = lambda image: spec(image).model_copy(update={"read_only": False, "workdir_from_image": False})


def compare_bound(env_id: str, rounds: int) -> dict[str, object]:
    """Start (a new sandbox), reset (warm spare) and grading (an empty submission) with the bound
    on and off, interleaved round by round so both see the same machine load."""
    times: dict[str, dict[str, list[float]]] = {m: {"start": [], "reset": [], "grade": []} for m in ("on", "off")}
    for r in range(rounds):
        for mode in ("on", "off"):
            with agentgym.make(env_id, runtime="docker") as env:
                if mode == "off":
                    unbounded(env)
                tid = list(env.task_ids())[r % len(env.task_ids())]
                t0 = time.perf_counter()
                env.reset(options={"task_id": tid})
                times[mode]["start"].append(time.perf_counter() - t0)
                env.sandbox.wait_for_spares()
                t0 = time.perf_counter()
                env.reset(options={"task_id": tid})
                times[mode]["reset"].append(time.perf_counter() - t0)
                env.step({"name": "submit"})
                times[mode]["grade"].append(env.last_report.seconds)
    return {m: {"start_p50_s": round(pct(t["start"], 0.5), 2), "reset": ms(t["reset"]),
                "grade_p50_s": round(pct(t["grade"], 0.5), 2), "grade_max_s": round(max(t["grade"]), 2)}
            for m, t in times.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--env", default="swe-synth-lite")
    ap.add_argument("--runtime", default="docker", choices=["docker", "local"])
    ap.add_argument("--episodes", type=int, default=16, help="concurrent episodes")
    ap.add_argument("--resets", type=int, default=20)
    ap.add_argument("--calls", type=int, default=200)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--compare-bound", type=int, default=0, metavar="ROUNDS",
                    help="only compare the docker disk bound on/off (start, reset, grading p50) over ROUNDS rounds")
    a = ap.parse_args()
    if a.compare_bound:
        print(json.dumps({"env": a.env, "runtime": "docker", "bound": compare_bound(a.env, a.compare_bound)}))
        return 0
    out: dict[str, object] = {"env": a.env, "runtime": a.runtime}

    env = agentgym.make(a.env, runtime=a.runtime)
    ids = list(env.task_ids())
    t0 = time.perf_counter()
    env.reset(options={"task_id": ids[0]})
    out["first_reset_s"] = round(time.perf_counter() - t0, 2)  # image build (once) + container start
    resets = []
    for _ in range(a.resets):
        if a.runtime == "docker":
            env.sandbox.wait_for_spares()  # steady state: a spare is ready between episodes
        t0 = time.perf_counter()
        env.reset(options={"task_id": ids[0]})
        resets.append(time.perf_counter() - t0)
    out["reset"] = ms(resets)
    env.reset(options={"task_id": ids[0], "max_turns": a.calls + 10})  # the default horizon would end it early
    calls = []
    for _ in range(a.calls):
        t0 = time.perf_counter()
        _, _, term, trunc, info = env.step({"name": "bash", "arguments": {"command": "true"}})
        calls.append(time.perf_counter() - t0)
        assert not (term or trunc) and info["tool_results"][0]["name"] == "bash", info
    out["tool_round_trip"] = ms(calls)
    if a.runtime == "docker":
        import subprocess

        cid = env.sandbox.container_id
        execs = []
        for _ in range(20):
            t0 = time.perf_counter()
            subprocess.run(["docker", "exec", cid, "true"], check=True)
            execs.append(time.perf_counter() - t0)
        out["baseline_docker_exec"] = ms(execs)
        out["speedup_vs_docker_exec_p50"] = round(pct(execs, 0.5) / pct(calls, 0.5), 1)
    grades = []
    for tid in ids[: min(6, len(ids))]:
        env.reset(options={"task_id": tid})
        env.step({"name": "submit"})
        grades.append(env.last_report.seconds)
    out["grading"] = {"p50_s": round(pct(grades, 0.5), 2), "max_s": round(max(grades), 2), "n": len(grades)}
    env.close()

    if a.runtime == "docker":
        from agentgym.envs.swe.images import instance_images
        from agentgym.images.core import get_image

        rows = instance_images()
        sizes = [r["bytes"] for r in rows]
        out["disk_per_task_mb"] = {"p50": round(pct(sizes, 0.5) / 2**20, 2), "max": round(max(sizes) / 2**20, 2),
                                   "instance_images": len(rows)}
        base = get_image("agentgym/swe-synth:latest")
        out["repository_image_mb"] = round(int(base.attrs["Size"]) / 2**20, 1) if base else None

    def episode(i: int) -> str | None:
        with agentgym.make(a.env, runtime=a.runtime) as e:
            e.reset(options={"task_id": ids[i % len(ids)]})
            for cmd in ("git status --short", "python3 -c 'print(1)'"):
                _, _, _, _, info = e.step({"name": "bash", "arguments": {"command": cmd}})
                if "error" in info:
                    return info["error"]
            _, _, term, _, info = e.step({"name": "submit"})
            return info.get("error") or (None if term else "submit did not end the episode")

    t0 = time.perf_counter()
    with ThreadPoolExecutor(a.episodes) as pool:
        errors = [r for r in pool.map(episode, range(a.episodes)) if r]
    out["concurrent"] = {"episodes": a.episodes, "errors": len(errors), "seconds": round(time.perf_counter() - t0, 1),
                         "first_errors": errors[:3]}
    if a.runtime == "docker":
        time.sleep(1.0)
        out["containers_left"] = leftovers()

    if a.json:
        print(json.dumps(out))
    else:
        for k, v in out.items():
            print(f"{k:28} {v}")
        print(json.dumps(out))
    ok = not errors and out.get("containers_left", 0) == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
