"""MiniWoB++ side by side: web-miniwob and BrowserGym (browsergym-miniwob) on the same problems and actions.

    python benchmarks/web_miniwob.py [--episodes 3] [--json]     # also part of benchmarks/web.py

Same problems: BrowserGym seeds a MiniWoB page with Math.seedrandom(RandomState(s).randint(0, 10**6))
at its reset(seed=s); web-miniwob seeds it with reset's seed the same way, so our episode gets that
number as its seed. Same actions: our scripted solver plays the episode and each action is recorded
with the CSS path of its element; the BrowserGym child replays them on its page (the element's bid
looked up outside the timed step, as our solver's lookup is). Timed: reset, and each page action
(ours: env.step; theirs: env.step). BrowserGym runs at its MiniWoB defaults (slow_mo 100 ms, 0.5 s
pre-observation delay), and with slow_mo 0 and no delay. Its pages are the same miniwob package's,
served by a plain static server (MINIWOB_URL).

Targets (issue 15): reset p50 <= 200 ms, step p50 <= 120 ms, and per step >= 3x faster than
BrowserGym even with slow_mo 0 and no pre-observation delay. Numbers from a loaded machine say
little: note the load average beside them (printed as "load").
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TASKS = ["click-test", "click-button", "click-checkboxes", "enter-text", "login-user", "choose-list", "click-tab",
         "focus-text", "use-autocomplete", "click-menu-2"]
BGYM_PACKAGES = ["browsergym-core", "browsergym-miniwob"]


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


def timings(xs: list[float]) -> dict[str, float]:
    return {"p50_ms": round(pct(xs, 0.5) * 1e3, 1), "p95_ms": round(pct(xs, 0.95) * 1e3, 1), "n": len(xs)}


def bgym_seed(s: int) -> int:
    import numpy as np

    return int(np.random.RandomState(s).randint(0, 1000000))


def ours(episodes: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Our side; returns timings and the episodes' recorded actions (task, seed, [(tool, selector, args)])."""
    from agentgym.envs.web.miniwob import make_env

    env = make_env(tasks=TASKS, runtime="local")
    selectors: dict[str, str] = {}
    lookup = env.element_id

    def element_id(selector: str) -> str:
        ident = lookup(selector)
        selectors[ident] = selector
        return ident

    env.element_id = element_id  # type: ignore[method-assign]
    resets, steps, finishes, observes, passed, plays, failed = [], [], [], [], 0, [], []
    try:
        env.reset(seed=0, options={"task_id": f"miniwob.{TASKS[0]}"})  # warm: site server and browser start
        for s in range(episodes):
            for name in TASKS:
                seed = bgym_seed(s)
                t = time.perf_counter()
                obs, info = env.reset(seed=seed, options={"task_id": f"miniwob.{name}"})
                resets.append(time.perf_counter() - t)
                policy = env.reference_policy()
                policy.reset(obs, info)
                actions = []
                while True:
                    action = policy.act(obs, info)
                    if action.name == "send_msg_to_user":  # the observation alone (walk, tabs, URL) of the page the
                        for _ in range(3):                  # episode ends on, as a step makes it
                            t = time.perf_counter()
                            env.browser.call(env.session.observe())
                            observes.append(time.perf_counter() - t)
                    t = time.perf_counter()
                    obs, reward, term, _, info = env.step(action)
                    (finishes if term else steps).append(time.perf_counter() - t)
                    if term:
                        passed += reward == 1.0
                        if reward != 1.0:
                            failed.append(f"{name} seed {s}: {env.last_check or info.get('error')}"[:300])
                        break
                    args = dict(action.arguments)
                    sel = selectors.get(str(args.pop("id", "")), None)
                    actions.append([action.name, sel, args])
                plays.append({"task": name, "seed": s, "actions": actions})
    finally:
        env.close()
    return ({"reset": timings(resets), "step": timings(steps), "observe": timings(observes), "finish": timings(finishes), "passed": passed,
             "episodes": len(plays), "failed": failed[:5]}, plays)


