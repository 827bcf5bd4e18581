"""Why an action on an element could not be done, said so the agent can act on it.

Why: Playwright waits up to its timeout (10 s here) for an element covered by another one (a
cookie banner, a modal's backdrop), then reports "Timeout 10000ms exceeded" on its first line and
the reason only in its call log. Before a click or hover the env asks the page itself what is on
top of the element at the point Playwright would click (``HIT_JS``), so a blocked click fails in
about a second and names the element on top, with an id the agent can act on. Whatever Playwright
still reports is read from its call log by :func:`explain` (not visible, covered, detached, moving).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Any

from agentgym.envs.web.accname import AX_LIB_JS
from agentgym.envs.web.pagecalls import BrowserActionError

MAX_REASON = 300
BLOCKED_WAIT_S = 1.0  # how long a click waits for an element on top of its target to go away

# What is at the point a click on the element would land (the middle of its first box in the
# viewport, after scrolling it into view as Playwright does): {state: 'ok'} when it is the element
# (or inside it, or a label of it), else {state: 'covered', by: '[id] role "name"'}.
HIT_JS = r"""
(id) => {
  const ATTR = 'data-agid';
  %s
  const el = document.querySelector('[data-agid="' + id + '"]');
  if (!el) return {state: 'gone'};
  const vw = document.documentElement.clientWidth || innerWidth, vh = document.documentElement.clientHeight || innerHeight;
  const up = (n) => n.parentElement || (n.getRootNode() instanceof ShadowRoot ? n.getRootNode().host : null);
  const labels = el.labels ? [...el.labels] : [];
  // The element at the point a click lands, or null when that is the element (or inside it, or its label).
  function topAt() {
    let pt = null;
    for (const r of el.getClientRects()) {
      const w = Math.min(r.right, vw) - Math.max(r.left, 0), h = Math.min(r.bottom, vh) - Math.max(r.top, 0);
      if (w > 0 && h > 0 && w * h > 0.99) { pt = [Math.max(r.left, 0) + w / 2, Math.max(r.top, 0) + h / 2]; break; }
    }
    if (!pt) return null;  // no box in the viewport: Playwright scrolls, waits and says why
    let hit = document.elementFromPoint(pt[0], pt[1]);
    while (hit && hit.shadowRoot) { const inner = hit.shadowRoot.elementFromPoint(pt[0], pt[1]); if (!inner || inner === hit) break; hit = inner; }
    for (let n = hit; n; n = up(n)) if (n === el || labels.includes(n)) return null;
    return hit;
  }
  if (el.scrollIntoViewIfNeeded) el.scrollIntoViewIfNeeded(true); else el.scrollIntoView({block: 'center', inline: 'center'});
  let hit = topAt();
  if (hit) { el.scrollIntoView({block: 'center', inline: 'center'}); hit = topAt(); }  // a sticky header over it: from the middle, as Playwright retries
  if (!hit) return {state: 'ok'};
  let top = hit;
  for (let n = hit; n && n !== document.body && n !== document.documentElement; n = up(n))
    if (roleOf(n) || hasClick(n) || n.hasAttribute(ATTR)) { top = n; break; }
  const role = roleOf(top) || (hasClick(top) ? 'clickable' : top.tagName.toLowerCase());
  let name = nameOf(top, role) || shownText(top);
  if (name.length > 80) name = name.slice(0, 77) + '...';
  let tid = top.getAttribute(ATTR);
  if (!tid) { if (window.__agNext === undefined) window.__agNext = 1; tid = String(window.__agNext++); top.setAttribute(ATTR, tid); }
  return {state: 'covered', by: '[' + tid + '] ' + role + (name ? ' "' + name.replace(/"/g, '\\"') + '"' : '')};
}
""" % AX_LIB_JS

# Call-log phrases of Playwright -> what they mean for the agent.
_REASONS = [
    (re.compile(r"(<.*?>.*?) intercepts pointer events"), "{0} is on top of it and gets the click; close or act on that first"),
    (re.compile(r"not attached to the DOM|element was detached|Element is not attached|detached from the DOM"),
     "the element was removed from the page (the page re-rendered it); observe again and use its new id"),
    (re.compile(r"element is not visible"), "the element is not visible; open the menu, tab or dialog that shows it, or scroll"),
    (re.compile(r"element is not enabled|element is disabled"), "the element is disabled"),
    (re.compile(r"element is not editable|readonly"), "the element is read-only"),
    (re.compile(r"element is not stable"), "the element kept moving (an animation); wait with noop and try again"),
    (re.compile(r"outside of the viewport"), "the element is outside the page's viewport and cannot be scrolled to"),
]


def explain(message: str) -> str:
    """One line saying why Playwright's action failed, from its error message and call log."""
    lines = [ln.strip(" -\t") for ln in message.strip().splitlines() if ln.strip(" -\t")]
    if not lines:
        return "it failed"
    for line in reversed(lines[1:]):
        for pattern, say in _REASONS:
            m = pattern.search(line)
            if m:
                return say.format(*m.groups())[:MAX_REASON]
    first = re.sub(r"^\w+\.\w+: ", "", lines[0])  # "Locator.click: Timeout 10000ms exceeded."
    for pattern, say in _REASONS:
        m = pattern.search(first)
        if m:
            return say.format(*m.groups())[:MAX_REASON]
    steps = [ln for ln in lines[1:] if not ln.lower().startswith(("call log", "waiting for locator", "locator resolved"))]
    if steps and "Timeout" in first:
        first += f" (last step: {steps[-1]})"
    return first[:MAX_REASON]


async def check_unblocked(evaluate: Callable[[str, Any], Awaitable[Any]], ident: str, what: str) -> None:
    """Fail fast, naming it, when another element is on top of this one where a click lands
    (Playwright would wait its 10 s, then say only "Timeout"); an overlay that goes away within
    BLOCKED_WAIT_S (a fading banner) is waited for. evaluate runs a script on the active page."""
    loop = asyncio.get_running_loop()
    end = loop.time() + BLOCKED_WAIT_S
    while True:
        hit = await evaluate(HIT_JS, ident)
        if not hit or hit.get("state") != "covered":
            return
        if loop.time() >= end:
            raise BrowserActionError(f"{what} failed: {hit['by']} is on top of it and would get the click; "
                                     "close or act on that first")
        await asyncio.sleep(0.1)
