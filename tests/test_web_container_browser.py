"""WebEnv with browser="container": Debian's Chromium in a container on the sites' internal
network, driven over CDP. Tasks pass through it, its network is a wall of its own (the host's
loopback is out of reach even for a page outside the route filter and the proxy), and nothing
is left once the env closes."""

from __future__ import annotations

import http.server
import threading

import pytest

import agentgym
from agentgym.rollout import run_episode

TASKS = ["shop_buy-0", "shop_tabs-0", "widget_dragdrop-0", "tracker_new_issue-0"]


def _labelled(api, kind: str) -> list:
    from agentgym.sandbox import reaper

    return api.containers(all=True, filters={"label": [f"agentgym.run={reaper.RUN_ID}", f"agentgym.kind={kind}"]})


def test_container_browser_needs_the_docker_runtime():
    with pytest.raises(ValueError, match="runtime='docker'"):
        agentgym.make("web-lite", runtime="local", browser="container")
    with pytest.raises(ValueError, match="browser="):
        agentgym.make("web-lite", runtime="local", browser="firefox")


@pytest.fixture
def host_only_server():
    """A server on the host's loopback, which a browser on the host could reach."""

    class Secret(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"host-secret")

        def log_message(self, *args):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Secret)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/"
    srv.shutdown()


async def _raw_visit(browser, url: str) -> str:
    """Open `url` in a context of its own: no route filter, no proxy, only the network between."""
    context = await browser.new_context()
    try:
        page = await context.new_page()
        await page.goto(url, timeout=5000)
        return await page.content()
    except Exception as exc:  # noqa: BLE001 - the refusal is the answer
        return f"failed: {exc}"
    finally:
        await context.close()


@pytest.mark.docker
@pytest.mark.slow
def test_container_browser_runs_tasks_walls_and_cleans_up(host_only_server):
    from agentgym.sandbox import reaper

    api = reaper.docker_client().api
    env = agentgym.make("web", runtime="docker", browser="container")
    try:
        for task_id in TASKS:
            env.reset(options={"task_id": task_id})  # the oracle is the current task's
            traj = run_episode(env, env.reference_policy(), options={"task_id": task_id})
            assert traj.passed, (task_id, env.last_check)
        (box,) = _labelled(api, "web-browser")
        (sites,) = _labelled(api, "web-sites")
        nets = api.inspect_container(box["Id"])["NetworkSettings"]["Networks"]
        assert list(nets) == list(api.inspect_container(sites["Id"])["NetworkSettings"]["Networks"])
        assert api.inspect_network(next(iter(nets)))["Internal"] is True
        assert env.browser.endpoint == env.host.cdp_url and env.host.cdp_url.startswith("http://")

        # The agent's tools: the route filter and the proxy refuse what is not the task's site.
        env.reset(options={"task_id": TASKS[0]})
        obs, *_ = env.step({"name": "goto", "arguments": {"url": host_only_server}})
        assert "blocked" in obs["last_action_error"] and "host-secret" not in obs["text"]
        # Under them, the network: a page with neither wall still cannot reach the host's loopback,
        # while the sites answer it (the same visit from a browser on the host would get the secret).
        assert "host-secret" not in env.browser.call(_raw_visit(env.browser.browser, host_only_server))
        assert "Shop" in env.browser.call(_raw_visit(env.browser.browser, env.host.origins["shop"] + "/"))
    finally:
        env.close()
    assert _labelled(api, "web-browser") == [] and _labelled(api, "web-sites") == []
