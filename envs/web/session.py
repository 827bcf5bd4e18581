"""One episode's browser state: a fresh context with its tabs, the URL filter, the chat.

All methods are coroutines run on the browser loop (BrowserHost.call); the agent's actions are in
browseractions.py. The agent's mistakes (unknown id, hidden element, blocked URL) raise
:class:`BrowserActionError`, which the env turns into observation text and ``last_action_error``,
never an exception out of step().
"""

from __future__ import annotations

import asyncio
import base64
import os
import posixpath
import re
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

from pydantic import BaseModel

from agentgym.envs.web.browseractions import MAX_TABS, BrowserActions
from agentgym.envs.web.navwait import NAV_TIMEOUT_MS, NavWatch
from agentgym.envs.web.pagecalls import CRASHED, BrowserActionError, navigating as _navigating, page_call, title as _title
from agentgym.envs.web.observation import DECODE_PNG_JS, LISTEN_JS, WALK_JS, PageSnapshot, parse_walk
from agentgym.envs.web.pointer import PointerActions
from agentgym.envs.web.proxy import FilterProxy
from agentgym.envs.web.tasks.checks import HookReading
from agentgym.envs.web.taskpage import TaskPage

# Playwright's limit for one action's waiting (actionability, the navigation it starts). Generous:
# with 16 episodes on 2 busy cores, 3 s made clicks and fills that did complete report a timeout.
ACTION_TIMEOUT_MS = 10000
VIEWPORT = {"width": 1280, "height": 800}
FAST_ROUTE = os.environ.get("AGENTGYM_WEB_FAST_ROUTE", "1") != "0"  # routed_pattern (0: every request, for comparison)
RECYCLE_MAX = 200  # episodes one context serves (recycle()) before a new one is made
__all__ = ["BrowserActionError", "MAX_TABS", "Observation", "Session", "Tab", "VIEWPORT"]


class Tab(BaseModel):
    index: int
    title: str
    url: str
    active: bool


class Observation(BaseModel):
    snapshot: PageSnapshot
    url: str
    tabs: list[Tab]


def origin_of(url: str) -> str:
    p = urlsplit(url)
    return f"{p.scheme}://{p.netloc}"


def routed_pattern(origins: set[str]) -> str | re.Pattern[str]:
    """The requests the route filter is asked about: every one but those plainly to an allowed
    origin, with a path that has no "__", "%", "/." or backslash (so no admin path however spelled).
    Those go on without a round trip to Python per request; the proxy under the filter still
    checks each (allowed() both), so the wall is the same; a page load is faster."""
    if not origins:
        return "**/*"
    sites = "|".join(re.escape(o) for o in sorted(origins))
    return re.compile(r"^(?!(?:%s)/(?![^?#]*(?:__|%%|/\.|\\)))" % sites)


def is_admin_path(path: str) -> bool:
    """The sites' /__* endpoints, however spelled: percent-encoded (/%5F%5Fstate), with doubled
    slashes or dot segments. (They also need a token the browser never has; this is the second wall.)"""
    return posixpath.normpath("/" + unquote(path).lstrip("/")).lstrip("/").startswith("__")


