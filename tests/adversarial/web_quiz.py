"""The web attacks' shared material: a bring-your-own quiz site, the MiniWoB++ pages, an agent's moves.

Two bring-your-own static sites in one env: "quiz", pages written here (a seeded sum quiz whose
reward is window.agentgymReward, with the weaknesses real pages have: it shows the answer after a
wrong try, writes a query parameter into the page as HTML, trusts any postMessage; plus a trivial
page that pays out and a page that runs script from its query, standing for any page of a site
where the agent can get script to run), and "mw", the real MiniWoB++ pages of the `miniwob`
package (core.js, record.js), rewarded by their WOB_RAW_REWARD_GLOBAL and WOB_EPISODE_ID.
One such env serves every web attack module (the `web_quiz_env` fixture in conftest.py): starting
the sites and a browser costs seconds, and every attack resets it, then ends with an honest solve.
"""

from __future__ import annotations

import importlib.util
import os
import re

import pytest

from agentgym.envs.web.env import WebEnv

QUIZ = """<!doctype html><html><head><title>Sum quiz</title></head><body>
<h1>Sum quiz</h1><p id="q"></p><label for="a">Answer</label> <input id="a">
<button id="check">Check</button><p id="r"></p><p id="dbg"></p>
<script>
const qs = new URLSearchParams(location.search);
let s = Number(qs.get('seed') || 1);
const rnd = () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
const x = 10 + Math.floor(rnd() * 80), y = 10 + Math.floor(rnd() * 80);
document.getElementById('q').textContent = 'What is ' + x + ' + ' + y + '?';
let tried = false;
function check(answer) {
  if (tried) return;
  tried = true;
  const ok = Number(answer) === x + y;
  window.agentgymReward = ok ? 1 : 0;
  window.agentgymDone = true;
  document.getElementById('r').textContent = ok ? 'Correct. Done!' : 'Wrong: the answer was ' + (x + y) + '. Done.';
}
document.getElementById('check').onclick = () => check(document.getElementById('a').value.trim());
if (qs.get('debug')) document.getElementById('dbg').innerHTML = 'debug: ' + qs.get('debug');
window.addEventListener('message', (e) => { if (e.data && e.data.answer !== undefined) check(String(e.data.answer)); });
new BroadcastChannel('quiz').onmessage = (e) => check(String(e.data));
</script></body></html>"""
TRIVIAL = """<!doctype html><title>Bonus</title><button id="win" onclick="window.agentgymReward = 1;
document.getElementById('r').textContent = 'You win';">Win</button><p id="r"></p>"""
SCRIPTED = """<!doctype html><title>Notes</title><p id="out">notes</p><script>
const js = new URLSearchParams(location.search).get('js'); if (js) { eval(js); }</script>"""

MINIWOB = importlib.util.find_spec("miniwob")
needs_miniwob = pytest.mark.skipif(MINIWOB is None, reason="the miniwob package (the web extra) is not installed")
MW_HOOK = {"kind": "hook", "name": "WOB_RAW_REWARD_GLOBAL", "attempts": "WOB_EPISODE_ID"}
QUIZ_START = "/quiz.html?seed=7"


def quiz_task(tid: str, site: str, start: str, check: dict) -> dict:
    return {"id": tid, "template": tid, "kind": "widget", "sites": [site], "start": [site, start],
            "intent": "Solve the task on the page, then say done.", "checks": [check], "min_steps": 2,
            "split": "train", "oracle": []}


def quiz_web_env(root) -> WebEnv:
    """The quiz site (and MiniWoB's pages where the package is installed) as one local WebEnv."""
    for name, page in (("quiz.html", QUIZ), ("bonus.html", TRIVIAL), ("notes.html", SCRIPTED)):
        (root / name).write_text(page)
    sites = [{"name": "quiz", "static_dir": str(root)}]
    tasks = [quiz_task("quiz-7", "quiz", QUIZ_START, {"kind": "hook"})]
    if MINIWOB is not None:
        sites.append({"name": "mw", "static_dir": os.path.join(MINIWOB.submodule_search_locations[0], "html")})
        tasks += [quiz_task(f"mw-{n}", "mw", f"/miniwob/{n}.html", MW_HOOK) for n in ("click-test", "click-button", "enter-text")]
    return WebEnv(runtime="local", sites=sites, tasks=tasks, prewarm=False)


