"""SQL attacks on the process that holds the episodes, through tool calls only (execute_sql,
submit): SQLite heap bombs, host files and limits, and results too big or too odd to load.

Each test is one attack: what it does and what stops it is in its docstring. Each asserts reward
0 or a clear refusal, and where a neighbour runs beside it, that the neighbour is untouched.
SQLite attacks run in this process and measure its RSS.
"""

from __future__ import annotations

import pytest

from tests.adversarial.sql_episodes import episodes, rss_mb, shared_envs, sql, submit  # noqa: F401

docker = pytest.mark.docker


@pytest.mark.parametrize("attack", [
    "CREATE TABLE z(b); INSERT INTO z VALUES (zeroblob(1000000000))",
    "SELECT length(hex(zeroblob(700000000)))",
    "CREATE TABLE z(b); WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r LIMIT 4000) "
    "INSERT INTO z SELECT zeroblob(1000000) FROM r",
])
def test_attack_zeroblob_heap_bomb(attack):
    """zeroblob grew the process that holds every local episode by gigabytes. Now a value may not
    exceed 16 MB (SQLITE_LIMIT_LENGTH) and a copy may grow by 32 MB (max_page_count): an SQL
    error, the process grows by less than 64 MB, and a neighbour episode answers as before."""
    with episodes(2) as (env, other):
        before = rss_mb()
        text, reward, term, info = sql(env, attack)
        assert "SQL error" in text and ("too big" in text or "full" in text) and "error" not in info
        assert rss_mb() - before < 64
        assert "(1 row)" in sql(other, "SELECT COUNT(*) FROM orders")[0]


@pytest.mark.parametrize("attack", [
    "WITH RECURSIVE r(x) AS (SELECT 'ab' UNION ALL SELECT x || x FROM r) SELECT length(x) FROM r",
    "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r) SELECT length(group_concat(hex(randomblob(64)))) FROM r",
    "WITH RECURSIVE r(i) AS (SELECT 1 UNION SELECT i + 1 FROM r) SELECT COUNT(*) FROM r",
    "CREATE TEMP TABLE t AS WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r) SELECT randomblob(10000) FROM r",
])
def test_attack_recursive_cte_heap_bomb(attack):
    """Recursive CTEs that double a string, concatenate without end, keep a growing UNION set or fill
    a temp table. Strings stop at 16 MB, the temp schema at its growth cap, sets spill to temp
    files (temp_store=FILE, which an agent cannot change) and the 5 s limit stops the rest."""
    with episodes() as env:
        before = rss_mb()
        text, reward, term, info = sql(env, attack)
        assert "SQL error" in text and "error" not in info
        assert rss_mb() - before < 64


@pytest.mark.parametrize("attack", [
    "ATTACH DATABASE '/etc/passwd' AS host", "/* comment first */ VACUUM INTO '/tmp/agentgym-exfil.db'",
    "SELECT load_extension('/usr/lib/x86_64-linux-gnu/libsqlite3.so.0')", "PRAGMA max_page_count = 2000000000",
    "PRAGMA temp_store = MEMORY", "PRAGMA hard_heap_limit = 0", "PRAGMA writable_schema = ON",
])
def test_attack_sqlite_host_files_and_limits(attack):
    """ATTACH and VACUUM INTO would read or write host files, load_extension would run host code,
    and PRAGMAs would lift the episode's limits: the authorizer refuses each (ATTACH, and VACUUM
    INTO's internal ATTACH; the function; any PRAGMA given a value outside a short safe list)."""
    with episodes() as env:
        text, _, _, info = sql(env, attack)
        assert "SQL error" in text and ("not authorized" in text or "denied" in text or "not allowed" in text)
        assert "error" not in info


@pytest.mark.parametrize("runtime_", ["local", pytest.param("docker", marks=docker)])
def test_attack_huge_values_in_the_result(runtime_):
    """100 rows of 10 MB values (1 GB) in one execute_sql result, or in a submission's result: the
    rows used to be held whole in the process that holds every episode. Results now stop at
    32 MB of values (SQLite row by row; PostgreSQL in single-row mode): an SQL error for the agent,
    a failed submission, and the process grows by a few row sizes (under 300 MB; it was 1 GB)."""
    big = ("SELECT g, {fn} FROM generate_series(1, 100) g" if runtime_ == "docker" else
           "WITH RECURSIVE r(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM r LIMIT 100) SELECT g, {fn} FROM r")
    fn = "repeat(md5(g::text), 320000)" if runtime_ == "docker" else "hex(randomblob(5000000))"
    with episodes(1, runtime_) as env:
        before = rss_mb()
        text, reward, term, info = sql(env, big.format(fn=fn))
        assert "SQL error" in text and "MB of values" in text and "error" not in info and not term
        assert rss_mb() - before < 300
        text, reward, term, info = submit(env, big.format(fn=fn))
        assert reward == 0.0 and "error" not in info
        assert rss_mb() - before < 300


@docker
@pytest.mark.parametrize("attack", [
    "SELECT (repeat('[', 5000) || repeat(']', 5000))::jsonb", "SELECT 'infinity'::timestamp",
    "SELECT '5874897-12-31'::date", "SELECT '0044-03-15 BC'::date",
])
def test_attack_values_python_cannot_load(attack):
    """Values PostgreSQL holds but Python cannot (JSON nested past the recursion limit, dates past
    year 9999 or BC): the driver's exception mid-result used to leave the connection mid-protocol,
    so this call was an 'Infrastructure error' and so was every later one (a way to dodge a zero).
    Now the value is the agent's SQL error, the rest of the result is read, the session goes on."""
    with episodes(1, "docker") as env:
        text, _, term, info = sql(env, attack)
        assert "SQL error" in text and "cannot be read" in text and "error" not in info and not term
        assert "(1 row)" in sql(env, "SELECT COUNT(*) FROM orders")[0]
        text, reward, term, info = submit(env, attack)
        assert reward == 0.0 and "error" not in info


@pytest.mark.parametrize("runtime", ["local", pytest.param("docker", marks=docker)])
def test_attack_nul_character_in_the_sql(runtime):
    """A NUL character in the SQL text (execute_sql, then submit): SQLite's driver raised
    ValueError('embedded null character'), which the env reported as its own failure, an
    infrastructure error that leaves the episode out of scores; the submitted SQL raised the
    same inside grading (PostgreSQL silently ran the text up to the NUL). Stopped: both engines
    refuse such SQL as an SQL error (refuse_nul), the
    episode goes on, and the submission is scored 0."""
    with episodes(runtime=runtime) as env:
        text, _, term, info = sql(env, "SELECT 1\x00; SELECT 2")
        assert "NUL" in text and not term and "error" not in info, (text, info)
        text, reward, _, info = submit(env, "SELECT COUNT(*) FROM orders\x00")
        assert reward == 0.0 and "error" not in info, (text, info)
