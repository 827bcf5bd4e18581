"""The SQL grader: multisets by default, explicit order, tolerance, NULLs, dates, duplicates,
and writes judged by the state they leave."""

import datetime as dt
from decimal import Decimal

import pytest

from agentgym.envs.sql.engines import SqliteEngine
from agentgym.envs.sql.grading import Check, Tolerance, compare_rows, grade_on, jsonable_rows, normalize


def ok(actual, expected, **kw):
    return compare_rows(actual, expected, **kw)[0]


def test_rows_compare_as_multisets_by_default():
    assert ok([(2, "b"), (1, "a")], [(1, "a"), (2, "b")])


def test_duplicate_rows_are_significant():
    assert not ok([(1,), (1,), (2,)], [(1,), (2,), (2,)])
    assert not ok([(1,), (2,)], [(1,), (1,), (2,)])
    assert ok([(1,), (1,), (2,)], [(2,), (1,), (1,)])


def test_distinct_compares_as_sets():
    assert ok([(1,), (1,), (2,)], [(1,), (2,)], distinct=True)
    assert not ok([(1,), (1,), (2,)], [(1,), (2,)])


def test_order_matters_only_when_asked():
    assert not ok([(2,), (1,)], [(1,), (2,)], ordered=True)
    assert ok([(1,), (2,)], [(1,), (2,)], ordered=True)


def test_float_tolerance_per_column_and_default():
    money = {1: Tolerance(abs=0.01)}
    assert ok([("x", 10.004)], [("x", 10.0)], tolerance=money)
    assert not ok([("x", 10.02)], [("x", 10.0)], tolerance=money)
    assert not ok([("x", 10.004)], [("x", 10.0)])  # default tolerance is tight
    assert ok([(1e12 + 1,)], [(1e12,)], tolerance={0: Tolerance(rel=1e-9)})
    assert ok([(3,)], [(3.0,)]) and ok([(Decimal("2.50"),)], [(2.5,)])


def test_tolerant_matching_survives_misaligned_sorts():
    # Sorted, 1.004 pairs with 1.0 and 1.001 with 1.005; only a real matching finds the fit.
    tol = {0: Tolerance(abs=0.0045)}
    assert ok([(1.004,), (1.0005,)], [(1.0,), (1.005,)], tolerance=tol)


def test_null_matches_only_null():
    assert ok([(None, 1)], [(None, 1)])
    assert not ok([(0,)], [(None,)]) and not ok([("",)], [(None,)]) and not ok([("NULL",)], [(None,)])


def test_dates_are_normalised():
    assert normalize(dt.date(2024, 1, 5)) == "2024-01-05"
    assert normalize(dt.datetime(2024, 1, 5)) == "2024-01-05"
    assert normalize("2024-01-05 00:00:00") == "2024-01-05"
    assert ok([(dt.date(2024, 1, 5),)], [("2024-01-05",)])
    assert not ok([("2024-01-06",)], [("2024-01-05",)])


def test_strings_are_exact_and_types_matter():
    assert not ok([("5",)], [(5,)]) and not ok([("abc ",)], [("abc",)]) and not ok([("ABC",)], [("abc",)])


def test_column_count_and_row_count_must_match():
    passed, reason = compare_rows([(1, 2)], [(1,)])
    assert not passed and "columns" in reason
    passed, reason = compare_rows([], [(1,)])
    assert not passed and "rows" in reason


def test_reason_never_contains_expected_values():
    _, reason = compare_rows([(41,)], [(424242,)])
    assert "424242" not in reason


@pytest.fixture
def db():
    d = SqliteEngine().open("retail_lite")
    yield d
    d.close()


def test_close_but_wrong_sql_fails(db):
    gold = "SELECT status, COUNT(*) FROM orders WHERE order_date < '2023-01-01' GROUP BY status"
    check = Check(expected=jsonable_rows(db.execute(gold, max_rows=100).rows))
    assert grade_on(db, gold, [check]).passed
    assert not grade_on(db, gold.replace("<", "<="), [check]).passed or _no_orders_on(db, "2023-01-01")
    assert not grade_on(db, gold.replace("2023", "2022"), [check]).passed
    assert not grade_on(db, "SELECT status, COUNT(DISTINCT customer_id) FROM orders WHERE order_date < '2023-01-01' "
                            "GROUP BY status", [check]).passed


def _no_orders_on(db, day):
    return db.execute(f"SELECT COUNT(*) FROM orders WHERE order_date = '{day}'").rows[0][0] == 0


