"""Attacks on the web env's page rewards and walls, through tool calls only.

Two bring-your-own static sites in one env: "quiz", pages written here (a seeded sum quiz whose
reward is window.agentgymReward, with the weaknesses real pages have: it shows the answer after a
wrong try, writes a query parameter into the page as HTML, trusts any postMessage; plus a trivial
page that pays out and a page that runs script from its query, standing for any page of a site
where the agent can get script to run), and "mw", the real MiniWoB++ pages of the `miniwob`
package (core.js, record.js), rewarded by their WOB_RAW_REWARD_GLOBAL and WOB_EPISODE_ID.
Each attack ends with reward 0 or a clear refusal, and an honest solve still scores 1 after it.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import re
from urllib.parse import quote

import pytest

from agentgym.envs.web.env import WebEnv

pytestmark = pytest.mark.slow

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


def _task(tid: str, site: str, start: str, check: dict) -> dict:
    return {"id": tid, "template": tid, "kind": "widget", "sites": [site], "start": [site, start],
            "intent": "Solve the task on the page, then say done.", "checks": [check], "min_steps": 2,
            "split": "train", "oracle": []}


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("quiz")
    for name, page in (("quiz.html", QUIZ), ("bonus.html", TRIVIAL), ("notes.html", SCRIPTED)):
        (root / name).write_text(page)
    sites = [{"name": "quiz", "static_dir": str(root)}]
    tasks = [_task("quiz-7", "quiz", QUIZ_START, {"kind": "hook"})]
    if MINIWOB is not None:
        sites.append({"name": "mw", "static_dir": os.path.join(MINIWOB.submodule_search_locations[0], "html")})
        tasks += [_task(f"mw-{n}", "mw", f"/miniwob/{n}.html", MW_HOOK) for n in ("click-test", "click-button", "enter-text")]
    with WebEnv(runtime="local", sites=sites, tasks=tasks, prewarm=False) as e:
        yield e


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
    return act(env, "click", id=ident(obs, 'text "START"'))


def solve_mw(env, task, obs):
    """Solve one MiniWoB episode on the page shown in obs, reading the problem from its text."""
    obs = start_mw(obs, env)
    if task == "mw-click-test":
        return act(env, "click", id=ident(obs, r'button "Click Me!"'))
    if task == "mw-click-button":
        want = re.search(r'Click on the \\"(.+?)\\" button', obs["text"]).group(1)
        return act(env, "click", id=next(i for i, b in re.findall(r'\[(\d+)\] button "(.+?)"', obs["text"]) if b == want))
    name = re.search(r'Enter \\"\\" into the text field.*\n\s*\[\d+\] text "(.+?)"', obs["text"]).group(1)
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


# ---- the attacks ------------------------------------------------------------------------------------
def test_honest_solves_score_one(env):
    for task in env.task_ids():
        honest(env, task)


def test_attack_solve_a_trivial_other_page(env):
    """Leave the quiz for a page of the same site that pays out at a click, in the same tab and in
    a new one. The reward is read only from the document the env opened as the task page: in the
    same tab it is gone ('no longer open'), in a new tab the quiz's own reward (unset) is read."""
    obs, _ = env.reset(options={"task_id": "quiz-7"})
    obs = act(env, "goto", url="/bonus.html")
    act(env, "click", id=ident(obs, 'button "Win"'))
    assert done(env) == 0.0 and "no longer open" in env.last_check
    obs, _ = env.reset(options={"task_id": "quiz-7"})
    obs = act(env, "new_tab", url="/bonus.html")
    act(env, "click", id=ident(obs, 'button "Win"'))
    assert done(env) == 0.0 and "agentgymReward = None" in env.last_check
    honest(env)


@needs_miniwob
def test_attack_solve_a_trivial_other_miniwob_task(env):
    """On the real MiniWoB click-button task, solve click-test (one click) in a second tab instead:
    the reward comes from the click-button document only."""
    obs, _ = env.reset(options={"task_id": "mw-click-button"})
    obs = act(env, "new_tab", url="/miniwob/click-test.html")
    solve_mw(env, "mw-click-test", obs)
    assert done(env) == 0.0
    honest(env, "mw-click-button")


def test_attack_reload_the_seeded_page_and_retry(env):
    """Answer wrong, read the answer the page then shows, reload the (seeded, so identical) quiz
    and answer right. The env counted two loads of the task page: void."""
    obs, _ = env.reset(options={"task_id": "quiz-7"})
    obs = answer_quiz(obs, env, 1)
    known = int(re.search(r"the answer was (\d+)", obs["text"]).group(1))
    obs = act(env, "goto", url=QUIZ_START)
    obs = answer_quiz(obs, env, known)
    assert "Correct" in obs["text"]
    assert done(env) == 0.0 and "loaded 2 times" in env.last_check
    honest(env)


