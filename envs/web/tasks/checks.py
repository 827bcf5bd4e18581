"""Checkers. They read the site's server state (through the env's admin token) or the browser's
own state (URL, tabs), never what a page merely shows; answers are matched without any judge."""

from __future__ import annotations

import functools

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


class CheckOutcome(BaseModel):
    """One check's result for the grader report: what it wanted and what it found. `passed` None:
    not evaluated (it raised after an earlier check had already failed the episode)."""

    name: str
    passed: bool | None
    why: str
    expected: Any = None
    got: Any = None


class WebGrade(BaseModel):
    """The verdict (all checks pass; the same rule and detail line as ever) and every check's outcome."""

    passed: bool
    detail: str
    outcomes: list[CheckOutcome] = []


def _answer_expected(c: AnswerCheck) -> str:
    if c.mode == "numeric":
        return f"a message with one number within {c.tolerance:g} of {c.expected}"
    want = [c.expected] if isinstance(c.expected, str) else list(c.expected)  # type: ignore[arg-type]
    return (f"exactly (normalized) one of {want!r}" if len(want) > 1 else f"exactly (normalized) {want[0]!r}") \
        if c.mode == "exact" else f"a message containing all of {want!r}"


def _hook_expected(c: HookCheck) -> str:
    text = f"{c.name} {'>' if c.above else '>='} {c.min:g}"
    return text + (f", {c.attempts} <= 1" if c.attempts else "")


def _hook_got(c: HookCheck, r: HookReading | None) -> str:
    if r is None:
        return "not read"
    return (f"void: {r.void}" if r.void else f"{c.name} = {r.value!r}") + (f", {c.attempts} = {r.attempts!r}" if c.attempts else "")


def _one(c: Check, end: EpisodeEnd, origins: dict[str, str], before: dict[str, Any],
         state: Callable[[str], dict[str, Any]]) -> CheckOutcome:
    if isinstance(c, InfeasibleCheck):
        ok, why = end.infeasible, "reported infeasible" if end.infeasible else "the task is infeasible: expected report_infeasible"
        return CheckOutcome(name="infeasible", passed=ok, why=why, expected="report_infeasible",
                            got="report_infeasible" if end.infeasible else f"send_msg_to_user: {end.message!r}")
    if isinstance(c, AnswerCheck):
        ok, why = check_answer(c, end.message)
        got = "(report_infeasible)" if end.infeasible else "(no answer sent)" if end.message is None else end.message
        return CheckOutcome(name=f"answer ({c.mode})", passed=ok, why=why, expected=_answer_expected(c), got=got)
    if isinstance(c, StateCheck):
        fn = STATE_CHECKS.get(c.fn)
        if fn is None:
            raise KeyError(f"unknown state check {c.fn!r}; register it in STATE_CHECKS")
        res = fn(before.get(c.site, {}), state(c.site), **c.params)
        ok, why = res[0], res[1]
        expected, got = (res[2], res[3]) if len(res) >= 4 else (c.params, why)  # a user's check: its params vs its line
        return CheckOutcome(name=f"{c.site}: {c.fn}", passed=ok, why=why, expected=expected, got=got)
    if isinstance(c, UrlCheck):
        path, query = _path_query(end.url)
        ok = _on(end.url, origins[c.site]) and path == c.path and (c.query is None or all(query.get(k) == v for k, v in c.query.items()))
        want = origins[c.site] + c.path + (f" with query {c.query}" if c.query else "")
        return CheckOutcome(name=f"{c.site}: active tab's URL", passed=ok, why=f"active tab {'is' if ok else 'is not'} at {c.path}",
                            expected=want, got=end.url or "(no page)")
    if isinstance(c, TabsCheck):
        open_paths = {_path_query(u)[0] for u in end.tab_urls if _on(u, origins[c.site])}
        missing = [p for p in c.paths if p not in open_paths]
        return CheckOutcome(name=f"{c.site}: open tabs", passed=not missing, why=f"tabs missing: {missing}" if missing else "all tabs open",
                            expected=[origins[c.site] + p for p in c.paths], got=list(end.tab_urls))
    if isinstance(c, HookCheck):
        r = end.hooks.get(hook_key(c))
        ok, why = check_hook(c, r)
        return CheckOutcome(name=f"page reward hook {c.name}", passed=ok, why=why, expected=_hook_expected(c), got=_hook_got(c, r))
    raise TypeError(f"unknown check {c!r}")  # pragma: no cover - the Check union is closed


