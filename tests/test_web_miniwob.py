"""web-miniwob and the bring-your-own hooks it is built on (init script with the episode's seed,
instruction read from the page, an oracle that is a policy), on the miniwob package's real pages
and on a page written here. Both runtimes of the registered ids are validated on a sample by
tests/test_registered_envs.py; this file checks what those runs cannot see."""

from __future__ import annotations

import datetime
import math
import random
import re

import pytest

import agentgym
from agentgym.actions import ToolCall
from agentgym.envs.web import miniwob
from agentgym.envs.web.env import WebEnv
from agentgym.validate import _play, validate

pytest.importorskip("miniwob", reason="the miniwob package (the web extra) is not installed")

TASKS = ["click-button", "enter-text", "guess-number", "click-menu"]
# The tasks worked with the pointer (miniwob_coords.py: boxes, picture, drags, wheel, selection): a
# few each run, drawn by the day (the same draw in every worker of a run; another tomorrow).
COORD_TASKS = ["bisect-angle", "circle-center", "draw-circle", "draw-line", "find-midpoint", "right-angle", "hot-cold",
               "resize-textarea", "drag-circle", "drag-single-shape", "drag-shapes", "drag-shapes-2", "drag-items",
               "drag-items-grid", "drag-sort-numbers", "highlight-text", "highlight-text-2", "sign-agreement",
               "drag-cube"]
COORD_SAMPLE = random.Random(datetime.date.today().toordinal()).sample(COORD_TASKS, 3)


@pytest.fixture(scope="module")
def env():
    with miniwob.make_env(tasks=TASKS + COORD_SAMPLE, runtime="local", prewarm=False) as e:
        yield e


def page_query(env) -> str:
    return env.read_page("() => document.getElementById('query').textContent.replace(/\\s+/g, ' ').trim()")


def test_every_package_page_is_in_or_left_out_with_a_reason():
    pages = miniwob.all_pages()
    inside, out = miniwob.task_names(), miniwob.excluded()
    assert len(pages) >= 120 and sorted(inside + list(out)) == pages
    assert all(reason.strip() for reason in out.values())
    assert len(inside) >= 118, len(inside)
    assert set(COORD_TASKS) <= set(inside)
    assert set(miniwob.task_names(lite=True)) <= set(inside) and len(miniwob.task_names(lite=True)) == 10


def test_the_seed_of_reset_reaches_the_page_and_the_instruction_is_the_pages(env):
    seen = {}
    for seed in (11, 12, 11):
        obs, _ = env.reset(seed=seed, options={"task_id": "miniwob.click-button"})
        query = page_query(env)
        assert query.startswith("Click on the") and env.intent == query
        assert f"Task (miniwob.click-button): {query}" in obs["text"] and env.page_seed == seed
        seen.setdefault(seed, set()).add(env.read_page("() => document.getElementById('area').innerHTML"))
    assert len(seen[11]) == 1  # the same seed, the same problem
    obs, _ = env.reset(options={"task_id": "miniwob.click-button"})  # no seed: one drawn per episode
    first = env.page_seed
    env.reset(options={"task_id": "miniwob.click-button"})
    assert env.page_seed != first


def test_episode_starts_at_once_with_no_cover_and_no_score_display(env):
    obs, _ = env.reset(seed=3, options={"task_id": "miniwob.enter-text"})
    assert "START" not in obs["text"] and "Last reward" not in obs["text"]
    assert env.read_page("() => [WOB_EPISODE_ID, WOB_DONE_GLOBAL, core.EPISODE_MAX_TIME]") == [0, False, 1_000_000]


