"""Bring your own site: a folder of static pages with a page reward hook, and a user task with its
own Python check over a site's server state, each registered as a new id from user code."""

from __future__ import annotations

import pytest
from procs import wait_gone

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
    for short in ("my-quiz", "my-cart", "my-poll"):
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


def test_real_miniwob_pages_as_a_static_site():
    """The miniwob package's pages served as they are, rewarded by their own globals."""
    import importlib.util
    import os

    spec = importlib.util.find_spec("miniwob")
    if spec is None:
        pytest.skip("the miniwob package (the web extra) is not installed")
    html = os.path.join(spec.submodule_search_locations[0], "html")
    task = {"id": "mw-click-test", "template": "click-test", "kind": "widget", "sites": ["mw"],
            "start": ["mw", "/miniwob/click-test.html"], "intent": "Click the button.", "min_steps": 2, "split": "train",
            "checks": [{"kind": "hook", "name": "WOB_RAW_REWARD_GLOBAL", "attempts": "WOB_EPISODE_ID"}],
            "oracle": [{"tool": "click", "ids": {"id": "#sync-task-cover"}}, {"tool": "click", "ids": {"id": "#subbtn"}}]}
    agentgym.register("my-quiz", "agentgym.envs.web.env:WebEnv",
                      kwargs={"sites": [{"name": "mw", "static_dir": html}], "tasks": [task]}, runtimes=["local"])
    report = validate("my-quiz", runtime="local")
    assert (report.tasks, report.gold_pass_rate, report.null_pass_rate, report.errors) == (1, 1.0, 0.0, 0)


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


# ---- a served app of the user's own: stdlib only, so the same folder runs locally and in Docker ----
APP = r'''
import json, os, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

TOKEN = os.environ["AGENTGYM_WEB_TOKEN"]
VOTES = []
open("app.pid", "w").write(str(os.getpid()))
sys.stderr.write("chatty app starting " + "." * 200000 + "\n")  # more than a pipe holds: must not block the app
sys.stderr.flush()
PROBE = """<!doctype html><title>probe</title><p id=p>probing</p><script>
const to = new URLSearchParams(location.search).get('to'), udp = new URLSearchParams(location.search).get('udp');
try { new WebSocket(to.replace('http', 'ws') + '/ws'); } catch (e) {}
try { new SharedWorker(URL.createObjectURL(new Blob(['fetch("' + to + '/shared-worker")']))); } catch (e) {}
try { const pc = new RTCPeerConnection({iceServers: [{urls: 'stun:' + udp}]}); pc.createDataChannel('x');
      pc.createOffer().then(o => pc.setLocalDescription(o)); } catch (e) {}
</script>"""


class H(BaseHTTPRequestHandler):
    def send(self, code, body="", ctype="text/html", location=None):
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        if location:
            self.send_header("Location", location)
        self.end_headers()
        self.wfile.write(data)

    def admin(self, path):
        if path == "/__health":
            return self.send(200, "{}", "application/json")
        if self.headers.get("X-Agentgym-Token") != TOKEN:
            return self.send(403, "{}", "application/json")
        if path == "/__reset" and self.command == "POST":
            VOTES.clear()
        return self.send(200, json.dumps({"votes": VOTES}), "application/json")

    def do_GET(self):
        url = urlsplit(self.path)
        q = {k: v[-1] for k, v in parse_qs(url.query).items()}
        if url.path.startswith("/__"):
            return self.admin(url.path)
        if url.path == "/":
            return self.send(200, "<!doctype html><title>Poll</title><h1>Favourite colour</h1><form method=post action=/vote>"
                             "<select id=choice name=choice><option>red</option><option>green</option><option>blue</option>"
                             "</select><button>Vote</button></form>")
        if url.path == "/thanks":
            return self.send(200, "<!doctype html><title>Thanks</title><p>Thanks for voting.</p>")
        if url.path == "/away":  # an open redirect, as real apps have them
            return self.send(302, location=q["to"])
        if url.path == "/probe":
            return self.send(200, PROBE)
        if url.path == "/links":  # links a page may hold but the browser must not follow
            return self.send(200, "<!doctype html><title>Links</title>" + "".join(
                f"<p><a id=l{i} href='{h}'>link {i}</a></p>" for i, h in enumerate(
                    ["file:///etc/passwd", "view-source:/", "chrome://version",
                     "data:text/html;base64,PGgxPmlubGluZSBkYXRhIHBhZ2U8L2gxPg=="])))  # <h1>inline data page</h1>
        if url.path == "/late":  # a page whose button comes a moment after it loads
            return self.send(200, "<!doctype html><title>Late</title><div id=box></div><script>setTimeout(() => "
                             "{ document.getElementById('box').innerHTML = '<button id=late>Late</button>'; }, 600)</script>")
        if url.path == "/slow":
            return self.send(200, "<!doctype html><title>Slow</title><form method=post action=/slow-post>"
                             "<button type=button onclick='setTimeout(() => this.form.submit(), 0)'>Go</button></form>")
        self.send(404, "not found")

    def do_POST(self):
        url = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        if url.path.startswith("/__"):
            return self.admin(url.path)
        if url.path == "/vote":
            VOTES.append(parse_qs(body)["choice"][0])
            return self.send(303, location="/thanks")
        if url.path == "/slow-post":  # submitted by a script, answered slowly: the click returns long before the new page
            import time
            time.sleep(0.8)
            return self.send(303, location="/thanks")
        if url.path == "/away-post":
            return self.send(307, location=parse_qs(urlsplit(self.path).query)["to"][0])
        self.send(404, "not found")


ThreadingHTTPServer((sys.argv[1], int(sys.argv[2])), H).serve_forever()
'''