BGYM_CHILD = r'''
import json, sys, time
import playwright.sync_api as psa
orig = psa.BrowserType.launch
def launch(self, *a, **k):
    k["executable_path"] = "/usr/bin/chromium"
    k["args"] = list(k.get("args") or []) + ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
    return orig(self, *a, **k)
psa.BrowserType.launch = launch
import gymnasium as gym
import browsergym.miniwob  # registers browsergym/miniwob.*
plays, mode = json.load(open(sys.argv[1])), sys.argv[2]
kw = {} if mode == "defaults" else {"slow_mo": 0, "pre_observation_delay": 0.0}
resets, steps, passed, errors = [], [], 0, []
envs = {}
def q(v): return json.dumps(v)
for play in plays:
    env = envs.get(play["task"])
    if env is None:
        env = envs[play["task"]] = gym.make("browsergym/miniwob." + play["task"], headless=True, **kw)
    t = time.perf_counter(); obs, info = env.reset(seed=play["seed"]); resets.append(time.perf_counter() - t)
    page, reward = env.unwrapped.page, 0
    for tool, sel, args in play["actions"]:
        bid = page.eval_on_selector(sel, "e => e.getAttribute('bid')") if sel else None
        if tool == "click": a = "click(%s)" % q(bid)
        elif tool == "fill": a = "fill(%s, %s)" % (q(bid), q(args["value"]))
        elif tool == "select_option": a = "select_option(%s, %s)" % (q(bid), q(args["options"]))
        elif tool == "hover": a = "hover(%s)" % q(bid)
        elif tool == "press": a = "press(%s, %s)" % (q(bid), q(args["key"])) if bid else "keyboard_press(%s)" % q(args["key"])
        elif tool == "noop": a = "noop(%d)" % args.get("wait_ms", 0)
        else: raise SystemExit("no BrowserGym action for " + tool)
        t = time.perf_counter(); obs, reward, term, trunc, info = env.step(a); steps.append(time.perf_counter() - t)
        if obs.get("last_action_error"): errors.append(obs["last_action_error"][:200])
    passed += reward == 1.0
for env in envs.values(): env.close()
def p(xs, f): xs = sorted(xs); return round(xs[min(len(xs) - 1, int(f * len(xs)))] * 1e3, 1)
print(json.dumps({"reset": {"p50_ms": p(resets, .5), "p95_ms": p(resets, .95), "n": len(resets)},
                  "step": {"p50_ms": p(steps, .5), "p95_ms": p(steps, .95), "n": len(steps)},
                  "passed": passed, "episodes": len(plays), "action_errors": errors[:3]}))
'''


def browsergym(plays: list[dict[str, Any]]) -> dict[str, Any]:
    """BrowserGym's side, in its own interpreter (it pins an older playwright): see web.py's bgym_python."""
    import tempfile

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from web import bgym_python, bgym_versions
    from agentgym.envs.web.hosting import LocalSiteHost, SiteSpec
    from agentgym.envs.web.miniwob import html_dir

    python, how = bgym_python(BGYM_PACKAGES)
    if python is None:
        return {"skipped": how}
    out: dict[str, Any] = {"python": how, "versions": bgym_versions(python)}
    host = LocalSiteHost([SiteSpec(name="mw", static_dir=str(html_dir()))])
    try:
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(plays, f)
        env = {**os.environ, "MINIWOB_URL": host.origins["mw"] + "/miniwob/"}
        for mode in ("defaults", "slow_mo_0_no_delay"):
            proc = subprocess.run([python, "-c", BGYM_CHILD, f.name, mode], capture_output=True, text=True, timeout=900, env=env)
            if proc.returncode != 0 or not proc.stdout.strip():
                return {**out, "skipped": f"browsergym run failed ({mode}): {proc.stderr.strip()[-800:]}"}
            out[mode] = json.loads(proc.stdout.strip().splitlines()[-1])
    finally:
        host.close()
        os.unlink(f.name)
    return out


def run(episodes: int, with_browsergym: bool = True) -> dict[str, Any]:
    mine, plays = ours(episodes)
    result: dict[str, Any] = {"tasks": TASKS, "load": [round(x, 1) for x in os.getloadavg()], "cpus": os.cpu_count(),
                              "ours": mine}  # the load while ours ran (BrowserGym's run follows)
    if with_browsergym:
        bg = result["browsergym"] = browsergym(plays)
        result["load_after_browsergym"] = [round(x, 1) for x in os.getloadavg()]
        if "skipped" not in bg:
            result["ratios"] = {f"{k}_vs_{mode}": round(bg[mode][k]["p50_ms"] / mine[k]["p50_ms"], 2)
                                for k in ("reset", "step") for mode in ("defaults", "slow_mo_0_no_delay")}
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--episodes", type=int, default=3, help="episodes per task (seeds 0..N-1)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--no-browsergym", action="store_true")
    args = ap.parse_args()
    result = run(args.episodes, not args.no_browsergym)
    if not args.json:
        print(summary(result))
        for key in ("ours", "browsergym", "ratios"):
            if key in result:
                print(f"{key}: {json.dumps(result[key])}")
    print(json.dumps(result))


def summary(result: dict[str, Any]) -> str:
    """One line with the figures issue 15 asks for, and the load they were measured under."""
    ours = result["ours"]
    line = (f"MiniWoB++ ({ours['episodes']} episodes, load {' '.join(map(str, result['load']))} on {result['cpus']} cpus): "
            f"reset p50 {ours['reset']['p50_ms']} ms, step p50 {ours['step']['p50_ms']} ms, "
            f"observation p50 {ours['observe']['p50_ms']} ms, solved {ours['passed']}/{ours['episodes']}")
    bg = result.get("browsergym", {})
    if "slow_mo_0_no_delay" in bg:
        fast, r = bg["slow_mo_0_no_delay"], result["ratios"]
        after = " ".join(map(str, result.get("load_after_browsergym", [])))
        line += (f"; BrowserGym (load {after} when it ended) slow_mo 0, no delay: reset p50 {fast['reset']['p50_ms']} ms, "
                 f"step p50 {fast['step']['p50_ms']} ms "
                 f"(ours {r['reset_vs_slow_mo_0_no_delay']}x, {r['step_vs_slow_mo_0_no_delay']}x faster; "
                 f"{r['step_vs_defaults']}x per step at its defaults)")
    elif "skipped" in bg:
        line += f"; BrowserGym skipped: {bg['skipped'][:200]}"
    return line


if __name__ == "__main__":
    main()