def test_a_solver_acting_on_an_element_the_observation_does_not_list_fails_validation(env, monkeypatch):
    """read_page may work out what to do, but no back door to act: every target must be an id the
    agent's observation listed (a <script> never is), and the policy numbers no element itself."""
    from agentgym.envs.web import miniwob_solvers as ms

    assert ms.listed_ids('URL: u\nFocused: [3] textbox\n\nclicked [4]\n[1] text "a"\n  [12] button "b"') == {"1", "12"}
    monkeypatch.setattr(ms, "LISTED_WAIT_STEPS", 2)
    monkeypatch.setitem(ms.SOLVERS, "click-button", lambda p: iter([p.click("document.querySelector('script')")]))
    with pytest.raises(ms.UnlistedTarget, match=r"acts \(click\) on <script.*does not list: an agent could not act on it"):
        _play(env, "miniwob.click-button", "gold")
    assert env.read_page("() => document.querySelector('script').getAttribute('data-agid')") is None
    monkeypatch.setitem(ms.SOLVERS, "click-button", lambda p: iter([ToolCall(name="click", arguments={"id": "999"})]))
    with pytest.raises(ms.UnlistedTarget, match=r"acts \(click\) on \(no longer on the page\)"):
        _play(env, "miniwob.click-button", "gold")


def test_a_solver_aims_only_at_boxes_the_observation_shows(env, monkeypatch):
    """A pointer's place comes from the box (@x,y,w,h) of a listed element: one the observation does
    not list (a <script>) has no box to aim at, and the solver fails validation."""
    from agentgym.envs.web import miniwob_solvers as ms

    def aims_at_a_script(p):
        yield p.pointer("mouse_click", x=p.box("document.querySelector('script')")[0], y=1.0)

    monkeypatch.setitem(ms.SOLVERS, "click-button", aims_at_a_script)
    with pytest.raises(ms.UnlistedTarget, match=r"does not list with a box"):
        _play(env, "miniwob.click-button", "gold")
    obs, _ = env.reset(seed=4, options={"task_id": "miniwob.click-button"})
    page = ms.Page(env)
    page.obs_text = obs["text"]
    x, y, w, h = page.box("'#area button'")
    assert (x, y, w, h) == tuple(float(math.floor(v + 0.5)) for v in env.read_page(  # as JavaScript's Math.round
        "() => { const r = document.querySelector('#area button').getBoundingClientRect(); return [r.x, r.y, r.width, r.height]; }"))
    assert page.picture().shape[2] == 3


@pytest.mark.parametrize("query, index, grid, want", [
    ("Drag Ana to the 3rd position.", 0, False, 2), ("Drag Ana to the top.", 3, False, 0),
    ("Drag Ana down by one position.", 1, False, 2), ("Drag Ana to the bottom left.", 0, True, 6),
    ("Drag Ana to the center.", 0, True, 4), ("Drag Ana up by one.", 7, True, 4), ("Drag Ana left by one.", 5, True, 4)])
def test_sortable_positions_read_from_the_query(query, index, grid, want):
    from agentgym.envs.web.miniwob_coords import sortable_position

    assert sortable_position(query, index, 9 if grid else 5, grid) == want


@pytest.mark.parametrize("task", TASKS + COORD_SAMPLE)
def test_the_solver_passes_and_the_null_policy_fails(env, task):
    gold, null = _play(env, f"miniwob.{task}", "gold"), _play(env, f"miniwob.{task}", "null")
    assert (gold.passed, null.passed, gold.error, null.error) == (True, False, None, None), env.last_check


def test_a_wrong_first_attempt_cannot_be_retried(env):
    """MiniWoB shows START again after an attempt; here it stays hidden, the page's raw reward of the
    first attempt is what counts, and reloading the page for another try voids the reward."""
    for seed in range(5, 40):  # a problem with a wrongly labelled button (most have one)
        env.reset(seed=seed, options={"task_id": "miniwob.click-button"})
        want = re.search(r'"(.+?)"', env.intent).group(1)
        buttons = env.read_page("() => [...document.querySelectorAll('#area button')].map((b) => b.textContent)")
        wrong = next((i for i, b in enumerate(buttons) if b != want), None)
        if wrong is not None:
            break
    assert wrong is not None
    env.step({"name": "click", "arguments": {"id": env.element_id(f"#area button:nth-of-type({wrong + 1})")}})
    assert env.read_page("() => [WOB_RAW_REWARD_GLOBAL, WOB_EPISODE_ID]") == [-1, 1]
    assert not env.read_page("() => { const c = document.getElementById('sync-task-cover'); return !!c && c.offsetParent !== null; }")
    env.step({"name": "goto", "arguments": {"url": "/miniwob/click-button.html"}})
    env.step({"name": "click", "arguments": {"id": env.element_id("#area button")}})
    _, reward, term, _, _ = env.step({"name": "send_msg_to_user", "arguments": {"text": "done"}})
    assert term and reward == 0.0 and "loaded 2 times" in env.last_check