def voted(before, after, colour):
    return after["votes"] == [colour], f"votes: {after['votes']}"


def _app_env(app_dir, name: str, runtime: str):
    (app_dir / "app.py").write_text(APP)
    register_state_check("user.voted", voted)
    task = {"id": "vote-green", "template": "vote", "kind": "state", "sites": ["poll"], "start": ["poll", "/"],
            "intent": "Vote for green.", "min_steps": 3, "split": "train",
            "checks": [{"kind": "state", "site": "poll", "fn": "user.voted", "params": {"colour": "green"}}],
            "oracle": [{"tool": "select_option", "ids": {"id": "#choice"}, "args": {"options": "green"}},
                       {"tool": "click", "ids": {"id": "button"}}]}
    site = {"name": "poll", "command": ["python3", "app.py", "{host}", "{port}"], "app_dir": str(app_dir)}
    agentgym.register(name, "agentgym.envs.web.env:WebEnv", kwargs={"sites": [site], "tasks": [task]}, runtimes=[runtime])


def test_served_app_site_with_own_state_check(tmp_path):
    _app_env(tmp_path, "my-poll", "local")
    report = validate("my-poll", runtime="local")
    assert (report.tasks, report.gold_pass_rate, report.null_pass_rate, report.errors) == (1, 1.0, 0.0, 0)
    with agentgym.make("my-poll", runtime="local") as env:  # a wrong vote is read from the app's state and fails
        env.reset()
        env.step({"name": "select_option", "arguments": {"id": env.element_id("#choice"), "options": "red"}})
        obs, *_ = env.step({"name": "click", "arguments": {"id": env.element_id("button")}})
        assert "Thanks for voting" in obs["text"]
        _, r, term, _, _ = env.step({"name": "send_msg_to_user", "arguments": {"text": "done"}})
        assert term and r == 0.0 and "['red']" in env.last_check


@pytest.mark.docker
def test_served_app_site_on_docker(tmp_path):
    _app_env(tmp_path, "my-poll", "docker")
    report = validate("my-poll", runtime="docker")
    assert (report.tasks, report.gold_pass_rate, report.null_pass_rate, report.errors) == (1, 1.0, 0.0, 0)


def test_observation_after_a_slow_navigation_shows_the_new_page(tmp_path):
    _app_env(tmp_path, "my-poll", "local")
    with agentgym.make("my-poll", runtime="local") as env:
        env.reset()
        env.step({"name": "goto", "arguments": {"url": "/slow"}})
        obs, *_ = env.step({"name": "click", "arguments": {"id": env.element_id("button")}})
        assert obs["url"].endswith("/thanks") and "Thanks for voting" in obs["text"], obs["text"]


