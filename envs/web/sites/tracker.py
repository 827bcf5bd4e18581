"""Tracker: an issue tracker (list with filters, issue pages, comments, labels, open/close)."""

from __future__ import annotations

import random
import sqlite3

from .framework import Request, Response, Site, esc, not_found, options, qs, redirect, table

LABELS = ["bug", "feature", "docs", "question", "performance"]
USERS = ["maria", "kenji", "olu", "sven", "priya", "tomas"]
TITLES = [
    "Login page crashes on empty password", "Add dark mode", "Typo in installation guide", "Export to CSV is slow",
    "How do I reset my API key?", "Search ignores accents", "Support for SAML single sign-on", "Broken link in footer",
    "Memory leak in background sync", "Allow bulk delete of projects", "Date picker shows wrong week start",
    "Document the rate limits", "Notifications arrive twice", "Improve startup time", "Avatar upload fails for PNG",
    "Add keyboard shortcuts", "Clarify licence terms", "Timeout when importing large files",
]


class Tracker(Site):
    name = "tracker"
    title = "TrackIt"
    nav = [("Issues", "/issues"), ("New issue", "/issues/new")]
    SCHEMA = """
    CREATE TABLE issues(id INTEGER PRIMARY KEY, title TEXT, body TEXT, status TEXT, label TEXT, assignee TEXT,
                        author TEXT);
    CREATE TABLE comments(id INTEGER PRIMARY KEY, issue_id INTEGER, author TEXT, body TEXT);
    """
    me = "you"

    def seed(self, db: sqlite3.Connection) -> None:
        rng = random.Random(7)
        for i, title in enumerate(TITLES, start=1):
            db.execute("INSERT INTO issues VALUES(?,?,?,?,?,?,?)", (
                i, title, f"Reported by {USERS[i % 6]}: {title.lower()}. Steps to reproduce are in the logs.",
                "closed" if rng.random() < 0.3 else "open", rng.choice(LABELS), rng.choice(USERS + [""]), USERS[i % 6]))
            for _ in range(rng.randint(0, 3)):
                db.execute("INSERT INTO comments(issue_id,author,body) VALUES(?,?,?)",
                           (i, rng.choice(USERS), rng.choice(["I can reproduce this.", "Any update?", "Fixed on main, please verify.",
                                                              "This also happens on mobile.", "+1 from our team."])))


@Tracker.route("GET", "/")
def home(site: Tracker, req: Request) -> Response:
    return redirect("/issues")


@Tracker.route("GET", "/issues")
def issues(site: Tracker, req: Request) -> Response:
    status, label, q = req.arg("status", "open"), req.arg("label"), req.arg("q").strip()
    rows = site.q("SELECT i.*, (SELECT COUNT(*) FROM comments c WHERE c.issue_id=i.id) AS n FROM issues i "
                  "WHERE (?='all' OR status=?) AND (?='' OR label=?) AND (?='' OR title LIKE ?) ORDER BY id",
                  status, status, label, label, q, f"%{q}%")
    filters = (
        '<form method="get" action="/issues">'
        f'<select name="status" aria-label="Status">{options([("open", "Open"), ("closed", "Closed"), ("all", "All")], status)}</select>'
        f'<select name="label" aria-label="Label">{options([("", "Any label")] + [(x, x) for x in LABELS], label)}</select>'
        f'<input name="q" aria-label="Search issues" placeholder="Search" value="{esc(q)}"><button type="submit">Filter</button></form>')
    lines = [[f'#{r["id"]}', f'<a href="/issues/{r["id"]}">{esc(r["title"])}</a>', f'<span class="label">{esc(r["label"])}</span>',
              esc(r["status"]), esc(r["assignee"] or "unassigned"), str(r["n"])] for r in rows]
    body = f'<h1>Issues</h1>{filters}<p>{len(rows)} issue(s)</p>{table(["#", "Title", "Label", "Status", "Assignee", "Comments"], lines)}'
    return Response(site.page("Issues", body))


