"""Checkers. They read the site's server state (through the env's admin token) or the browser's
own state (URL, tabs), never what a page merely shows; answers are matched without any judge."""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pydantic import BaseModel

from agentgym.envs.web.tasks.models import AnswerCheck, Check, HookCheck, InfeasibleCheck, StateCheck, TabsCheck, UrlCheck


class HookReading(BaseModel):
    """A page reward hook as read from the task page when the episode ended, or why it is void."""

    value: Any = None
    attempts: Any = None
    void: str = ""


class EpisodeEnd(BaseModel):
    """What the checkers see when the episode ends."""

    message: str | None = None
    infeasible: bool = False
    url: str = ""
    tab_urls: list[str] = []
    hooks: dict[str, HookReading] = {}  # by hook_key(check)


def hook_key(c: HookCheck) -> str:
    return f"{c.name}/{c.attempts or ''}"


def _number_at_least(v: Any, least: float) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= least


def check_hook(c: HookCheck, r: HookReading | None) -> tuple[bool, str]:
    if r is None:
        return False, "the page reward hook was not read"
    if r.void:
        return False, f"page reward void: {r.void}"
    if c.attempts is not None and not (_number_at_least(r.attempts, 0) and r.attempts <= 1):
        return False, f"page reward void: {c.attempts} = {r.attempts!r} attempts on the task page (only the first counts)"
    ok = _number_at_least(r.value, c.min) and not (c.above and r.value == c.min)
    op = ">" if c.above else ">="
    return ok, f"page reward hook {c.name} = {r.value!r} ({op if ok else 'not ' + op} {c.min:g})"


def normalize(s: str) -> str:
    s = unicodedata.normalize("NFKC", s).lower().strip()
    s = re.sub(r"[\s]+", " ", s)
    return s.strip(" .!\"'")


def _number(text: str) -> float | None:
    nums = re.findall(r"-?\d[\d,]*(?:\.\d+)?", text.replace("$", ""))
    if len(nums) != 1:
        return None  # no number, or several: an answer must commit to one
    return float(nums[0].replace(",", ""))


def check_answer(c: AnswerCheck, message: str | None) -> tuple[bool, str]:
    if message is None:
        return False, "no answer was sent (use send_msg_to_user)"
    got = normalize(message)
    if c.mode == "exact":
        want = [c.expected] if isinstance(c.expected, str) else list(c.expected)  # type: ignore[arg-type]
        ok = got in {normalize(str(w)) for w in want}
    elif c.mode == "must_include":
        want = [c.expected] if isinstance(c.expected, str) else list(c.expected)  # type: ignore[arg-type]
        ok = all(normalize(str(w)) in got for w in want)
    else:
        n = _number(message)
        ok = n is not None and abs(n - float(c.expected)) <= c.tolerance  # type: ignore[arg-type]
    return ok, f"answer {'matches' if ok else 'does not match'} ({c.mode})"


def _on(url: str, origin: str) -> bool:
    """Whether url is on this site origin (exactly: http://h:80 is not a prefix of http://h:8080)."""
    p = urlsplit(url)
    return f"{p.scheme}://{p.netloc}" == origin


def _path_query(url: str) -> tuple[str, dict[str, str]]:
    p = urlsplit(url)
    return p.path or "/", {k: v[-1] for k, v in parse_qs(p.query).items()}


def run_checks(checks: list[Check], end: EpisodeEnd, origins: dict[str, str], before: dict[str, Any],
               state: Callable[[str], dict[str, Any]]) -> tuple[bool, str]:
    """All checks must pass. `before` holds each site's state at episode start."""
    infeasible_task = any(isinstance(c, InfeasibleCheck) for c in checks)
    if end.infeasible and not infeasible_task:
        return False, "the task was feasible but was reported infeasible"
    details = []
    for c in checks:
        if isinstance(c, InfeasibleCheck):
            ok, why = end.infeasible, "reported infeasible" if end.infeasible else "the task is infeasible: expected report_infeasible"
        elif isinstance(c, AnswerCheck):
            ok, why = check_answer(c, end.message)
        elif isinstance(c, StateCheck):
            fn = STATE_CHECKS.get(c.fn)
            if fn is None:
                raise KeyError(f"unknown state check {c.fn!r}; register it in STATE_CHECKS")
            ok, why = fn(before.get(c.site, {}), state(c.site), **c.params)
        elif isinstance(c, UrlCheck):
            path, query = _path_query(end.url)
            ok = _on(end.url, origins[c.site]) and path == c.path and (c.query is None or all(query.get(k) == v for k, v in c.query.items()))
            why = f"active tab {'is' if ok else 'is not'} at {c.path}"
        elif isinstance(c, TabsCheck):
            open_paths = {_path_query(u)[0] for u in end.tab_urls if _on(u, origins[c.site])}
            missing = [p for p in c.paths if p not in open_paths]
            ok, why = not missing, f"tabs missing: {missing}" if missing else "all tabs open"
        elif isinstance(c, HookCheck):
            ok, why = check_hook(c, end.hooks.get(hook_key(c)))
        else:  # pragma: no cover - the Check union is closed
            raise TypeError(f"unknown check {c!r}")
        details.append(why)
        if not ok:
            return False, why
    return True, "; ".join(details)


