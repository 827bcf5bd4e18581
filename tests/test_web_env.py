"""WebEnv on the local runtime: observations, every action (and its error cases), the URL filter,
checks that read server state, horizons, screenshots, and nothing left running after close."""

from __future__ import annotations

import re

import pytest

import agentgym
from agentgym.actions import ToolCall
from procs import children_named, wait_gone

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def env():
    e = agentgym.make("web", runtime="local", per_template=None, split=None)
    yield e
    e.close()


def call(env, name, **arguments):
    return env.step(ToolCall(name=name, arguments=arguments))


def ids_by_line(text: str) -> dict[str, str]:
    return {m.group(2): m.group(1) for m in re.finditer(r"\[(\d+)\] (.+)", text)}


def test_observation_has_every_key_and_stable_ids(env):
    obs, info = env.reset(options={"task_id": "shop_price-0"})
    assert set(obs) == {"text", "url", "tabs", "focused", "last_action_error", "chat"}
    assert obs["url"].endswith("/") and "MegaShop" in obs["tabs"] and obs["chat"].startswith("user: What is the price")
    assert '] button "Search"' in obs["text"] and obs in env.observation_space
    first = ids_by_line(obs["text"])
    obs2, *_ = call(env, "noop")
    assert ids_by_line(obs2["text"]) == first  # same page: same ids
    box = env.element_id("input[name=q]")
    obs3, *_ = call(env, "fill", id=box, value="kettle")
    assert f'[{box}] textbox "Search products" value="kettle"' in obs3["text"]
    assert ids_by_line(obs3["text"]).get('link "Cart" url="/cart"') == first['link "Cart" url="/cart"']


def test_actions_and_their_errors(env):
    env.reset(options={"task_id": "shop_price-0"})
    obs, r, term, trunc, info = call(env, "click", id=99999)
    assert "no element with id [99999]" in obs["last_action_error"] and not term and r == 0
    obs, *_ = call(env, "fill", id=env.element_id('form[action="/search"] button'), value="x")
    assert "not a text field" in obs["last_action_error"]
    obs, *_ = call(env, "select_option", id=env.element_id("input[name=q]"), options="x")
    assert "not a dropdown" in obs["last_action_error"]
    obs, *_ = call(env, "select_option", id=env.element_id("select[name=sort]"), options="Nope")
    assert "has no option 'Nope'" in obs["last_action_error"]
    obs, *_ = call(env, "select_option", id=env.element_id("select[name=sort]"), options="Price: low to high")
    assert obs["last_action_error"] == "" and 'value="Price: low to high"' in obs["text"]
    call(env, "fill", id=env.element_id("input[name=q]"), value="kettle")
    obs, *_ = call(env, "press", key="Enter", id=env.element_id("input[name=q]"))
    assert "/search?q=kettle" in obs["url"] and "Electric Kettle" in obs["text"]
    obs, *_ = call(env, "click", id=env.element_id('a[href^="/product/"]'))
    assert "/product/" in obs["url"]
    obs, *_ = call(env, "go_back")
    assert "/search?q=kettle" in obs["url"]
    obs, *_ = call(env, "go_forward")
    assert "/product/" in obs["url"]
    obs, *_ = call(env, "scroll", dy=400)
    assert obs["last_action_error"] == ""
    obs, *_ = call(env, "hover", id=env.element_id('header a[href="/cart"]'))
    assert obs["last_action_error"] == ""
    obs, *_ = call(env, "new_tab", url="/orders")
    assert obs["url"].endswith("/orders") and obs["tabs"].count("\n") == 1 and "1*" in obs["tabs"]
    obs, *_ = call(env, "tab_focus", index=0)
    assert "/product/" in obs["url"]
    obs, *_ = call(env, "tab_focus", index=7)
    assert "no tab 7" in obs["last_action_error"]
    obs, *_ = call(env, "tab_close", index=1)
    assert obs["tabs"].count("\n") == 0
    obs, r, term, *_ = call(env, "click", id="abc")
    assert "number shown in brackets" in obs["last_action_error"]
    obs, r, term, trunc, info = call(env, "click", bogus=1)
    assert "invalid arguments" in info["action_error"] and not term


def test_hidden_elements_and_drag(env):
    env.reset(options={"task_id": "widget_menu-0"})
    item = env.element_id('.menu input[value="File > New"] + button')
    obs, *_ = call(env, "click", id=item)
    assert "not visible" in obs["last_action_error"]
    call(env, "hover", id=env.element_id(".menu > span"))
    obs, *_ = call(env, "click", id=item)
    assert obs["last_action_error"] == "" and "/done" in obs["url"]
    env.reset(options={"task_id": "widget_dragdrop-0"})
    obs, *_ = call(env, "drag", source=env.element_id('.item[data-v="Apple"]'), target=env.element_id(".bin"))
    assert obs["last_action_error"] == ""
    assert env.browser.call(env.session.page.input_value("#chosen")) == "Apple"


