"""The web env's coordinate and selection tools (coords=True): element boxes in the page text, the
mouse at points, the wheel, a text selected with the mouse; and coords=False leaving all as it was.
One static site (pages written here, shaped like MiniWoB's canvas, drag and highlight tasks) and
one env per mode, shared by the module."""

from __future__ import annotations

import math
import re

import pytest

from agentgym.envs.web.env import WebEnv

pytestmark = pytest.mark.slow

# Events the page saw, as the MiniWoB pages read them (clientX/Y of the click, a drag by mouse events).
PAGE = """<!doctype html><html><head><title>Coords</title><style>
body { margin: 0; font: 16px sans-serif; } #box { position: absolute; left: 300px; top: 40px; width: 40px; height: 40px; background: red; }
#c { position: absolute; left: 20px; top: 20px; border: 0; } #ta { position: absolute; left: 20px; top: 160px; width: 200px; height: 60px; }
#para { position: absolute; left: 20px; top: 250px; width: 600px; margin: 0; } #next { position: absolute; left: 20px; top: 320px; }
</style></head><body>
<canvas id="c" width="200" height="100"></canvas>
<div id="box" onmousedown="drag.on = true" title="box"></div>
<textarea id="ta" disabled></textarea>
<p id="para">The quick <b>brown fox</b>
   jumps over the lazy dog.</p>
<a id="next" href="#" onclick="setTimeout(() => location.href = '/two.html', 0); return false;">Next page</a>
<script>
window.events = []; window.drag = {on: false};
const log = (e) => events.push([e.type, e.clientX, e.clientY, e.button, e.buttons]);
document.getElementById('c').addEventListener('click', log);
for (const t of ['mousedown', 'mouseup', 'dblclick', 'contextmenu']) document.getElementById('c').addEventListener(t, log);
document.addEventListener('mousemove', (e) => { window.lastButtons = e.buttons;
  if (drag.on) { const b = document.getElementById('box'); b.style.left = (e.clientX - 20) + 'px'; b.style.top = (e.clientY - 20) + 'px'; } });
document.addEventListener('mouseup', () => { drag.on = false; window.upSelection = getSelection().toString(); });
document.getElementById('ta').value = Array.from({length: 60}, (_, i) => 'line ' + i).join('\\n');
</script></body></html>"""
TWO = "<!doctype html><title>Two</title><h1>Page two</h1><button>Back</button>"
OLD_TOOLS = ["click", "fill", "select_option", "press", "hover", "scroll", "drag", "goto", "go_back", "go_forward",
             "new_tab", "tab_focus", "tab_close", "send_msg_to_user", "report_infeasible", "noop"]
NEW_TOOLS = ["mouse_click", "mouse_move", "mouse_down", "mouse_up", "mouse_drag", "wheel", "select_text"]
BOX = re.compile(r" @(-?\d+),(-?\d+),(\d+),(\d+)$")


def _make(site, coords: bool) -> WebEnv:
    task = {"id": "coords", "template": "coords", "kind": "widget", "sites": ["t"], "start": ["t", "/index.html"],
            "intent": "Play with the page.", "checks": [{"kind": "hook"}], "min_steps": 1, "split": "train", "oracle": []}
    return WebEnv(runtime="local", sites=[{"name": "t", "static_dir": str(site)}], tasks=[task], coords=coords)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    d = tmp_path_factory.mktemp("coords")
    (d / "index.html").write_text(PAGE)
    (d / "two.html").write_text(TWO)
    return d


@pytest.fixture(scope="module")
def env(site):
    with _make(site, True) as e:
        yield e


def act(env, name, **args):
    return env.step({"name": name, "arguments": args})[0]


def js(env, expr):
    return env.read_page(expr)


