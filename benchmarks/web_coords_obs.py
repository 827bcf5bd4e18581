"""Observation time with coords on and off (the web env's ` @x,y,w,h` boxes), on MiniWoB++ pages.

    python benchmarks/web_coords_obs.py [--repeats 20]

Why: coords=True adds one getBoundingClientRect per element line to the observation's page walk;
issue 15 keeps observation p50 well under 50 ms. Both modes are timed on the same live pages,
interleaved (so machine load falls on both alike); the load average is printed beside the figures.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TASKS = ["click-test", "click-button", "click-checkboxes", "enter-text", "login-user", "choose-list", "click-tab",
         "use-autocomplete", "click-menu-2", "book-flight"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=20, help="observations per page and mode")
    args = ap.parse_args()
    from agentgym.envs.web.miniwob import make_env

    times: dict[bool, list[float]] = {False: [], True: []}
    with make_env(tasks=TASKS, runtime="local") as env:
        for task in TASKS:
            env.reset(seed=1, options={"task_id": f"miniwob.{task}"})
            for _ in range(args.repeats):
                for coords in (False, True):
                    t = time.perf_counter()
                    env.browser.call(env.session.observe(coords))
                    times[coords].append((time.perf_counter() - t) * 1000)
    for coords in (False, True):
        print(f"coords={str(coords).lower():5} observation p50 {statistics.median(times[coords]):6.1f} ms  "
              f"p90 {sorted(times[coords])[int(len(times[coords]) * 0.9)]:6.1f} ms  (n={len(times[coords])})")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
