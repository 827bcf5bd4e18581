"""The browser's hard wall: a per-episode HTTP proxy that forwards only to the task's sites.

Playwright's route() sees most of a page's requests, but not all of them: the hops of a
redirect after the first URL, WebSocket handshakes and shared workers' requests go straight to
the network. So every episode's browser context is made with this proxy (loopback included),
and all of Chromium's HTTP and WebSocket traffic passes through it: a request for anything
but an allowed site origin, or for a site's /__* admin paths, is answered 403 here and never
leaves. WebRTC is held to proxied connections by a launch flag (browser.py), so it meets the
same wall. The proxy runs on the browser's event loop, one listener per episode, closed with it.

Plain HTTP only (the sites are http): each request is forwarded on a fresh upstream connection
with ``Connection: close``, so no later request can ride an approved connection. A static site
whose folder is on this machine (runtime "local") has its GETs answered here, by the same code and
from the same files as its server (sites/server.py StaticSite), without that hop. CONNECT (what
Chromium uses for WebSockets through a proxy) is tunnelled to allowed site origins only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

IDLE_S = 60.0  # a silent upstream or client this long ends the exchange
CONNECT_S = 10.0
MAX_HEAD = 64 * 1024
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "proxy-authorization", "proxy-authenticate", "te",
              "trailer", "upgrade"}


def _response(status: int, reason: str, body: str = "") -> bytes:
    data = body.encode()
    return (f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {len(data)}\r\n"
            "Cache-Control: no-store\r\nConnection: close\r\n\r\n").encode() + data


def _static(site: Any, method: str, path: str) -> bytes:
    """A static site's answer, as its server gives it (StaticSite.handle, no-store), as bytes."""
    from agentgym.envs.web.sites.framework import Request

    resp = site.handle(Request(method, path or "/", {}, {}))
    body = resp.body.encode("utf-8") if isinstance(resp.body, str) else resp.body
    head = (f"HTTP/1.1 {resp.status} {HTTPStatus(resp.status).phrase}\r\nContent-Type: {resp.content_type}\r\n"
            f"Content-Length: {len(body)}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n")
    return head.encode("latin-1") + (b"" if method == "HEAD" else body)


def _parse_head(head: bytes) -> tuple[str, list[tuple[str, str]]]:
    lines = head.decode("latin-1").split("\r\n")
    headers = []
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers.append((name.strip(), value.strip()))
    return lines[0], headers


def _get(headers: list[tuple[str, str]], name: str) -> str | None:
    return next((v for k, v in headers if k.lower() == name), None)


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int | None = None,
                idle: float | None = IDLE_S) -> None:
    """Copy n bytes (None: until EOF) from reader to writer."""
    while n is None or n > 0:
        chunk = await asyncio.wait_for(reader.read(65536 if n is None else min(65536, n)), idle)
        if not chunk:
            return
        writer.write(chunk)
        await writer.drain()
        if n is not None:
            n -= len(chunk)


