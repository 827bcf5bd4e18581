"""BIRD-Interact's Python test cases, run by the grader on the host against a fresh copy.

Why: the public release judges many tasks (all Management ones, and Query ones with special
rules) by `test_cases`: Python source defining `test_case(pred_sqls, sol_sqls, db_name, conn)`
(sometimes with a fifth `conditions`), which calls helper functions the release's evaluator puts
in scope (execute_queries, ex_base, remove_distinct, ...) and passes when it returns without
raising. We run them as they are, with our own implementations of those helpers.

Trust: the test code is task data the user brought (trusted, like gold SQL); the agent's SQL is
not. So the code runs in the grader process, never in the agent's reach, and every statement it
runs (the agent's included) goes through the engine's EpisodeDatabase.execute: per-statement time
limit, row cap (GRADE_MAX_ROWS) and result byte cap. A test case also has a wall-clock budget:
past it the next statement, and any Python line, raises TimeoutError (the submission fails).
Failure reasons keep to the exception type, never its message (an assertion may print expected
values); the message goes only to the grader's report written after the episode (report.py). Each test case gets its own fresh copy: preprocess_sql, the test, clean_up_sqls.
"""

from __future__ import annotations

import inspect
import json
import re
import sys
import time
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from agentgym.env import InfraError
from agentgym.envs.sql.engines.base import QueryTimeout, SqlError
from agentgym.envs.sql.grading import GRADE_MAX_ROWS
from agentgym.envs.sql.outcome import CheckOutcome, GradeResult
from agentgym.transcript import clip

#: What a test case expects, as the grader's report shows it.
EXPECTED_TEXT = "the test case returns without raising"
#: Wall-clock budget of one test case, as a multiple of the per-statement time limit.
BUDGET_FACTOR = 6


class _Cursor:
    """psycopg-like cursor over an EpisodeDatabase (what test code that uses conn.cursor() needs)."""

    def __init__(self, conn: BirdConnection):
        self._conn = conn
        self._rows: list[tuple] = []
        self.description: list[tuple] | None = None
        self.rowcount = -1

    def execute(self, sql: str, params: Any = None) -> None:
        if params:
            raise NotImplementedError("query parameters are not supported in BIRD test cases here; inline the values")
        res = self._conn.run(sql)
        self._rows = [tuple(r) for r in res.rows]
        self.description = [(c, None, None, None, None, None, None) for c in res.columns] if res.columns else None
        self.rowcount = res.rowcount if not res.columns else len(self._rows)

    def fetchall(self) -> list[tuple]:
        rows, self._rows = self._rows, []
        return rows

    def fetchone(self) -> tuple | None:
        return self._rows.pop(0) if self._rows else None

    def fetchmany(self, size: int = 1) -> list[tuple]:
        rows, self._rows = self._rows[:size], self._rows[size:]
        return rows

    def close(self) -> None:
        self._rows = []

    def __enter__(self) -> _Cursor:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class BirdConnection:
    """The `conn` a test case gets: statements run bounded on the episode's grading copy."""

    def __init__(self, db: Any, timeout_s: float, deadline: float):
        self.db = db
        self.timeout_s = timeout_s
        self.deadline = deadline
        self.autocommit = True

    def run(self, sql: str) -> Any:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the test case ran out of time")
        return self.db.execute(sql, timeout_s=min(self.timeout_s, left), max_rows=GRADE_MAX_ROWS)

    def cursor(self) -> _Cursor:
        return _Cursor(self)

    def commit(self) -> None:  # every statement autocommits on the episode copy
        pass

    def rollback(self) -> None:
        pass

    def close(self) -> None:
        pass


# ---- the helpers the release's test cases call (same names and contracts) -------------------------
def _as_list(queries: Any) -> list[str]:
    return [queries] if isinstance(queries, str) else [q for q in queries or [] if isinstance(q, str)]


def execute_queries(queries: Any, db_name: str, conn: BirdConnection, logger: Any = None,
                    section_title: str = "") -> tuple[list[tuple], bool, bool]:
    """Run queries in order: (rows of the last one, an error happened, a time limit was hit)."""
    rows: list[tuple] = []
    for q in _as_list(queries):
        try:
            res = conn.run(q)
        except QueryTimeout:
            return rows, False, True
        except SqlError:
            return rows, True, False
        rows = [tuple(r) for r in res.rows]
    return rows, False, False


def perform_query_on_postgresql_databases(query: str, db_name: str, conn: BirdConnection | None = None) -> tuple:
    if conn is None:
        raise ValueError("a connection is needed")
    return [tuple(r) for r in conn.run(query).rows], conn