@needs_miniwob
def test_attack_retry_miniwob_by_reload_or_in_page(env):
    """Fail the real click-button task, then (a) reload it and solve the new problem, or (b) press
    its START cover again and solve the next episode in the same page. (a) is a second load of the
    task page; (b) leaves WOB_EPISODE_ID at 2, the page's own attempt count: both void."""
    fail_click_button(env)
    obs = act(env, "goto", url="/miniwob/click-button.html")
    solve_mw(env, "mw-click-button", obs)
    assert done(env) == 0.0 and "loaded 2 times" in env.last_check
    obs = fail_click_button(env)
    solve_mw(env, "mw-click-button", obs)
    assert env.browser.call(env.session.page.evaluate("WOB_RAW_REWARD_GLOBAL")) == 1  # the page itself paid out
    assert done(env) == 0.0 and "WOB_EPISODE_ID = 2" in env.last_check
    honest(env, "mw-click-button")


def test_attack_crafted_query_on_the_task_page(env):
    """The quiz writes ?debug= into the page as HTML, so a crafted query on the task's own path
    runs script that sets the reward. The task page was then loaded twice (the env's load, then
    the crafted one) and the crafted document is not the one the env opened: void."""
    payload = quote('<img src=x onerror="window.agentgymReward = 1">')
    env.reset(options={"task_id": "quiz-7"})
    act(env, "goto", url=f"{QUIZ_START}&debug={payload}")
    assert env.browser.call(env.session.page.evaluate("window.agentgymReward")) == 1  # the bug is real
    assert done(env) == 0.0 and "loaded 2 times" in env.last_check
    honest(env)


@needs_miniwob
def test_attack_miniwob_record_js_query(env):
    """MiniWoB's record.js (loaded by ?record=1) writes ?server= into the page with innerHTML when
    the episode starts: script from the URL sets WOB_RAW_REWARD_GLOBAL and WOB_EPISODE_ID on the
    real click-test page. A crafted load of the task's path: void."""
    js = "WOB_RAW_REWARD_GLOBAL = 1; WOB_EPISODE_ID = 1"
    env.reset(options={"task_id": "mw-click-test"})
    obs = act(env, "goto", url="/miniwob/click-test.html?record=1&server=" + quote(f'<img src=x onerror="{js}">'))
    start_mw(obs, env)
    act(env, "noop", wait_ms=300)
    assert env.browser.call(env.session.page.evaluate("WOB_RAW_REWARD_GLOBAL")) == 1  # the bug is real
    assert done(env) == 0.0 and "loaded 2 times" in env.last_check
    honest(env, "mw-click-test")


def test_attack_task_page_in_a_second_tab(env):
    """Fail in the first tab, open the task page in a second tab and answer right there (or close
    the first tab first): two loads of the task page, void either way."""
    for close_first in (False, True):
        obs, _ = env.reset(options={"task_id": "quiz-7"})
        obs = answer_quiz(obs, env, 1)
        known = int(re.search(r"the answer was (\d+)", obs["text"]).group(1))
        obs = act(env, "new_tab", url=QUIZ_START)
        if close_first:
            obs = act(env, "tab_close", index=0)
        answer_quiz(obs, env, known)
        assert done(env) == 0.0 and "loaded 2 times" in env.last_check
    honest(env)


def test_attack_learn_the_answer_on_an_alias_path(env):
    """Try the quiz on an alias of its file (/%71uiz.html, served as quiz.html) in a second tab,
    read the answer there, then answer right on the untouched original. Loads are counted by the
    path as the server resolves it (decoded, dot segments, index.html), so the alias is a second load."""
    obs, _ = env.reset(options={"task_id": "quiz-7"})
    alias = act(env, "new_tab", url="/%71uiz.html?seed=7")
    alias = answer_quiz(alias, env, 1)
    known = int(re.search(r"the answer was (\d+)", alias["text"]).group(1))
    obs = act(env, "tab_focus", index=0)
    obs = answer_quiz(obs, env, known)
    assert "Correct" in obs["text"]
    assert done(env) == 0.0 and "loaded 2 times" in env.last_check
    honest(env)


