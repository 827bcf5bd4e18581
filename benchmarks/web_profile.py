"""Where a web-miniwob reset and step spend their time: per phase, per episode, p50 over episodes.

    python benchmarks/web_profile.py [--episodes 2] [--tasks click-test,enter-text]

Why: issue 15's targets (reset p50 <= 200 ms, step p50 <= 120 ms) need to know which part to cut;
a wall-clock total does not say. Each Playwright call the env makes is timed where it is awaited
(goto, evaluate by script, click, new_context, add_init_script, CDP sends, ...), and the env's own
phases (take_spare, begin, observe, follow, settle). Times are inclusive (a phase includes the calls
inside it); "requests" counts the requests a reset's page load made. Run it on a quiet machine:
the load average is printed beside the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TASKS = ["click-test", "click-button", "click-checkboxes", "enter-text", "login-user", "choose-list", "click-tab",
         "focus-text", "use-autocomplete", "click-menu-2"]

_acc: dict[str, float] = defaultdict(float)
_count: dict[str, int] = defaultdict(int)


def _add(name: str, dt: float) -> None:
    _acc[name] += dt
    _count[name] += 1


def _js_name(js: Any) -> str:
    from agentgym.envs.web import actionerrors, navwait, observation, taskpage

    known = {observation.WALK_JS: "walk", observation.PROBE_JS: "probe", actionerrors.HIT_JS: "hit",
             navwait.NAV_BEGAN_JS: "nav_began", navwait.NAV_PENDING_JS: "nav_pending", taskpage.READ_JS: "hook_read"}
    return known.get(js, "other")


def _wrap(cls: Any, attr: str, label: Any) -> None:
    orig = getattr(cls, attr)
    if asyncio.iscoroutinefunction(orig):
        @functools.wraps(orig)
        async def inner(*a: Any, **k: Any) -> Any:
            t = time.perf_counter()
            try:
                return await orig(*a, **k)
            finally:
                _add(label(a) if callable(label) else label, time.perf_counter() - t)
    else:
        @functools.wraps(orig)
        def inner(*a: Any, **k: Any) -> Any:
            t = time.perf_counter()
            try:
                return orig(*a, **k)
            finally:
                _add(label(a) if callable(label) else label, time.perf_counter() - t)
    setattr(cls, attr, inner)


def instrument() -> None:
    from playwright.async_api import BrowserContext, CDPSession, Locator, Page

    from agentgym.envs.web import env as env_mod
    from agentgym.envs.web import session as session_mod
    from agentgym.envs.web.navwait import NavWatch
    from agentgym.envs.web.taskpage import TaskPage

    _wrap(Page, "evaluate", lambda a: "pw.evaluate." + _js_name(a[1]))
    for cls, names in ((Page, ["goto", "wait_for_load_state", "title", "screenshot"]),
                       (BrowserContext, ["new_page", "add_init_script", "new_cdp_session", "route", "close",
                                         "clear_cookies"]),
                       (Locator, ["click", "fill", "hover", "press", "select_option", "evaluate", "dblclick"])):
        for n in names:
            if hasattr(cls, n):
                _wrap(cls, n, f"pw.{cls.__name__}.{n}")
    _wrap(CDPSession, "send", lambda a: "cdp." + str(a[1]))
    for n in ("prepare", "begin", "recycle", "cut", "add_episode_script", "observe", "settle", "_element", "_do", "click", "fill", "press", "select_option"):
        _wrap(session_mod.Session, n, f"session.{n}")
    _wrap(NavWatch, "follow", "navwatch.follow")
    _wrap(TaskPage, "pin", "taskpage.pin")
    _wrap(TaskPage, "read", "taskpage.read")
    for n in ("_start_browser", "_observe", "_extra", "_act", "_finish"):
        _wrap(env_mod.WebEnv, n, f"env.{n}")
    from agentgym.envs.web.held import Held

    _wrap(Held, "take_spare", "env.take_spare")
    _wrap(Held, "take_used", "env.take_used")
    _wrap(Held, "end_session", "env.end_session")
    _wrap(Page, "close", "pw.Page.close")


def snapshot() -> dict[str, float]:
    return dict(_acc)


def diff(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: after[k] - before.get(k, 0.0) for k in after if after[k] - before.get(k, 0.0) > 0}


def p50(xs: list[float]) -> float:
    xs = sorted(xs)
    return xs[len(xs) // 2] if xs else 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--episodes", type=int, default=2)
    ap.add_argument("--tasks", default=",".join(TASKS))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    instrument()
    from agentgym.envs.web.miniwob import make_env

    tasks = args.tasks.split(",")
    env = make_env(tasks=tasks, runtime="local")
    resets: list[dict[str, float]] = []
    steps: list[dict[str, float]] = []
    requests: list[int] = []
    try:
        env.reset(seed=0, options={"task_id": f"miniwob.{tasks[0]}"})
        for s in range(args.episodes):
            for name in tasks:
                b = snapshot()
                t = time.perf_counter()
                obs, info = env.reset(seed=s, options={"task_id": f"miniwob.{name}"})
                d = diff(b, snapshot())
                d["TOTAL"] = time.perf_counter() - t
                resets.append(d)
                tp = env.session.task_page
                requests.append(sum(tp.loads.values()) if tp else 0)
                policy = env.reference_policy()
                policy.reset(obs, info)
                while True:
                    action = policy.act(obs, info)
                    b = snapshot()
                    t = time.perf_counter()
                    obs, reward, term, _, info = env.step(action)
                    d = diff(b, snapshot())
                    d["TOTAL"] = time.perf_counter() - t
                    if term:
                        break
                    d["tool." + action.name] = d["TOTAL"]
                    steps.append(d)
    finally:
        env.close()
    out: dict[str, Any] = {"load": [round(x, 1) for x in os.getloadavg()], "episodes": len(resets), "steps": len(steps)}
    for label, rows in (("reset", resets), ("step", steps)):
        keys = sorted({k for r in rows for k in r})
        # p50 over all rows (a phase absent from a row counts 0) and the mean
        out[label] = {k: {"p50_ms": round(p50([r.get(k, 0.0) for r in rows]) * 1e3, 1),
                          "mean_ms": round(sum(r.get(k, 0.0) for r in rows) / len(rows) * 1e3, 1)} for k in keys}
    if not args.json:
        print(f"load {out['load']}  resets {len(resets)}  steps {len(steps)}")
        for label in ("reset", "step"):
            print(f"--- {label} (p50 / mean ms)")
            for k, v in sorted(out[label].items(), key=lambda kv: -kv[1]["mean_ms"]):
                print(f"  {k:40s} {v['p50_ms']:8.1f} {v['mean_ms']:8.1f}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