def _round_any(v: Any, places: int) -> Any:
    if isinstance(v, Decimal):
        return v.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    if isinstance(v, float):
        return round(v, places)
    if isinstance(v, (list, tuple)):
        return type(v)(_round_any(x, places) for x in v)
    if isinstance(v, dict):
        return {k: _round_any(x, places) for k, x in v.items()}
    return v


def process_decimals(results: list, decimal_places: int) -> list[tuple]:
    return [tuple(_round_any(v, decimal_places) for v in row) for row in results]


def preprocess_results(results: list, decimal_places: int = 2) -> list[tuple]:
    """Dates as YYYY-MM-DD, numbers rounded, lists and dicts as sorted JSON (hashable)."""
    out = []
    for row in results:
        vals = []
        for v in row:
            if isinstance(v, (date, datetime)):
                vals.append(v.strftime("%Y-%m-%d"))
                continue
            v = _round_any(v, decimal_places)
            vals.append(json.dumps(v, sort_keys=True, default=str) if isinstance(v, (list, dict)) else v)
        out.append(tuple(vals))
    return out


def remove_distinct(sql_list: list[str]) -> list[str]:
    return [" ".join(t for t in q.split(" ") if t.lower() != "distinct") for q in sql_list]


def _strip_block_comments(q: str) -> str:
    """What re.sub(r"/\\*.*?\\*/", "", q, flags=re.DOTALL) gives, in linear time: that regex is
    quadratic on an unterminated "/*" repeated (300 KB of the agent's SQL held the grader for
    minutes, in C, where the test case's time limit cannot interrupt it)."""
    parts, i = [], 0
    while True:
        start = q.find("/*", i)
        end = q.find("*/", start + 2) if start >= 0 else -1
        if end < 0:
            break
        parts.append(q[i:start])
        i = end + 2
    parts.append(q[i:])
    return "".join(parts)


def remove_comments(sql_list: list[str]) -> list[str]:
    out = []
    for q in sql_list:
        q = _strip_block_comments(q)
        q = re.sub(r"--[^\r\n]*", "", q)
        out.append(re.sub(r"\n\s*\n+", "\n", q).strip())
    return out


def _strip_round(q: str) -> str:
    while True:
        m = re.search(r"\bROUND\s*\(", q, re.IGNORECASE)
        if not m:
            return q
        depth, i, comma = 0, m.end() - 1, None
        for i in range(m.end() - 1, len(q)):
            if q[i] == "(":
                depth += 1
            elif q[i] == ")":
                depth -= 1
                if depth == 0:
                    break
            elif q[i] == "," and depth == 1 and comma is None:
                comma = i
        else:
            return q
        q = q[:m.start()] + q[m.end():comma if comma is not None else i].strip() + q[i + 1:]


def remove_round(sql_list: list[str]) -> list[str]:
    return [_strip_round(q) for q in sql_list]


def check_sql_function_usage(sqls: list[str], required_keywords: list[str]) -> int:
    text = " ".join(s.lower() for s in sqls or [])
    return int(bool(sqls) and all(k.lower() in text for k in required_keywords))


def ex_base(pred_sqls: list[str], sol_sqls: list[str], db_name: str, conn: BirdConnection,
            conditions: dict | None = None) -> int:
    """1 when both lists' last results match (as sets, or as lists under conditions.order), else 0.

    The gold runs first (the release's evaluator runs it second): the agent's statements run on the
    same connection and could otherwise decide what the gold reads (a TEMP table or view shadowing a
    table it names, a changed search_path) and so make it agree with any answer."""
    if not pred_sqls or not sol_sqls:
        return 0
    gold, g_err, g_to = execute_queries(sol_sqls, db_name, conn)
    if g_err or g_to:
        return 0
    pred, p_err, p_to = execute_queries(pred_sqls, db_name, conn)
    if p_err or p_to or g_err or g_to:
        return 0
    pred, gold = preprocess_results(pred), preprocess_results(gold)
    if not pred or not gold:
        return 0
    if conditions and conditions.get("order"):
        return int(pred == gold)
    return int(set(pred) == set(gold))


def performance_compare_by_qep(old_sqls: list[str], sol_sqls: list[str], db_name: str, conn: BirdConnection) -> int:
    """1 when sol_sqls' total planner cost is below old_sqls' (each measured inside a rolled-back transaction)."""
    def cost(sqls: list[str]) -> float:
        total = 0.0
        conn.run("BEGIN")
        try:
            for q in sqls:
                if q.strip().split(None, 1)[0].upper() in ("SELECT", "INSERT", "UPDATE", "DELETE", "WITH"):
                    plan = conn.run(f"EXPLAIN (FORMAT JSON) {q}").rows[0][0]
                    plan = json.loads(plan) if isinstance(plan, str) else plan
                    total += float(plan[0]["Plan"]["Total Cost"])
                else:
                    conn.run(q)
        finally:
            conn.run("ROLLBACK")
        return total

    if not old_sqls or not sol_sqls:
        return 0
    return int(cost(sol_sqls) < cost(old_sqls))


