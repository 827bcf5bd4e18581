"""One episode's browser state: a fresh context with its tabs, the URL filter, the chat.

All methods are coroutines run on the browser loop (BrowserHost.call). The agent's mistakes
(unknown id, hidden element, blocked URL) raise :class:`BrowserActionError`, which the env turns
into observation text and ``last_action_error``, never an exception out of step().
"""

from __future__ import annotations

import asyncio
import base64
import posixpath
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

from pydantic import BaseModel

from agentgym.envs.web.actionerrors import check_unblocked, explain
from agentgym.envs.web.navwait import NAV_TIMEOUT_MS, NavWatch
from agentgym.envs.web.pagecalls import CRASHED, BrowserActionError, navigating as _navigating, page_call, title as _title
from agentgym.envs.web.observation import DECODE_PNG_JS, LISTEN_JS, PROBE_JS, WALK_JS, PageSnapshot, parse_walk
from agentgym.envs.web.proxy import FilterProxy
from agentgym.envs.web.tasks.checks import HookReading
from agentgym.envs.web.taskpage import TaskPage

# Playwright's limit for one action's waiting (actionability, the navigation it starts). Generous:
# with 16 episodes on 2 busy cores, 3 s made clicks and fills that did complete report a timeout.
ACTION_TIMEOUT_MS = 10000
VIEWPORT = {"width": 1280, "height": 800}
MAX_TABS = 16  # a page opening popups in a loop gets no more (the browser is shared with other episodes)


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


def is_admin_path(path: str) -> bool:
    """The sites' /__* endpoints, however spelled: percent-encoded (/%5F%5Fstate), with doubled
    slashes or dot segments. (They also need a token the browser never has; this is the second wall.)"""
    return posixpath.normpath("/" + unquote(path).lstrip("/")).lstrip("/").startswith("__")