# ---- state checks: (before, after, **params) -> (ok, detail) --------------------------------------

def _new(before: dict[str, Any], after: dict[str, Any], table: str, key: str = "id") -> list[dict[str, Any]]:
    old = {r[key] for r in before.get(table, [])}
    return [r for r in after.get(table, []) if r[key] not in old]


def shop_order(before: dict, after: dict, items: dict[str, int], customer: str, address: str, shipping: str) -> tuple[bool, str]:
    orders = _new(before, after, "orders")
    if len(orders) != 1:
        return False, f"expected exactly one new order, found {len(orders)}"
    o = orders[0]
    got = {str(i["product_id"]): i["qty"] for i in after["order_items"] if i["order_id"] == o["id"]}
    if got != items:
        return False, f"order items {got} != expected {items}"
    if normalize(o["customer"]) != normalize(customer) or normalize(o["address"]) != normalize(address) or o["shipping"] != shipping:
        return False, "customer, address or shipping differ from the task"
    return True, "the right order was placed"


def tracker_new_issue(before: dict, after: dict, title: str, label: str) -> tuple[bool, str]:
    new = _new(before, after, "issues")
    ok = len(new) == 1 and normalize(new[0]["title"]) == normalize(title) and new[0]["label"] == label
    return ok, "issue created" if ok else f"expected one new issue {title!r} labelled {label}, found {[(n['title'], n['label']) for n in new]}"


def tracker_comment(before: dict, after: dict, issue_id: int, text: str) -> tuple[bool, str]:
    new = _new(before, after, "comments")
    ok = len(new) == 1 and new[0]["issue_id"] == issue_id and normalize(text) in normalize(new[0]["body"])
    return ok, "comment added" if ok else f"expected one new comment on #{issue_id} containing {text!r}"


def field_changed(before: dict, after: dict, table: str, row_id: int, changes: dict[str, Any]) -> tuple[bool, str]:
    """Row row_id has exactly these field changes and no other row of the table changed."""
    b = {r["id"]: r for r in before.get(table, [])}
    a = {r["id"]: r for r in after.get(table, [])}
    if set(a) != set(b):
        return False, f"rows were added or removed in {table}"
    for rid, row in a.items():
        want = {**b[rid], **changes} if rid == row_id else b[rid]
        if row != want:
            diff = {k: row[k] for k in row if row[k] != want.get(k)}
            return False, f"{table} #{rid} differs from what the task asks: {diff}"
    return True, f"{table} #{row_id} updated"


def booking_made(before: dict, after: dict, room_id: int, day: str, slot: str, title: str) -> tuple[bool, str]:
    new = _new(before, after, "bookings")
    ok = (len(new) == 1 and (new[0]["room_id"], new[0]["day"], new[0]["slot"]) == (room_id, day, slot)
          and normalize(new[0]["title"]) == normalize(title))
    removed = len(before.get("bookings", [])) + len(new) - len(after.get("bookings", []))
    return ok and removed == 0, "booking made" if ok and removed == 0 else "expected exactly one new booking with that room, day, time and title"


def booking_cancelled(before: dict, after: dict, booking_id: int) -> tuple[bool, str]:
    b = {r["id"] for r in before.get("bookings", [])}
    a = {r["id"] for r in after.get("bookings", [])}
    ok = b - a == {booking_id} and a <= b
    return ok, "booking cancelled" if ok else f"expected only booking {booking_id} to be cancelled"


def widget_submitted(before: dict, after: dict, widget: str, payload: dict[str, str]) -> tuple[bool, str]:
    subs = [r for r in _new(before, after, "submissions") if r["widget"] == widget]
    if not subs:
        return False, f"nothing was submitted on the {widget} widget"
    import json

    got = json.loads(subs[-1]["payload"])
    norm = lambda d: {k: ",".join(sorted(v.split(","))) if k in ("word", "basket") else v for k, v in d.items() if v != ""}  # noqa: E731
    ok = norm(got) == norm(payload)
    return ok, "submission matches" if ok else f"last submission {got} != expected {payload}"


STATE_CHECKS: dict[str, Callable[..., tuple[bool, str]]] = {
    "shop.order": shop_order,
    "tracker.new_issue": tracker_new_issue,
    "tracker.comment": tracker_comment,
    "field_changed": field_changed,
    "booking.made": booking_made,
    "booking.cancelled": booking_cancelled,
    "widgets.submitted": widget_submitted,
}


def register_state_check(name: str, fn: Callable[..., tuple[bool, str]]) -> None:
    """Add a user's check: fn(before_state, after_state, **params) -> (ok, detail). Tasks name it
    in StateCheck(fn=name). States are {table: [row dicts]} as the site's /__state returns them."""
    if not callable(fn):
        raise TypeError("a state check must be callable: fn(before, after, **params) -> (ok, detail)")
    STATE_CHECKS[name] = fn
