"""MiniWoB++ built in (`web-miniwob`, `web-miniwob-lite`): the `miniwob` package's own pages, unedited.

Why here and like this: MiniWoB++ is BrowserGym's standard suite, so numbers on it compare with
published ones only if the pages, the seeding and the reward are read the same way. Everything
below uses the public bring-your-own API alone (envs/web/byo.py, README's worked example):
* the package's `html` folder is a static site (`miniwob`), served as it ships;
* an init script (SiteSpec.init_script) seeds the page's Math.random with the episode's seed
  (reset's seed) through the page's own Math.seedrandom, as BrowserGym does (so BrowserGym's
  reset(seed=s) poses the problem of our reset(seed=numpy.random.RandomState(s).randint(0, 10**6))),
  gives the episode BrowserGym's long time limit (not MiniWoB's 10 s), starts it at once (no
  START cover to click), hides the score display, and keeps the START cover from coming back: one attempt per episode;
* the instruction is the page's own (core.getUtterance(), as BrowserGym reads it);
* the reward is the page's raw reward, counted solved when > 0, as BrowserGym counts it, read
  only from the task's own page and first attempt (HookCheck with `attempts`, envs/web/taskpage.py).
  BrowserGym ends an episode when the page says it is done; here the agent ends it
  (send_msg_to_user), and since only the first attempt counts the outcome is the same;
* the reference policies (miniwob_solvers.py) read each random problem off the live page.

Tasks without a solver are left out of the ids, each with its reason (EXCLUDED), never silently.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from agentgym.envs.web.env import WebEnv  # the return annotation of make_env: its options are checked at load

EPISODE_MAX_TIME_MS = 1_000_000  # BrowserGym's: MiniWoB's own default (10 s) would time most agents out
SITE = "miniwob"

INIT_SCRIPT = """
window.addEventListener('load', () => {
  if (typeof core === 'undefined' || typeof core.startEpisode !== 'function') return;
  const show = core.startEpisode;
  let started = false;
  core.startEpisode = function () {   // the page's window.onload calls this once, endEpisode again
    show.apply(this, arguments);
    for (const id of ['reward-display', 'click-canvas']) {
      const e = document.getElementById(id); if (e) e.style.display = 'none';
    }
    if (core.cover_div) core.cover_div.style.display = 'none';  // one attempt: no START again
    if (started) return;
    started = true;
    Math.seedrandom(seed);  // as BrowserGym seeds it: its reset(seed=s) is ours with RandomState(s).randint(10**6)
    core.EPISODE_MAX_TIME = %d;
    core.startEpisodeReal();
  };
});
""" % EPISODE_MAX_TIME_MS

INSTRUCTION_JS = "(() => { const u = core.getUtterance(); return (u && typeof u === 'object') ? u.utterance : u; })()"
HOOK = {"kind": "hook", "name": "WOB_RAW_REWARD_GLOBAL", "attempts": "WOB_EPISODE_ID", "min": 0, "above": True}


def html_dir() -> Path:
    """The `miniwob` package's html folder (the web extra installs the package)."""
    spec = importlib.util.find_spec("miniwob")
    if spec is None or not spec.submodule_search_locations:
        raise ValueError("web-miniwob needs the miniwob package: pip install 'agentgym[web]' (or pip install miniwob)")
    return Path(list(spec.submodule_search_locations)[0]) / "html"


def all_pages() -> list[str]:
    """Every MiniWoB++ task page the package ships (html/miniwob/<name>.html)."""
    return sorted(p.stem for p in (html_dir() / "miniwob").glob("*.html"))


def site_spec() -> dict[str, Any]:
    return {"name": SITE, "static_dir": str(html_dir()), "init_script": INIT_SCRIPT}


def task(name: str) -> dict[str, Any]:
    from agentgym.envs.web.miniwob_solvers import family

    return {"id": f"miniwob.{name}", "template": family(name), "kind": "widget", "sites": [SITE],
            "start": [SITE, f"/miniwob/{name}.html"], "intent": "", "intent_from_page": INSTRUCTION_JS,
            "checks": [HOOK], "oracle": [], "oracle_policy": "agentgym.envs.web.miniwob_solvers:policy",
            "min_steps": 1, "split": "train"}


def task_names(lite: bool = False) -> list[str]:
    from agentgym.envs.web.miniwob_solvers import EXCLUDED, LITE, SOLVERS

    names = [n for n in all_pages() if n in SOLVERS and n not in EXCLUDED]
    return [n for n in names if n in LITE] if lite else names


def excluded() -> dict[str, str]:
    """The package's tasks that web-miniwob leaves out, each with why."""
    from agentgym.envs.web.miniwob_solvers import EXCLUDED, SOLVERS

    return {n: EXCLUDED.get(n, "no scripted solver yet (validate needs one to prove gold 1.0)")
            for n in all_pages() if n not in SOLVERS or n in EXCLUDED}


def make_env(lite: bool = False, tasks: list[str] | None = None, **kwargs: Any) -> WebEnv:
    """The MiniWoB++ web env: web-miniwob (every solved task) or web-miniwob-lite. Element boxes
    and the pointer tools are on (coords=True): a third of the tasks need a pointer at a place."""
    names = tasks if tasks is not None else task_names(lite)
    return WebEnv(sites=[site_spec()], tasks=[task(n) for n in names], **{"coords": True, **kwargs})


def make_lite(**kwargs: Any) -> WebEnv:
    return make_env(lite=True, **kwargs)