class Session:
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

    # -- lifecycle ----------------------------------------------------------------------------------
    @classmethod
    async def prepare(cls, browser: Any, proxy_host: str = "127.0.0.1") -> Session:
        """A fresh context with one blank tab and no site allowed yet: made ahead of an episode
        (the slow part of a reset), then begin() points it at the episode's sites. The filtering
        proxy listens on proxy_host, an address of this machine the browser can reach."""
        self = cls([], "")
        try:
            proxy_url = await self.proxy.start(proxy_host)
            # "<-loopback>": the sites are on loopback, which Chromium would otherwise never proxy.
            self.context = await browser.new_context(viewport=VIEWPORT, java_script_enabled=True, service_workers="block",
                                                     proxy={"server": proxy_url, "bypass": "<-loopback>"})
            self.context.set_default_timeout(ACTION_TIMEOUT_MS)
            self.context.set_default_navigation_timeout(NAV_TIMEOUT_MS)
            await self.context.route("**/*", self._filter)
            await self.navs.install(self.context)
            await self.context.add_init_script(LISTEN_JS)  # marks click handlers, for the observation
            self.context.on("page", self._on_page)
            self._on_page(await self.context.new_page())
        except BaseException:
            await self.close()
            raise
        return self

    async def begin(self, origins: list[str], start_url: str, task_page: bool = False) -> None:
        """Allow the episode's site origins and open its start page (closes the session on failure).
        task_page: the start page is where a page reward is read from; pin it and count its loads."""
        self.origins = {origin_of(o) for o in origins}
        self.home = start_url
        try:
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

    async def close(self) -> None:
        try:
            if self.context is not None:
                await self.context.close()
        except Exception:  # noqa: BLE001 - the browser may already be gone; nothing to release then
            pass
        finally:
            await self.proxy.close()

    def _on_page(self, page: Any) -> None:
        if page not in self.pages:
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

    async def settle(self, page: Any) -> None:
        try:
            await page.wait_for_load_state("load", timeout=NAV_TIMEOUT_MS)
        except Exception:  # noqa: BLE001 - a slow page is observed as it is
            pass

    async def observe(self) -> Observation:
        snap = PageSnapshot(text="(no tab open; use new_tab)")
        url = ""
        if self.pages:
            page = self.page
            for attempt in range(5):
                try:
                    if page in self.crashed:
                        raise BrowserActionError(CRASHED)
                    snap = parse_walk(await page_call(page.evaluate(WALK_JS)))
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

    async def _evaluate(self, js: str, arg: Any = None) -> Any:
        """Evaluate on the active page, again after a navigation that replaced the document mid-call."""
        if self.page in self.crashed:
            raise BrowserActionError(CRASHED)
        for attempt in range(5):
            try:
                return await page_call(self.page.evaluate(js, arg))
            except Exception as exc:  # noqa: BLE001
                if attempt == 4 or not _navigating(exc):
                    raise
                await self.settle(self.page)

    async def element_id(self, selector: str) -> str:
        """The data-agid of the first element matching a CSS selector (oracles use this). An
        element not there yet is waited for (up to NAV_TIMEOUT_MS): on a busy machine the page an
        oracle step leads to can still be on its way when the next step looks for its elements."""
        js = ("(s) => { const e = document.querySelector(s); if (!e) return null;"
              " if (!e.getAttribute('data-agid')) { if (window.__agNext === undefined) window.__agNext = 1;"
              " e.setAttribute('data-agid', String(window.__agNext++)); } return e.getAttribute('data-agid'); }")
        ident = await self._evaluate(js, selector)
        if ident is None:
            try:
                await self.page.wait_for_selector(selector, state="attached", timeout=NAV_TIMEOUT_MS)
            except Exception:  # noqa: BLE001 - it never came
                raise LookupError(f"no element matches {selector!r} on {self.page.url}") from None
            await self.settle(self.page)
            ident = await self._evaluate(js, selector)
        if ident is None:
            raise LookupError(f"no element matches {selector!r} on {self.page.url}")
        return ident

    # -- actions --------------------------------------------------------------------------------------
    async def _element(self, ident: str, *, need_visible: bool = True) -> Any:
        if not ident.isdigit():
            raise BrowserActionError(f"element id must be the number shown in brackets, like 12, not {ident!r}")
        info = await self._evaluate(PROBE_JS, ident)
        if info is None or info.get("missing"):
            if info and info.get("known"):
                raise BrowserActionError(f"element [{ident}] is no longer on the page (removed or re-rendered since it was "
                                         "observed); use an id from the latest observation")
            raise BrowserActionError(f"no element with id [{ident}] on this page; use an id from the latest observation")
        if need_visible and not info["visible"]:
            raise BrowserActionError(f"element [{ident}] is not visible ({info.get('why') or 'hidden'}); "
                                     "open the menu, tab or dialog that shows it, or scroll")
        if info["disabled"]:
            raise BrowserActionError(f"element [{ident}] is disabled")
        return self.page.locator(f'[data-agid="{ident}"]').first, info

    async def _do(self, coro: Any, what: str) -> None:
        try:
            await coro
        except BrowserActionError:
            raise
        except Exception as exc:  # noqa: BLE001 - Playwright's timeout/interaction errors become observations
            if "net::ERR_BLOCKED_BY_CLIENT" in str(exc):
                raise BrowserActionError(f"{what}: blocked; only this task's sites are reachable") from None
            raise BrowserActionError(f"{what} failed: {explain(str(exc) or type(exc).__name__)}") from None
        if self.pages:
            await self.navs.follow(self.page)
        await self.settle(self.page)

    async def click(self, ident: str, button: str = "left", double: bool = False) -> str:
        loc, _ = await self._element(ident)
        await check_unblocked(self._evaluate, ident, f"click [{ident}]")
        await self._do(loc.dblclick(button=button) if double else loc.click(button=button), f"click [{ident}]")
        return f"clicked [{ident}]"

    async def hover(self, ident: str) -> str:
        loc, _ = await self._element(ident)
        await check_unblocked(self._evaluate, ident, f"hover [{ident}]")
        await self._do(loc.hover(), f"hover [{ident}]")
        return f"hovering over [{ident}]"

    async def fill(self, ident: str, value: str) -> str:
        loc, info = await self._element(ident)
        if not (info["tag"] in ("input", "textarea") or info["editable"]) or info["type"] in ("checkbox", "radio", "submit", "button"):
            raise BrowserActionError(f"element [{ident}] is a {info['tag']}{'/' + info['type'] if info['type'] else ''}, not a text field; "
                                     "use click for buttons and checkboxes, select_option for dropdowns")
        await self._do(loc.fill(value), f"fill [{ident}]")
        return f"filled [{ident}] with {value!r}"

    async def select_option(self, ident: str, options: list[str]) -> str:
        loc, info = await self._element(ident)
        if info["tag"] != "select":
            raise BrowserActionError(f"element [{ident}] is not a dropdown (<select>); click it instead")
        have = await page_call(loc.evaluate("(s) => [...s.options].map(o => [o.value, o.text.trim()])"))
        values = []
        for want in options:
            match = next((v for v, t in have if want in (v, t)), None) or next((v for v, t in have if t.lower() == want.lower()), None)
            if match is None:
                raise BrowserActionError(f"[{ident}] has no option {want!r}; options: {', '.join(t for _, t in have[:30])}")
            values.append(match)
        await self._do(loc.select_option(value=values), f"select_option [{ident}]")
        return f"selected {', '.join(options)} in [{ident}]"

    async def press(self, key: str, ident: str | None) -> str:
        if ident is not None:
            loc, _ = await self._element(ident)
            await self._do(loc.press(key), f"press {key!r} on [{ident}]")
            return f"pressed {key} on [{ident}]"
        await self._do(self.page.keyboard.press(key), f"press {key!r}")
        return f"pressed {key}"

    async def scroll(self, dx: int, dy: int, ident: str | None) -> str:
        if ident is not None:
            loc, _ = await self._element(ident, need_visible=False)
            await self._do(loc.scroll_into_view_if_needed(), f"scroll to [{ident}]")
            return f"scrolled [{ident}] into view"
        await self._do(self.page.mouse.wheel(dx, dy), "scroll")
        return f"scrolled by ({dx}, {dy})"

    async def drag(self, source: str, target: str) -> str:
        src, _ = await self._element(source)
        dst, _ = await self._element(target)
        await check_unblocked(self._evaluate, source, f"drag [{source}]")
        await self._do(src.drag_to(dst), f"drag [{source}] to [{target}]")
        return f"dragged [{source}] onto [{target}]"

    async def goto(self, url: str) -> str:
        full = self.check_url(url)
        await self._do(self.page.goto(full, wait_until="load"), f"goto {full}")
        return f"opened {full}"

    async def history(self, back: bool) -> str:
        page = self.page
        resp = await (page.go_back(wait_until="load") if back else page.go_forward(wait_until="load"))
        if resp is None and not page.url:
            raise BrowserActionError(f"no page to go {'back' if back else 'forward'} to")
        await self.settle(page)
        return f"went {'back' if back else 'forward'} to {page.url}"

    async def new_tab(self, url: str | None) -> str:
        full = self.check_url(url) if url else None
        if len(self.pages) >= MAX_TABS:
            raise BrowserActionError(f"{MAX_TABS} tabs are open, the most there may be; close one with tab_close")
        page = await self.context.new_page()
        self._on_page(page)
        self.active = self.pages.index(page)
        if full:
            await self._do(page.goto(full, wait_until="load"), f"open {full}")
        return f"opened tab {self.active}" + (f" at {full}" if full else "")

    def _tab(self, index: int | None) -> int:
        i = self.active if index is None else index
        if not 0 <= i < len(self.pages):
            raise BrowserActionError(f"no tab {index}; open tabs are 0..{len(self.pages) - 1}")
        return i

    async def tab_focus(self, index: int) -> str:
        self.active = self._tab(index)
        await self.page.bring_to_front()
        return f"switched to tab {self.active}"

    async def tab_close(self, index: int | None) -> str:
        i = self._tab(index)
        await self.pages[i].close()  # _on_close updates the list and the active index
        return f"closed tab {i}"

    async def wait(self, ms: int) -> str:
        if ms:
            await asyncio.sleep(ms / 1000)
        return f"waited {ms} ms" if ms else "did nothing"
