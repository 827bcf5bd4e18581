"""Warm spare episode databases for one running PgServer container.

A reset takes a database already copied from its template and already connected, when one is
ready, instead of waiting ~20-40 ms for CREATE DATABASE and a login. Worker threads keep up to
`size` spares per template; a pool lives exactly as long as one container: PgServer makes a new
pool when it starts a container and closes it (spare connections closed, workers told to exit)
before it removes the container, whose databases go with it.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agentgym.envs.sql.engines.pg_server import PgServer


class SparePool:
    """Ready (episode name, connection) pairs per template, refilled in the background."""

    def __init__(self, server: PgServer, size: int, workers: int):
        self._server = server
        self._size = size
        self._lock = threading.Lock()
        self._ready: dict[str, list[tuple[str, Any]]] = {}
        self._filling: dict[str, int] = {}
        self._closed = False
        self._requests: queue.Queue[str | None] = queue.Queue()
        self.threads = [threading.Thread(target=self._loop, daemon=True, name=f"agentgym-pg-spares-{i}")
                        for i in range(workers)]
        for t in self.threads:
            t.start()

    def take(self, template: str, refill: bool = True) -> tuple[str, Any] | None:
        """A ready spare of `template`, or None; with refill a refill is requested, so the next
        reset finds one (refill=False: the caller requests it once it is done with the hot path).
        The caller checks the connection is still alive."""
        with self._lock:
            ready = self._ready.get(template)
            spare = ready.pop() if ready else None
        if refill:
            self.request(template)
        return spare

    def request(self, template: str) -> None:
        with self._lock:
            if not self._closed:
                self._requests.put(template)

    def names(self) -> set[str]:
        """The episode databases kept ready (not leftovers)."""
        with self._lock:
            return {name for ready in self._ready.values() for name, _ in ready}

    def join(self) -> None:
        """Wait until every requested refill has run."""
        self._requests.join()

    def close(self) -> None:
        """Stop refilling and close the spares' connections (their databases die with the container)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            spares = [conn for ready in self._ready.values() for _, conn in ready]
            self._ready.clear()
            self._filling.clear()
            for _ in self.threads:
                self._requests.put(None)
        for conn in spares:
            with contextlib.suppress(Exception):  # the server is going away: nothing to say goodbye to
                conn.close()

    def _loop(self) -> None:
        while True:
            template = self._requests.get()
            try:
                if template is None:
                    return
                self._refill_one(template)
            finally:
                self._requests.task_done()

    def _refill_one(self, template: str) -> None:
        with self._lock:
            if self._closed:
                return
            have = len(self._ready.get(template, ())) + self._filling.get(template, 0)
            if have >= self._size:
                return
            self._filling[template] = self._filling.get(template, 0) + 1
        made: tuple[str, Any] | None = None
        kept = False
        try:
            name = self._server.create_episode(template)
            try:
                made = (name, self._server.connect_episode(name))
            except Exception:
                self._server.drop_episode(name)
                raise
        except Exception:  # noqa: BLE001 - a spare is an optimisation: take_episode makes one itself
            time.sleep(0.5)
        finally:
            with self._lock:
                self._filling[template] = max(0, self._filling.get(template, 0) - 1)
                if made is not None and not self._closed:
                    self._ready.setdefault(template, []).append(made)
                    kept = True
            if made is not None and not kept:  # the pool closed meanwhile: its container is going away
                made[1].close()
                self._server.drop_episode(made[0])  # a no-op unless a new container already answered
        if kept:
            self.request(template)  # top up until `size` are ready (a no-op once they are);
            # after a failure the next take() asks again, rather than retrying in a loop here
