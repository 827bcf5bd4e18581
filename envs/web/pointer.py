"""The coordinate and selection tools of the web env (coords=True): a mouse at viewport points, the
wheel, and a text selection made with the mouse, as a mixin of Session, plus their Tool entries.

Why: some pages can only be worked by a pointer at a place, not by an element's centre: a canvas
(draw a line, click the centre of a circle), a drag to a spot or through a sortable list, a wheel
over a disabled textarea, a text highlighted with the mouse (MiniWoB++ has such tasks; BrowserGym
offers mouse_click, mouse_down, mouse_drag_and_drop...). The points are viewport CSS pixels, the
same as the ``@x,y,w,h`` boxes the observation shows with coords on. Every action goes the way
click does (BrowserActions._do: Playwright's failures read as action errors, the wait for a
navigation the page began, the page's load); a point off the viewport (or NaN, inf) is an action
error the agent reads. A button pressed with mouse_down and never released is released before the
context serves the next episode (release_mouse, from Session.recycle), so no press or native drag
outlives its episode.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

from agentgym.envs.web.pagecalls import CRASHED, BrowserActionError, page_call

DRAG_STEPS = 10  # mouse_drag moves in at least this many steps, so pages that track mousemove follow it
MAX_WHEEL = 100_000  # pixels of one wheel turn, either way

# The points where a person presses and releases to select the first occurrence of a text inside
# an element (the left edge of its first character, the right edge of its last), found over the
# element's rendered text with whitespace runs matched loosely; mode 'fix' makes the selection
# exactly that range if the mouse gesture selected something else (a link's drag, a line end),
# unless the page forbids selecting it (user-select: none), as it would forbid a person.
SELECT_JS = r"""
([id, want, mode]) => {
  const el = document.querySelector('[data-agid="' + id + '"]');
  if (!el) return {error: 'gone'};
  if (el.tagName === 'INPUT' || el.tagName === 'TEXTAREA') return {error: 'field'};
  const chars = [], map = [];
  let space = true;
  const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const p = n.parentElement;
    if (!p || p.closest('script,style,noscript,template') || !p.getClientRects().length) continue;
    for (let i = 0; i < n.data.length; i++) {
      const c = n.data[i];
      if (/\s/.test(c)) { if (!space) { chars.push(' '); map.push([n, i]); space = true; } }
      else { chars.push(c); map.push([n, i]); space = false; }
    }
  }
  const text = chars.join(''), w = want.replace(/\s+/g, ' ').trim();
  const at = w ? text.indexOf(w) : -1;
  if (at < 0) return {error: 'notfound', shown: text.slice(0, 160)};
  const [sn, so] = map[at], [en, eo] = map[at + w.length - 1];
  const clean = (s) => s.replace(/\s+/g, ' ').trim();
  if (mode === 'fix') {
    const sel = window.getSelection();
    const can = (n) => getComputedStyle(n.parentElement).userSelect !== 'none';  // as a person could
    if (clean(sel.toString()) !== w && can(sn) && can(en)) {
      const r = document.createRange(); r.setStart(sn, so); r.setEnd(en, eo + 1);
      sel.removeAllRanges(); sel.addRange(r);
    }
    return {selected: clean(sel.toString())};
  }
  const rectOf = (n, o) => { const r = document.createRange(); r.setStart(n, o); r.setEnd(n, o + 1);
                             const rs = r.getClientRects(); return rs.length ? rs[0] : r.getBoundingClientRect(); };
  const p0 = sn.parentElement;
  if (p0.scrollIntoViewIfNeeded) p0.scrollIntoViewIfNeeded(true); else p0.scrollIntoView({block: 'center'});
  const a = rectOf(sn, so), b = rectOf(en, eo);
  return {from: [a.left + Math.min(1, a.width / 4), a.top + a.height / 2],
          to: [b.right - Math.min(1, b.width / 4), b.top + b.height / 2]};
}
"""

# The wheel's scroll lands after Playwright's call returns (a frame later, later on a loaded
# machine): armed before the wheel, this resolves two frames after the first scroll event
# anywhere in the document (or after WHEEL_WAIT_MS when nothing scrolled: at an end already).
WHEEL_WAIT_MS = 300
WHEEL_ARM_JS = """() => { window[Symbol.for('agentgym.wheel')] = new Promise((r) => {
  let t = null;
  const on = () => { document.removeEventListener('scroll', on, true); clearTimeout(t);
                     requestAnimationFrame(() => requestAnimationFrame(() => r(true))); };
  document.addEventListener('scroll', on, true); t = setTimeout(on, %d); }); }""" % WHEEL_WAIT_MS
WHEEL_WAIT_JS = "() => window[Symbol.for('agentgym.wheel')]"


async def wheel_landed(page: Any, dx: float, dy: float) -> None:
    """Turn the wheel where the mouse is and return once the scroll has landed (WHEEL_ARM_JS), so
    the observation that follows shows it: the wheel and scroll tools both end here. A document
    that cannot be armed (it is navigating away: "Execution context was destroyed") still gets the
    wheel, unwaited, as before the wait existed."""
    try:
        await page.evaluate(WHEEL_ARM_JS)
        armed = True
    except Exception:  # noqa: BLE001 - no document to arm now: the wheel goes to whatever comes
        armed = False
    await page.mouse.wheel(dx, dy)
    if armed:
        try:  # Playwright does not wait for the scroll: wait for it
            await page.evaluate(WHEEL_WAIT_JS)
        except Exception:  # noqa: BLE001 - the document went away meanwhile: nothing to wait for
            pass


class PointerActions:
    """Session's coordinate actions; Session (and BrowserActions) provide the attributes below."""

    page: Any
    crashed: set[Any]
    pressed: set[tuple[Any, str]]  # (tab, button) held down by mouse_down, until mouse_up or the episode's end
    _do: Any
    _element: Any
    _evaluate: Any

    def _point(self, x: float, y: float, what: str) -> None:
        """Refuse a point off the viewport (NaN, inf and huge values included), as the agent's error."""
        page = self.page
        if page in self.crashed:
            raise BrowserActionError(CRASHED)
        size = page.viewport_size or {"width": 1280, "height": 800}
        w, h = size["width"], size["height"]
        if not (math.isfinite(x) and math.isfinite(y) and 0 <= x < w and 0 <= y < h):
            raise BrowserActionError(f"{what}: the point ({x:g}, {y:g}) is outside the viewport (0 <= x < {w}, "
                                     f"0 <= y < {h}); take points from the page text's @x,y,w,h boxes, scroll for the rest")

    async def mouse_click(self, x: float, y: float, button: str = "left", double: bool = False) -> str:
        self._point(x, y, "mouse_click")
        m = self.page.mouse
        act = m.dblclick(x, y, button=button) if double else m.click(x, y, button=button)
        await self._do(page_call(act), f"mouse_click at ({x:g}, {y:g})")
        self.pressed.discard((self.page, button))
        return f"{'double-' if double else ''}clicked ({button}) at ({x:g}, {y:g})"

    async def mouse_move(self, x: float, y: float) -> str:
        self._point(x, y, "mouse_move")
        await self._do(page_call(self.page.mouse.move(x, y)), f"mouse_move to ({x:g}, {y:g})")
        return f"moved the mouse to ({x:g}, {y:g})"

    async def _button(self, name: str, x: float, y: float, button: str, down: bool) -> None:
        """Move to (x, y), then press or release `button`; a pressed button is tracked until released
        (recycle releases what an episode left pressed)."""
        self._point(x, y, name)
        page = self.page

        async def go() -> None:
            await page.mouse.move(x, y)
            await (page.mouse.down(button=button) if down else page.mouse.up(button=button))

        if down:
            self.pressed.add((page, button))
        await self._do(page_call(go()), f"{name} at ({x:g}, {y:g})")
        if not down:
            self.pressed.discard((page, button))

    async def mouse_down(self, x: float, y: float, button: str = "left") -> str:
        await self._button("mouse_down", x, y, button, down=True)
        return f"pressed the {button} button at ({x:g}, {y:g})"

    async def mouse_up(self, x: float, y: float, button: str = "left") -> str:
        await self._button("mouse_up", x, y, button, down=False)
        return f"released the {button} button at ({x:g}, {y:g})"

    async def mouse_drag(self, from_x: float, from_y: float, to_x: float, to_y: float) -> str:
        self._point(from_x, from_y, "mouse_drag from")
        self._point(to_x, to_y, "mouse_drag to")
        await self._gesture((from_x, from_y), (to_x, to_y), f"mouse_drag from ({from_x:g}, {from_y:g}) to ({to_x:g}, {to_y:g})")
        return f"dragged from ({from_x:g}, {from_y:g}) to ({to_x:g}, {to_y:g})"

    async def _gesture(self, start: tuple[float, float], end: tuple[float, float], what: str) -> None:
        """Move to start, press, move to end in steps (about one per 20 px, at least DRAG_STEPS), release."""
        page = self.page
        steps = max(DRAG_STEPS, min(50, int(math.dist(start, end) / 20)))

        async def drag() -> None:
            await page.mouse.move(*start)
            await page.mouse.down()
            await page.mouse.move(*end, steps=steps)
            await page.mouse.up()

        self.pressed.add((page, "left"))
        await self._do(page_call(drag()), what)
        self.pressed.discard((page, "left"))

    async def wheel(self, x: float, y: float, dx: int, dy: int) -> str:
        self._point(x, y, "wheel")
        if abs(dx) > MAX_WHEEL or abs(dy) > MAX_WHEEL:
            raise BrowserActionError(f"wheel: dx and dy must be within +-{MAX_WHEEL} pixels")
        page = self.page

        async def turn() -> None:  # at the point, whatever is there (a disabled element too)
            await page.mouse.move(x, y)
            await wheel_landed(page, dx, dy)

        await self._do(page_call(turn()), f"wheel at ({x:g}, {y:g})")
        return f"turned the wheel by ({dx}, {dy}) at ({x:g}, {y:g})"

    async def select_text(self, ident: str, text: str) -> str:
        await self._element(ident)
        found = await self._evaluate(SELECT_JS, [ident, text, "points"]) or {"error": "gone"}
        err = found.get("error") or ("" if "from" in found else "gone")
        if err == "field":
            raise BrowserActionError(f"element [{ident}] is a text field: select_text selects page text; in a field, "
                                     "press Shift+ArrowRight (or Control+a) on it instead")
        if err == "notfound":
            raise BrowserActionError(f"select_text: {text[:80]!r} is not in the text of [{ident}] "
                                     f"(it shows {found.get('shown', '')!r})")
        if err:
            raise BrowserActionError(f"element [{ident}] is no longer on the page; use an id from the latest observation")
        (fx, fy), (tx, ty) = found["from"], found["to"]
        for px, py in ((fx, fy), (tx, ty)):
            try:
                self._point(px, py, "select_text")
            except BrowserActionError:
                raise BrowserActionError(f"select_text: the text in [{ident}] is not in view (it is scrolled "
                                         "out or clipped); scroll to it first") from None
        await self._gesture((fx, fy), (tx, ty), f"select_text in [{ident}]")
        done = (await self._evaluate(SELECT_JS, [ident, text, "fix"])) or {}
        if "selected" in done and done["selected"] != " ".join(text.split()):
            raise BrowserActionError(f"select_text in [{ident}]: the page selected {done['selected'][:80]!r} instead "
                                     "(it does not let that text be selected as asked)")
        return f"selected {' '.join(text.split())[:200]!r} in [{ident}]"

    async def release_mouse(self) -> None:
        """Release every button mouse_down left pressed (ends a native drag too), on tabs still open;
        a page that does not answer within 2 s is left to the closing of its tab."""
        held, self.pressed = self.pressed, set()
        for page, button in held:
            if not page.is_closed():
                try:
                    await asyncio.wait_for(page.mouse.up(button=button), 2.0)
                except Exception:  # noqa: BLE001 - a busy or closing page: its tab is closed next anyway
                    pass


