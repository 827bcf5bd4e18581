"""WebEnv.fork(): an independent copy of a live episode, made by replay and then checked.

A browser page (its scripts' variables, its history) cannot be copied, but every episode is
deterministic: the sites start from seeded state, and the env records each browser action the
agent took (and each element-id lookup, which numbers elements). So a fork starts its own site
servers and browser context, resets the sites, opens the start page and replays those calls.
It then checks that it reached the same place: the same server state on every task site and the
same observation (the page text with its element ids, URL and tabs, up to the site origins). If
not, the fork is closed and InfraError says so; a fork is never silently different.

The replay costs about as much as the actions did; nothing of it counts against the budget (the
fork gets a copy of the original's budget tracker, like every agentgym fork).
"""

from __future__ import annotations

import copy
import weakref
from typing import TYPE_CHECKING, Any

from agentgym.env import InfraError

if TYPE_CHECKING:
    from agentgym.envs.web.env import WebEnv

#: Tools that only end the episode: nothing to replay.
FINAL_TOOLS = {"send_msg_to_user", "report_infeasible"}


def fork_into(src: WebEnv, clone: WebEnv) -> None:
    """Give `clone` (a shallow copy of `src`) its own sites, browser share and context in the same state."""
    from agentgym.envs.web.held import Held, release_soon

    clone._held = Held()
    clone._finalizer = weakref.finalize(clone, release_soon, clone._held)
    clone._chat = list(src._chat)
    clone._resets = 0  # counts to 1 below: a fork makes no spare context until it is reset twice
    clone.last_png = None
    if src.session is None or src.host is None or src.browser is None:
        raise InfraError("fork() needs a live episode")
    try:
        task = src.task()
        clone._start_browser(task)
        clone._observe()  # as reset() did: the first walk numbers the start page's elements
        tools = {t.name: t for t in clone._tool_list()}
        for name, args in src._calls:
            if name == "element_id":
                clone.browser.call(clone.session.element_id(args))  # type: ignore[union-attr]
                continue
            if isinstance(args.get("url"), str):  # absolute URLs name the original's site origins
                args = {**args, "url": _to_clone(args["url"], src, clone)}
            tools[name].handler(tools[name].validate_args(args))  # type: ignore[misc]
        clone._calls = list(src._calls)
        clone._before = copy.deepcopy(src._before)
        clone._error = src._error
        _check_same(src, clone, task.sites)
    except BaseException:
        clone._held.release()
        raise


def _to_clone(url: str, src: WebEnv, clone: WebEnv) -> str:
    assert src.host is not None and clone.host is not None
    for site, origin in src.host.origins.items():
        if url.startswith(origin) and url[len(origin):][:1] in ("", "/", "?", "#"):
            return clone.host.origins[site] + url[len(origin):]
    return url


def _check_same(src: WebEnv, clone: WebEnv, sites: list[str]) -> None:
    assert src.host is not None and clone.host is not None
    for site in sites:
        if src.host.state(site) != clone.host.state(site):
            raise InfraError(f"fork() could not reproduce the state of site {site!r} by replaying the episode")
    mine = src.page_text()
    theirs = clone.page_text()
    for site in sites:
        theirs = theirs.replace(clone.host.origins[site], src.host.origins[site])
    if mine != theirs:
        raise InfraError("fork() could not reproduce the page by replaying the episode (a page whose scripts "
                         "depend on timing or randomness cannot be forked)")


def recorded(env: WebEnv, name: str, handler: Any) -> Any:
    """A tool handler that also records the call for fork()."""

    def run(args: Any) -> Any:
        env._calls.append((name, args.model_dump(exclude_unset=True)))
        return handler(args)

    return run
