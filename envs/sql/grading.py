"""Declarative result checks for SQL submissions.

A Check says what a query's result must equal. For a read task the query is the submission
itself (``query=None``); for a write task it is a state query run AFTER the submission, so writes
are judged by the table state they leave, never by the text of the statement.

Comparison rules (what a task author can rely on):

- Rows are compared as a MULTISET by default: order is ignored, duplicate rows are significant
  (two identical rows must appear twice). ``ordered=True`` when the request demands an order;
  then rows TIED on every ORDER BY key (``order_by``: output column positions, read from the gold
  or state-check query at grading time by order_keys.keys_for) may come in any order among
  themselves, since the engine picks a tie's order; when a key is not an output column the whole
  order is compared strictly. ``distinct=True`` compares as sets, only when the request says
  duplicates do not matter.
- Columns are matched BY POSITION; column names and aliases are ignored (an agent may call a
  column anything). The column count must match exactly, also when the expected result is
  empty (``columns`` holds the gold's width then: an empty result with other columns fails).
- Numbers compare with a tolerance, per column (``tolerance={index: {abs, rel}}``) or by default
  (``default_tolerance``); a value passes when within abs OR within rel of the expected one.
  ``Tolerance(decimal=d)`` is BIRD's ``decimal`` condition: both sides are rounded to d decimals
  (half up, from the shortest decimal form of the float) and must then be EQUAL; integers are
  not rounded, so a count off by one fails at decimal=0.
  Integers and floats compare by value (3 == 3.0); bools count as 0/1; Decimals as floats.
- Numbers and numeric text: the gold column's type decides. Where every gold value of a column is
  text, an integral number (2021, 2021.0, Decimal 2021) equals the text of its plain digits
  ('2021'; not '02021', '2021.0' or ' 2021'), since engines differ in whether e.g. a year comes out
  as text or a number. A numeric gold column needs a number: text '5' does not equal 5 there.
- NULL equals only NULL: a NULL never matches 0, '' or 'NULL'.
- Dates are normalised: date objects and ISO strings become 'YYYY-MM-DD', and a datetime at
  midnight becomes its date, so SQLite's TEXT dates and PostgreSQL's DATE values compare equal.
- Strings otherwise compare exactly (case and whitespace count); '5' does not equal 5.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agentgym.envs.sql.outcome import CheckOutcome, GradeResult
from agentgym.envs.sql.report import preview_rows

_MIDNIGHT = re.compile(r"^(\d{4}-\d{2}-\d{2})[ T]00:00(:00(\.0+)?)?$")
#: Above this many rows the tolerant matcher (quadratic) refuses rather than stalls the grader.
MAX_FUZZY_ROWS = 5000


class Tolerance(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    abs: float = Field(0.0, ge=0)
    rel: float = Field(0.0, ge=0)
    decimal: int | None = Field(None, ge=0, le=15, description="BIRD's decimal condition: both sides rounded "
                                "to this many decimals, then compared exactly (abs and rel are not used)")


EXACTISH = Tolerance(abs=1e-6, rel=1e-9)


class Check(BaseModel):
    """One executable test: a query's result must equal `expected` under the rules above."""

    model_config = ConfigDict(extra="forbid")

    description: str = ""
    query: str | None = Field(None, description="state query run after the submission; None: the submission's own result")
    expected: list[list[Any]]
    ordered: bool = False
    distinct: bool = False
    tolerance: dict[int, Tolerance] = Field(default_factory=dict, description="per column index")
    default_tolerance: Tolerance = EXACTISH
    columns: int | None = Field(None, ge=0, description="width of the expected result; needed when it is empty "
                                "(None with empty expected: any width passes, as for checks made before this field)")
    order_by: list[int] | None = Field(None, description="output positions of the ORDER BY keys (ordered checks): "
                                       "rows tied on them may come in any order; None: read from the query at grading")
    expected_from_gold: bool = Field(
        False, description="expected is computed at grading time by running the gold SQL on its own fresh copy "
        "(tasks loaded from BIRD data, which ship gold SQL but not results)")


