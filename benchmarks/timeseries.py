"""Time-series env benchmark: reset latency, a python-tool round trip with a loaded DataFrame,
grading time, and N concurrent episodes (reference policy; errors and leftovers counted).

Reset is measured twice: after a short episode (EPISODE_S of work, the usual case: the sandbox's
warm spare is ready) and back to back (no spare ready: a container start on docker). The python
round trip has a baseline measured in the same run: starting a python3 process per call (what
the tool did before its client became bash builtins talking to the session over FIFOs).

    python benchmarks/timeseries.py                   # docker when it answers, else local
    python benchmarks/timeseries.py --runtime local --concurrent 16 --json
    python benchmarks/timeseries.py --grade-task eng-translate-ses-numpy-to-pandas --grade-only

--grade-task adds the grade time of another task's reference (a translation runs the module in a
fresh sandbox under the run-time idiom check; an artifact is read and applied on the host);
--grade-only skips everything else.

The last stdout line with --json is one JSON object. The script prints figures; it does not judge them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import agentgym  # noqa: E402
from agentgym.policy import DeferredPolicy  # noqa: E402
from agentgym.rollout import run_episode  # noqa: E402
from agentgym.sandbox.factory import resolve_runtime  # noqa: E402

TASK = "imp-scattered-d-10"  # cheap to build: the benchmark measures the env, not the generators
EPISODE_S = 1.0


def _ms(xs: list[float]) -> dict[str, float]:
    xs = sorted(xs)
    return {"p50_ms": round(1000 * statistics.median(xs), 1), "max_ms": round(1000 * xs[-1], 1), "n": len(xs)}


def _timed(fn, repeats: int) -> tuple[list[float], object]:
    """Call fn `repeats` times: (the seconds each call took, the last call's result)."""
    times, result = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return times, result


def _leftovers(runtime: str) -> int:
    if runtime == "docker":
        import docker

        client = docker.from_env()
        try:
            from agentgym.sandbox.reaper import RUN_ID

            return len(client.containers.list(all=True, filters={"label": f"agentgym.run={RUN_ID}"}))
        finally:
            client.close()
    from agentgym.sandbox.reaper import LOCAL_PREFIX

    return len(list(Path(tempfile.gettempdir()).glob(LOCAL_PREFIX + "*")))


def grade_time(runtime: str, task: str, repeats: int) -> dict:
    """Grade time of `task`'s reference solution (the grader alone: files written, then grade())."""
    env = agentgym.make("ts-engineering" if task.startswith("eng-") else "ts-lite", runtime=runtime, tasks=[task])
    try:
        env.reset(options={"task_id": task, "max_turns": 10_000})
        for path, text in env.instance.reference_files.items():
            env.sandbox.write_file(f"{env.spec_template.workdir}/{path}", text)
        if env.instance.submission.kind != "module":
            env.sandbox.exec(env.instance.reference_command, timeout=300)
        times, report = _timed(env.grade, repeats)
        return {"task": task, **_ms(times), "reward": report.reward}
    finally:
        env.close()


def bench(runtime: str, concurrent: int, repeats: int) -> dict:
    out: dict = {"runtime": runtime, "task": TASK}
    before = _leftovers(runtime)
    env = agentgym.make("ts-impute", runtime=runtime, tasks=[TASK])
    try:
        t = time.perf_counter()
        env.reset(options={"task_id": TASK, "max_turns": 10_000})
        out["first_reset_ms"] = round(1000 * (time.perf_counter() - t), 1)
        reset = lambda: env.reset(options={"task_id": TASK, "max_turns": 10_000})  # noqa: E731
        resets = []
        for _ in range(repeats):
            time.sleep(EPISODE_S)  # an episode's length of idle time: what a pooled reset has to refill
            resets += _timed(reset, 1)[0]
        back_to_back, _ = _timed(reset, repeats)
        out["reset"] = _ms(resets)
        out["reset_back_to_back"] = _ms(back_to_back)
        env.step({"name": "python", "arguments": {"code": "import pandas as pd\ndf = pd.read_csv('data.csv')"}})
        trips, _ = _timed(lambda: env.step({"name": "python", "arguments": {"code": "df['value'].mean()"}}), repeats)
        out["python_roundtrip_loaded_df"] = _ms(trips)
        base, _ = _timed(lambda: env.sandbox.exec("python3 -c 'import json, socket, subprocess; print(1)'", timeout=60), repeats)
        out["baseline_python_process_per_call"] = _ms(base)
        out["speedup_vs_process_per_call_p50"] = round(statistics.median(base) / statistics.median(trips), 1)
        for path, text in env.instance.reference_files.items():
            env.sandbox.write_file(f"{env.spec_template.workdir}/{path}", text)
        env.sandbox.exec(env.instance.reference_command, timeout=120)
        grades, report = _timed(env.grade, repeats)
        out["grade"] = {**_ms(grades), "reward": report.reward}
    finally:
        env.close()

    def episode(_: int) -> tuple[bool, str | None, float]:
        with agentgym.make("ts-impute", runtime=runtime, tasks=[TASK]) as e:
            traj = run_episode(e, DeferredPolicy(e.reference_policy), options={"task_id": TASK})
            return traj.passed, traj.error, traj.total_reward

    t = time.perf_counter()
    with ThreadPoolExecutor(concurrent) as pool:
        results = list(pool.map(episode, range(concurrent)))
    wall = time.perf_counter() - t
    out["concurrent"] = {"episodes": concurrent, "wall_s": round(wall, 1), "passed": sum(r[0] for r in results),
                         "errors": sum(r[1] is not None for r in results),
                         "leftovers": _leftovers(runtime) - before}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runtime", default="auto", choices=["auto", "docker", "local"])
    ap.add_argument("--concurrent", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--grade-task", action="append", default=[], help="also time grading this task's reference")
    ap.add_argument("--grade-only", action="store_true", help="only the grade times (TASK's and --grade-task's)")
    args = ap.parse_args()
    runtime = resolve_runtime(args.runtime)
    if args.grade_only:
        result = {"runtime": runtime, "grades": [grade_time(runtime, t, args.repeats) for t in [TASK, *args.grade_task]]}
    else:
        result = bench(runtime, args.concurrent, args.repeats)
        result["grades"] = [grade_time(runtime, t, args.repeats) for t in args.grade_task]
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