def test_writes_are_judged_by_state_not_text():
    engine = SqliteEngine()
    state = "SELECT status, COUNT(*) FROM orders GROUP BY status"
    ref = engine.open("retail_lite")
    ref.execute("UPDATE orders SET status = 'expired' WHERE status = 'pending' AND order_date < '2023-01-01'")
    check = Check(query=state, expected=jsonable_rows(ref.execute(state).rows))
    ref.close()

    def grade(sql):
        d = engine.open("retail_lite")
        try:
            return grade_on(d, sql, [check])
        finally:
            d.close()

    # Different text, same effect: passes. A no-op, or a wider UPDATE: fails.
    assert grade("UPDATE orders SET status = 'expired' WHERE order_date < '2023-01-01' AND status IN ('pending')").passed
    assert grade("UPDATE orders SET status='pending' WHERE 0; UPDATE orders SET status='expired' "
                 "WHERE status='pending' AND order_date<'2023-01-01'").passed
    assert not grade("SELECT 1").passed
    assert not grade("UPDATE orders SET status = 'expired' WHERE status = 'pending'").passed
    res = grade("SELEC nonsense")
    assert not res.passed and res.error


def test_state_check_on_a_missing_table_fails(db):
    check = Check(query="SELECT COUNT(*) FROM archive", expected=[[3]])
    res = grade_on(db, "SELECT 1", [check])
    assert not res.passed and "state query failed" in res.outcomes[0].reason


# ---- issue 13: BIRD's decimal, empty gold results, ties under ORDER BY, numeric text --------------

def test_decimal_rounds_both_sides_then_compares_like_bird():
    d0, d2 = Tolerance(decimal=0), Tolerance(decimal=2)
    # A count off by one is wrong at decimal=0 (an inclusive 10^-0 tolerance let it pass).
    assert not ok([(41,)], [(42,)], default_tolerance=d0)
    assert ok([(42,)], [(42,)], default_tolerance=d0) and ok([(41.6,)], [(42,)], default_tolerance=d0)
    assert ok([(3.14159,)], [(3.14,)], default_tolerance=d2)
    assert not ok([(3.146,)], [(3.14,)], default_tolerance=d2)  # rounds to 3.15
    assert not ok([(3.13,)], [(3.14,)], default_tolerance=d2)  # within 10^-2, but not equal once rounded
    assert ok([(2.675,)], [(2.68,)], default_tolerance=d2)  # half up, from the shortest decimal form
    assert ok([(0.1 + 0.2,)], [(Decimal("0.30"),)], default_tolerance=d2)
    assert ok([(1.005, "x")], [(1.01, "x")], tolerance={0: d2}) and not ok([(1.0, "x")], [(1.01, "x")], tolerance={0: d2})


def test_bird_decimal_condition_becomes_rounding():
    from agentgym.envs.sql.bird import _check

    check = _check({"decimal": 0})
    assert check.default_tolerance.decimal == 0
    assert not compare_rows([(99,)], [(100,)], default_tolerance=check.default_tolerance)[0]


def test_empty_expected_still_checks_the_column_count(db):
    check = Check(expected=[], columns=2)
    assert not grade_on(db, "SELECT 1 WHERE 1=0", [check]).passed
    assert not grade_on(db, "UPDATE orders SET status = status WHERE 0", [check]).passed
    assert grade_on(db, "SELECT order_id, status FROM orders WHERE 1=0", [check]).passed


def test_empty_gold_from_bird_style_task_records_its_width():
    from agentgym.envs.sql.grading import grade_fresh

    check = Check(expected=[], expected_from_gold=True)
    gold = ["SELECT customer_id, segment FROM customers WHERE 1=0"]
    engine = SqliteEngine()
    assert not grade_fresh(engine, "retail_lite", [], "SELECT 1 WHERE 1=0", [check], gold=gold).passed
    assert grade_fresh(engine, "retail_lite", [], "SELECT 1, 2 WHERE 1=0", [check], gold=gold).passed
    assert not grade_fresh(engine, "retail_lite", [], "SELECT 1, 2", [check], gold=gold).passed


def test_rows_tied_under_order_by_may_come_in_any_order():
    exp = [("a", 3), ("c", 2), ("b", 2), ("d", 1)]
    assert ok([("a", 3), ("b", 2), ("c", 2), ("d", 1)], exp, ordered=True, order_by=[1])
    assert not ok([("a", 3), ("b", 2), ("c", 2), ("d", 1)], exp, ordered=True)  # keys unknown: strict
    assert not ok([("b", 2), ("a", 3), ("c", 2), ("d", 1)], exp, ordered=True, order_by=[1])  # untied rows out of order
    assert not ok([("a", 3), ("b", 2), ("b", 2), ("d", 1)], exp, ordered=True, order_by=[1])  # a tie's members still count
    assert not ok([("a", 3), ("c", 2), ("b", 2), ("e", 1)], exp, ordered=True, order_by=[1])


