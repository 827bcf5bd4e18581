"""The wait after a browser action for a navigation the page's own script begins a moment later.

Playwright's click (fill, press...) waits for a navigation begun while the action ran. A page that
begins one on a timer, onclick="setTimeout(() => form.submit(), 0)", begins it just after: the old
document then stays "loaded" until the new one commits, so waiting for the load state returned at
once and the observation showed the page being left.

An init script marks a document whose own script began a navigation to another document, in two
ways: the Navigation API's navigate event (fired in the page, synchronously, when a link, a
location change or a history move begins one), and, for forms, the submit() call or the submit
event itself. A form is the case the navigate event alone missed (tests/test_web_byo.py's slow
navigation failed about one run in five): HTML submits a form a task later ("plan to navigate",
queued on another task source than timers), so the env's one turn of the page's timers could run
before the navigate event fired. After an action the env lets the page's timers turn once; if the
mark is set it waits, without fixed sleeps, until the document is replaced (the page's pending call
is cut short by it) and the new one has loaded, for as long as the navigation's requests are under way.
"""

from __future__ import annotations

import asyncio
from typing import Any

from agentgym.envs.web.pagecalls import PAGE_TIMEOUT_S, navigating

NAV_TIMEOUT_MS = 15000
NAV_QUIET_S = 3.0  # a navigation a page began but that sent no request for this long went nowhere (cancelled, 204)
POLL_MS = 100  # how long one in-page wait lasts before the request counts are looked at again

# Marks a document whose own script began a navigation to another document: see the module docstring.
NAV_WATCH_JS = """(() => {
  const nav = window.navigation;
  if (nav) nav.addEventListener('navigate', (e) => {
    if (e.destination.sameDocument || e.downloadRequest !== null) return;
    window.__agNavigating = true;
    setTimeout(() => { if (e.defaultPrevented) window.__agNavigating = false; }, 0);
  });
  const low = (v) => (v || '').toLowerCase();
  const here = (form, submitter) => {  // a submission that replaces this document (not a dialog, another tab or frame)
    try {
      if (!form || !form.isConnected) return false;
      const has = (e, a) => e && e.hasAttribute(a);
      const method = has(submitter, 'formmethod') ? submitter.getAttribute('formmethod') : form.getAttribute('method');
      if (low(method) === 'dialog') return false;
      const base = document.querySelector('base[target]');
      const t = low(has(submitter, 'formtarget') ? submitter.getAttribute('formtarget')
                    : has(form, 'target') ? form.getAttribute('target') : base ? base.getAttribute('target') : '');
      return t === '' || t === '_self' || (window.top === window && (t === '_top' || t === '_parent'));
    } catch (e) { return false; }
  };
  const submit = HTMLFormElement.prototype.submit;
  HTMLFormElement.prototype.submit = function () {
    if (here(this, null)) window.__agSubmitting = true;
    return submit.apply(this, arguments);
  };
  window.addEventListener('submit', (e) => {
    if (!here(e.target, e.submitter)) return;
    window.__agSubmitting = true;
    setTimeout(() => { if (e.defaultPrevented) window.__agSubmitting = false; }, 0);
  });
})();"""
_MARKED = "(window.__agNavigating === true || window.__agSubmitting === true)"
# After one turn of the page's timers (so a setTimeout(..., 0) the action queued has run).
NAV_BEGAN_JS = f"() => new Promise((r) => setTimeout(() => r({_MARKED}), 0))"
# Resolves after ms unless the document is replaced first (then the call fails: the sign we wait for).
NAV_PENDING_JS = f"(ms) => new Promise((r) => setTimeout(() => r({_MARKED}), ms))"
NAV_GIVE_UP_JS = "() => { window.__agNavigating = false; window.__agSubmitting = false; }"
# The document's load event, once it is the new one (now, if it has loaded already).
LOADED_JS = ("() => document.readyState === 'complete' || new Promise((r) => "
             "window.addEventListener('load', () => r(true), {once: true}))")


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
        onclick="setTimeout(() => form.submit(), 0)", and for the new document's load: Playwright
        waits only for navigations begun while the action ran, and the old document stays "loaded"
        until the new one commits, so without this the observation could show the page being left.
        Bounded: a navigation that sends no request for NAV_QUIET_S (cancelled, answered 204) is
        given up on, and the whole wait by NAV_TIMEOUT_MS."""
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        try:
            going = await asyncio.wait_for(page.evaluate(NAV_BEGAN_JS), PAGE_TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001 - replaced during the check (then wait for the new one's load), gone or busy
            if navigating(exc):
                await self.loaded(page, t0)
            return
        if not going:  # no navigation began, or this is the new document already
            return
        while loop.time() - t0 < NAV_TIMEOUT_MS / 1000:
            inflight, changed = self.inflight.get(page, (0, t0))
            if not inflight and loop.time() - max(t0, changed) > NAV_QUIET_S:
                await self._give_up(page)
                return
            try:
                going = await asyncio.wait_for(page.evaluate(NAV_PENDING_JS, POLL_MS), PAGE_TIMEOUT_S)
            except Exception as exc:  # noqa: BLE001
                if navigating(exc):  # the document was replaced: the navigation committed
                    await self.loaded(page, t0)
                return  # gone or busy: observed as it is
            if not going:  # the new document answered (it carries no mark)
                await self.loaded(page, t0)
                return

    async def loaded(self, page: Any, t0: float) -> None:
        """Until the tab's current document has fired its load event (again after each further
        replacement, such as a redirect's), within NAV_TIMEOUT_MS of t0."""
        loop = asyncio.get_running_loop()
        while (left := NAV_TIMEOUT_MS / 1000 - (loop.time() - t0)) > 0:
            try:
                await asyncio.wait_for(page.evaluate(LOADED_JS), left)
                return
            except Exception as exc:  # noqa: BLE001 - replaced again: wait for that one; else observed as it is
                if not navigating(exc) or page.is_closed():
                    return

    async def _give_up(self, page: Any) -> None:
        """A navigation that went nowhere: unmark the document, so later actions do not wait for it again."""
        try:
            await asyncio.wait_for(page.evaluate(NAV_GIVE_UP_JS), PAGE_TIMEOUT_S)
        except Exception:  # noqa: BLE001 - replaced or busy after all: nothing to unmark
            pass