def test_coords_off_leaves_tools_and_page_text_as_they_were(site, env):
    with _make(site, False) as off:
        obs_off, _ = off.reset()
        assert [t["function"]["name"] for t in off.tools] == OLD_TOOLS  # the list (and order) before coords existed
        assert " @" not in obs_off["text"] and "@x,y,w,h" not in obs_off["text"]
    obs, _ = env.reset()
    assert [t["function"]["name"] for t in env.tools] == OLD_TOOLS[:-3] + NEW_TOOLS + OLD_TOOLS[-3:]
    lines = obs["text"].split("\n\n", 2)[-1].split("\n")
    with_ids = [ln for ln in lines if re.match(r"\s*\[\d+\] ", ln)]
    assert with_ids and all(BOX.search(ln) for ln in with_ids), lines
    # the same page text, boxes aside
    assert [BOX.sub("", ln) for ln in lines] == obs_off["text"].split("\n\n", 2)[-1].split("\n")


def test_box_in_the_page_text_is_the_elements_client_rect(env):
    obs, _ = env.reset()
    act(env, "scroll", dy=0)  # boxes are relative to the viewport as it is now
    checked = 0
    for line in obs["text"].split("\n"):
        m = re.match(r"\s*\[(\d+)\] .* @(-?\d+),(-?\d+),(\d+),(\d+)$", line)
        if m:
            r = js(env, f"(() => {{ const r = document.querySelector('[data-agid=\"{m[1]}\"]').getBoundingClientRect();"
                        " return [r.left, r.top, r.width, r.height].map(Math.round); })()")
            assert [int(v) for v in m.groups()[1:]] == r, line
            checked += 1
    assert checked >= 4
    assert re.search(r'\[\d+\] \w+ .*@300,40,40,40$', obs["text"], re.M), obs["text"]  # the red box where CSS put it


def test_mouse_click_on_a_canvas_records_the_point(env):
    env.reset()
    act(env, "mouse_click", x=57.5, y=81)
    act(env, "mouse_click", x=100, y=30, button="right")
    act(env, "mouse_click", x=120, y=90, double=True)
    ev = js(env, "events")
    assert ["click", 57.5, 81, 0, 0] in ev or ["click", 57, 81, 0, 0] in ev, ev
    assert ["contextmenu", 100, 30, 2, 2] in ev and ["dblclick", 120, 90, 0, 0] in ev, ev


def test_mouse_drag_moves_a_draggable_and_down_up_move_it_too(env):
    env.reset()
    obs = act(env, "mouse_drag", from_x=320, from_y=60, to_x=520, to_y=460)
    assert obs["last_action_error"] == ""
    assert js(env, "[document.getElementById('box').style.left, document.getElementById('box').style.top]") == ["500px", "440px"]
    assert re.search(r"@500,440,40,40$", obs["text"], re.M)
    act(env, "mouse_down", x=520, y=460)
    act(env, "mouse_move", x=600, y=200)
    assert js(env, "window.lastButtons") == 1
    act(env, "mouse_up", x=610, y=210)
    assert js(env, "document.getElementById('box').style.left") == "590px"
    act(env, "mouse_move", x=700, y=300)
    assert js(env, "[window.lastButtons, document.getElementById('box').style.left]") == [0, "590px"]


def test_wheel_scrolls_a_disabled_textarea(env):
    env.reset()
    obs = act(env, "hover", id=env.element_id("#ta"))
    assert "disabled" in obs["last_action_error"]  # why wheel exists: the element tools refuse it
    obs = act(env, "wheel", x=100, y=190, dy=300)
    assert obs["last_action_error"] == "" and js(env, "document.getElementById('ta').scrollTop") > 0