def test_only_the_task_sites_are_reachable(env):
    env.reset(options={"task_id": "shop_price-0"})
    for url in ["http://example.com/", "/__state", "/__reset", "/%5F%5Fstate", "/%5f_state?x=1", "//__state", "/a/../__state",
                env.host.origins["tracker"] + "/issues", "file:///etc/passwd"]:
        obs, *_ = call(env, "goto", url=url)
        assert obs["last_action_error"], url
        assert "blocked" in obs["last_action_error"] or "http(s) URL" in obs["last_action_error"]
    obs, *_ = call(env, "new_tab", url="http://example.com/")
    assert "blocked" in obs["last_action_error"]
    # Requests the page makes itself go through the same filter.
    result = env.browser.call(env.session.page.evaluate(
        "() => fetch('/__state').then(r => 'reached ' + r.status, e => 'failed')"))
    assert result == "failed" and any("/__state" in u for u in env.session.blocked)


def test_checker_reads_server_state_not_the_page(env):
    env.reset(options={"task_id": "shop_buy-0"})
    # A page that *says* an order was placed, without placing one, does not pass.
    call(env, "goto", url="/orders/1?placed=1")
    assert "Your order was placed" in env._obs.snapshot.text
    _, r, term, _, _ = call(env, "send_msg_to_user", text="Order placed!")
    assert term and r == 0.0 and "exactly one new order" in env.last_check
    # Forging the page text itself does not help either: only the server's order table counts.
    env.reset(options={"task_id": "shop_buy-0"})
    env.browser.call(env.session.page.evaluate("() => { document.body.innerHTML = '<p>Thank you! Your order was placed.</p>'; }"))
    _, r, term, _, _ = call(env, "send_msg_to_user", text="done")
    assert term and r == 0.0


def test_answers_and_infeasible(env):
    task = env.task("shop_price-0")
    env.reset(options={"task_id": task.id})
    _, r, term, _, _ = call(env, "send_msg_to_user", text=f"It costs ${task.checks[0].expected:.2f}.")
    assert term and r == 1.0
    env.reset(options={"task_id": task.id})
    _, r, *_ = call(env, "send_msg_to_user", text="It costs $1.00 or maybe $2.00")
    assert r == 0.0
    env.reset(options={"task_id": task.id})
    _, r, term, *_ = call(env, "report_infeasible", reason="cannot")
    assert term and r == 0.0 and "reported infeasible" in env.last_check
    env.reset(options={"task_id": "shop_infeasible-0"})
    _, r, term, *_ = call(env, "report_infeasible", reason="out of stock")
    assert term and r == 1.0


def test_horizon_from_reset_options(env):
    env.reset(options={"task_id": "shop_price-0", "max_turns": 2})
    assert not any(call(env, "noop")[2:4])
    _, _, term, trunc, info = call(env, "noop")
    assert trunc and info["truncated_reason"] == "max_turns"


@pytest.mark.parametrize("template_task", ["shop_compare_buy-0", "shop_tabs-1", "tracker_assign-2", "admin_top_paid-3",
                                           "booking_cancel-1", "widget_datepicker-5", "widget_form-1"])
def test_oracle_passes_and_null_fails(env, template_task):
    from agentgym.rollout import run_episode

    env.reset(options={"task_id": template_task})  # reference_policy() reads the current task
    gold = run_episode(env, env.reference_policy(), options={"task_id": template_task})
    assert gold.passed, (gold.error, env.last_check)
    env.reset(options={"task_id": template_task})
    null = run_episode(env, env.null_policy(), options={"task_id": template_task})
    assert not null.passed


def test_screenshot_and_nothing_left_after_close(env):
    env.close()  # the module's env releases the shared browser, so this test sees its own start and end
    before = {p.pid for p in children_named()}
    e = agentgym.make("web-widgets", runtime="local", screenshot=True)
    obs, _ = e.reset(options={"task_id": "widget_tabs-0"})
    assert obs["screenshot"].shape == (800, 1280, 3) and obs["screenshot"].max() > 0 and obs in e.observation_space
    assert e.last_png.startswith(b"\x89PNG")
    started = [p for p in children_named() if p.pid not in before]
    assert any(p in children_named("chrom") for p in started)
    e.close()
    assert not wait_gone(started)
