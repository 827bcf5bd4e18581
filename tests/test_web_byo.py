"""Bring your own site: a folder of static pages with a page reward hook, and a user task with its
own Python check over a site's server state, each registered as a new id from user code."""

from __future__ import annotations

import pytest

import agentgym
from agentgym.envs.web.tasks.checks import register_state_check
from agentgym.validate import validate

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _unregister():
    """Users' ids stay out of the global registry once the test is over."""
    import gymnasium

    from agentgym import registry

    yield
    for short in ("my-quiz", "my-cart"):
        info = registry._ENVS.pop(short, None)
        if info is not None:
            gymnasium.registry.pop(info.gym_id, None)

PAGE = """<!doctype html><html><head><title>Quiz</title></head><body>
<h1>Capital quiz</h1><label for="a">Capital of France</label> <input id="a">
<button onclick="window.agentgymReward = document.getElementById('a').value.trim().toLowerCase() === 'paris' ? 1 : 0;
document.getElementById('r').textContent = 'Checked';">Check</button><p id="r"></p></body></html>"""


def test_static_site_with_reward_hook(tmp_path):
    (tmp_path / "index.html").write_text(PAGE)
    task = {"id": "quiz-0", "template": "quiz", "kind": "widget", "sites": ["quiz"], "start": ["quiz", "/"],
            "intent": "Answer the quiz question and press Check.", "checks": [{"kind": "hook"}], "min_steps": 3,
            "split": "train", "oracle": [
                {"tool": "fill", "ids": {"id": "#a"}, "args": {"value": "Paris"}},
                {"tool": "click", "ids": {"id": "button"}},
                {"tool": "send_msg_to_user", "args": {"text": "done"}}]}
    agentgym.register("my-quiz", "agentgym.envs.web.env:WebEnv",
                      kwargs={"sites": [{"name": "quiz", "static_dir": str(tmp_path)}], "tasks": [task]}, runtimes=["local"])
    report = validate("my-quiz", runtime="local")
    assert (report.tasks, report.gold_pass_rate, report.null_pass_rate, report.errors) == (1, 1.0, 0.0, 0)
    with agentgym.make("my-quiz", runtime="local") as env:  # a wrong answer leaves the hook at 0
        env.reset()
        env.step({"name": "fill", "arguments": {"id": env.element_id("#a"), "value": "Lyon"}})
        env.step({"name": "click", "arguments": {"id": env.element_id("button")}})
        _, r, term, _, _ = env.step({"name": "send_msg_to_user", "arguments": {"text": "done"}})
        assert term and r == 0.0


def test_user_task_with_own_state_check():
    def cart_has_three_items(before, after, n):
        total = sum(row["qty"] for row in after["cart"])
        return total == n, f"{total} items in the cart"

    register_state_check("user.cart_size", cart_has_three_items)
    task = {"id": "cart-3", "template": "user_cart", "kind": "state", "sites": ["shop"], "start": ["shop", "/product/3"],
            "intent": "Put three of this product in the cart.", "min_steps": 3, "split": "train",
            "checks": [{"kind": "state", "site": "shop", "fn": "user.cart_size", "params": {"n": 3}}],
            "oracle": [{"tool": "fill", "ids": {"id": "#qty"}, "args": {"value": "3"}},
                       {"tool": "click", "ids": {"id": 'form[action="/cart/add"] button'}}]}
    agentgym.register("my-cart", "agentgym.envs.web.env:WebEnv", kwargs={"sites": ["shop"], "tasks": [task]}, runtimes=["local"])
    report = validate("my-cart", runtime="local")
    assert (report.gold_pass_rate, report.null_pass_rate, report.errors) == (1.0, 0.0, 0)