def test_attack_reward_from_a_javascript_url(env):
    """Set window.agentgymReward from the URL bar: goto and new_tab refuse javascript: URLs however
    spelled, so the page's hook is never touched."""
    env.reset(options={"task_id": "quiz-7"})
    for bad in ("javascript:window.agentgymReward=1", " JavaScript:agentgymReward=1", "jav\tascript:agentgymReward=1"):
        for tool in ("goto", "new_tab"):
            obs = act(env, tool, url=bad)
            assert obs["last_action_error"], (tool, bad)
    assert env.browser.call(env.session.page.evaluate("window.agentgymReward")) is None
    assert done(env) == 0.0
    honest(env)


def test_attack_admin_endpoints_odd_spellings(env):
    """/__state and /__reset spelled with percent-encoding, case, doubled slashes and dot segments,
    from goto and new_tab: all refused before any request (and the sites want a token anyway)."""
    env.reset(options={"task_id": "quiz-7"})
    for path in ("/__state", "/%5F%5Fstate", "/%5f%5freset", "//__reset", "/./__state", "/x/../__reset",
                 "/%2E/__state", "/__health/../__reset"):
        for tool in ("goto", "new_tab"):
            obs = act(env, tool, url=path)
            assert "blocked" in obs["last_action_error"], (tool, path, obs["last_action_error"])
    assert done(env) == 0.0
    honest(env)


def test_attack_file_and_data_urls(env):
    """file:, data:, blob:, view-source: and chrome: URLs, in goto and new_tab: all refused."""
    env.reset(options={"task_id": "quiz-7"})
    data = "data:text/html,<script>window.agentgymReward=1</script>"
    for bad in ("file:///etc/passwd", "FILE:///proc/self/environ", data, "data:text/html;base64,PHA+aGk8L3A+",
                "blob:http://127.0.0.1/x", "view-source:" + url(env, QUIZ_START), "chrome://version"):
        for tool in ("goto", "new_tab"):
            obs = act(env, tool, url=bad)
            assert obs["last_action_error"].startswith("cannot open"), (tool, bad, obs["last_action_error"])
    assert done(env) == 0.0
    honest(env)


def test_attack_messages_from_an_agent_scripted_page(env):
    """From a page of the site that runs script from its query: post the answer to the quiz over a
    BroadcastChannel and through window.open() + postMessage (the quiz trusts both). The original
    quiz document cannot be reached from another tab without a reference; opening the quiz to get
    one is a second load of the task page: void."""
    obs, _ = env.reset(options={"task_id": "quiz-7"})
    answer = quiz_sum(obs)
    js = (f"new BroadcastChannel('quiz').postMessage('{answer}');"
          f"const w = window.open('{QUIZ_START}'); setTimeout(() => w.postMessage({{answer: {answer}}}, '*'), 300);")
    act(env, "new_tab", url="/notes.html?js=" + quote(js))
    act(env, "noop", wait_ms=800)
    rewards = env.browser.call(_all_rewards(env))
    assert 1 in rewards  # the opened copy of the quiz took the message
    assert done(env) == 0.0 and "loaded 2 times" in env.last_check
    honest(env)


def test_attack_push_state_fakes_the_task_path(env):
    """Leave the quiz for the scripting page, which pushState()s its URL to the quiz's exact URL and
    sets window.agentgymReward = 1: the tab shows the task URL, but it is another document."""
    env.reset(options={"task_id": "quiz-7"})
    js = f"history.pushState({{}}, '', '{QUIZ_START}'); window.agentgymReward = 1;"
    obs = act(env, "goto", url="/notes.html?js=" + quote(js))
    assert obs["url"] == url(env, QUIZ_START)
    assert done(env) == 0.0 and "no longer open" in env.last_check
    honest(env)


def test_attack_quiz_in_a_frame_written_by_its_parent(env):
    """A scripting page in a second tab loads the quiz in a same-origin iframe and sets its reward
    (and its own) directly: a second load of the task page, and not the document the env opened."""
    env.reset(options={"task_id": "quiz-7"})
    js = (f"const f = document.createElement('iframe'); f.src = '{QUIZ_START}';"
          "f.onload = () => { f.contentWindow.agentgymReward = 1; window.agentgymReward = 1; };"
          "document.body.appendChild(f);")
    act(env, "new_tab", url="/notes.html?js=" + quote(js))
    act(env, "noop", wait_ms=500)
    assert done(env) == 0.0 and "loaded 2 times" in env.last_check
    honest(env)