def test_the_observation_after_scroll_shows_the_page_scrolled(env):
    """scroll lands a frame or more after Playwright's wheel returns: the step waits for it (as
    wheel does), so the boxes in the page text it returns are those of the scrolled page."""
    env.reset()
    js(env, "(() => { document.body.style.height = '5000px'; document.getElementById('next').style.top = '3000px'; })()")
    ident = env.element_id("#next")
    at = re.compile(rf"^\s*\[{ident}\] .*@20,(-?\d+),\d+,\d+$", re.M)
    y = 0
    for dy in (400, 900, -700, 1500, -2100):  # never past an end of the page: each lands whole
        obs, y = act(env, "scroll", dy=dy), y + dy
        assert obs["last_action_error"] == "" and int(at.search(obs["text"])[1]) == 3000 - y, (dy, y, obs["text"])


def test_select_text_selects_it_with_the_mouse(env):
    env.reset()
    para = env.element_id("#para")
    obs = act(env, "select_text", id=para, text="brown fox jumps over")  # across an inline element and a line break
    assert obs["last_action_error"] == ""
    assert js(env, "getSelection().toString().replace(/\\s+/g, ' ')") == "brown fox jumps over"
    assert js(env, "window.upSelection.replace(/\\s+/g, ' ')") == "brown fox jumps over"  # the page saw a real mouseup
    obs = act(env, "select_text", id=para, text="lazy cat")
    assert "'lazy cat' is not in the text of" in obs["last_action_error"]


def test_bad_points_are_action_errors_the_agent_reads(env):
    env.reset()
    for x, y in ((-1, 10), (10, 800), (1280, 0), (math.nan, 5), (math.inf, 5), (1e308, 1e308)):
        obs, _, _, _, info = env.step({"name": "mouse_click", "arguments": {"x": x, "y": y}})
        assert "outside the viewport" in obs["last_action_error"] and "error" not in info, (x, y, info)
    obs = act(env, "mouse_drag", from_x=10, from_y=10, to_x=10, to_y=-5)
    assert "outside the viewport" in obs["last_action_error"]
    obs = act(env, "wheel", x=10, y=10, dy=10**9)
    assert "within" in obs["last_action_error"]
    assert js(env, "events") == []


def test_a_coordinate_click_waits_for_the_navigation_it_began(env):
    obs, _ = env.reset()
    m = re.search(r'link "Next page".* @(\d+),(\d+),(\d+),(\d+)$', obs["text"], re.M)
    x, y, w, h = map(int, m.groups())
    obs = act(env, "mouse_click", x=x + w / 2, y=y + h / 2)
    assert obs["url"].endswith("/two.html") and "Page two" in obs["text"], obs["text"]


def test_a_button_left_pressed_is_released_at_reset(env):
    env.reset()
    act(env, "mouse_down", x=320, y=60)
    assert env.session.pressed
    env.reset()
    assert not env.session.pressed
    act(env, "mouse_move", x=400, y=400)  # the new episode's page sees no button held, and the box stays put
    assert js(env, "[window.lastButtons, document.getElementById('box').getBoundingClientRect().left]") == [0, 300]


def test_fork_replays_coordinate_actions(env):
    env.reset()
    act(env, "mouse_drag", from_x=320, from_y=60, to_x=420, to_y=160)
    act(env, "select_text", id=env.element_id("#para"), text="quick")
    with env.fork() as clone:  # replayed, then checked to show the same page text (boxes included)
        page = clone.page_text().split("\n\n", 1)[1]
        assert "@400,140,40,40" in page and page == env.page_text().split("\n\n", 1)[1]
        assert clone.read_page("getSelection().toString()") == "quick"


@pytest.mark.docker
def test_mouse_click_on_docker(site):
    with WebEnv(runtime="docker", sites=[{"name": "t", "static_dir": str(site)}], coords=True,
                tasks=[{"id": "c", "template": "c", "kind": "widget", "sites": ["t"], "start": ["t", "/index.html"],
                        "intent": "x", "checks": [{"kind": "hook"}], "min_steps": 1, "split": "train", "oracle": []}]) as e:
        obs, _ = e.reset()
        assert "@20,20,200,100" in obs["text"]
        act(e, "mouse_click", x=30, y=40)
        assert ["click", 30, 40, 0, 0] in js(e, "events")
