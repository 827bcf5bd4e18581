"""Web env benchmark: reset, step and observation-extraction latency, browser memory per worker,
16 concurrent episodes, and BrowserGym (browsergym-core) on the same page and actions.

    python benchmarks/web.py            # human-readable lines, then one JSON line (last line)
    python benchmarks/web.py --json     # same; the last stdout line is the JSON object
    python benchmarks/web.py --hook-only  # only the page-reward task: reset and the final, reading step
    python benchmarks/web_miniwob.py      # only the MiniWoB++ side by side with browsergym-miniwob

Targets (issue 6): observation p50 <= 50 ms; per step >= 3x faster than BrowserGym at its
defaults and >= 1.5x faster with slow_mo 0; 16 concurrent episodes with 0 errors and no
browser process left behind.

BrowserGym runs in a subprocess with its own interpreter, since browsergym-core pins an older
playwright than agentgym's: $AGENTGYM_BGYM_PYTHON when set, else .venv-bgym/ at the repository
root, which this script creates on first use (`python -m venv` + `pip install browsergym-core`;
never `playwright install`: both sides drive Debian's /usr/bin/chromium).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psutil  # noqa: E402

import agentgym  # noqa: E402

TASK = "shop_price-0"  # search, open a product, answer: a typical page mix
ROOT = Path(__file__).resolve().parents[1]
BGYM_VENV = ROOT / ".venv-bgym"
BGYM_PACKAGE = "browsergym-core"


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def timings(xs: list[float]) -> dict[str, float]:
    return {"p50_ms": round(pct(xs, 0.5) * 1e3, 2), "p95_ms": round(pct(xs, 0.95) * 1e3, 2), "n": len(xs)}


def browser_rss_mb() -> float:
    """Sum of RSS over this process's Chromium and Playwright-driver descendants (shared pages
    are counted once per process, so this overstates a little)."""
    total = 0
    for p in psutil.Process().children(recursive=True):
        try:
            if "chrom" in p.name() or "node" in p.name():
                total += p.memory_info().rss
        except psutil.Error:  # exited between listing and reading: not ours to count
            pass
    return round(total / 2**20, 1)


def chromium_left() -> int:
    n = 0
    for p in psutil.Process().children(recursive=True):
        try:
            n += "chrom" in p.name() and p.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            pass
    return n


def single(runtime: str, episodes: int, prewarm: bool = True) -> dict[str, Any]:
    env = agentgym.make("web-shop", runtime=runtime, per_template=None, prewarm=prewarm)
    resets, steps, observes = [], [], []
    try:
        env.reset(options={"task_id": TASK})  # warm: site server and browser start
        for _ in range(episodes):
            t = time.perf_counter()
            obs, info = env.reset(options={"task_id": TASK})
            resets.append(time.perf_counter() - t)
            policy = env.reference_policy()
            policy.reset(obs, info)
            while True:
                action = policy.act(obs, info)
                if action.name == "send_msg_to_user":
                    break
                t = time.perf_counter()
                obs, _, _, _, info = env.step(action)
                steps.append(time.perf_counter() - t)
            for _ in range(10):
                t = time.perf_counter()
                env.browser.call(env.session.observe())
                observes.append(time.perf_counter() - t)
        mem = browser_rss_mb()
    finally:
        env.close()
    return {"reset": timings(resets), "step": timings(steps), "observe": timings(observes), "browser_rss_mb": mem,
            "load": [round(x, 1) for x in os.getloadavg()]}


HOOK_PAGE = """<!doctype html><title>Quiz</title><label for=a>2 + 2</label> <input id=a>
<button id=b onclick="window.agentgymReward = document.getElementById('a').value === '4' ? 1 : 0">Check</button>"""


def hook_finish(runtime: str, episodes: int) -> dict[str, Any]:
    """A bring-your-own page-reward task: reset, and the final step, where the env finds the task
    page's document among the tabs (by loader id), checks its load count and reads the hook."""
    import tempfile

    from agentgym.envs.web.env import WebEnv

    with tempfile.TemporaryDirectory() as d:
        Path(d, "index.html").write_text(HOOK_PAGE)
        task = {"id": "q", "template": "q", "kind": "widget", "sites": ["quiz"], "start": ["quiz", "/"], "intent": "Answer.",
                "checks": [{"kind": "hook"}], "min_steps": 2, "split": "train", "oracle": []}
        resets, finishes, rewards = [], [], []
        with WebEnv(runtime=runtime, sites=[{"name": "quiz", "static_dir": d}], tasks=[task]) as env:
            env.reset()
            for _ in range(episodes):
                t = time.perf_counter()
                env.reset()
                resets.append(time.perf_counter() - t)
                env.step({"name": "fill", "arguments": {"id": env.element_id("#a"), "value": "4"}})
                env.step({"name": "click", "arguments": {"id": env.element_id("#b")}})
                env.step({"name": "new_tab", "arguments": {}})  # the reward is read from tab 0 wherever the agent is
                t = time.perf_counter()
                _, r, *_ = env.step({"name": "send_msg_to_user", "arguments": {"text": "done"}})
                finishes.append(time.perf_counter() - t)
                rewards.append(r)
    return {"reset": timings(resets), "finish": timings(finishes), "passed": sum(r == 1.0 for r in rewards), "episodes": episodes}


