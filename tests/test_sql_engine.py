"""The SQLite engine: private copies, timeouts, truncation, no host access; gold transpiles."""

import pytest

from agentgym.envs.sql.engines import TRUNCATION_MARKER, QueryTimeout, SqlError, SqliteEngine, make_engine
from agentgym.envs.sql.engines.dialect import split_statements, transpile
from agentgym.envs.sql.tasks import load_suite


@pytest.fixture(scope="module")
def engine():
    return SqliteEngine()


def test_each_copy_is_private(engine):
    a, b = engine.open("retail_lite"), engine.open("retail_lite")
    a.execute("DROP TABLE order_items; ALTER TABLE customers ADD COLUMN x INTEGER; DELETE FROM orders")
    assert b.execute("SELECT COUNT(*) FROM order_items").rows[0][0] > 0
    fresh = engine.open("retail_lite")
    assert fresh.execute("SELECT COUNT(*) FROM orders").rows[0][0] > 0
    with pytest.raises(SqlError, match="no such table"):
        a.execute("SELECT * FROM order_items")
    for d in (a, b, fresh):
        d.close()


def test_fork_is_independent(engine):
    a = engine.open("hospital_lite")
    a.execute("DELETE FROM visits WHERE visit_id <= 10")
    b = a.fork()
    b.execute("DELETE FROM visits")
    assert a.execute("SELECT COUNT(*) FROM visits").rows[0][0] > 0
    assert b.execute("SELECT COUNT(*) FROM visits").rows[0][0] == 0
    assert b.execute("SELECT COUNT(*) FROM prescriptions").rows[0][0] == 0, "cascade (foreign keys are on)"


def test_runaway_query_is_stopped_and_reported(engine):
    db = engine.open("retail_lite")
    with pytest.raises(QueryTimeout, match="time limit"):
        db.execute("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT COUNT(*) FROM c", timeout_s=0.2)
    assert db.execute("SELECT 1").rows == [[1]], "the copy still works after a timeout"


def test_results_are_capped_with_a_marker(engine):
    res = engine.open("retail_lite").execute("SELECT * FROM orders", max_rows=5)
    assert len(res.rows) == 5 and res.truncated
    assert TRUNCATION_MARKER.format(cap=5) in res.render()
    small = engine.open("retail_lite").execute("SELECT 1", max_rows=5)
    assert not small.truncated and "truncated" not in small.render()


@pytest.mark.parametrize("sql", ["ATTACH DATABASE '/tmp/agentgym-x.db' AS x", "VACUUM INTO '/tmp/agentgym-y.db'"])
def test_no_way_out_to_host_files(engine, sql, tmp_path):
    with pytest.raises(SqlError):
        engine.open("retail_lite").execute(sql)


def test_statement_splitting_respects_strings_and_comments():
    assert split_statements("SELECT ';'; -- a; comment\nSELECT 2;") == ["SELECT ';';", "-- a; comment\nSELECT 2;"]
    assert split_statements("SELECT 1") == ["SELECT 1;"]
    assert split_statements(" ; -- nothing\n") == []


def test_errors_say_what_failed(engine):
    with pytest.raises(SqlError, match="no such column"):
        engine.open("retail_lite").execute("SELECT nope FROM orders")
    with pytest.raises(SqlError, match="no SQL"):
        engine.open("retail_lite").execute("  ")


def test_engines_by_name_and_postgres_starts_nothing_until_used():
    pg = make_engine("postgres")  # no container yet: that happens at the first open()
    assert pg.dialect == "postgres" and pg._server is None
    pg.close()
    with pytest.raises(ValueError):
        make_engine("oracle")


def test_every_gold_query_transpiles_to_postgres():
    pytest.importorskip("sqlglot")
    n = 0
    for suite in ("lite", "full"):
        for t in load_suite(suite):
            for sql in t.phase1.gold_sql + t.follow_up.gold_sql + [c.query for c in t.phase1.checks if c.query]:
                out = transpile(sql, "postgres")
                assert out and "strftime" not in out.lower(), sql
                n += 1
    assert n > 300


# ---- issue 13: resource walls on SQLite episodes (they all live in this process) ------------------

def _rss_mb() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 // 2**20


@pytest.mark.parametrize("sql", [
    "SELECT length(hex(zeroblob(500000000)))",
    "INSERT INTO orders(order_id, customer_id, order_date, status, total_amount) VALUES (-1, 1, '2024-01-01', zeroblob(1000000000), 0)",
    "WITH RECURSIVE r(x) AS (SELECT 'a' UNION ALL SELECT x || x FROM r) SELECT length(x) FROM r",
    "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r LIMIT 100000) SELECT length(group_concat(hex(randomblob(1000)))) FROM r",
])
def test_one_value_cannot_grow_the_process(engine, sql):
    db = engine.open("retail_lite")
    before = _rss_mb()
    with pytest.raises(SqlError, match="too big"):
        db.execute(sql)
    assert _rss_mb() - before < 64
    db.close()


def test_a_copy_grows_by_at_most_its_quota(engine):
    from agentgym.envs.sql.engines.sqlite import GROWTH_MB

    db = engine.open("retail_lite")
    db.execute("CREATE TABLE fill(b BLOB)")
    with pytest.raises(SqlError, match="full"):
        db.execute("WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r LIMIT 100000) "
                   "INSERT INTO fill SELECT zeroblob(1000000) FROM r")
    with pytest.raises(SqlError, match="full"):
        db.execute("CREATE TEMP TABLE t AS WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r LIMIT 100000) "
                   "SELECT randomblob(100000) FROM r")
    pages, size = db.execute("PRAGMA page_count").rows[0][0], db.execute("PRAGMA page_size").rows[0][0]
    assert pages * size <= (GROWTH_MB + 1) * 2**20
    fork = db.fork()
    assert fork.execute("PRAGMA max_page_count").rows == db.execute("PRAGMA max_page_count").rows
    assert db.execute("SELECT COUNT(*) FROM orders").rows[0][0] > 0  # the copy still works
    fork.close()
    db.close()


@pytest.mark.parametrize("sql", ["PRAGMA max_page_count = 1000000000", "PRAGMA temp.max_page_count = 1000000000",
                                 "PRAGMA temp_store = MEMORY", "PRAGMA cache_size = -2000000",
                                 "PRAGMA hard_heap_limit = 1", "PRAGMA soft_heap_limit = 0", "PRAGMA mmap_size = 1000000000",
                                 "SELECT load_extension('/usr/lib/x86_64-linux-gnu/libsqlite3.so.0')",
                                 "/* hidden */ VACUUM INTO '/tmp/agentgym-vacuum.db'"])
def test_limits_cannot_be_lifted(engine, sql):
    db = engine.open("retail_lite")
    with pytest.raises(SqlError, match="not authorized|authorization denied|not allowed"):
        db.execute(sql)
    assert db.execute("PRAGMA table_info(orders)").rows  # introspection pragmas still work
    db.execute("PRAGMA foreign_keys = OFF")
    db.close()


def test_the_process_has_a_sqlite_heap_backstop(engine):
    import sqlite3

    from agentgym.envs.sql.engines.sqlite import HEAP_LIMIT_MB

    limit = sqlite3.connect(":memory:").execute("PRAGMA hard_heap_limit").fetchone()[0]
    assert 0 < limit <= HEAP_LIMIT_MB * 2**20
