"""`agentgym view RUN`: the viewer served by the standard library's ThreadingHTTPServer on
127.0.0.1 only (a run holds prompts and model output; it is not for the network). GET only;
pages are built per request from the store, so a sweep still running shows up on reload; the
score tables are recomputed only when the number of stored episodes changes.
"""

from __future__ import annotations

import html
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from agentgym.view.data import RunData
from agentgym.view.pages import compare_page, episode_page, index_page, layout, plots_page, training_page


class Viewer:
    """The app: routes a path and query to (status, html)."""

    def __init__(self, run_dir: str | Path, n_boot: int = 300):
        self.data = RunData(run_dir)
        self.n_boot = n_boot
        self._rows: tuple[int, list[dict[str, Any]]] | None = None
        self._lock = threading.Lock()

    def rows(self) -> list[dict[str, Any]]:
        from agentgym.report import summarize

        eps = self.data.episodes()
        with self._lock:
            if self._rows is None or self._rows[0] != len(eps):
                self._rows = (len(eps), summarize(self.data.configs(), eps, n_boot=self.n_boot))
            return self._rows[1]

    def handle(self, target: str) -> tuple[int, str]:
        url = urlsplit(target)
        q = dict(parse_qsl(url.query))
        if url.path in ("/", "/index.html"):
            return 200, index_page(self.data, q, self.rows())
        if url.path == "/plots":
            return 200, plots_page(self.data, self.rows())
        if url.path == "/training":
            return 200, training_page(self.data)
        if url.path == "/episode":
            return episode_page(self.data, q)
        if url.path == "/compare":
            return 200, compare_page(self.data, q)
        return 404, layout("not found", '<p>No such page. Start from <a href="/">the episode list</a>.</p>', str(self.data.root))


def _local_host(host: str) -> bool:
    """Whether a request's Host header names this machine's loopback (any port)."""
    host = host.strip().lower()
    name = host[: host.find("]") + 1] if host.startswith("[") else host.split(":", 1)[0]
    return name in ("127.0.0.1", "localhost", "[::1]")


def make_server(run_dir: str | Path, port: int = 0, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """A server for `run_dir` bound to host:port (0: a free port); serve_forever() runs it."""
    viewer = Viewer(run_dir)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            if not _local_host(self.headers.get("Host", "")):
                # DNS rebinding: a web page whose name resolves to 127.0.0.1 would read the run
                status, page = 403, layout("forbidden", "<p>Open the viewer as http://127.0.0.1:PORT/ or http://localhost:PORT/.</p>", "")
            else:
                try:
                    status, page = viewer.handle(self.path)
                except Exception as exc:  # noqa: BLE001 - one broken page must not stop the viewer
                    text = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=4)}"  # may quote stored (agent) text
                    status, page = 500, layout("viewer error", f"<pre>{html.escape(text)}</pre>", "")
            body = page.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet: the terminal shows the URL only
            return

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server


def serve(run_dir: str | Path, port: int = 8765, on_ready: Any = print) -> None:
    """Serve until Ctrl-C. A busy `port` falls back to a free one (the URL printed says which)."""
    try:
        server = make_server(run_dir, port)
    except OSError:
        server = make_server(run_dir, 0)
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    on_ready(url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


__all__ = ["Viewer", "make_server", "serve"]
