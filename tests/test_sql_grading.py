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
