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
    next episode's context was made ahead (prewarm)."""
    fresh = None
    with agentgym.make("web-shop", runtime="local") as env:
        for episode in range(4):
            env.reset(options={"task_id": "shop_price-0"})
            if episode >= 2:
                assert env._held.spare is not None or episode == 3  # the next context is being made
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