def grade_checks(checks: list[Check], end: EpisodeEnd, origins: dict[str, str], before: dict[str, Any],
                 state: Callable[[str], dict[str, Any]]) -> WebGrade:
    """All checks must pass (a feasible task reported infeasible fails first). Every check is
    evaluated for the report; the detail line is the first failure's, as the agent is told. A check
    that raises fails the grading as ever, unless an earlier one already failed the episode (then it
    is reported as not evaluated). `before` holds each site's state at episode start."""
    state = functools.cache(state)  # a site's end state is read once however many checks look at it
    outcomes: list[CheckOutcome] = []
    if end.infeasible and not any(isinstance(c, InfeasibleCheck) for c in checks):
        outcomes.append(CheckOutcome(name="feasible task", passed=False, why="the task was feasible but was reported infeasible",
                                     expected="the task done, ended with send_msg_to_user", got="report_infeasible"))
    for c in checks:
        try:
            outcomes.append(_one(c, end, origins, before, state))
        except Exception as exc:
            if all(o.passed for o in outcomes):
                raise
            name = f"{c.site}: {c.fn}" if isinstance(c, StateCheck) else f"{c.kind} check"
            outcomes.append(CheckOutcome(name=name, passed=None, why=f"not evaluated: {type(exc).__name__}: {exc}"))
    failed = next((o for o in outcomes if o.passed is False), None)
    detail = failed.why if failed else "; ".join(o.why for o in outcomes)
    return WebGrade(passed=failed is None, detail=detail, outcomes=outcomes)


def run_checks(checks: list[Check], end: EpisodeEnd, origins: dict[str, str], before: dict[str, Any],
               state: Callable[[str], dict[str, Any]]) -> tuple[bool, str]:
    """grade_checks' verdict and detail line."""
    g = grade_checks(checks, end, origins, before, state)
    return g.passed, g.detail


# ---- state checks: (before, after, **params) -> (ok, detail[, expected, got]) -----------------------

def _new(before: dict[str, Any], after: dict[str, Any], table: str, key: str = "id") -> list[dict[str, Any]]:
    old = {r[key] for r in before.get(table, [])}
    return [r for r in after.get(table, []) if r[key] not in old]


def _rows(rows: list[dict[str, Any]], *keys: str) -> list[dict[str, Any]]:
    return [{k: r.get(k) for k in keys} for r in rows[:10]]


def shop_order(before: dict, after: dict, items: dict[str, int], customer: str, address: str, shipping: str) -> tuple:
    orders = _new(before, after, "orders")
    expected = {"new orders": 1, "items": items, "customer": customer, "address": address, "shipping": shipping}
    got: dict[str, Any] = {"new orders": len(orders)}
    if len(orders) != 1:
        return False, f"expected exactly one new order, found {len(orders)}", expected, got
    o = orders[0]
    items_got = {str(i["product_id"]): i["qty"] for i in after["order_items"] if i["order_id"] == o["id"]}
    got.update(items=items_got, customer=o["customer"], address=o["address"], shipping=o["shipping"])
    if items_got != items:
        return False, f"order items {items_got} != expected {items}", expected, got
    if normalize(o["customer"]) != normalize(customer) or normalize(o["address"]) != normalize(address) or o["shipping"] != shipping:
        return False, "customer, address or shipping differ from the task", expected, got
    return True, "the right order was placed", expected, got


def tracker_new_issue(before: dict, after: dict, title: str, label: str) -> tuple:
    new = _new(before, after, "issues")
    ok = len(new) == 1 and normalize(new[0]["title"]) == normalize(title) and new[0]["label"] == label
    return (ok, "issue created" if ok else f"expected one new issue {title!r} labelled {label}, found {[(n['title'], n['label']) for n in new]}",
            {"new issues": [{"title": title, "label": label}]}, {"new issues": _rows(new, "title", "label")})


