"""WebEnv.fork(): the fork has its own sites and context in the same state (server state, page,
element ids, budget), the two diverge independently, each is graded on its own state, a fork that
could not be reproduced is refused, and closing releases everything."""

from __future__ import annotations

import psutil
import pytest

import agentgym
from agentgym.env import InfraError
from agentgym.rollout import run_episode
from procs import children_named

pytestmark = pytest.mark.slow


def _servers() -> set[int]:
    return {p.pid for p in children_named("python")}


def test_fork_copies_the_episode_and_diverges_independently():
    env = agentgym.make("web-shop", runtime="local", per_template=None)
    before = _servers()
    try:
        obs, info = env.reset(options={"task_id": "shop_buy-1", "max_turns": 30})
        oracle = env.reference_policy()
        oracle.reset(obs, info)
        for _ in range(5):  # search, open the product, set the quantity, add to the cart
            obs, *_ = env.step(oracle.act(obs, info))
        assert "/cart" in obs["url"]
        fork = env.fork()
        try:
            assert fork.host is not env.host and fork.session is not env.session
            assert fork.page_text() == env.page_text().replace(env.host.origins["shop"], fork.host.origins["shop"])
            assert fork.host.state("shop") == env.host.state("shop") and fork.host.state("shop")["cart"]
            assert fork.tracker.usage().model_dump(exclude={"seconds"}) == env.tracker.usage().model_dump(exclude={"seconds"})
            # The original finishes the purchase; the fork empties its cart and gives up.
            while True:
                action = oracle.act(obs, info)
                obs, r, term, trunc, info = env.step(action)
                if term:
                    break
            assert r == 1.0
            fobs, *_ = fork.step({"name": "click", "arguments": {"id": fork.element_id('form[action="/cart/remove"] button')}})
            assert "Your cart is empty" in fobs["text"]
            assert fork.host.state("shop")["cart"] == [] and len(fork.host.state("shop")["orders"]) == 6
            assert len(env.host.state("shop")["orders"]) == 7  # the original's order is not in the fork
            _, fr, fterm, *_ = fork.step({"name": "send_msg_to_user", "arguments": {"text": "done"}})
            assert fterm and fr == 0.0 and "expected exactly one new order, found 0" in fork.last_check
            # A fork of the fork, then a new episode on the fork: both work.
            fork2 = fork.fork()
            fork2.close()
            fork.reset(options={"task_id": "shop_buy-1"})
            assert run_episode(fork, fork.reference_policy(), options={"task_id": "shop_buy-1"}).passed
        finally:
            fork.close()
    finally:
        env.close()
    psutil.wait_procs([p for p in children_named("python") if p.pid not in before], timeout=10)
    assert _servers() - before == set(), "a site server outlived close()"


def test_fork_that_cannot_be_reproduced_is_refused():
    with agentgym.make("web-widgets", runtime="local") as env:
        env.reset(options={"task_id": "widget_tabs-0"})
        contexts = len(env.browser.browser.contexts)
        servers = _servers()
        # Something the env did not record (a script the page ran by itself) cannot be replayed.
        env.browser.call(env.session.page.evaluate("() => { document.body.insertAdjacentHTML('afterbegin', '<button>Surprise</button>'); }"))
        env.step({"name": "noop"})
        with pytest.raises(InfraError, match="could not reproduce the page"):
            env.fork()
        assert len(env.browser.browser.contexts) == contexts  # the failed fork's context is closed
        psutil.wait_procs([p for p in children_named("python") if p.pid not in servers], timeout=10)
        assert _servers() - servers == set()


def test_fork_of_a_page_reward_episode(tmp_path):
    """A page-reward (hook) episode forks with its task page: the fork pins its own first document
    and counts its own loads by replay, so each side is graded on its own task page."""
    from agentgym.envs.web.env import WebEnv

    (tmp_path / "index.html").write_text(
        "<!doctype html><title>Q</title><label for=a>2 + 2</label> <input id=a>"
        "<button id=b onclick=\"window.agentgymReward = document.getElementById('a').value === '4' ? 1 : 0\">Check</button>")
    task = {"id": "q", "template": "q", "kind": "widget", "sites": ["q"], "start": ["q", "/"], "intent": "Answer.",
            "checks": [{"kind": "hook"}], "min_steps": 2, "split": "train", "oracle": []}
    with WebEnv(runtime="local", sites=[{"name": "q", "static_dir": str(tmp_path)}], tasks=[task]) as env:
        env.reset()
        env.step({"name": "fill", "arguments": {"id": env.element_id("#a"), "value": "4"}})
        fork = env.fork()
        try:
            fork.step({"name": "click", "arguments": {"id": fork.element_id("#b")}})
            assert fork.step({"name": "send_msg_to_user", "arguments": {"text": "done"}})[1] == 1.0, fork.last_check
            env.step({"name": "goto", "arguments": {"url": "/"}})  # the original reloads: void for it alone
            env.step({"name": "fill", "arguments": {"id": env.element_id("#a"), "value": "4"}})
            env.step({"name": "click", "arguments": {"id": env.element_id("#b")}})
            assert env.step({"name": "send_msg_to_user", "arguments": {"text": "done"}})[1] == 0.0
            assert "loaded 2 times" in env.last_check
        finally:
            fork.close()
