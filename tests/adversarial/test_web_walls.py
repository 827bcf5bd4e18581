"""Web attacks on the browser's walls: URLs refused, busy and crashed pages, floods, huge pages
and arguments. Through tool calls only, on the quiz site (web_quiz.py); each is an observation
or a refusal for the agent, never an infrastructure error, and an honest solve still scores 1.
"""

from __future__ import annotations

import asyncio
from urllib.parse import quote

import pytest

from tests.adversarial.web_quiz import (
    QUIZ_START, act, answer_quiz, done, honest, ident, lone_quiz_env, quiz_sum, url,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def env(web_quiz_env):
    """The quiz and MiniWoB sites' env, shared by the web attack modules (conftest.py)."""
    return web_quiz_env

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

def test_attack_busy_page_is_not_an_infrastructure_error(env, tmp_path):
    """Get a page of the site to loop forever (script from its query), then keep acting: every
    script call into a page is bounded (10 s), so the agent reads that the page does not answer
    and can close the tab, where the browser call around it used to end the episode after 60 s as
    "Infrastructure error (not your fault)" (a way to dodge a zero). An episode beside it, in
    another env on the same Chromium, is solved meanwhile."""
    obs, _ = env.reset(options={"task_id": "quiz-7"})
    act(env, "new_tab", url="/notes.html?js=" + quote("setTimeout(() => { while (true) {} }, 200)"))
    beside = lone_quiz_env(tmp_path)
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
