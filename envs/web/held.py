"""What a web env holds outside Python, kept apart from the env so that close() or, failing that,
the garbage collector releases it: the site servers, a share of the process's browser, the
episode's browser context, and the next episode's context while it is being made (prewarm).
"""

from __future__ import annotations

import asyncio
import os
import threading
from concurrent.futures import Future

from agentgym.env import InfraError
from agentgym.envs.web.browser import BrowserHost
from agentgym.envs.web.hosting import SiteHost
from agentgym.envs.web.session import Session


# A context serves episode after episode (Session.recycle) instead of one new context per episode.
RECYCLE = os.environ.get("AGENTGYM_WEB_RECYCLE", "1") != "0"


class Held:
    """What an env holds outside Python (site servers, a share of the browser, a context), kept
    apart from the env so that close() or, failing that, the garbage collector releases it."""

    def __init__(self) -> None:
        self.host: SiteHost | None = None
        self.browser: BrowserHost | None = None
        self.session: Session | None = None
        self.spare: tuple[BrowserHost, Future[Session]] | None = None  # the next episode's context, being made
        self.closing: list[Future[None]] = []  # past episodes' contexts, closing in the background
        self.used: tuple[BrowserHost, Session] | None = None  # the last episode's context, cut, to recycle

    def take_spare(self) -> Session | None:
        """The prepared context, if it was made on the current browser and is ready (else None)."""
        spare, self.spare = self.spare, None
        if spare is None:
            return None
        host, fut = spare
        try:
            session = fut.result(timeout=60)
        except Exception:  # noqa: BLE001 - a failed or stale spare: the caller opens a fresh context
            return None
        if host is not self.browser or host.closed:
            if not host.closed:
                host.call(session.close(), timeout=30)
            return None
        return session

    def take_used(self) -> Session | None:
        """The last episode's context made ready for the next (Session.recycle), or None when
        there is none, it cannot be recycled, or recycling it failed (then it is closed)."""
        used, self.used = self.used, None
        if used is None:
            return None
        host, session = used
        if host is self.browser and not host.closed and session.recyclable:
            try:
                host.call(session.recycle(), timeout=60)
                return session
            except Exception:  # noqa: BLE001 - a tab that would not close, a browser going away: a new context instead
                pass
        if not host.closed:
            self.closing.append(asyncio.run_coroutine_threadsafe(session.close(), host.loop))
        return None

    def make_spare(self) -> None:
        assert self.browser is not None and self.host is not None
        fut = asyncio.run_coroutine_threadsafe(Session.prepare(self.browser.browser, self.host.proxy_host, self.host.static_dirs),
                                               self.browser.loop)
        self.spare = (self.browser, fut)

    def end_session(self, wait: bool = True) -> None:
        """Close the episode's context. wait=False (a reset): its pages lose every site at once
        (Session.cut: no request of theirs reaches a site after this returns, so none can touch
        the state the next episode starts from), and the context is kept for the next episode to
        recycle (take_used) or closes in the background, off the reset's path (release() waits)."""
        session, self.session = self.session, None
        if session is None or self.browser is None or self.browser.closed:
            return
        try:
            if wait:
                self.browser.call(session.close(), timeout=30)
            elif RECYCLE and session.recyclable:
                self.browser.call(session.cut(keep=True), timeout=30)
                self.used = (self.browser, session)
            else:
                self.browser.call(session.cut(), timeout=30)
                self.closing = [f for f in self.closing if not f.done()]
                self.closing.append(asyncio.run_coroutine_threadsafe(session.close(), self.browser.loop))
        except InfraError:
            pass

    def wait_closed(self) -> None:
        for fut in self.closing:
            try:
                fut.result(timeout=30)
            except Exception:  # noqa: BLE001 - closing is best effort; the browser's own close follows
                pass
        self.closing = []

    def release(self) -> None:
        self.end_session()
        if self.used is not None:
            (host, session), self.used = self.used, None
            if host is self.browser:
                self.session = session
                self.end_session()
        if self.spare is not None and (session := self.take_spare()) is not None:
            self.session = session
            self.end_session()
        self.wait_closed()
        if self.browser is not None:
            BrowserHost.release(self.browser)
            self.browser = None
        if self.host is not None:
            self.host.close()
            self.host = None


def release_soon(held: Held) -> None:
    """The garbage collector's close(). It runs on whatever thread collected the env; on a
    browser's loop thread, waiting for the browser would block that loop, so hand it to a thread."""
    if threading.current_thread().name == "agentgym-browser":
        threading.Thread(target=held.release, name="agentgym-web-release", daemon=True).start()
    else:
        held.release()