def test_case_default(pred_sqls: list[str], sol_sqls: list[str], db_name: str, conn: BirdConnection,
                      conditions: dict | None = None) -> int:
    pred_sqls, sol_sqls = remove_round(remove_distinct(remove_comments(pred_sqls))), remove_round(remove_distinct(remove_comments(sol_sqls)))
    result = ex_base(pred_sqls, sol_sqls, db_name, conn, conditions)
    assert result == 1, f"ex_base returned {result} but expected 1."
    return result


TEST_CASE_DEFAULT = inspect.getsource(test_case_default).replace("def test_case_default", "def test_case", 1)

HELPERS = {
    "execute_queries": execute_queries, "perform_query_on_postgresql_databases": perform_query_on_postgresql_databases,
    "process_decimals": process_decimals, "preprocess_results": preprocess_results, "remove_distinct": remove_distinct,
    "remove_comments": remove_comments, "remove_round": remove_round, "check_sql_function_usage": check_sql_function_usage,
    "ex_base": ex_base, "performance_compare_by_qep": performance_compare_by_qep, "test_case_default": test_case_default,
    "TEST_CASE_DEFAULT": TEST_CASE_DEFAULT, "Decimal": Decimal, "date": date, "datetime": datetime, "json": json, "re": re,
}


def compile_test_case(code: str) -> Any:
    """The test_case function a test case's source defines; ValueError when it defines none."""
    ns: dict[str, Any] = dict(HELPERS)
    exec(compile(code, "<bird test_case>", "exec"), ns)  # trusted task data (module docstring)
    fn = ns.get("test_case")
    if not callable(fn):
        raise ValueError("the test case source defines no test_case function")
    return fn


def run_test_case(fn: Any, db: Any, pred_sqls: list[str], sol_sqls: list[str], conditions: dict, *,
                  timeout_s: float) -> CheckOutcome:
    deadline = time.monotonic() + timeout_s * BUDGET_FACTOR
    conn = BirdConnection(db, timeout_s, deadline)
    params = inspect.signature(fn).parameters
    args: list[Any] = [list(pred_sqls), list(sol_sqls), db.db_id, conn]
    if "conditions" in params or len(params) >= 5:
        args.append(dict(conditions))

    def tracer(frame: Any, event: str, arg: Any) -> Any:
        if time.monotonic() > deadline:
            raise TimeoutError("the test case ran out of time")
        return tracer

    prev = sys.gettrace()
    sys.settrace(tracer)
    failure: Exception | None = None
    try:
        fn(*args)
    except InfraError:
        raise  # the server went away under the test (PostgresUnavailable): nobody's answer was judged
    except Exception as exc:  # any failure of the test is a failed submission; the type only (docstring)
        failure = exc
    finally:
        sys.settrace(prev)
    if failure is not None:
        return CheckOutcome(passed=False, description="BIRD test case", reason=f"test case failed ({type(failure).__name__})",
                            expected=EXPECTED_TEXT, got=_failure_text(failure))
    return CheckOutcome(passed=True, description="BIRD test case", reason="passed", expected=EXPECTED_TEXT, got="returned")


def _failure_text(exc: Exception) -> str:
    """The failure as the grader's report shows it after the episode (report.py): type and message,
    clipped. Never in what the agent is shown (CheckOutcome.reason holds the type only)."""
    try:
        message = str(exc)
    except Exception:  # noqa: BLE001 - an exception whose __str__ fails: its type says enough
        message = ""
    message = clip(message, 500)
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def grade_test_cases(engine: Any, db_id: str, setup: list[str], submission: str, *, test_cases: list[str],
                     gold: list[str], conditions: dict, clean_up: list[str], timeout_s: float) -> GradeResult:
    """Every test case on its own fresh copy: setup (preprocess_sql ...), the test, clean_up_sqls."""
    outcomes = []
    for code in test_cases:
        fn = compile_test_case(code)
        db = engine.open(db_id)
        try:
            for stmt in setup:
                db.execute(stmt, timeout_s=max(timeout_s, 30), max_rows=1)
            outcomes.append(run_test_case(fn, db, [submission], gold, conditions, timeout_s=timeout_s))
            for stmt in clean_up:
                try:
                    db.execute(stmt, timeout_s=timeout_s, max_rows=1)
                except SqlError:
                    pass  # the submission may have removed what clean-up drops; the copy is dropped anyway
        finally:
            db.close()
    return GradeResult(passed=all(o.passed for o in outcomes), outcomes=outcomes)
