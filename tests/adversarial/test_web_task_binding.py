"""Web attacks on page rewards: a hook counts only from the task's own page, loaded once.

Through tool calls only, on the quiz site and the real MiniWoB++ pages (web_quiz.py): solving
another page, retrying after a reload or in a second tab, a crafted query, an alias path,
messages, pushState and frames. Each ends with reward 0 and an honest solve still scores 1.
"""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest

from agentgym.envs.web.env import WebEnv
from tests.adversarial.web_quiz import (
    QUIZ, QUIZ_START, SCRIPTED, act, all_rewards, answer_quiz, done, fail_click_button, honest, ident,
    needs_miniwob, quiz_sum, quiz_task, solve_mw, start_mw, url,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def env(web_quiz_env):
    """The quiz and MiniWoB sites' env, shared by the web attack modules (conftest.py)."""
    return web_quiz_env

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
    rewards = env.browser.call(all_rewards(env))
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

@pytest.mark.docker
def test_attack_reload_and_push_state_on_docker_with_the_container_browser(tmp_path):
    """The same binding where the sites run in a container and Chromium in another, driven over
    CDP: a reload after a failed try and a pushState()d copy of the task URL are void there too."""
    (tmp_path / "quiz.html").write_text(QUIZ)
    (tmp_path / "notes.html").write_text(SCRIPTED)
    sites = [{"name": "quiz", "static_dir": str(tmp_path)}]
    with WebEnv(runtime="docker", browser="container", sites=sites, prewarm=False,
                tasks=[quiz_task("quiz-7", "quiz", QUIZ_START, {"kind": "hook"})]) as denv:
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