def test_attack_leave_and_come_back(env):
    """Fail, go to another page and back (a fresh load of the quiz, which forgot the try): void."""
    obs, _ = env.reset(options={"task_id": "quiz-7"})
    answer = quiz_sum(obs)
    answer_quiz(obs, env, answer + 1)
    act(env, "goto", url="/bonus.html")
    obs = act(env, "go_back")
    answer_quiz(obs, env, answer)
    assert done(env) == 0.0 and ("loaded 2 times" in env.last_check or "no longer open" in env.last_check)
    honest(env)


def test_a_page_that_says_done_does_not_end_the_episode(env):
    """The quiz sets agentgymDone and prints 'Done' after a right answer: the episode goes on until
    the agent ends it, and the reward is read then (leaving the page first forfeits it); a budget
    that runs out ends it with no page reading at all."""
    obs, _ = env.reset(options={"task_id": "quiz-7"})
    answer = quiz_sum(obs)
    act(env, "fill", id=ident(obs, "textbox"), value=str(answer))
    obs, reward, term, trunc, _ = env.step({"name": "click", "arguments": {"id": ident(obs, 'button "Check"')}})
    assert "Done" in obs["text"] and not term and not trunc and reward == 0.0
    act(env, "goto", url="/bonus.html")
    assert done(env) == 0.0 and "no longer open" in env.last_check
    obs, _ = env.reset(options={"task_id": "quiz-7", "max_turns": 2})
    act(env, "fill", id=ident(obs, "textbox"), value=str(answer))
    _, reward, term, trunc, info = env.step({"name": "click", "arguments": {"id": ident(obs, 'button "Check"')}})
    assert trunc and not term and reward == 0.0 and info["truncated_reason"] == "max_turns"
    honest(env)


def test_attack_busy_page_is_not_an_infrastructure_error(env, tmp_path):
    """Get a page of the site to loop forever (script from its query), then keep acting: every
    script call into a page is bounded (10 s), so the agent reads that the page does not answer
    and can close the tab, where the browser call around it used to end the episode after 60 s as
    "Infrastructure error (not your fault)" (a way to dodge a zero). An episode beside it, in
    another env on the same Chromium, is solved meanwhile."""
    obs, _ = env.reset(options={"task_id": "quiz-7"})
    act(env, "new_tab", url="/notes.html?js=" + quote("setTimeout(() => { while (true) {} }, 200)"))
    beside = _quiz_env(tmp_path)
    try:
        o, _ = beside.reset(options={"task_id": "quiz-7"})
        answer_quiz(o, beside, quiz_sum(o))
        assert done(beside) == 1.0
    finally:
        beside.close()
    obs, _, term, trunc, info = env.step({"name": "noop", "arguments": {"wait_ms": 300}})
    assert "error" not in info and not term and not trunc
    assert "did not answer" in obs["text"]
    obs = act(env, "tab_close")
    assert obs["last_action_error"] == "" and "Sum quiz" in obs["text"]
    assert done(env) == 0.0
    honest(env)


def test_attack_popup_flood(env):
    """A scripted page opens 60 popups of itself, to fill the Chromium all episodes share: a
    context holds at most 16 tabs (the rest are closed as they open), new_tab past it is refused."""
    env.reset(options={"task_id": "quiz-7"})
    obs = act(env, "goto", url="/bonus.html")
    obs = act(env, "new_tab", url="/notes.html?js=" + quote("for (let i = 0; i < 60; i++) window.open('/bonus.html');"))
    obs = act(env, "noop", wait_ms=1500)
    assert 2 <= len(env.session.pages) <= 16 and len(obs["tabs"].splitlines()) == len(env.session.pages)
    while len(env.session.pages) < 16:
        act(env, "new_tab")
    obs = act(env, "new_tab", url="/bonus.html")
    assert "16 tabs are open" in obs["last_action_error"]
    assert done(env) == 0.0
    honest(env)


def test_a_crashed_tab_is_an_observation_not_an_infrastructure_error(env):
    """A renderer that dies (a page allocating without end; crashed here through CDP, as a memory
    bomb would, without filling this machine) is read as such by the agent, who closes the tab."""
    env.reset(options={"task_id": "quiz-7"})
    act(env, "new_tab", url="/bonus.html")

    async def crash():
        cdp = await env.session.context.new_cdp_session(env.session.page)
        try:
            await asyncio.wait_for(cdp.send("Page.crash"), 3)
        except Exception:  # noqa: BLE001 - no answer comes: the session dies with the page
            pass

    env.browser.call(crash())
    obs, _, term, _, info = env.step({"name": "click", "arguments": {"id": "1"}})
    assert "error" not in info and not term and "crashed" in obs["text"]
    obs, _, term, _, info = env.step({"name": "noop", "arguments": {}})
    assert "error" not in info and "crashed" in obs["text"]
    obs = act(env, "tab_close")
    assert "Sum quiz" in obs["text"]
    honest(env)


