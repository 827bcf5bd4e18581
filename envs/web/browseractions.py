"""The agent's browser actions on an episode's tabs (click, fill, goto, tabs...), as a mixin of Session.

Why apart from session.py: the session's job is the episode's context (its lifecycle, the URL
filter, its tabs and what is observed of them); this module's is turning one tool call into
Playwright calls, with the checks that make a failed action a clear observation
(:class:`BrowserActionError`): an unknown or removed id, a hidden, disabled or covered element, a
blocked URL. After an action it waits for a navigation the page's own script began (navwait.py)
and for the page's load.
"""

from __future__ import annotations

import asyncio
from typing import Any

from agentgym.envs.web.actionerrors import check_unblocked, explain
from agentgym.envs.web.navwait import NAV_TIMEOUT_MS, NavWatch
from agentgym.envs.web.observation import PROBE_JS
from agentgym.envs.web.pagecalls import CRASHED, BrowserActionError, navigating as _navigating, page_call
from agentgym.envs.web.pointer import wheel_landed

MAX_TABS = 16  # a page opening popups in a loop gets no more (the browser is shared with other episodes)


class BrowserActions:
    """Session's actions; Session provides the attributes below."""

    context: Any
    pages: list[Any]
    active: int
    crashed: set[Any]
    navs: NavWatch

    page: Any  # the active tab (a property of Session)
    async def settle(self, page: Any) -> None:
        try:
            await page.wait_for_load_state("load", timeout=NAV_TIMEOUT_MS)
        except Exception:  # noqa: BLE001 - a slow page is observed as it is
            pass

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
        await self._do(page_call(wheel_landed(self.page, dx, dy)), "scroll")
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
        self._track(page)
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
