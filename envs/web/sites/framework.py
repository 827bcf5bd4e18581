"""A tiny web framework for the built-in sites: routing, requests, HTML helpers, and the
SQLite state every site keeps (seeded template -> live copy, restored with the backup API).

Every site is a :class:`Site`: it declares its schema, seeds its data deterministically and
registers handlers with :meth:`Site.route`. The server (server.py) adds the admin endpoints.
"""

from __future__ import annotations

import html
import json
import re
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, quote, urlencode


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str]
    params: dict[str, str] = field(default_factory=dict)

    def arg(self, name: str, default: str = "") -> str:
        return self.form.get(name, self.query.get(name, default))


@dataclass
class Response:
    body: str | bytes = ""
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


def redirect(location: str) -> Response:
    # 303: the browser follows a POST with a GET, so reloading never re-submits a form.
    return Response("", 303, headers={"Location": location})


def not_found(what: str = "page") -> Response:
    return Response(f"<h1>Not found</h1><p>No such {esc(what)}.</p>", 404)


def json_response(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data, sort_keys=True), status, "application/json")


def parse_form(body: bytes) -> dict[str, str]:
    pairs = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {k: ",".join(v) if len(v) > 1 else v[0] for k, v in pairs.items()}


def qs(**params: Any) -> str:
    return urlencode({k: v for k, v in params.items() if v not in (None, "")}, quote_via=quote)


Handler = Callable[["Site", Request], Response]


class Site:
    """One web app. Subclasses set name/title/nav, SCHEMA and seed(); handlers use self.db."""

    name = "site"
    title = "Site"
    nav: list[tuple[str, str]] = []  # (label, path) for the top navigation bar
    SCHEMA = ""
    routes: list[tuple[str, re.Pattern[str], Handler]]

    def __init__(self) -> None:
        self.lock = threading.RLock()  # one request at a time: SQLite connection shared by threads
        self.template = sqlite3.connect(":memory:", check_same_thread=False)
        self.template.executescript(self.SCHEMA)
        self.seed(self.template)
        self.template.commit()
        self.db = sqlite3.connect(":memory:", check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        self.reset()

    # -- state ------------------------------------------------------------------------------------
    def seed(self, db: sqlite3.Connection) -> None:
        raise NotImplementedError

    def reset(self) -> None:
        """Restore the seeded state (the SQLite backup API copies the pages: about a millisecond)."""
        with self.lock:
            self.template.backup(self.db)

    def state(self) -> dict[str, list[dict[str, Any]]]:
        """Every table as a list of row dicts: what checkers read."""
        with self.lock:
            tables = [r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
            return {t: [dict(r) for r in self.db.execute(f'SELECT * FROM "{t}" ORDER BY rowid')] for t in tables}

    def q(self, sql: str, *args: Any) -> list[sqlite3.Row]:
        return self.db.execute(sql, args).fetchall()

    def one(self, sql: str, *args: Any) -> sqlite3.Row | None:
        return self.db.execute(sql, args).fetchone()

    # -- routing ----------------------------------------------------------------------------------
    @classmethod
    def route(cls, method: str, pattern: str) -> Callable[[Handler], Handler]:
        def deco(fn: Handler) -> Handler:
            if "routes" not in cls.__dict__:
                cls.routes = []
            cls.routes.append((method, re.compile(f"^{pattern}$"), fn))
            return fn

        return deco

    def handle(self, req: Request) -> Response:
        for method, pattern, fn in type(self).routes:
            m = pattern.match(req.path)
            if m and method == req.method:
                req.params = m.groupdict()
                with self.lock:
                    try:
                        resp = fn(self, req)
                        self.db.commit()
                        return resp
                    except ValueError as exc:  # bad form input: a page that says what to fix
                        self.db.rollback()
                        return Response(self.page("Invalid input", f'<p class="error">{esc(exc)}</p>'), 400)
        return Response(self.page("Not found", "<h1>Not found</h1><p>This page does not exist.</p>"), 404)

    # -- HTML -------------------------------------------------------------------------------------
    def page(self, heading: str, body: str, *, script: str = "") -> str:
        links = " ".join(f'<a href="{esc(p)}">{esc(label)}</a>' for label, p in self.nav)
        js = f"<script>{script}</script>" if script else ""
        return (
            f'<!doctype html><html><head><meta charset="utf-8"><title>{esc(heading)} - {esc(self.title)}</title>'
            f"<style>{CSS}</style></head><body><header><nav><b>{esc(self.title)}</b> {links}</nav></header>"
            f"<main>{body}</main>{js}</body></html>"
        )


def table(headers: list[str], rows: list[list[str]]) -> str:
    """An HTML table; cells are already-escaped HTML."""
    head = "".join(f"<th>{h}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def options(values: list[tuple[str, str]], selected: str = "") -> str:
    return "".join(
        f'<option value="{esc(v)}"{" selected" if v == selected else ""}>{esc(label)}</option>' for v, label in values
    )


CSS = (
    "body{font-family:sans-serif;margin:0}header{background:#234;padding:8px}header a,header b{color:#fff;"
    "margin-right:12px}main{padding:12px}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 6px}"
    ".error{color:#b00}.ok{color:#070}.hidden{display:none}.menu .sub{display:none}.menu:hover .sub{display:block}"
    ".cal td{width:28px;text-align:center;cursor:pointer}.slot-free{background:#dfd}.slot-booked{background:#fdd}"
    ".bin,.pool{min-height:60px;border:2px dashed #888;padding:6px;margin:6px}.item{display:inline-block;"
    "padding:4px;margin:3px;background:#eef;border:1px solid #99a;cursor:move}"
)