def concurrent(n: int, runtime: str) -> dict[str, Any]:
    errors: list[str] = []
    passed = 0
    lock = threading.Lock()
    peak = [0.0]

    def one(i: int) -> None:
        nonlocal passed
        from agentgym.rollout import run_episode

        env = agentgym.make("web-shop", runtime=runtime, per_template=None)
        try:
            env.reset(options={"task_id": TASK})
            traj = run_episode(env, env.reference_policy(), options={"task_id": TASK})
            with lock:
                passed += traj.passed
                if traj.error:
                    errors.append(traj.error)
                peak[0] = max(peak[0], browser_rss_mb())
        except Exception as exc:  # noqa: BLE001 - counted and reported
            with lock:
                errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            env.close()

    t = time.perf_counter()
    with ThreadPoolExecutor(n) as pool:
        list(pool.map(one, range(n)))
    wall = time.perf_counter() - t
    time.sleep(1.0)
    return {"episodes": n, "passed": passed, "errors": len(errors), "error_samples": errors[:3], "wall_s": round(wall, 2),
            "load": [round(x, 1) for x in os.getloadavg()],
            "peak_browser_rss_mb": peak[0], "chromium_left": chromium_left()}


BGYM_CHILD = r'''
import json, sys, time
import playwright.sync_api as psa
orig = psa.BrowserType.launch
def launch(self, *a, **k):
    k["executable_path"] = "/usr/bin/chromium"
    k.setdefault("args", []); k["args"] = list(k["args"]) + ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
    return orig(self, *a, **k)
psa.BrowserType.launch = launch
import gymnasium as gym
from browsergym.core.env import BrowserEnv
from browsergym.core.task import AbstractBrowserTask
URL, SLOW_MO, N = sys.argv[1], (None if sys.argv[2] == "default" else int(sys.argv[2])), int(sys.argv[3])
class Task(AbstractBrowserTask):
    @classmethod
    def get_task_id(cls): return "agentgym-shop"
    def __init__(self, seed): super().__init__(seed)
    def setup(self, page): page.goto(URL); return "find a price", {}
    def teardown(self): pass
    def validate(self, page, chat_messages): return 0, False, "", {}
kw = {} if SLOW_MO is None else {"slow_mo": SLOW_MO}
env = BrowserEnv(task_entrypoint=Task, headless=True, **kw)
steps = []
for _ in range(N):
    obs, info = env.reset()
    def bid(sel):  # outside the timed step: wait for the element, as our oracle's lookup does
        env.page.wait_for_selector(sel, state="attached")
        return env.page.eval_on_selector(sel, "e => e.getAttribute('bid')")
    sels = [("fill", "input[name=q]"), ("click", "form[action='/search'] button"), ("click", "a[href^='/product/']")]
    for kind, sel in sels:
        a = kind + "('" + bid(sel) + "'" + (", 'Electric Kettle')" if kind == "fill" else ")")
        t = time.perf_counter(); obs, r, term, trunc, info = env.step(a); steps.append(time.perf_counter() - t)
        if obs.get("last_action_error"): print("bgym action error:", obs["last_action_error"][:200], file=sys.stderr)
env.close()
steps.sort()
print(json.dumps({"step_p50_ms": round(steps[len(steps)//2]*1e3, 2), "step_p95_ms": round(steps[int(len(steps)*.95)]*1e3, 2), "n": len(steps)}))
'''


