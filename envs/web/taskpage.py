"""The task page of a page-reward task: the one document its reward may come from.

A bring-your-own page reports its own reward in a global (window.agentgymReward, or one the task
names, such as MiniWoB's WOB_RAW_REWARD_GLOBAL). A value in a page is only as good as the page it
is read from, and an agent has many other pages to offer: another page of the site, a reload of
the task page after a failed attempt (a seeded page then asks the same question, answer now known),
the task page with a crafted query (MiniWoB's record.js writes ?server=... into the page as HTML,
so script of the agent's choosing runs there), the task page in a second tab or a frame, a same-file
alias such as /index.html for /, or a document that pushState()s its URL to the task's path.

So the env keeps two facts on the Python side, where no page can write:
* which document the env itself opened as the task page, by its Chromium loader id (a new document
  gets a new one; pushState, hash changes and a page's own scripts do not change it);
* how many navigation requests, in any tab or frame, asked for the task page's path on its origin
  (after decoding, dot segments and a trailing index.html), whatever the query: the env's own load
  is the first, so a reload, a second tab, a frame or a crafted query makes it more than one.
The hook counts only when that path was loaded exactly once and that very document is still open
in its tab (a document never moves to another tab); it is read from there, whichever tab is
active, at the moment the episode ends.
"""

from __future__ import annotations

import asyncio
import posixpath
import re
from collections import Counter
from typing import Any
from urllib.parse import unquote, urlsplit

from agentgym.env import InfraError
from agentgym.envs.web.tasks.checks import HookReading

JS_NAME = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")
READ_TIMEOUT_S = 20.0  # generous: a busy machine must not void an honest episode (the browser call allows 60 s)
MAX_KEYS = 10000  # distinct paths counted per episode; past it, every load counts as one of the task page's

READ_JS = """([name, attempts]) => {
  const num = (v) => (typeof v === 'number' && isFinite(v)) ? v : (v === undefined || v === null ? null : String(v).slice(0, 80));
  let v = null, a = null;
  try { v = num(window[name]); } catch (e) { v = 'error: ' + String(e).slice(0, 60); }
  if (attempts) { try { a = num(window[attempts]); } catch (e) { a = null; } }
  return [v, a];
}"""


def page_key(url: str) -> tuple[str, str]:
    """(origin, path) of a URL, the path as a static server resolves it: decoded, dot segments and
    doubled slashes gone, a trailing index.html and trailing slash dropped."""
    p = urlsplit(url)
    path = posixpath.normpath("/" + unquote(p.path).lstrip("/"))
    if path.endswith("/index.html"):
        path = path[: -len("index.html")]
    return f"{p.scheme}://{p.netloc}".lower(), path.rstrip("/") or "/"


async def loader_id(cdp: Any) -> tuple[str, str]:
    """(loader id, URL) of the document now in the main frame of the tab this CDP session is on,
    from Chromium itself."""
    frame = (await cdp.send("Page.getFrameTree"))["frameTree"]["frame"]
    return str(frame.get("loaderId", "")), str(frame.get("url", ""))


class TaskPage:
    """One episode's task page: its loads counted from the context's requests, its document pinned."""

    def __init__(self) -> None:
        self.loads: Counter[tuple[str, str]] = Counter()
        self.overflow = 0  # loads past MAX_KEYS distinct paths
        self.loader = ""  # the document the env opened
        self.url = ""
        self.page: Any = None  # its tab (a document never moves to another tab)
        self.cdp: Any = None  # a CDP session on that tab, kept for the reading

    def count(self, request: Any) -> None:
        """A context 'request' listener: counts navigation requests (documents of tabs and frames)."""
        try:
            if not request.is_navigation_request():
                return
            key = page_key(request.url)
        except Exception:  # noqa: BLE001 - a request of a frame already gone: still a load, of no known page
            return
        if key in self.loads or len(self.loads) < MAX_KEYS:
            self.loads[key] += 1
        else:
            self.overflow += 1

    async def pin(self, context: Any, page: Any) -> None:
        """Remember the document the env just loaded as the task page."""
        try:
            self.page = page
            self.cdp = await asyncio.wait_for(context.new_cdp_session(page), READ_TIMEOUT_S)
            self.loader, self.url = await asyncio.wait_for(loader_id(self.cdp), READ_TIMEOUT_S)
        except asyncio.TimeoutError:  # before the agent's first move: the site's page, not the agent
            raise InfraError(f"the task page did not answer within {READ_TIMEOUT_S:.0f} s of loading") from None

    def task_loads(self) -> int:
        return self.loads[page_key(self.url)] + self.overflow

    async def read(self, name: str, attempts: str | None) -> HookReading:
        """The hook (and the page's attempt counter) from the pinned document, or why it is void."""
        if not JS_NAME.match(name) or (attempts is not None and not JS_NAME.match(attempts)):
            raise ValueError(f"hook names must be JavaScript identifiers: {name!r}, {attempts!r}")
        if not self.loader:
            return HookReading(void="the task page was never loaded")
        n = self.task_loads()
        if n != 1:
            return HookReading(void=f"the task page ({self.url}) was loaded {n} times in this episode (a reload, a "
                                    "second tab or frame, or another query): only the first attempt counts")
        gone = HookReading(void=f"the task page ({self.url}) is no longer open: it was left, reloaded or closed")
        if self.page.is_closed():
            return gone
        try:
            doc, _ = await asyncio.wait_for(loader_id(self.cdp), READ_TIMEOUT_S)
            if doc != self.loader:
                return gone
            value, count = await asyncio.wait_for(self.page.evaluate(READ_JS, [name, attempts]), READ_TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001 - the page hung (a loop), crashed, or is navigating away right now
            if self.page.is_closed():
                return gone
            return HookReading(void=f"the task page did not answer when the episode ended ({type(exc).__name__})")
        return HookReading(value=value, attempts=count)