def normalize(value: Any) -> Any:
    """A value in the comparable form described in the module docstring."""
    if value is None:
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0, 0) and value.tzinfo is None:
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        m = _MIDNIGHT.match(value)
        return m.group(1) if m else value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    return value


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def values_equal(actual: Any, expected: Any, tol: Tolerance) -> bool:
    if actual is None or expected is None:
        return actual is None and expected is None
    if _is_number(actual) and _is_number(expected):
        if isinstance(actual, float) and math.isnan(actual) or isinstance(expected, float) and math.isnan(expected):
            return isinstance(actual, float) and isinstance(expected, float) and math.isnan(actual) and math.isnan(expected)
        diff = abs(actual - expected)
        return diff <= tol.abs or diff <= tol.rel * abs(expected) or actual == expected
    if _is_number(actual) != _is_number(expected):
        return False
    return actual == expected


_DIGITS = re.compile(r"^-?(0|[1-9][0-9]*)$")


def _rounded(v: Any, places: int) -> Any:
    """v rounded half up to `places` decimals, from its shortest decimal form (BIRD's decimal
    condition); integers and non-finite floats are left as they are."""
    if not isinstance(v, float) or not math.isfinite(v):
        return v
    return float(Decimal(repr(v)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


def _column_is_text(expected: Sequence[Sequence[Any]], i: int) -> bool:
    vals = [r[i] for r in expected if r[i] is not None]
    return bool(vals) and all(isinstance(v, str) for v in vals)


def _as_gold_type(v: Any, text_column: bool) -> Any:
    """An integral number as its digits where the gold column is text (see the module docstring)."""
    if text_column and _is_number(v):
        if isinstance(v, int):
            return str(v)
        if math.isfinite(v) and v.is_integer() and abs(v) < 2**53:
            return str(int(v))
    return v


def _sort_key(row: Sequence[Any]) -> tuple:
    # Type tag first so None, numbers and strings never compare with each other.
    out = []
    for v in row:
        if v is None:
            out.append((0, 0))
        elif _is_number(v):
            out.append((1, v if not (isinstance(v, float) and math.isnan(v)) else math.inf))
        else:
            out.append((2, str(v)))
    return tuple(out)


def _set_key(row: Sequence[Any]) -> tuple:
    return tuple(round(v, 9) if isinstance(v, float) else v for v in row)


def compare_rows(
    actual: Sequence[Sequence[Any]],
    expected: Sequence[Sequence[Any]],
    *,
    ordered: bool = False,
    distinct: bool = False,
    tolerance: dict[int, Tolerance] | None = None,
    default_tolerance: Tolerance = EXACTISH,
    columns: int | None = None,
    actual_columns: int | None = None,
    order_by: Sequence[int] | None = None,
) -> tuple[bool, str]:
    """(passed, reason). The reason names counts and positions, never expected values, so it may
    be logged next to agent-visible text without leaking the answer.

    columns: the expected width when `expected` is empty; actual_columns: the actual result's
    width (its column list), so an empty actual result is checked too; order_by: see Check."""
    tolerance = tolerance or {}
    act = [tuple(normalize(v) for v in r) for r in actual]
    exp = [tuple(normalize(v) for v in r) for r in expected]
    width = len(exp[0]) if exp else columns
    if width is not None:
        got = actual_columns if actual_columns is not None else None
        bad = next((r for r in act if len(r) != width), None)
        if bad is not None or (got is not None and got != width):
            return False, f"expected {width} columns, got {len(bad) if bad is not None else got}"
    tols = [tolerance.get(i, default_tolerance) for i in range(width or 0)]
    if width:  # the gold's types and BIRD rounding, per column, before any comparison
        text_cols = [_column_is_text(exp, i) for i in range(width)]
        exact = Tolerance()

        def prep(row: tuple, gold: bool) -> tuple:
            out = []
            for v, t, is_text in zip(row, tols, text_cols):
                v = v if gold else _as_gold_type(v, is_text)
                out.append(_rounded(v, t.decimal) if t.decimal is not None else v)
            return tuple(out)

        act = [prep(r, False) for r in act]
        exp = [prep(r, True) for r in exp]
        tols = [exact if t.decimal is not None else t for t in tols]
    if distinct:
        act = list({_set_key(r): r for r in act}.values())
        exp = list({_set_key(r): r for r in exp}.values())
    if len(act) != len(exp):
        return False, f"expected {len(exp)} rows, got {len(act)}"

    def same(a: tuple, e: tuple) -> bool:
        return all(values_equal(x, y, t) for x, y, t in zip(a, e, tols))

    if ordered:
        keys = [k for k in (order_by or ()) if 0 <= k < (width or 0)]
        if not keys:
            for i, (a, e) in enumerate(zip(act, exp)):
                if not same(a, e):
                    return False, f"row {i + 1} differs (order matters for this task)"
            return True, "match"
        start = 0  # runs of expected rows tied on every key: each run as a multiset, runs in order
        for end in range(1, len(exp) + 1):
            if end < len(exp) and all(exp[end][k] == exp[start][k] for k in keys):
                continue
            ok, _ = _multiset_match(act[start:end], exp[start:end], same)
            if not ok:
                return False, f"rows {start + 1}-{end} differ (order matters for this task; tied rows may come in any order)"
            start = end
        return True, "match"
    return _multiset_match(act, exp, same)


def _multiset_match(act: list[tuple], exp: list[tuple], same: Any) -> tuple[bool, str]:
    # Fast path: sort both and compare pairwise; tolerance can misalign near-equal sorts, so a
    # failure falls back to an exhaustive greedy match before we call it wrong.
    sa, se = sorted(act, key=_sort_key), sorted(exp, key=_sort_key)
    if all(same(a, e) for a, e in zip(sa, se)):
        return True, "match"
    if len(act) > MAX_FUZZY_ROWS:
        return False, "rows differ"
    unmatched = list(sa)
    for i, e in enumerate(se):
        j = next((k for k, a in enumerate(unmatched) if same(a, e)), None)
        if j is None:
            return False, f"{len(se) - i} expected rows have no match"
        unmatched.pop(j)
    return True, "match"


def judge(check: Check, actual: Sequence[Sequence[Any]], actual_columns: int | None = None) -> CheckOutcome:
    ok, reason = compare_rows(
        actual, check.expected, ordered=check.ordered, distinct=check.distinct,
        tolerance=check.tolerance, default_tolerance=check.default_tolerance,
        columns=check.columns, actual_columns=actual_columns, order_by=check.order_by,
    )
    return CheckOutcome.of(check, ok, reason, lambda: preview_rows(actual, actual_columns, ordered=check.ordered))


def jsonable_rows(rows: Sequence[Sequence[Any]]) -> list[list[Any]]:
    """Rows as JSON-safe lists in normalised form (how generated tasks store `expected`)."""
    return [[normalize(v) for v in r] for r in rows]


#: Rows a graded result may have; bigger results are refused (a task never needs more).
GRADE_MAX_ROWS = 20000


def with_order_keys(checks: Sequence[Check], gold: Sequence[str], dialect: str) -> list[Check]:
    """Ordered checks with order_by filled in from their query (state checks) or the gold's last
    statement (result checks); left None (strict order) when the keys are not output columns."""
    from agentgym.envs.sql.order_keys import keys_for

    out = []
    for c in checks:
        if c.ordered and c.order_by is None:
            source = c.query if c.query is not None else (gold[-1] if gold else None)
            keys = keys_for(source, dialect) if source else None
            if keys is not None:
                c = c.model_copy(update={"order_by": list(keys)})
        out.append(c)
    return out


def grade_on(db: Any, submission: str, checks: Sequence[Check], *, timeout_s: float = 10.0,
             gold: Sequence[str] = ()) -> GradeResult:
    """Run `submission` on db (an EpisodeDatabase the caller made fresh for grading) and judge
    every check. A state check whose query fails (the table is gone, a column is missing) fails.
    gold: the phase's gold SQL, whose ORDER BY keys say which rows are tied (with_order_keys)."""
    from agentgym.envs.sql.engines.base import SqlError  # here: engines import this package's models

    checks = with_order_keys(checks, gold, getattr(db, "dialect", "sqlite"))
    try:
        res = db.execute(submission, timeout_s=timeout_s, max_rows=GRADE_MAX_ROWS)
    except SqlError as exc:
        return GradeResult(passed=False, error=str(exc))
    outcomes = []
    for check in checks:
        if check.query is None:
            if res.truncated:
                outcomes.append(CheckOutcome.of(check, False, f"result has more than {GRADE_MAX_ROWS} rows",
                                                f"more than {GRADE_MAX_ROWS} rows"))
                continue
            actual, width = res.rows, len(res.columns)
        else:
            try:
                state = db.execute(check.query, timeout_s=timeout_s, max_rows=GRADE_MAX_ROWS)
            except SqlError as exc:
                outcomes.append(CheckOutcome.of(check, False, f"state query failed: {exc}", f"the state query failed: {exc}"))
                continue
            actual, width = state.rows, len(state.columns)
        outcomes.append(judge(check, actual, width))
    return GradeResult(passed=all(o.passed for o in outcomes), outcomes=outcomes)


def grade_fresh(engine: Any, db_id: str, setup: Sequence[str], submission: str, checks: Sequence[Check],
                *, timeout_s: float = 10.0, gold: Sequence[str] = (), clean_up: Sequence[str] = ()) -> GradeResult:
    """Grade in a FRESH copy (never the agent's own): run `setup` (gold statements of an earlier
    phase), then the submission, then the checks. Setup failing is the grader's fault: it raises.
    Checks marked expected_from_gold get their expected rows from `gold` run on another fresh copy."""
    if any(c.expected_from_gold for c in checks):
        checks = _expected_from_gold(engine, db_id, setup, gold, checks, timeout_s)
    db = engine.open(db_id)
    try:
        for stmt in setup:
            db.execute(stmt, timeout_s=timeout_s, max_rows=1)
        result = grade_on(db, submission, checks, timeout_s=timeout_s, gold=gold)
        _clean_up(db, clean_up, timeout_s)
        return result
    finally:
        db.close()


def _clean_up(db: Any, statements: Sequence[str], timeout_s: float) -> None:
    """BIRD's clean_up_sqls after grading; one the submission made moot (it dropped the table) is fine."""
    from agentgym.envs.sql.engines.base import SqlError

    for stmt in statements:
        try:
            db.execute(stmt, timeout_s=timeout_s, max_rows=1)
        except SqlError:
            pass


def _expected_from_gold(engine: Any, db_id: str, setup: Sequence[str], gold: Sequence[str],
                        checks: Sequence[Check], timeout_s: float) -> list[Check]:
    if not gold:
        raise ValueError("a check has expected_from_gold but the task has no gold SQL")
    db = engine.open(db_id)
    try:
        res = None
        for stmt in [*setup, *gold]:
            res = db.execute(stmt, timeout_s=timeout_s, max_rows=GRADE_MAX_ROWS)
        out = []
        for c in checks:
            if c.expected_from_gold:
                got = res if c.query is None else db.execute(c.query, timeout_s=timeout_s, max_rows=GRADE_MAX_ROWS)
                c = c.model_copy(update={"expected": jsonable_rows(got.rows), "columns": len(got.columns),
                                         "expected_from_gold": False})
            out.append(c)
        return out
    finally:
        db.close()