def bgym_python(packages: list[str] | None = None) -> tuple[str | None, str]:
    """(interpreter with browsergym-core, and the other packages named, how it was found) or (None, why not)."""
    packages = packages or [BGYM_PACKAGE]
    given = os.environ.get("AGENTGYM_BGYM_PYTHON")
    if given:
        return (given, "AGENTGYM_BGYM_PYTHON") if Path(given).exists() else (None, f"AGENTGYM_BGYM_PYTHON={given} does not exist")
    python = BGYM_VENV / "bin" / "python"
    probe = [str(python), "-c", "import playwright; " + "; ".join(f"import {p.replace('-', '.')}" for p in packages)]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return str(python), str(BGYM_VENV.relative_to(ROOT))
    print(f"installing {', '.join(packages)} into {BGYM_VENV.relative_to(ROOT)} (once; no browser is downloaded) ...",
          file=sys.stderr, flush=True)
    steps = [] if python.exists() else [[sys.executable, "-m", "venv", str(BGYM_VENV)]]
    steps.append([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *packages])
    for argv in steps:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=900)
        if proc.returncode != 0:
            return None, f"{' '.join(argv[:4])} failed: {(proc.stderr or proc.stdout).strip()[-600:]}"
    if subprocess.run(probe, capture_output=True).returncode != 0:
        return None, f"{', '.join(packages)} installed but do not import"
    return str(python), f"{BGYM_VENV.relative_to(ROOT)} (created)"


def bgym_versions(python: str) -> dict[str, str]:
    code = ("import importlib.metadata as m, json\nv = {}\nfor p in ('browsergym-core', 'browsergym-miniwob', 'playwright'):\n"
            "    try: v[p] = m.version(p)\n    except m.PackageNotFoundError: pass\nprint(json.dumps(v))")
    proc = subprocess.run([python, "-c", code], capture_output=True, text=True)
    return json.loads(proc.stdout) if proc.returncode == 0 else {}


def browsergym(url: str, episodes: int) -> dict[str, Any]:
    python, how = bgym_python()
    if python is None:
        return {"skipped": how}
    out: dict[str, Any] = {"python": how, "versions": bgym_versions(python)}
    for mode in ("default", "0"):
        proc = subprocess.run([python, "-c", BGYM_CHILD, url, mode, str(episodes)], capture_output=True, text=True, timeout=600)
        if proc.returncode != 0 or not proc.stdout.strip():
            return {"skipped": f"browsergym run failed: {proc.stderr.strip()[-600:]}"}
        out["defaults" if mode == "default" else "slow_mo_0"] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--runtime", default="local", choices=["local", "docker"])
    ap.add_argument("--episodes", type=int, default=10)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--no-browsergym", action="store_true")
    ap.add_argument("--hook-only", action="store_true", help="only the page-reward (hook) task timings")
    ap.add_argument("--no-miniwob", action="store_true", help="skip the MiniWoB++ side by side (benchmarks/web_miniwob.py)")
    args = ap.parse_args()
    result: dict[str, Any] = {"runtime": args.runtime, "task": TASK, "cpus": os.cpu_count()}
    result["hook"] = hook_finish(args.runtime, args.episodes)
    print(f"page-reward task: {json.dumps(result['hook'])}", flush=True)
    if args.hook_only:
        print(json.dumps(result))
        return
    # Reset with and without the next context made ahead (prewarm, the default), in the same run.
    result["single_no_prewarm"] = single(args.runtime, args.episodes, prewarm=False)
    print(f"single episode, prewarm off: {json.dumps(result['single_no_prewarm'])}", flush=True)
    result["single"] = single(args.runtime, args.episodes)
    print(f"single episode (default, prewarm on): {json.dumps(result['single'])}", flush=True)
    result["concurrent"] = concurrent(args.concurrency, args.runtime)
    print(f"concurrent: {json.dumps(result['concurrent'])}", flush=True)
    if not args.no_browsergym:
        from agentgym.envs.web.hosting import LocalSiteHost, SiteSpec

        host = LocalSiteHost([SiteSpec(name="shop")])
        try:
            result["browsergym"] = browsergym(host.origins["shop"] + "/", max(2, args.episodes // 2))
        finally:
            host.close()
        bg = result["browsergym"]
        if "skipped" in bg:
            print(f"BrowserGym comparison skipped: {bg['skipped']}", flush=True)
        else:
            ours = result["single"]["step"]["p50_ms"]
            result["ratios"] = {"step_vs_bgym_defaults": round(bg["defaults"]["step_p50_ms"] / ours, 2),
                                "step_vs_bgym_slow_mo_0": round(bg["slow_mo_0"]["step_p50_ms"] / ours, 2)}
            print(f"BrowserGym: {json.dumps(bg)} ratios (theirs/ours, step p50): {json.dumps(result['ratios'])}", flush=True)
    if not args.no_miniwob:  # MiniWoB++ pages: ours and browsergym-miniwob on the same problems and actions
        import web_miniwob

        result["miniwob"] = web_miniwob.run(max(1, args.episodes // 5), not args.no_browsergym)
        print(web_miniwob.summary(result["miniwob"]), flush=True)
        print(f"MiniWoB++ side by side: {json.dumps(result['miniwob'])}", flush=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
