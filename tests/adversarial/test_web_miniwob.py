"""Attacks on web-miniwob's seeding and single attempt: the seed is the same in every document of
the episode, so a second copy of the task page poses the same problem (a free rehearsal), and the
START cover MiniWoB shows after an attempt would start a second one."""

from __future__ import annotations

import re

import pytest

pytest.importorskip("miniwob", reason="the miniwob package (the web extra) is not installed")

from agentgym.envs.web import miniwob  # noqa: E402


@pytest.fixture(scope="module")
def env():
    with miniwob.make_env(tasks=["click-button"], runtime="local", prewarm=False) as e:
        yield e


def step(env, name, **args):
    obs, reward, term, _, info = env.step({"name": name, "arguments": args})
    assert "error" not in info, info
    return obs, reward, term


def buttons(env):
    return env.read_page("() => [...document.querySelectorAll('#area button')].map((b) => b.textContent)")


def test_attack_rehearse_in_a_second_copy_of_the_task_page(env):
    """Open the task page again in a new tab: the same seed poses the same problem there, so the
    agent can try every button until one pays, then answer right in the first tab. The second
    load of the task page voids the reward."""
    env.reset(seed=21)
    first = buttons(env)
    step(env, "new_tab", url="/miniwob/click-button.html")
    assert buttons(env) == first  # the same problem: the rehearsal is real
    want = re.search(r'"(.+?)"', env.intent).group(1)
    step(env, "tab_focus", index=0)
    i = first.index(want)
    step(env, "click", id=env.element_id(f"#area button:nth-of-type({i + 1})"))
    assert env.read_page("() => WOB_RAW_REWARD_GLOBAL") == 1  # the page itself paid out
    _, reward, term = step(env, "send_msg_to_user", text="done")
    assert term and reward == 0.0 and "loaded 2 times" in env.last_check


def answer_wrong(env) -> None:
    """Reset to a seed whose page has a wrong button to press, and press it (the first attempt is spent)."""
    for seed in range(30, 60):
        env.reset(seed=seed)
        want = re.search(r'"(.+?)"', env.intent).group(1)
        wrong = [i for i, b in enumerate(buttons(env)) if b != want]
        if wrong:
            break
    step(env, "click", id=env.element_id(f"#area button:nth-of-type({wrong[0] + 1})"))


def test_attack_click_the_hidden_start_cover_for_a_second_attempt(env):
    """After a wrong answer MiniWoB shows START again to begin another episode in the same page;
    here the cover stays hidden, so no second attempt can be had in the page."""
    answer_wrong(env)
    obs, _, _ = step(env, "click", id=env.element_id("#sync-task-cover"))
    assert "not visible" in obs["last_action_error"]
    assert env.read_page("() => [WOB_RAW_REWARD_GLOBAL, WOB_EPISODE_ID]") == [-1, 1]
    _, reward, _ = step(env, "send_msg_to_user", text="done")
    assert reward == 0.0


def test_attack_submit_any_colour_on_use_colorwheel():
    """use-colorwheel pays 1 - the mean colour distance, read as solved when > 0: clicking Submit
    on the page's default colour, without touching the picker, is solved. So web-miniwob leaves
    the task out (a policy would learn to press Submit); built on purpose, the hole shows."""
    assert "use-colorwheel" not in miniwob.task_names() and "Submit" in miniwob.excluded()["use-colorwheel"]
    with miniwob.make_env(tasks=["use-colorwheel"], runtime="local", prewarm=False) as e:
        e.reset(seed=5)
        step(e, "click", id=e.element_id("#subbtn"))
        assert e.read_page("() => WOB_RAW_REWARD_GLOBAL") > 0
        _, reward, term = step(e, "send_msg_to_user", text="done")
        assert term and reward == 1.0


def test_attack_press_start_with_the_pointer_for_a_second_attempt(env):
    """With coords on, a pointer press lands wherever the agent says, past any check that an element
    is visible: pressing where MiniWoB's START cover sits (over the task area) after a wrong answer
    must not start a second attempt either (the cover is hidden, not just unlisted)."""
    answer_wrong(env)
    x, y = env.read_page("() => { const r = document.getElementById('area').getBoundingClientRect();"
                         " return [r.x + r.width / 2, r.y + r.height / 2]; }")
    for name in ("mouse_click", "mouse_down", "mouse_up"):
        obs, _, _ = step(env, name, x=x, y=y)
        assert not obs.get("last_action_error"), obs["last_action_error"]
    assert env.read_page("() => [WOB_RAW_REWARD_GLOBAL, WOB_EPISODE_ID]") == [-1, 1]
    _, reward, _ = step(env, "send_msg_to_user", text="done")
    assert reward == 0.0
