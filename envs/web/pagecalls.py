"""Calls into a page's scripts, bounded, and how their failures read to the agent.

A page can keep its main thread busy forever (a loop the agent got going through a page of the
site, or the page's own), or its renderer can die (out of memory). Either is something the agent
reads and gets out of (close the tab, go elsewhere), never an infrastructure error: a browser call
left to time out at its 60 s would end the episode as "not your fault".
"""

from __future__ import annotations

import asyncio
from typing import Any

from agentgym.envs.web.observation import MAX_TEXT

PAGE_TIMEOUT_S = 10.0  # the longest one script call into a page may take
CRASHED = "this tab's page crashed (out of memory?); close it with tab_close"


class BrowserActionError(Exception):
    """The agent's action could not be done; the message says why and what to do instead."""


async def page_call(coro: Any) -> Any:
    """A script call into a page, bounded: a page whose scripts keep it busy (a loop the agent
    set going, or the page's own) is the agent's problem to get out of, never an infrastructure
    error; the browser call around it would otherwise end the episode as one after 60 s."""
    try:
        return await asyncio.wait_for(coro, PAGE_TIMEOUT_S)
    except asyncio.TimeoutError:
        raise BrowserActionError(f"the page did not answer within {PAGE_TIMEOUT_S:.0f} s (its scripts keep it busy); "
                                 "close this tab or go to another page") from None


async def title(page: Any) -> str:
    try:
        return (await asyncio.wait_for(page.title(), 2.0))[:MAX_TEXT]
    except Exception:  # noqa: BLE001 - a tab mid-navigation has no title yet; a busy one gives none
        return ""


def navigating(exc: Exception) -> bool:
    msg = str(exc)
    return any(s in msg for s in ("Execution context was destroyed", "navigation", "Target closed", "frame was detached"))