def tracker_comment(before: dict, after: dict, issue_id: int, text: str) -> tuple:
    new = _new(before, after, "comments")
    ok = len(new) == 1 and new[0]["issue_id"] == issue_id and normalize(text) in normalize(new[0]["body"])
    return (ok, "comment added" if ok else f"expected one new comment on #{issue_id} containing {text!r}",
            {"new comments": [{"issue_id": issue_id, "body contains": text}]}, {"new comments": _rows(new, "issue_id", "body")})


def field_changed(before: dict, after: dict, table: str, row_id: int, changes: dict[str, Any]) -> tuple:
    """Row row_id has exactly these field changes and no other row of the table changed."""
    b = {r["id"]: r for r in before.get(table, [])}
    a = {r["id"]: r for r in after.get(table, [])}
    expected = {"changed rows": {f"{table} #{row_id}": changes}}
    got: dict[str, Any] = {"changed rows": {f"{table} #{rid}": {k: v for k, v in row.items() if v != b[rid].get(k)}
                                            for rid, row in a.items() if rid in b and row != b[rid]}}
    if set(a) != set(b):
        got.update(added=sorted(set(a) - set(b), key=str)[:10], removed=sorted(set(b) - set(a), key=str)[:10])
        return False, f"rows were added or removed in {table}", expected, got
    for rid, row in a.items():
        want = {**b[rid], **changes} if rid == row_id else b[rid]
        if row != want:
            diff = {k: row[k] for k in row if row[k] != want.get(k)}
            return False, f"{table} #{rid} differs from what the task asks: {diff}", expected, got
    return True, f"{table} #{row_id} updated", expected, got


def booking_made(before: dict, after: dict, room_id: int, day: str, slot: str, title: str) -> tuple:
    new = _new(before, after, "bookings")
    ok = (len(new) == 1 and (new[0]["room_id"], new[0]["day"], new[0]["slot"]) == (room_id, day, slot)
          and normalize(new[0]["title"]) == normalize(title))
    removed = len(before.get("bookings", [])) + len(new) - len(after.get("bookings", []))
    return (ok and removed == 0, "booking made" if ok and removed == 0 else "expected exactly one new booking with that room, day, time and title",
            {"new bookings": [{"room_id": room_id, "day": day, "slot": slot, "title": title}], "removed": 0},
            {"new bookings": _rows(new, "room_id", "day", "slot", "title"), "removed": removed})


def booking_cancelled(before: dict, after: dict, booking_id: int) -> tuple:
    b = {r["id"] for r in before.get("bookings", [])}
    a = {r["id"] for r in after.get("bookings", [])}
    ok = b - a == {booking_id} and a <= b
    return (ok, "booking cancelled" if ok else f"expected only booking {booking_id} to be cancelled",
            {"cancelled": [booking_id], "added": []}, {"cancelled": sorted(b - a, key=str)[:10], "added": sorted(a - b, key=str)[:10]})


def widget_submitted(before: dict, after: dict, widget: str, payload: dict[str, str]) -> tuple:
    subs = [r for r in _new(before, after, "submissions") if r["widget"] == widget]
    if not subs:
        return False, f"nothing was submitted on the {widget} widget", payload, None
    import json

    got = json.loads(subs[-1]["payload"])
    norm = lambda d: {k: ",".join(sorted(v.split(","))) if k in ("word", "basket") else v for k, v in d.items() if v != ""}  # noqa: E731
    ok = norm(got) == norm(payload)
    return ok, "submission matches" if ok else f"last submission {got} != expected {payload}", payload, got


STATE_CHECKS: dict[str, Callable[..., tuple]] = {
    "shop.order": shop_order,
    "tracker.new_issue": tracker_new_issue,
    "tracker.comment": tracker_comment,
    "field_changed": field_changed,
    "booking.made": booking_made,
    "booking.cancelled": booking_cancelled,
    "widgets.submitted": widget_submitted,
}


def register_state_check(name: str, fn: Callable[..., tuple]) -> None:
    """Add a user's check: fn(before_state, after_state, **params) -> (ok, detail), or (ok, detail,
    expected, got) for the grader report (else it shows the params as expected and detail as got).
    Tasks name it in StateCheck(fn=name). States are {table: [row dicts]} as the site's /__state
    returns them."""
    if not callable(fn):
        raise TypeError("a state check must be callable: fn(before, after, **params) -> (ok, detail)")
    STATE_CHECKS[name] = fn
