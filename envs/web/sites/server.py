"""Serve sites, one port each: ``python -m sites.server --sites shop,tracker --port-base 0``.

Runs with the standard library only (here and in the agentgym/web-sites image). On start it prints
one JSON line ``{"ports": {site: port}}``. Every site gets admin endpoints that need the header
``X-Agentgym-Token`` equal to $AGENTGYM_WEB_TOKEN (made per server start, known only to the env):

    POST /__reset   restore the seeded state        GET /__state   every table as JSON
    GET  /__health  liveness (no token; the env also blocks /__* for the agent's browser)

Static sites (``--static name=DIR``) serve a folder; their state is empty and reset is a no-op.
Users' own apps (``--app JSON``: name, port, cwd, argv) run as children of this server, with the
token, $PORT and $HOST (the address to bind) in their environment and their output on its stderr; if one exits, the server
exits too (the env then reports an infrastructure error instead of a dead site).
With ``--watch-stdin`` the server exits when its stdin closes (its parent died), taking its
process group, and so the apps, with it: no orphans.
"""

from __future__ import annotations

import argparse
import hmac
import importlib
import json
import mimetypes
import os
import posixpath
import signal
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from .framework import Request, Response, Site, json_response, parse_form

TOKEN_HEADER = "X-Agentgym-Token"
MAX_BODY = 1 << 20


class StaticSite:
    """A folder of pages with no server state (tasks check them through the page's reward hook)."""

    def __init__(self, name: str, root: str):
        self.name, self.root = name, Path(root).resolve()
        if not self.root.is_dir():
            raise SystemExit(f"static site {name}: {root} is not a directory")

    def reset(self) -> None:
        pass

    def state(self) -> dict:
        return {}

    def handle(self, req: Request) -> Response:
        rel = posixpath.normpath(unquote(req.path)).lstrip("/")
        path = (self.root / rel).resolve()
        if path.is_dir():
            path = path / "index.html"
        if self.root not in path.parents and path != self.root or not path.is_file():
            return Response("<h1>Not found</h1>", 404)
        ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return Response(path.read_bytes(), 200, ctype + ("; charset=utf-8" if ctype.startswith("text/") else ""))


def make_handler(site: Site | StaticSite, token: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "agentgym-sites"

        def log_message(self, fmt: str, *args: object) -> None:  # quiet: the env reads stdout
            pass

        def _send(self, resp: Response) -> None:
            body = resp.body.encode("utf-8") if isinstance(resp.body, str) else resp.body
            self.send_response(resp.status)
            self.send_header("Content-Type", resp.content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            for k, v in resp.headers.items():
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _admin(self, path: str) -> Response:
            if path == "/__health":
                return json_response({"ok": True, "site": site.name})
            if not hmac.compare_digest(self.headers.get(TOKEN_HEADER, ""), token):
                return json_response({"error": f"missing or wrong {TOKEN_HEADER} header"}, 403)
            if path == "/__reset" and self.command == "POST":
                site.reset()
                return json_response({"ok": True})
            if path == "/__state" and self.command == "GET":
                return json_response(site.state())
            return json_response({"error": "unknown admin endpoint"}, 404)

        def _dispatch(self) -> None:
            parts = urlsplit(self.path)
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if not 0 <= length <= MAX_BODY:
                self._send(Response("bad Content-Length", 400, "text/plain"))
                return
            body = self.rfile.read(length) if length else b""
            if parts.path.startswith("/__"):
                self._send(self._admin(parts.path))
                return
            query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
            req = Request(self.command, parts.path or "/", query, parse_form(body) if body else {})
            try:
                self._send(site.handle(req))
            except Exception as exc:  # noqa: BLE001 - a site bug is a 500 page, never a dead server
                self._send(Response(f"<h1>Server error</h1><p>{type(exc).__name__}</p>", 500))

        do_GET = do_POST = do_HEAD = _dispatch

    return Handler


def load_site(name: str) -> Site:
    module = importlib.import_module(f"{__package__}.{name}")
    classes = [c for c in vars(module).values() if isinstance(c, type) and issubclass(c, Site) and c is not Site]
    if len(classes) != 1:
        raise SystemExit(f"site module {name} must define exactly one Site subclass")
    return classes[0]()


APPS: list[subprocess.Popen] = []


def stop_all(code: int) -> None:
    """Exit with every app: the whole process group when we lead it (apps' children too)."""
    if os.getpgrp() == os.getpid():
        os.killpg(os.getpgrp(), signal.SIGKILL)
    for proc in APPS:
        proc.kill()
    os._exit(code)


def start_app(spec: dict, host: str) -> subprocess.Popen:
    """Run a user's app in this server's process group; its exit ends the server."""
    env = {**os.environ, "PORT": str(spec["port"]), "HOST": host}
    argv = [a.replace("{port}", str(spec["port"])).replace("{host}", host) for a in spec["argv"]]
    try:
        proc = subprocess.Popen(argv, cwd=spec.get("cwd") or None, env=env, stdin=subprocess.DEVNULL, stdout=sys.stderr.fileno())
    except OSError as exc:
        print(f"app {spec['name']}: cannot run {argv[0]!r}: {exc}", file=sys.stderr, flush=True)
        stop_all(2)

    def watch() -> None:
        code = proc.wait()
        print(f"app {spec['name']} ({' '.join(argv)}) exited with code {code}; stopping the site server", file=sys.stderr, flush=True)
        stop_all(3)

    APPS.append(proc)
    threading.Thread(target=watch, name=f"app-{spec['name']}", daemon=True).start()
    return proc


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sites", default="", help="comma-separated built-in site names")
    ap.add_argument("--static", action="append", default=[], help="NAME=DIR: serve a folder as a site")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port-base", type=int, default=0, help="0: any free ports; N: N, N+1, ... in order")
    ap.add_argument("--app", action="append", default=[], help='JSON {"name", "port", "cwd", "argv"}: run a user\'s app')
    ap.add_argument("--watch-stdin", action="store_true", help="exit when stdin closes, with the whole process group")
    args = ap.parse_args(argv)
    token = os.environ.get("AGENTGYM_WEB_TOKEN", "")
    if len(token) < 16:
        raise SystemExit("set AGENTGYM_WEB_TOKEN (16+ characters) for the admin endpoints")
    sites: list[Site | StaticSite] = [load_site(n) for n in args.sites.split(",") if n]
    for spec in args.static:
        name, _, root = spec.partition("=")
        sites.append(StaticSite(name, root))
    ports: dict[str, int] = {}
    for i, site in enumerate(sites):
        port = args.port_base + i if args.port_base else 0
        httpd = ThreadingHTTPServer((args.host, port), make_handler(site, token))
        httpd.daemon_threads = True
        ports[site.name] = httpd.server_address[1]
        threading.Thread(target=httpd.serve_forever, name=f"site-{site.name}", daemon=True).start()
    for spec in map(json.loads, args.app):
        start_app(spec, args.host)
        ports[spec["name"]] = spec["port"]
    print(json.dumps({"ports": ports}), flush=True)
    if args.watch_stdin:
        sys.stdin.read()  # returns at EOF: the parent closed the pipe or died
        if APPS:
            stop_all(0)
    else:
        threading.Event().wait()


if __name__ == "__main__":
    main()
