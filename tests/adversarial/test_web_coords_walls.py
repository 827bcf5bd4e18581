"""Web attacks through the coordinate tools (coords=True): a pointer at a point reaches what the
element tools would not (links the page was made to show, the browser's own UI off the viewport),
so each wall must hold for it too. On the quiz site (web_quiz.py), in an env of its own with
coords on; each attack is an observation for the agent, and an honest solve by points scores 1.
"""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest

from agentgym.envs.web.env import WebEnv
from tests.adversarial.web_quiz import QUIZ, QUIZ_START, act, done, quiz_sum, quiz_task

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("quizc")
    (root / "quiz.html").write_text(QUIZ)
    with WebEnv(runtime="local", sites=[{"name": "quiz", "static_dir": str(root)}], prewarm=False, coords=True,
                tasks=[quiz_task("quiz-7", "quiz", QUIZ_START, {"kind": "hook"})]) as e:
        yield e


def centre(obs, pattern):
    m = re.search(r"\] " + pattern + r".* @(-?\d+),(-?\d+),(\d+),(\d+)$", obs["text"], re.M)
    assert m, f"{pattern!r} not on the page:\n{obs['text']}"
    x, y, w, h = map(int, m.groups())
    return {"x": x + w / 2, "y": y + h / 2}


def test_attack_pointer_on_links_off_the_sites(env):
    """Make the page show links (its debug parameter is written as HTML) to the sites' admin reset,
    to another local port and to a file, then click them by point (the admin link also pressed and
    released, and dragged): no navigation leaves the quiz site or reaches /__reset; the reward is
    untouched. (The first reset of the module launches the browser when none runs yet.)"""
    obs, _ = env.reset(options={"task_id": "quiz-7"})
    site = obs["url"].split("/quiz.html")[0]
    links = ('<a href="/__reset">admin</a> <a href="http://127.0.0.1:9/x">away</a> '
             '<a href="file:///etc/passwd">file</a>')
    obs = act(env, "goto", url=f"{QUIZ_START}&debug={quote(links)}")
    for name, gestures in (("admin", 3), ("away", 1), ("file", 1)):
        p = centre(obs, f'link "{name}"')
        for moves in ([("mouse_click", p)], [("mouse_down", p), ("mouse_up", p)],
                      [("mouse_drag", {"from_x": p["x"], "from_y": p["y"], "to_x": 5, "to_y": 5})])[:gestures]:
            for tool, args in moves:
                after = act(env, tool, **args)
            # refused: the quiz page still, or Chromium's error page for a blocked request
            assert after["url"].startswith((site + "/quiz.html", "chrome-error:")), (name, tool, after["url"])
            assert "root:" not in after["text"]
            if not after["url"].startswith(site):
                obs = act(env, "goto", url=f"{QUIZ_START}&debug={quote(links)}")
    assert env.read_page("window.agentgymReward") is None
    assert done(env) == 0.0


def test_attack_points_at_the_browser_ui(env):
    """Points above, left of or past the viewport (where a browser's own bar, menus and other tabs
    would be), and NaN or inf: refused as action errors, and nothing reaches the page."""
    env.reset(options={"task_id": "quiz-7"})
    for x, y in ((640, -30), (-5, 400), (1300, 10), (10, 900), (float("nan"), 1), (1, float("-inf"))):
        for tool in ("mouse_click", "mouse_move", "mouse_down", "mouse_up", "wheel"):
            obs = act(env, tool, x=x, y=y)
            assert "outside the viewport" in obs["last_action_error"], (tool, x, y)
    assert done(env) == 0.0


def test_honest_solve_by_points(env):
    obs, _ = env.reset(options={"task_id": "quiz-7"})
    act(env, "mouse_click", **centre(obs, "textbox"))
    act(env, "press", key="End")
    for ch in str(quiz_sum(obs)):
        act(env, "press", key=ch)
    obs = act(env, "mouse_click", **centre(obs, 'button "Check"'))
    assert "Correct" in obs["text"]
    assert done(env) == 1.0
