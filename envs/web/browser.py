"""One Chromium per process, driven by Playwright's async API on a private event-loop thread.

Why a loop thread: Playwright's sync API binds a browser to the thread that started it, but
envs step from many threads (parallel rollouts, the benchmark's 16 concurrent episodes). Every
env in the process shares this one browser (one per worker) through :meth:`BrowserHost.call`,
each episode in its own browser context. The browser is Debian's /usr/bin/chromium (never a
downloaded one), with no slow_mo; it closes when its last user releases it, and at exit.

A host may instead drive a Chromium that runs elsewhere, connected over CDP (`endpoint`): the web
env's browser="container" mode, where each env's Chromium is a container on its sites' network.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import shutil
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from agentgym.env import InfraError

T = TypeVar("T")

CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
    "--disable-default-apps", "--mute-audio", "--disable-features=Translate,MediaRouter",
    # WebRTC may use only proxied connections, so the episode's filtering proxy (proxy.py) sees it too.
    "--webrtc-ip-handling-policy=disable_non_proxied_udp",
]


def chromium_path() -> str:
    """Debian's Chromium (AGENTGYM_CHROMIUM overrides). Never a Playwright-downloaded browser."""
    path = os.environ.get("AGENTGYM_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.exists(path):
        raise InfraError(f"no Chromium at {path}: install Debian's chromium (scripts/ensure-chromium.sh) "
                         "or set AGENTGYM_CHROMIUM; agentgym never downloads a browser")
    return path


class BrowserHost:
    """The process's shared browser. Use acquire()/release(); call(coro) runs on its loop."""

    _lock = threading.Lock()
    _instances: dict[str | None, BrowserHost] = {}  # endpoint (None: launched here) -> its host

    @classmethod
    def acquire(cls, endpoint: str | None = None) -> BrowserHost:
        """The shared browser (or the one at a CDP endpoint), started or connected (or replaced,
        when it died) as needed. Each host counts its own users: envs still holding a dead one
        release it themselves and get the new one."""
        with cls._lock:
            host = cls._instances.get(endpoint)
            if host is None or not host.alive:
                host = cls._instances[endpoint] = BrowserHost(endpoint)
            host.refs += 1
            return host

    @classmethod
    def release(cls, host: BrowserHost) -> None:
        with cls._lock:
            host.refs -= 1
            if host.refs > 0:
                return
            if cls._instances.get(host.endpoint) is host:
                del cls._instances[host.endpoint]
        host.shutdown()

    def __init__(self, endpoint: str | None = None) -> None:
        self.endpoint = endpoint
        self.refs = 0
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="agentgym-browser", daemon=True)
        self.thread.start()
        self.pw: Any = None
        self.browser: Any = None
        self._closed = False
        try:
            self.call(self._start(), timeout=60)
        except BaseException:
            self.shutdown()
            raise
        atexit.register(self.shutdown)

    async def _start(self) -> None:
        from playwright.async_api import async_playwright

        self.pw = await async_playwright().start()
        try:
            if self.endpoint is not None:
                self.browser = await self.pw.chromium.connect_over_cdp(self.endpoint, timeout=30_000)
            else:
                self.browser = await self.pw.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS)
        except Exception as exc:
            where = f"at {self.endpoint} (CDP)" if self.endpoint else "here"
            raise InfraError(f"Chromium {where} did not start or answer: {exc}") from exc

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def alive(self) -> bool:
        return not self._closed and self.browser is not None and self.browser.is_connected()

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        """Run a coroutine on the browser's loop and wait for its result."""
        if self._closed:
            coro.close()
            raise InfraError("the browser was closed")
        if threading.current_thread() is self.thread:  # waiting here would block the loop on itself
            coro.close()
            raise InfraError("BrowserHost.call() from the browser's own loop thread")
        fut = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return fut.result(timeout)
        except TimeoutError:
            fut.cancel()
            raise InfraError(f"the browser did not answer within {timeout:.0f} s") from None

    def browser_pid(self) -> int | None:
        """The Chromium main process id (for memory accounting and leak checks)."""
        try:
            return self.browser._impl_obj._connection._transport._proc.pid  # the driver process
        except AttributeError:
            return None

    def shutdown(self) -> None:
        if self._closed:
            return
        self._closed = True

        async def stop() -> None:
            try:
                if self.browser is not None:
                    await self.browser.close()
            finally:
                if self.pw is not None:
                    await self.pw.stop()

        if self.thread.is_alive():
            try:
                asyncio.run_coroutine_threadsafe(stop(), self.loop).result(30)
            except Exception:  # noqa: BLE001 - closing is best effort; the driver kills Chromium on exit
                pass
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
        if not self.loop.is_running():
            self.loop.close()
