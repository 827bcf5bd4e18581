"""The wait after a browser action for a navigation the page's own script begins a moment later.

Playwright's click (fill, press...) waits for a navigation begun while the action ran. A page that
begins one on a timer, onclick="setTimeout(() => form.submit(), 0)", begins it just after: the old
document then stays "loaded" until the new one commits, so waiting for the load state returned at
once and the observation showed the page being left (tests/test_web_byo.py's slow navigation
failed about one run in seven on a busy machine). An init script marks a document whose own script
began a navigation to another document (the Navigation API's navigate event fires in the page,
synchronously, when one begins); after an action the env lets the page's timers turn once, and if
the mark is set it waits for the new document, as long as the navigation's requests are under way.
"""

from __future__ import annotations

import asyncio
from typing import Any

from agentgym.envs.web.pagecalls import PAGE_TIMEOUT_S

NAV_TIMEOUT_MS = 15000
NAV_QUIET_S = 3.0  # a navigation a page began but that sent no request for this long went nowhere (cancelled, 204)

# Marks a document whose own script began a navigation to another document (the Navigation API's
# navigate event fires synchronously, in the page, when it begins): see NavWatch.follow.
NAV_WATCH_JS = """(() => {
  const nav = window.navigation;
  if (!nav) return;
  nav.addEventListener('navigate', (e) => {
    if (e.destination.sameDocument || e.downloadRequest !== null) return;
    window.__agNavigating = true;
    setTimeout(() => { if (e.defaultPrevented) window.__agNavigating = false; }, 0);
  });
})();"""
# After one turn of the page's timers (so a setTimeout(..., 0) the action queued has run).
NAV_BEGAN_JS = "() => new Promise((r) => setTimeout(() => r(window.__agNavigating === true), 0))"
NAV_PENDING_JS = "() => window.__agNavigating === true"


class NavWatch:
    """One context's main-frame navigation requests in flight per tab, and the wait that uses them."""

    def __init__(self) -> None:
        self.inflight: dict[Any, tuple[int, float]] = {}  # tab -> (requests in flight, when that last changed)

    async def install(self, context: Any) -> None:
        await context.add_init_script(NAV_WATCH_JS)
        for event, delta in (("request", 1), ("requestfinished", -1), ("requestfailed", -1)):
            context.on(event, lambda req, d=delta: self._request(req, d))
        context.on("page", lambda page: page.on("close", lambda p: self.inflight.pop(p, None)))

    def _request(self, request: Any, delta: int) -> None:
        """Counts each tab's main-frame navigation requests in flight (for follow)."""
        try:
            if not request.is_navigation_request() or request.frame.parent_frame is not None:
                return
            page = request.frame.page
        except Exception:  # noqa: BLE001 - its frame is gone already
            return
        n, _ = self.inflight.get(page, (0, 0.0))
        self.inflight[page] = (max(0, n + delta), asyncio.get_running_loop().time())

    async def follow(self, page: Any) -> None:
        """Wait for a navigation that the page's own script began just after the action, such as
        onclick="setTimeout(() => form.submit(), 0)": Playwright waits only for navigations begun
        while the action ran, and the old document stays "loaded" until the new one commits, so
        without this the observation could show the page being left. Bounded: a navigation that
        sends no request for NAV_QUIET_S (cancelled, answered 204) is given up on."""
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        js = NAV_BEGAN_JS
        while loop.time() - t0 < NAV_TIMEOUT_MS / 1000:
            try:
                going = await asyncio.wait_for(page.evaluate(js), PAGE_TIMEOUT_S)
            except Exception:  # noqa: BLE001 - the document is being replaced (settle() waits for the new one), gone or busy
                return
            if not going:  # no navigation began, or this is the new document already
                return
            js = NAV_PENDING_JS
            inflight, changed = self.inflight.get(page, (0, t0))
            if not inflight and loop.time() - max(t0, changed) > NAV_QUIET_S:
                return
            await asyncio.sleep(0.05)