def test_tied_rows_in_a_real_grade(db):
    gold = "SELECT status, COUNT(*) AS n FROM orders GROUP BY status ORDER BY n DESC"
    rows = db.execute(gold, max_rows=100).rows
    # Make a tie the gold broke one way: two statuses with the same count, swapped in the expected rows.
    expected = [["s1", 5], ["s2", 5], *jsonable_rows(rows)]
    expected.sort(key=lambda r: -r[1])
    swapped = [list(r) for r in expected]
    i = next(k for k, r in enumerate(swapped) if r[0] == "s1")
    swapped[i], swapped[i + 1] = swapped[i + 1], swapped[i]
    check = Check(expected=expected, ordered=True)
    sql = "SELECT * FROM (VALUES " + ", ".join(f"('{s}', {n})" for s, n in swapped) + ") AS v"
    assert grade_on(db, sql, [check], gold=[gold]).passed
    assert not grade_on(db, sql, [check]).passed  # without the gold's keys the order is strict
    reversed_sql = "SELECT * FROM (VALUES " + ", ".join(f"('{s}', {n})" for s, n in reversed(swapped)) + ") AS v"
    assert not grade_on(db, reversed_sql, [check], gold=[gold]).passed


def test_order_keys_come_from_the_gold_query():
    from agentgym.envs.sql.order_keys import keys_for

    assert keys_for("SELECT a, SUM(b) AS s FROM t GROUP BY a ORDER BY s DESC, 1") == (1, 0)
    assert keys_for("SELECT x.a AS k, b FROM t x ORDER BY x.a") == (0,)
    assert keys_for("SELECT a FROM t ORDER BY hidden") is None  # not in the output: strict order
    assert keys_for("SELECT * FROM t ORDER BY a") is None
    assert keys_for("SELECT a FROM t") == ()


def test_numeric_text_equals_a_number_only_where_the_gold_column_is_text():
    assert ok([(2021,)], [("2021",)]) and ok([(2021.0,)], [("2021",)]) and ok([(Decimal("2021"),)], [("2021",)])
    assert ok([("x", 7)], [("x", "7")]) and ok([(-3,)], [("-3",)])
    assert not ok([(7,)], [("07",)]) and not ok([(2021,)], [("2021.0",)]) and not ok([(2021.5,)], [("2021.5",)])
    assert not ok([(2022,)], [("2021",)])
    assert not ok([("2021",)], [(2021,)])  # a numeric gold column needs a number
    # A column mixing text and numbers in the gold (SQLite's dynamic types) compares values as they are.
    assert not ok([(1,), ("b",)], [("1",), (2,)])


def test_a_failed_episode_reports_expected_vs_got_after_it_and_never_during_it():
    """c-Interact: a submission one row short, then SQL that does not run (the retry): the episode
    fails. Its stored grader report shows, per check, the expected rows and what the SQL gave
    (bounded previews with counts), the error of the retry, and the SQL; nothing the agent was
    shown during the episode holds an expected value (the fifth customer, who is only in the gold)."""
    import json

    import agentgym
    from agentgym.actions import ToolCall
    from agentgym.envs.sql import register_sql_envs
    from agentgym.policy import ScriptedPolicy
    from agentgym.rollout import Trajectory, run_episode
    from agentgym.view.episode import verdict_html

    register_sql_envs()
    task = "retail_lite.top_entities.2022-top5"
    with agentgym.make("sql-c-lite", runtime="local") as env:
        gold = env.unwrapped._tasks[task].phase1.gold_sql[-1]
        short = gold.replace("LIMIT 5", "LIMIT 4")
        policy = ScriptedPolicy([ToolCall(name="submit", arguments={"sql": short}),
                                 ToolCall(name="submit", arguments={"sql": "SELECT nope FROM"})])
        traj = Trajectory.model_validate_json(run_episode(env, policy, options={"task_id": task}).model_dump_json())
    seen = json.dumps([traj.first_observation, [(s.observation, s.info) for s in traj.steps]])
    assert traj.steps[-1].terminated and "Mei Tanaka" not in seen and "581.31" not in seen
    g = traj.grader_report
    assert g.verdict == "failed" and g.source == "env" and len(g.checks) == 2
    assert g.summary.startswith("phase 1, submission 2: your SQL failed")
    rows, error = g.checks
    assert rows.name == "phase 1, submission 1: top entities and totals" and rows.passed is False
    assert rows.expected.startswith("5 rows x 2 columns") and "'Mei Tanaka' | 581.31" in rows.expected
    assert rows.got.startswith("4 rows x 2 columns") and "'Hana Garcia'" in rows.got and "Mei Tanaka" not in rows.got
    assert rows.detail == "expected 5 rows, got 4"
    assert error.passed is False and error.got.startswith("error:") and "nope" not in error.expected
    assert [s["sql"] for s in g.details["submissions"]] == [short, "SELECT nope FROM"]
    assert "Mei Tanaka" in verdict_html({}, traj.model_dump(mode="json")), "the viewer shows the checks"