def test_oracle_lookup_waits_for_an_element_still_coming(tmp_path, monkeypatch):
    from agentgym.envs.web import browseractions

    _app_env(tmp_path, "my-poll", "local")
    with agentgym.make("my-poll", runtime="local") as env:
        env.reset()
        env.step({"name": "goto", "arguments": {"url": "/late"}})
        ident = env.element_id("#late")
        obs, *_ = env.step({"name": "click", "arguments": {"id": ident}})
        assert obs["last_action_error"] == ""
        monkeypatch.setattr(browseractions, "NAV_TIMEOUT_MS", 2000)  # one that never comes: no need to wait 15 s for it
        with pytest.raises(LookupError):
            env.element_id("#never")


def test_docker_command_site_needs_its_folder():
    from agentgym.envs.web.hosting import DockerSiteHost, SiteSpec

    with pytest.raises(ValueError, match="needs app_dir"):
        DockerSiteHost([SiteSpec(name="poll", command=["python3", "app.py"])])


class _Outside:
    """A server that is not one of the task's sites (TCP and UDP on loopback): it must hear nothing."""

    def __init__(self):
        import socket
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.hits: list[str] = []
        hits = self.hits

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                hits.append(self.path)
                self.send_response(200)
                self.send_header("Content-Length", "7")
                self.end_headers()
                self.wfile.write(b"outside")

            do_POST = do_GET

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        self.udp.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}"
        self.udp_addr = f"127.0.0.1:{self.udp.getsockname()[1]}"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()
        threading.Thread(target=self._udp, daemon=True).start()

    def _udp(self):
        while True:
            try:
                self.udp.recvfrom(2048)
                self.hits.append("udp")
            except TimeoutError:
                continue
            except OSError:
                return

    def close(self):
        self.http.shutdown()
        self.http.server_close()
        self.udp.close()


def _tabs(obs) -> list[dict]:
    return [{"url": line.split("\t")[2]} for line in obs["tabs"].splitlines()]


def test_nothing_but_the_task_sites_is_reached(tmp_path):
    """Redirect hops, 307 form posts, WebSockets, shared workers and WebRTC never pass Playwright's
    route(); the episode's filtering proxy (and the WebRTC policy) stops them all the same."""
    import time

    _app_env(tmp_path, "my-poll", "local")
    out = _Outside()
    try:
        with agentgym.make("my-poll", runtime="local") as env:
            env.reset()
            obs, *_ = env.step({"name": "goto", "arguments": {"url": f"/away?to={out.url}/redirected"}})
            assert "outside" not in obs["text"] and "Blocked" in obs["text"]
            env.step({"name": "goto", "arguments": {"url": f"/away?to=/__state"}})  # a redirect to the admin path
            obs, *_ = env.step({"name": "goto", "arguments": {"url": f"/probe?to={out.url}&udp={out.udp_addr}"}})
            time.sleep(2.0)  # the probe's WebSocket, worker and ICE gathering run on their own
            assert out.hits == []
            blocked = " ".join(env.session.blocked)
            assert "/redirected" in blocked and "/__state" in blocked and "/shared-worker" in blocked
            for i in range(4):  # file:, view-source:, chrome:, data: links lead nowhere
                env.step({"name": "goto", "arguments": {"url": "/links"}})
                obs, *_ = env.step({"name": "click", "arguments": {"id": env.element_id(f"#l{i}")}})
                assert all(t["url"].startswith("http") for t in _tabs(obs)), obs["tabs"]
                assert "root:x:" not in obs["text"] and "inline data page" not in obs["text"] and "Chromium" not in obs["text"]
                while len(env.session.pages) > 1:
                    env.step({"name": "tab_close", "arguments": {}})
            # After a blocked page, a relative URL still means the task's site.
            obs, *_ = env.step({"name": "goto", "arguments": {"url": "/"}})
            assert obs["last_action_error"] == "" and "Favourite colour" in obs["text"]
    finally:
        out.close()
    assert out.hits == []


def test_app_dies_with_its_host_process(tmp_path):
    """The user's app runs under the site server, so a SIGKILLed env process leaves no app behind."""
    import signal
    import subprocess
    import sys

    import psutil

    (tmp_path / "app.py").write_text(APP)
    child = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from agentgym.envs.web.hosting import LocalSiteHost, SiteSpec; "
        f"h = LocalSiteHost([SiteSpec(name='poll', command=['python3', 'app.py', '{{host}}', '{{port}}'], app_dir={str(tmp_path)!r})]); "
        "print('ready', flush=True); time.sleep(60)")], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        app = psutil.Process(int((tmp_path / "app.pid").read_text()))
        assert app.is_running()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert wait_gone([app]) == []