# ---- an agent's moves: tool calls, and reading the observation text --------------------------------
def act(env, name, **args):
    obs, reward, term, trunc, info = env.step({"name": name, "arguments": args})
    assert "error" not in info and not term, info
    return obs


def done(env, text="done"):
    _, reward, term, _, info = env.step({"name": "send_msg_to_user", "arguments": {"text": text}})
    assert term and "error" not in info and "agent_failure" not in info, info
    return reward


def ident(obs, pattern):
    """The element id of the first line of the page text matching pattern."""
    m = re.search(r"\[(\d+)\] " + pattern, obs["text"])
    assert m, f"{pattern!r} not on the page:\n{obs['text']}"
    return m.group(1)


def url(env, path):
    return env.host.origins[env.task().start[0]] + path


def quiz_sum(obs):
    x, y = map(int, re.search(r"What is (\d+) \+ (\d+)\?", obs["text"]).groups())
    return x + y


def answer_quiz(obs, env, value):
    act(env, "fill", id=ident(obs, 'textbox'), value=str(value))
    return act(env, "click", id=ident(obs, 'button "Check"'))


def start_mw(obs, env):
    return act(env, "click", id=ident(obs, '(?:text|clickable) "START"'))


def solve_mw(env, task, obs):
    """Solve one MiniWoB episode on the page shown in obs, reading the problem from its text."""
    obs = start_mw(obs, env)
    if task == "mw-click-test":
        return act(env, "click", id=ident(obs, r'button "Click Me!"'))
    if task == "mw-click-button":
        want = re.search(r'Click on the \\"(.+?)\\" button', obs["text"]).group(1)
        return act(env, "click", id=next(i for i, b in re.findall(r'\[(\d+)\] button "(.+?)"', obs["text"]) if b == want))
    name = re.search(r'Enter \\"(.+?)\\" into the text field', obs["text"]).group(1)
    act(env, "fill", id=ident(obs, "textbox"), value=name)
    return act(env, "click", id=ident(obs, 'button "Submit"'))


def fail_click_button(env):
    """A fresh click-button episode, failed by clicking a wrong button (a random problem whose
    buttons all carry the right label has none: start another episode then)."""
    for _ in range(10):
        obs, _ = env.reset(options={"task_id": "mw-click-button"})
        obs = start_mw(obs, env)
        want = re.search(r'Click on the \\"(.+?)\\" button', obs["text"]).group(1)
        wrong = [i for i, b in re.findall(r'\[(\d+)\] button "(.+?)"', obs["text"]) if b != want]
        if wrong:
            return act(env, "click", id=wrong[0])
    raise AssertionError("ten click-button problems without a wrong button")


def honest(env, task="quiz-7"):
    """An honest episode on the task scores 1 (the defences leave real solving alone)."""
    obs, _ = env.reset(options={"task_id": task})
    if task == "quiz-7":
        answer_quiz(obs, env, quiz_sum(obs))
    else:
        solve_mw(env, task, obs)
    assert done(env) == 1.0, env.last_check


def lone_quiz_env(root):
    """A second env on the quiz alone (an episode beside an attack)."""
    (root / "quiz.html").write_text(QUIZ)
    return WebEnv(runtime="local", sites=[{"name": "quiz", "static_dir": str(root)}], prewarm=False,
                  tasks=[quiz_task("quiz-7", "quiz", QUIZ_START, {"kind": "hook"})])


async def all_rewards(env):
    """What every document (tab and frame) of the episode holds in window.agentgymReward."""
    out = []
    for page in env.session.pages:
        for frame in page.frames:
            out.append(await frame.evaluate("() => window.agentgymReward === undefined ? null : window.agentgymReward"))
    return out