def test_previews_are_bounded_and_line_up():
    from agentgym.envs.sql.report import PREVIEW_ROWS, preview_rows

    big = [(i, "x" * 10_000, b"\0" * 1_000_000) for i in range(50, 0, -1)]
    text = preview_rows(big)
    assert text.startswith("50 rows x 3 columns (any order; sorted here)\n1 | ") and "... 45 more rows" in text
    assert len(text) < 1_000 and "(10000 chars)" in text and "(1000000 bytes)" in text
    assert preview_rows([(10,), (9,), (None,)]).splitlines()[1:] == ["None", "9", "10"]
    assert preview_rows([(2,), (1,)], ordered=True).splitlines()[1:] == ["2", "1"]
    assert preview_rows([], 3) == "0 rows x 3 columns" and len(preview_rows(big).splitlines()) == PREVIEW_ROWS + 2


def test_a_bird_test_case_failure_keeps_its_message_for_the_report_only():
    from types import SimpleNamespace

    from agentgym.envs.sql.bird_tests import compile_test_case, run_test_case

    fn = compile_test_case("def test_case(pred_sqls, sol_sqls, db_name, conn):\n    assert False, 'expected 42, got 41'\n")
    out = run_test_case(fn, SimpleNamespace(db_id="d"), ["SELECT 41"], ["SELECT 42"], {}, timeout_s=5)
    assert not out.passed and out.reason == "test case failed (AssertionError)", "what the agent is told: the type only"
    assert out.got == "AssertionError: expected 42, got 41" and out.expected == "the test case returns without raising"


def test_previews_are_made_by_the_env_when_it_grades_never_by_grading_alone(monkeypatch):
    """Grading that no report follows (grade_fresh: the gold checks of validate and of BIRD loading,
    task builds) makes no preview; the env, which keeps its results for the report, makes each
    submission's previews when it grades it (so it holds text, never the rows: next test); the
    report makes none, and a submission past the last MAX_SUBMISSIONS lets go of its previews."""
    import agentgym
    from agentgym.envs.sql import grading, outcome, register_sql_envs
    from agentgym.envs.sql.report import MAX_SUBMISSIONS

    made: list[str] = []
    rows, expected = grading.preview_rows, outcome.expected_preview
    monkeypatch.setattr(grading, "preview_rows", lambda *a, **k: made.append("got") or rows(*a, **k))
    monkeypatch.setattr(outcome, "expected_preview", lambda *a, **k: made.append("expected") or expected(*a, **k))
    register_sql_envs()
    with agentgym.make("sql-c-lite", runtime="local") as env:
        e = env.unwrapped
        env.reset(options={"task_id": "retail_lite.top_entities.2022-top5"})
        gold = e.task.phase1.gold_sql[-1]
        assert grading.grade_fresh(e.engine, e.task.db_id, [], gold, e.task.phase1.checks).passed and made == []
        for i in range(MAX_SUBMISSIONS + 2):
            assert e.grade(gold if i % 2 else gold.replace("LIMIT 5", "LIMIT 4")).passed == bool(i % 2)
        assert made.count("got") == made.count("expected") == MAX_SUBMISSIONS + 2, "one each, at grading"
        report = e.grader_report()
        assert len(made) == 2 * (MAX_SUBMISSIONS + 2), "the report makes none"
        assert all(o.expected is None and o.got is None for _, _, r in e._graded[:2] for o in r.outcomes), "older let go"
    short = report["outcomes"][0]
    assert short["got"].startswith("4 rows x 2 columns") and short["expected"].startswith("5 rows x 2 columns")


def test_graded_results_are_not_held_until_the_episode_ends():
    """An agent can make each graded result big (here 3,000 rows of 1,000 characters, ~3 MB): the
    env keeps what its report needs, not the rows (it held every kept submission's rows)."""
    import gc
    import tracemalloc

    import agentgym
    from agentgym.envs.sql import register_sql_envs

    register_sql_envs()
    big = ("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000) "
           "SELECT i, printf('%.1000c', 'x') || i FROM n")
    with agentgym.make("sql-c-lite", runtime="local") as env:
        e = env.unwrapped
        env.reset(options={"task_id": "retail_lite.top_entities.2022-top5"})
        e.grade("SELECT 1")  # warm: first-use caches are not what is measured
        gc.collect()
        tracemalloc.start()
        try:
            for _ in range(3):
                assert not e.grade(big).passed
            gc.collect()
            held = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
        assert held < 2**20, f"{held / 2**20:.1f} MiB held after grading"
        assert "3000 rows x 2 columns" in e.grader_report()["outcomes"][-1]["got"]
