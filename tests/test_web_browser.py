"""The shared browser and what an env holds: counted per browser (a crashed Chromium is replaced
without leaking the new one), an env recovers from a dead browser, a failed episode start leaves
no context behind, and an env that nobody closes is released by the garbage collector."""

from __future__ import annotations

import gc
import time

import psutil
import pytest

import agentgym
from agentgym.envs.web.browser import BrowserHost
from agentgym.envs.web.session import Session
from procs import children_named, wait_gone

pytestmark = pytest.mark.slow


def _gone(pids: list[int], timeout: float = 10.0) -> bool:
    procs = []
    for pid in pids:
        try:
            procs.append(psutil.Process(pid))
        except psutil.NoSuchProcess:
            pass
    return not wait_gone(procs, timeout)


def test_a_replaced_browser_is_still_counted_and_closed():
    a = BrowserHost.acquire()
    b = BrowserHost.acquire()
    assert a is b
    a.call(a.browser.close())  # Chromium dies under two users
    assert not a.alive
    c = BrowserHost.acquire()  # the next user gets a new one
    assert c is not a and c.alive
    BrowserHost.release(a)
    BrowserHost.release(b)
    assert a.closed and not c.closed
    BrowserHost.release(c)  # its last user: it must close, not linger until exit
    assert c.closed


def test_env_recovers_when_chromium_dies():
    with agentgym.make("web-widgets", runtime="local") as env:
        env.reset(options={"task_id": "widget_tabs-0"})
        dead = env.browser
        dead.call(dead.browser.close())
        obs, _ = env.reset(options={"task_id": "widget_tabs-0"})
        assert env.browser is not dead and env.browser.alive and "Settings" in obs["text"]


def test_failed_start_leaves_no_context():
    host = BrowserHost.acquire()
    try:
        before = len(host.browser.contexts)
        with pytest.raises(Exception):  # nothing listens on port 9: the start page cannot load
            host.call(Session.open(host.browser, ["http://127.0.0.1:9"], "http://127.0.0.1:9/"))
        assert len(host.browser.contexts) == before
    finally:
        BrowserHost.release(host)


def test_unclosed_env_is_released_by_gc():
    env = agentgym.make("web-widgets", runtime="local")
    env.reset(options={"task_id": "widget_tabs-0"})
    servers = [p.pid for p in env.host.procs]
    browser = env.browser
    chromium = [p.pid for p in children_named("chrom")]
    assert servers and chromium
    del env
    gc.collect()
    assert _gone(servers), "site server left running"
    assert browser.closed and _gone(chromium), "Chromium left running"


def test_nothing_carries_over_between_episodes():
    """Cookies, local and session storage, tabs and history stay in their episode, also when the
    next episode's context is the last one's, recycled (or, when not, made ahead: prewarm)."""
    fresh = None
    with agentgym.make("web-shop", runtime="local") as env:
        for episode in range(4):
            env.reset(options={"task_id": "shop_price-0"})
            page, call = env.session.page, env.browser.call
            seen = call(page.evaluate("() => [document.cookie, localStorage.length, sessionStorage.length, history.length]"))
            fresh = fresh or seen  # the first episode's context is new by construction
            assert seen == fresh == ["", 0, 0, fresh[3]] and fresh[3] <= 2, f"episode {episode} inherited {seen}"
            obs, *_ = env.step({"name": "go_back"})
            assert "/cart" not in obs["url"] and "/orders" not in obs["url"]  # no page of the last episode
            env.step({"name": "goto", "arguments": {"url": "/"}})
            assert call(env.session.context.cookies()) == [] and len(env.session.pages) == 1
            call(page.evaluate("() => { document.cookie = 'who=agent; max-age=3600'; localStorage.setItem('k', 'v');"
                               " sessionStorage.setItem('k', 'v'); }"))
            env.step({"name": "goto", "arguments": {"url": "/cart"}})
            env.step({"name": "new_tab", "arguments": {"url": "/orders"}})
            assert call(env.session.context.cookies())[0]["name"] == "who"