# ---- the same hooks on a page of one's own: a seeded quiz that knows nothing of agentgym --------------
QUIZ = """<!doctype html><title>Sum</title><p id="q"></p><input id="a"><button id="b">Check</button><script>
const r = window.quizRandom || Math.random;
const x = Math.floor(r() * 50), y = Math.floor(r() * 50);
document.getElementById('q').textContent = 'What is ' + x + ' + ' + y + '?';
document.getElementById('b').onclick = () => { window.score = Number(document.getElementById('a').value) === x + y ? 1 : -1; };
</script>"""
# The init script gives the page a random source seeded by the episode (a tiny LCG: no library needed).
SEEDING = "let s = seed; window.quizRandom = () => { s = (s * 1103515245 + 12345) % 2147483648; return s / 2147483648; };"


class SumPolicy:
    """A reference policy that reads the problem off the observation text."""

    def __init__(self, env, task):
        self.env, self.i = env, 0

    def reset(self, obs, info):
        self.i, self.obs = 0, obs

    def act(self, obs, info):
        self.i += 1
        if self.i == 1:
            x, y = map(int, re.search(r"What is (\d+) \+ (\d+)\?", self.env.intent).groups())
            return ToolCall(name="fill", arguments={"id": self.env.element_id("#a"), "value": str(x + y)})
        if self.i == 2:
            return ToolCall(name="click", arguments={"id": self.env.element_id("#b")})
        return ToolCall(name="send_msg_to_user", arguments={"text": "done"})


def policy(env, task):
    return SumPolicy(env, task)


def test_bring_your_own_seeded_page_with_a_policy_oracle(tmp_path):
    (tmp_path / "sum.html").write_text(QUIZ)
    site = {"name": "sums", "static_dir": str(tmp_path), "init_script": SEEDING}
    task = {"id": "sum", "template": "sum", "kind": "widget", "sites": ["sums"], "start": ["sums", "/sum.html"],
            "intent": "Answer the question.", "intent_from_page": "document.getElementById('q').textContent",
            "checks": [{"kind": "hook", "name": "score", "min": 0, "above": True}], "oracle": [],
            "oracle_policy": f"{__name__}:policy", "min_steps": 2, "split": "test"}
    with WebEnv(runtime="local", sites=[site], tasks=[task], prewarm=False) as env:
        questions = set()
        for seed in (1, 1, 2):
            env.reset(seed=seed)
            questions.add((seed, env.intent))
        assert len(questions) == 2 and all(q.startswith("Answer the question. What is ") for _, q in questions)
    agentgym.register("test-byo-sum", "agentgym.envs.web.env:WebEnv", kwargs={"sites": [site], "tasks": [task]},
                      runtimes=["local"])
    report = validate("test-byo-sum", runtime="local")
    assert (report.gold_pass_rate, report.null_pass_rate, report.errors) == (1.0, 0.0, 0), report.rows


def test_a_broken_init_script_leaves_the_page_running(tmp_path):
    (tmp_path / "sum.html").write_text(QUIZ)
    site = {"name": "sums", "static_dir": str(tmp_path), "init_script": "throw new Error('boom');"}
    task = {"id": "sum", "template": "sum", "kind": "widget", "sites": ["sums"], "start": ["sums", "/sum.html"],
            "intent": "", "intent_from_page": "document.getElementById('q').textContent",
            "checks": [{"kind": "hook", "name": "score"}], "oracle": [], "min_steps": 2, "split": "test"}
    with WebEnv(runtime="local", sites=[site], tasks=[task], prewarm=False) as env:
        env.reset()
        assert env.intent.startswith("What is ")