class Session(BrowserActions, PointerActions):
    """A browser context for one episode, limited to the given site origins.

    Two walls keep the agent on its sites: a route filter (which also turns a blocked request
    into a clear error) and, under it, a filtering proxy that every request of the context goes
    through, including those route() never sees (redirect hops, WebSockets, shared workers)."""

    def __init__(self, origins: list[str], home: str):
        self.context: Any = None
        self.origins = {origin_of(o) for o in origins}
        self.home = home  # relative URLs resolve against this when the tab shows no site page
        self.pages: list[Any] = []
        self.active = 0
        self.blocked: list[str] = []
        self.proxy = FilterProxy(self.allowed, self.blocked.append, lambda o: origin_of(o) in self.origins)
        self.task_page: TaskPage | None = None  # for page-reward tasks: the document the reward is read from
        self.crashed: set[Any] = set()  # tabs whose renderer died: observed as such, until closed
        self.navs = NavWatch()  # navigations the pages' own scripts begin, for the wait after an action
        self.pressed: set[tuple[Any, str]] = set()  # (tab, button) held by mouse_down: released by recycle()
        self.episode_scripts: list[Any] = []  # this episode's init scripts (the sites' ones, with its seed)
        self.seen: set[str] = set()  # every origin this context was allowed, for recycle() to clear
        self.episodes = 0  # episodes this context has served
        self._next: asyncio.Future[tuple[Any, Any]] | None = None  # the next episode's tab, being opened (make_next_tab)
        self._claiming: list[Any] | None = None  # while it is opened: the tabs that appear
        self._routed: str | re.Pattern[str] = "**/*"  # the requests the route filter sees (routed_pattern)

    # -- lifecycle ----------------------------------------------------------------------------------
    @classmethod
    async def prepare(cls, browser: Any, proxy_host: str = "127.0.0.1", static_dirs: dict[str, str] | None = None) -> Session:
        """A fresh context with one blank tab and no site allowed yet: made ahead of an episode
        (the slow part of a reset), then begin() points it at the episode's sites. The filtering
        proxy listens on proxy_host, an address of this machine the browser can reach, and answers
        the GETs of the static sites in static_dirs (origin -> folder) itself."""
        from agentgym.envs.web.sites.server import StaticSite

        self = cls([], "")
        self.proxy.static = {o: StaticSite(o, d) for o, d in (static_dirs or {}).items()}
        try:
            proxy_url = await self.proxy.start(proxy_host)
            # "<-loopback>": the sites are on loopback, which Chromium would otherwise never proxy.
            self.context = await browser.new_context(viewport=VIEWPORT, java_script_enabled=True, service_workers="block",
                                                     proxy={"server": proxy_url, "bypass": "<-loopback>"})
            self.context.set_default_timeout(ACTION_TIMEOUT_MS)
            self.context.set_default_navigation_timeout(NAV_TIMEOUT_MS)
            await self.context.route(self._routed, self._filter)
            await self.navs.install(self.context)
            await self.context.add_init_script(LISTEN_JS)  # marks click handlers, for the observation
            self.context.on("page", self._on_page)
            self._track(await self.context.new_page())
        except BaseException:
            await self.close()
            raise
        return self

    async def begin(self, origins: list[str], start_url: str, task_page: bool = False) -> None:
        """Allow the episode's site origins and open its start page (closes the session on failure).
        task_page: the start page is where a page reward is read from; pin it and count its loads."""
        self.origins = {origin_of(o) for o in origins}
        self.seen |= self.origins
        self.home = start_url
        self.episodes += 1
        try:
            if FAST_ROUTE:  # the new pattern first, then the old one goes: no request passes unrouted between
                old, self._routed = self._routed, routed_pattern(self.origins)
                await self.context.route(self._routed, self._filter)
                await self.context.unroute(old, self._filter)
            if task_page:
                self.task_page = TaskPage()
                self.context.on("request", self.task_page.count)
            await self.pages[0].goto(start_url, wait_until="load")
            if self.task_page is not None:
                await self.task_page.pin(self.context, self.pages[0])
        except BaseException:
            await self.close()
            raise

    @classmethod
    async def open(cls, browser: Any, origins: list[str], start_url: str, proxy_host: str = "127.0.0.1",
                   task_page: bool = False) -> Session:
        self = await cls.prepare(browser, proxy_host)
        await self.begin(origins, start_url, task_page)
        return self

    async def add_episode_script(self, js: str) -> None:
        """An init script for this episode's documents only (recycle() removes it)."""
        self.episode_scripts.append(await self.context.add_init_script(js))

    async def cut(self, keep: bool = False) -> None:
        """Take every site away from this context's pages at once (the proxy, which every request
        goes through, and the route filter refuse all from now on; exchanges under way end), ahead
        of a close() or, keep=True, a recycle() that may come later."""
        self.origins = set()
        await (self.proxy.drop() if keep else self.proxy.close())

    @property
    def recyclable(self) -> bool:
        """Whether recycle() can make this context as good as a new one: not when a site asked for
        HTTP authentication (Chromium keeps the credentials per context, out of reach to clear),
        and not past RECYCLE_MAX episodes (whatever builds up in a context stays bounded)."""
        return self.context is not None and not self.proxy.auth_seen and self.episodes < RECYCLE_MAX

    async def recycle(self) -> None:
        """Ready this context, cut after its last episode, for the next one, as clean as a new
        context and faster to get: the next episode's tab is a new one (its own history, window
        name and session storage; made ahead, see make_next_tab) and every other tab is closed
        before cookies and every storage of each site origin the context was ever allowed (local,
        IndexedDB, Cache Storage, file systems) are cleared; the last episode's init scripts, task
        page and lists are dropped; a mouse button the last episode left pressed is released."""
        if self.task_page is not None:
            self.context.remove_listener("request", self.task_page.count)
            self.task_page = None
        await self.release_mouse()  # a press (or native drag) of the last episode ends before its tabs close
        tab, cdp = await self._next_tab()
        scripts, self.episode_scripts = self.episode_scripts, []
        self.pages, self.active = [], 0
        self._track(tab)
        old = [p for p in self.context.pages if p is not tab]
        await asyncio.gather(*(p.close() for p in old), *(script.close() for script in scripts))
        for _ in range(3):  # a tab an old one opened while it was being closed goes too
            if not (old := [p for p in self.context.pages if p is not tab]):
                break
            await asyncio.gather(*(p.close() for p in old))
        self.pages, self.active = [tab], 0
        try:
            # bring_to_front: a tab opened beside another is a background one or hides it (a Chromium
            # not launched by Playwright, in a container, then throttles the hidden one's animation
            # frames: clicks took 1 s).
            await asyncio.gather(tab.bring_to_front(), self.context.clear_cookies(), *(cdp.send("Storage.clearDataForOrigin", {
                "origin": o, "storageTypes": "all"}) for o in sorted(self.seen)))
        finally:
            asyncio.ensure_future(cdp.detach())
        self.blocked.clear()
        self.crashed.clear()
        self.navs.inflight.clear()

    def make_next_tab(self) -> None:
        """Open the next episode's tab (and a CDP session on it) in the background, now that this
        one's has loaded: opening a tab is the slow part of recycle(). It is no tab of this
        episode's (kept out of self.pages) and shows about:blank; no page can reach it."""
        if self._next is None:
            self._next = asyncio.ensure_future(self._open_tab())

    async def _open_tab(self) -> tuple[Any, Any]:
        self._claiming = []  # pages that appear meanwhile: the new tab, and any popup of the episode's pages
        try:
            tab = await self.context.new_page()
        finally:
            arrived, self._claiming = self._claiming, None
        for page in arrived:
            if page is not tab:
                self._track(page)
        try:
            if self.pages:  # the episode's tab in front again (see recycle)
                await self.page.bring_to_front()
            return tab, await self.context.new_cdp_session(tab)
        except BaseException:
            await tab.close()
            raise

    async def _next_tab(self) -> tuple[Any, Any]:
        pending, self._next = self._next, None
        if pending is not None:
            try:
                return await pending
            except Exception:  # noqa: BLE001 - made ahead and failed: make it now, failing for good if it must
                pass
        return await self._open_tab()

    async def close(self) -> None:
        if self._next is not None:  # the context's close ends it; its failure is no news
            self._next.add_done_callback(lambda f: f.cancelled() or f.exception())
            self._next = None
        try:
            if self.context is not None:
                await self.context.close()
        except Exception:  # noqa: BLE001 - the browser may already be gone; nothing to release then
            pass
        finally:
            await self.proxy.close()

    def _on_page(self, page: Any) -> None:
        """The context's "page" event: a tab opened by a page (a popup) or by the env."""
        if self._claiming is not None:  # _open_tab sorts it out: its own new tab, or one of the episode's
            self._claiming.append(page)
            return
        self._track(page)

    def _track(self, page: Any) -> None:
        """Make a tab one of the episode's (the active one), unless MAX_TABS are open."""
        if page not in self.pages and not page.is_closed():
            if len(self.pages) >= MAX_TABS:
                self.blocked.append(f"a tab past the limit of {MAX_TABS}")
                asyncio.ensure_future(page.close())
                return
            self.pages.append(page)
            self.active = len(self.pages) - 1  # a popup (target=_blank) takes the focus, as in a browser
            page.on("close", self._on_close)
            page.on("crash", lambda p: self.crashed.add(p))

    def _on_close(self, page: Any) -> None:
        self.crashed.discard(page)
        if page in self.pages:
            i = self.pages.index(page)
            self.pages.remove(page)
            if self.active >= i:
                self.active = max(0, self.active - 1)

    # -- the URL filter -------------------------------------------------------------------------------
    def allowed(self, url: str) -> bool:
        p = urlsplit(url)
        if p.scheme in ("about", "data", "blob"):
            return True
        return origin_of(url) in self.origins and not is_admin_path(p.path)

    async def _filter(self, route: Any) -> None:
        url = route.request.url
        if self.allowed(url):
            await route.continue_()
        else:
            self.blocked.append(url)
            await route.abort("blockedbyclient")

    def check_url(self, url: str) -> str:
        base = self.page.url if self.pages else ""
        if origin_of(base) not in self.origins:  # a blank tab, an error or blocked page: resolve on the first site
            base = self.home
        full = urljoin(base, url.strip())
        if urlsplit(full).scheme not in ("http", "https"):
            raise BrowserActionError(f"cannot open {url!r}: give an http(s) URL of this task's sites ({', '.join(sorted(self.origins))})")
        if not self.allowed(full):
            raise BrowserActionError(f"navigation to {full} is blocked: only this task's sites are reachable "
                                     f"({', '.join(sorted(self.origins))})")
        return full

    # -- observation ----------------------------------------------------------------------------------
    @property
    def page(self) -> Any:
        if not self.pages:
            raise BrowserActionError("no tab is open; use new_tab")
        return self.pages[self.active]

    async def observe(self, coords: bool = False) -> Observation:
        """The active tab's page text (coords: each line with its element's box), URL and the tabs."""
        snap = PageSnapshot(text="(no tab open; use new_tab)")
        url = ""
        if self.pages:
            page = self.page
            for attempt in range(5):
                try:
                    if page in self.crashed:
                        raise BrowserActionError(CRASHED)
                    snap = parse_walk(await page_call(page.evaluate(WALK_JS, coords)))
                    break
                except BrowserActionError as exc:
                    snap = PageSnapshot(text=f"({exc})")
                    break
                except Exception as exc:  # noqa: BLE001 - a navigation replaced the document mid-walk, or the page broke the walk
                    if "crash" in str(exc).lower():
                        snap = PageSnapshot(text=f"({CRASHED})")
                        break
                    if _navigating(exc) and attempt < 4:
                        await self.settle(page)
                        continue
                    browser = self.context.browser
                    if page.is_closed() or (browser is not None and not browser.is_connected()):
                        raise  # the browser is gone: not the page's doing
                    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
                    snap = PageSnapshot(text=f"(this page could not be read: {first})")
                    break
            url = page.url
        pages, active = list(self.pages), self.active  # a popup may open while the titles are read
        titles = await asyncio.gather(*(_title(p) for i, p in enumerate(pages) if i != active))
        titles.insert(active, snap.title)
        tabs = [Tab(index=i, title=titles[i], url=p.url, active=i == active)
                for i, p in enumerate(pages)]
        return Observation(snapshot=snap, url=url, tabs=tabs)

    async def screenshot(self) -> tuple[bytes, int, int, bytes]:
        """(PNG bytes, width, height, RGB bytes) of the active tab's viewport."""
        png = await self.page.screenshot(type="png")
        decoded = await page_call(self.page.evaluate(DECODE_PNG_JS, base64.b64encode(png).decode()))
        rgba = base64.b64decode(decoded["data"])
        return png, decoded["w"], decoded["h"], rgba

    async def reward_hook(self, name: str = "agentgymReward", attempts: str | None = None) -> HookReading:
        """The task page's own reward (a global it sets), read from the document the env opened as
        the task page, wherever the active tab is; void if that page was loaded again or left."""
        if self.task_page is None:
            return HookReading(void="this episode did not track a task page")
        return await self.task_page.read(name, attempts)