def _quiz_env(root):
    (root / "quiz.html").write_text(QUIZ)
    return WebEnv(runtime="local", sites=[{"name": "quiz", "static_dir": str(root)}], prewarm=False,
                  tasks=[_task("quiz-7", "quiz", QUIZ_START, {"kind": "hook"})])


async def _all_rewards(env):
    """What every document (tab and frame) of the episode holds in window.agentgymReward."""
    out = []
    for page in env.session.pages:
        for frame in page.frames:
            out.append(await frame.evaluate("() => window.agentgymReward === undefined ? null : window.agentgymReward"))
    return out


@pytest.mark.docker
def test_attack_reload_and_push_state_on_docker_with_the_container_browser(tmp_path):
    """The same binding where the sites run in a container and Chromium in another, driven over
    CDP: a reload after a failed try and a pushState()d copy of the task URL are void there too."""
    (tmp_path / "quiz.html").write_text(QUIZ)
    (tmp_path / "notes.html").write_text(SCRIPTED)
    sites = [{"name": "quiz", "static_dir": str(tmp_path)}]
    with WebEnv(runtime="docker", browser="container", sites=sites, prewarm=False,
                tasks=[_task("quiz-7", "quiz", QUIZ_START, {"kind": "hook"})]) as denv:
        obs, _ = denv.reset(options={"task_id": "quiz-7"})
        obs = answer_quiz(obs, denv, 1)
        known = int(re.search(r"the answer was (\d+)", obs["text"]).group(1))
        obs = act(denv, "goto", url=QUIZ_START)
        answer_quiz(obs, denv, known)
        assert done(denv) == 0.0 and "loaded 2 times" in denv.last_check
        denv.reset(options={"task_id": "quiz-7"})
        act(denv, "goto", url="/notes.html?js=" + quote(f"history.pushState({{}}, '', '{QUIZ_START}'); window.agentgymReward = 1;"))
        assert done(denv) == 0.0 and "no longer open" in denv.last_check
        honest(denv)


def test_attack_page_too_deep_or_too_long_to_read(env):
    """A scripted page nests 1,000 elements or adds 5,000 buttons and a 1 MB title (an observation
    of megabytes, a title as long in the tab list): the walk stops at 150 levels and 3000 lines and
    says so, titles are cut at 120 characters. (Nested a few thousand deep, Chromium's renderer
    itself dies: that is the crashed-tab observation.)"""
    env.reset(options={"task_id": "quiz-7"})
    deep = "let e = document.body; for (let i = 0; i < 1000; i++) { const d = document.createElement('div'); e.appendChild(d); e = d; } e.textContent = 'bottom';"
    obs, _, _, _, info = env.step({"name": "goto", "arguments": {"url": "/notes.html?js=" + quote(deep)}})
    assert "error" not in info and "the page goes on" in obs["text"] and 'text "bottom"' not in obs["text"]
    wide = "document.title = 'x'.repeat(1 << 20); for (let i = 0; i < 5000; i++) document.body.appendChild(document.createElement('button')).textContent = 'b' + i;"
    obs, _, _, _, info = env.step({"name": "goto", "arguments": {"url": "/notes.html?js=" + quote(wide)}})
    assert "error" not in info and "the page goes on" in obs["text"] and len(obs["text"]) < 200_000
    assert len(obs["tabs"]) < 1000
    assert done(env) == 0.0
    honest(env)


def test_attack_oversized_arguments(env):
    """A megabyte typed into a field, a megabyte URL, 100,000 options, a kilobyte element id: each
    is a malformed action the agent reads (bounded in the tool schemas), not a browser held busy
    for every episode on it until a timeout reports infrastructure."""
    obs, _ = env.reset(options={"task_id": "quiz-7"})
    field = ident(obs, "textbox")
    for name, args in (("fill", {"id": field, "value": "9" * 1_000_000}), ("goto", {"url": "/" + "a" * 1_000_000}),
                       ("new_tab", {"url": "/" + "a" * 1_000_000}), ("click", {"id": "1" * 1000}),
                       ("select_option", {"id": field, "options": ["x"] * 100_000}),
                       ("send_msg_to_user", {"text": "d" * 1_000_000})):
        obs, _, term, _, info = env.step({"name": name, "arguments": args})
        assert "action_error" in info and "error" not in info and not term, name
        assert len(obs["text"]) < 20_000
    honest(env)