async def _splice(a: tuple[asyncio.StreamReader, asyncio.StreamWriter], b: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> None:
    """Both directions until either side ends (a tunnel: WebSockets may be idle for long)."""
    tasks = [asyncio.ensure_future(_copy(a[0], b[1], idle=None)), asyncio.ensure_future(_copy(b[0], a[1], idle=None))]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class FilterProxy:
    """allowed(url) decides each request; on_block(url) hears about refusals."""

    def __init__(self, allowed: Callable[[str], bool], on_block: Callable[[str], None], allowed_origin: Callable[[str], bool]):
        self.allowed, self.on_block, self.allowed_origin = allowed, on_block, allowed_origin
        self.server: asyncio.base_events.Server | None = None
        self.url = ""
        self._tasks: set[asyncio.Task] = set()
        self.auth_seen = False  # a site asked for HTTP authentication (the browser may keep credentials)
        # origin -> StaticSite (sites/server.py) of a static folder served on this machine: its GETs are
        # answered here, from the same files and with the same code as its server, without the hop to it.
        self.static: dict[str, Any] = {}

    async def start(self, host: str = "127.0.0.1") -> str:
        """Listen on `host` (the browser must reach it: loopback for a browser on this machine, the
        Docker network's gateway for one in a container); returns the proxy URL."""
        self.server = await asyncio.start_server(self._serve, host, 0, limit=MAX_HEAD)
        self.url = "http://%s:%d" % (host, self.server.sockets[0].getsockname()[1])
        return self.url

    async def drop(self) -> None:
        """End every exchange under way (the listener stays)."""
        tasks = list(self._tasks)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
        await self.drop()
        self.server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        upstream: asyncio.StreamWriter | None = None
        try:
            upstream = await self._handle(reader, writer)
        except asyncio.CancelledError:
            pass  # close() ended the exchange
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            pass  # a dropped or malformed exchange ends here; the browser sees a failed request
        finally:
            self._tasks.discard(task)
            for w in (writer, upstream):
                if w is not None:
                    w.close()

    def _refuse(self, writer: asyncio.StreamWriter, url: str) -> None:
        self.on_block(url)
        writer.write(_response(403, "Forbidden", "<!doctype html><title>Blocked</title><h1>Blocked</h1><p>This address is "
                                                 "blocked: only this task's sites are reachable.</p>"))

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> asyncio.StreamWriter | None:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), IDLE_S)
        request_line, headers = _parse_head(head)
        method, target, _version = request_line.split(" ", 2)
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            if not port.isdigit() or not (self.allowed_origin(f"http://{target}") or self.allowed_origin(f"https://{target}")):
                self._refuse(writer, f"connect://{target}")
                return None
            up_r, up_w = await asyncio.wait_for(asyncio.open_connection(host.strip("[]"), int(port)), CONNECT_S)
            writer.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            await _splice((reader, writer), (up_r, up_w))
            return up_w
        parts = urlsplit(target)
        if parts.scheme != "http" or not parts.hostname or not self.allowed(target):
            self._refuse(writer, target)
            return None
        if _get(headers, "transfer-encoding"):
            writer.write(_response(501, "Not Implemented", "chunked request bodies are not supported"))
            return None
        site = self.static.get(f"{parts.scheme}://{parts.netloc}")
        if site is not None and method in ("GET", "HEAD") and not _get(headers, "upgrade") and not _get(headers, "content-length"):
            writer.write(await asyncio.get_running_loop().run_in_executor(None, _static, site, method, parts.path))
            await writer.drain()
            return None
        up_r, up_w = await asyncio.wait_for(asyncio.open_connection(parts.hostname, parts.port or 80), CONNECT_S)
        path = target[len(f"{parts.scheme}://{parts.netloc}"):] or "/"
        upgrade = _get(headers, "upgrade")
        kept = [(k, v) for k, v in headers if k.lower() not in HOP_BY_HOP]
        kept += [("Upgrade", upgrade), ("Connection", "Upgrade")] if upgrade else [("Connection", "close")]
        up_w.write(f"{method} {path} HTTP/1.1\r\n".encode("latin-1")
                   + "".join(f"{k}: {v}\r\n" for k, v in kept).encode("latin-1") + b"\r\n")
        await _copy(reader, up_w, int(_get(headers, "content-length") or 0))
        while True:  # interim responses (100, 103) pass through before the final one
            resp_head = await asyncio.wait_for(up_r.readuntil(b"\r\n\r\n"), IDLE_S)
            status_line, resp_headers = _parse_head(resp_head)
            status = int(status_line.split(" ", 2)[1])
            if status == 101 or not 100 <= status < 200:
                break
            writer.write(resp_head)
        if status == 101:
            writer.write(resp_head)
            await _splice((reader, writer), (up_r, up_w))
            return up_w
        if status in (401, 407) or _get(resp_headers, "www-authenticate"):
            self.auth_seen = True
        kept = [(k, v) for k, v in resp_headers if k.lower() not in HOP_BY_HOP] + [("Connection", "close")]
        writer.write(f"{status_line}\r\n".encode("latin-1") + "".join(f"{k}: {v}\r\n" for k, v in kept).encode("latin-1") + b"\r\n")
        length = _get(resp_headers, "content-length")
        if method == "HEAD" or status in (204, 304):
            pass
        elif length is not None and not _get(resp_headers, "transfer-encoding"):
            await _copy(up_r, writer, int(length))
        else:
            await _copy(up_r, writer)
        await writer.drain()
        return up_w