def pointer_tools(act: Any, session: Any) -> list[Any]:
    """The coordinate tools, for WebEnv._tool_list (act: WebEnv._act; session(): the episode's Session)."""
    from agentgym.actions import Tool as T
    from agentgym.envs.web import actions as A

    s = session
    return [
        T(name="mouse_click", description="Click at a point of the viewport (CSS pixels, as in the @x,y,w,h boxes).",
          params=A.MouseClickArgs, handler=lambda a: act(s().mouse_click(a.x, a.y, a.button, a.double))),
        T(name="mouse_move", description="Move the mouse to a point (hover there).", params=A.PointArgs,
          handler=lambda a: act(s().mouse_move(a.x, a.y))),
        T(name="mouse_down", description="Move the mouse to a point and press a button (release it with mouse_up).",
          params=A.MouseButtonArgs, handler=lambda a: act(s().mouse_down(a.x, a.y, a.button))),
        T(name="mouse_up", description="Move the mouse to a point and release a button.", params=A.MouseButtonArgs,
          handler=lambda a: act(s().mouse_up(a.x, a.y, a.button))),
        T(name="mouse_drag", description="Press at one point, move to another in steps, release there.",
          params=A.MouseDragArgs, handler=lambda a: act(s().mouse_drag(a.from_x, a.from_y, a.to_x, a.to_y))),
        T(name="wheel", description="Turn the mouse wheel at a point (scrolls what is under it, even a disabled element).",
          params=A.WheelArgs, handler=lambda a: act(s().wheel(a.x, a.y, a.dx, a.dy))),
        T(name="select_text", description="Select a text inside an element with the mouse, as a person highlights it.",
          params=A.SelectTextArgs, handler=lambda a: act(s().select_text(a.id, a.text))),
    ]