@Tracker.route("GET", r"/issues/(?P<iid>\d+)")
def issue(site: Tracker, req: Request) -> Response:
    r = site.one("SELECT * FROM issues WHERE id=?", int(req.params["iid"]))
    if r is None:
        return not_found("issue")
    comments = "".join(f'<li><b>{esc(c["author"])}</b>: {esc(c["body"])}</li>'
                       for c in site.q("SELECT * FROM comments WHERE issue_id=? ORDER BY id", r["id"]))
    toggle = "Reopen issue" if r["status"] == "closed" else "Close issue"
    body = (
        f'<h1>{esc(r["title"])} <small>#{r["id"]}</small></h1><p>Status: {esc(r["status"])}</p>'
        f'<p>Author: {esc(r["author"])}</p><p>Assignee: {esc(r["assignee"] or "unassigned")}</p><p>{esc(r["body"])}</p>'
        f'<form action="/issues/{r["id"]}/label" method="post"><label for="label">Label</label> '
        f'<select id="label" name="label">{options([(x, x) for x in LABELS], r["label"])}</select>'
        '<button type="submit">Save label</button></form>'
        f'<form action="/issues/{r["id"]}/assign" method="post"><label for="assignee">Assignee</label> '
        f'<select id="assignee" name="assignee">{options([("", "unassigned")] + [(u, u) for u in USERS], r["assignee"])}</select>'
        '<button type="submit">Assign</button></form>'
        f'<form action="/issues/{r["id"]}/toggle" method="post"><button type="submit">{toggle}</button></form>'
        f'<h2>Comments</h2><ul>{comments or "<li>No comments yet.</li>"}</ul>'
        f'<form action="/issues/{r["id"]}/comment" method="post"><label for="comment">Add a comment</label>'
        '<textarea id="comment" name="body"></textarea><button type="submit">Comment</button></form>')
    return Response(site.page(r["title"], body))


def _issue_id(site: Tracker, req: Request) -> int:
    iid = int(req.params["iid"])
    if site.one("SELECT 1 FROM issues WHERE id=?", iid) is None:
        raise ValueError(f"issue {iid} does not exist")
    return iid


@Tracker.route("POST", r"/issues/(?P<iid>\d+)/comment")
def comment(site: Tracker, req: Request) -> Response:
    iid, body = _issue_id(site, req), req.arg("body").strip()
    if not body:
        raise ValueError("a comment cannot be empty")
    site.db.execute("INSERT INTO comments(issue_id,author,body) VALUES(?,?,?)", (iid, site.me, body))
    return redirect(f"/issues/{iid}")


@Tracker.route("POST", r"/issues/(?P<iid>\d+)/label")
def set_label(site: Tracker, req: Request) -> Response:
    iid, label = _issue_id(site, req), req.arg("label")
    if label not in LABELS:
        raise ValueError(f"unknown label {label!r}")
    site.db.execute("UPDATE issues SET label=? WHERE id=?", (label, iid))
    return redirect(f"/issues/{iid}")


@Tracker.route("POST", r"/issues/(?P<iid>\d+)/assign")
def assign(site: Tracker, req: Request) -> Response:
    iid, user = _issue_id(site, req), req.arg("assignee")
    if user and user not in USERS:
        raise ValueError(f"unknown user {user!r}")
    site.db.execute("UPDATE issues SET assignee=? WHERE id=?", (user, iid))
    return redirect(f"/issues/{iid}")


@Tracker.route("POST", r"/issues/(?P<iid>\d+)/toggle")
def toggle(site: Tracker, req: Request) -> Response:
    iid = _issue_id(site, req)
    site.db.execute("UPDATE issues SET status=CASE status WHEN 'open' THEN 'closed' ELSE 'open' END WHERE id=?", (iid,))
    return redirect(f"/issues/{iid}")


@Tracker.route("GET", "/issues/new")
def new_form(site: Tracker, req: Request) -> Response:
    body = ('<h1>New issue</h1><form action="/issues/new" method="post">'
            '<p><label for="title">Title</label> <input id="title" name="title"></p>'
            '<p><label for="body">Description</label> <textarea id="body" name="body"></textarea></p>'
            f'<p><label for="label">Label</label> <select id="label" name="label">{options([(x, x) for x in LABELS])}</select></p>'
            '<button type="submit">Create issue</button></form>')
    return Response(site.page("New issue", body))


@Tracker.route("POST", "/issues/new")
def create(site: Tracker, req: Request) -> Response:
    title, body, label = req.arg("title").strip(), req.arg("body").strip(), req.arg("label")
    if not title:
        raise ValueError("the title is required")
    if label not in LABELS:
        raise ValueError(f"unknown label {label!r}")
    cur = site.db.execute("INSERT INTO issues(title,body,status,label,assignee,author) VALUES(?,?,?,?,?,?)",
                          (title, body, "open", label, "", site.me))
    return redirect(f"/issues/{cur.lastrowid}?{qs(created=1)}")