LEAK_PAGE = "<!doctype html><title>Leak</title><p>page</p>"
READ_STATE = """async () => [document.cookie, localStorage.length, sessionStorage.length, history.length, window.name,
  window.__seeds, (await indexedDB.databases()).length, (await caches.keys()).length]"""
WRITE_STATE = """async () => { document.cookie = 'who=agent; max-age=3600'; localStorage.setItem('k', 'v');
  sessionStorage.setItem('k', 'v'); window.name = 'leak';
  await new Promise((r) => { const q = indexedDB.open('leakdb'); q.onsuccess = r; q.onerror = r; });
  await caches.open('leakcache'); window.open('/two.html'); }"""


def test_a_recycled_context_carries_nothing_over(tmp_path):
    """Episodes of one env share a browser context, recycled between them: none sees what the
    last one left (cookies, every storage, window name, tabs, history, init scripts with its seed),
    and a context whose site asked for HTTP authentication is not recycled but replaced."""
    from agentgym.envs.web.env import WebEnv
    from agentgym.envs.web.held import RECYCLE

    for name in ("index.html", "two.html"):
        (tmp_path / name).write_text(LEAK_PAGE)
    site = {"name": "leak", "static_dir": str(tmp_path), "init_script": "window.__seeds = (window.__seeds || []).concat([seed]);"}
    task = {"id": "leak", "template": "leak", "kind": "widget", "sites": ["leak"], "start": ["leak", "/"], "intent": "x",
            "checks": [{"kind": "hook"}], "min_steps": 1, "split": "train", "oracle": []}
    with WebEnv(runtime="local", sites=[site], tasks=[task]) as env:
        contexts = []
        for seed in (5, 6, 7, 8):
            if seed == 8:
                env.session.proxy.auth_seen = True  # as if a site had asked for credentials
            env.reset(seed=seed)
            contexts.append(env.session.context)
            call = env.browser.call
            seen = call(env.session.page.evaluate(READ_STATE))
            assert seen[3] <= 2 and seen[:3] + seen[4:] == ["", 0, 0, "", [seed], 0, 0], f"episode {seed} inherited {seen}"
            assert len(env.session.pages) == 1 and call(env.session.context.cookies()) == []
            obs, *_ = env.step({"name": "go_back"})
            assert "two.html" not in obs["url"] and "two.html" not in obs["tabs"]  # no page of the last episode
            env.step({"name": "goto", "arguments": {"url": "/"}})
            call(env.session.page.evaluate(WRITE_STATE))
            env.step({"name": "goto", "arguments": {"url": "/two.html"}})
            assert len(env.session.pages) == 2 and call(env.session.context.cookies())[0]["name"] == "who"
        if RECYCLE:
            assert contexts[0] is contexts[1] is contexts[2] and contexts[3] is not contexts[2]


def test_gc_on_the_browser_thread_does_not_block_it():
    """The collector may free an unclosed env on any thread, the browser's loop thread included;
    releasing it there must not wait on that very loop."""
    keep = agentgym.make("web-widgets", runtime="local")
    keep.reset(options={"task_id": "widget_tabs-0"})
    env = agentgym.make("web-widgets", runtime="local")
    env.reset(options={"task_id": "widget_tabs-0"})
    servers, host = [p.pid for p in env.host.procs], env.browser
    assert host is keep.browser

    async def collect() -> float:
        t = time.monotonic()
        gc.collect()
        return time.monotonic() - t

    gc.disable()
    try:
        del env
        took = host.call(collect(), timeout=90)
    finally:
        gc.enable()
    try:
        assert took < 5, f"the collector held the browser loop for {took:.0f} s"
        assert _gone(servers)
        obs, *_ = keep.step({"name": "noop"})
        assert obs["last_action_error"] == ""
    finally:
        keep.close()
