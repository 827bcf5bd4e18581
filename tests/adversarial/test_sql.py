"""Attacks on the SQL envs, through tool calls only (execute_sql, submit), on both engines.

Each test is one attack: what it does and what stops it is in its docstring. Each asserts reward
0 or a clear refusal, and where a neighbour runs beside it, that the neighbour is untouched.
PostgreSQL attacks share one small server (320 MB data disk, 24 MB episode quota) so that
filling is quick; SQLite attacks run in this process and measure its RSS.
"""

from __future__ import annotations

import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import agentgym
from agentgym.envs.sql import register_sql_envs
from agentgym.envs.sql.bird import task_from_bird

register_sql_envs()
docker = pytest.mark.docker

TASK = "retail_lite.top_entities.2022-top5"
SMALL = {"data_tmpfs": "320m", "memory": "1g", "episode_disk_mb": 24, "disk_reserve_mb": 64, "spares": 0}


@pytest.fixture(scope="module")
def small_server():
    """Holds the SMALL server for the module's PostgreSQL attacks, so each does not start its own
    container (a server lives while any env on it is open)."""
    env = make("docker")
    env.reset(options={"task_id": TASK})
    yield env.engine.server
    env.close()


def make(runtime: str = "local", env_id: str = "sql-a-lite", **kw):
    if runtime == "docker":
        kw.setdefault("engine_options", SMALL)
    return agentgym.make(env_id, runtime=runtime, **kw)


def sql(env, text: str):
    """One execute_sql call: (text, reward, terminated, info)."""
    obs, reward, term, _, info = env.step({"name": "execute_sql", "arguments": {"sql": text}})
    return obs["text"], reward, term, info


def submit(env, text: str, tool: str = "submit"):
    obs, reward, term, _, info = env.step({"name": tool, "arguments": {"sql": text}})
    return obs["text"], reward, term, info


def play_gold(env) -> float:
    obs, info = env.reset(options={"task_id": TASK})
    policy = env.reference_policy()
    policy.reset(obs, info)
    total, done = 0.0, False
    while not done:
        obs, reward, term, trunc, info = env.step(policy.act(obs, info))
        assert "error" not in info and "agent_failure" not in info
        total += reward
        done = term or trunc
    return total


def rss_mb() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 // 2**20


def bird_env(gold: str, decimal: int = -1, order: bool = False):
    """A c-Interact env on one BIRD-format task over retail_lite (gold results computed at grading)."""
    raw = {"instance_id": "attack_1", "selected_database": "retail_lite", "query": "q", "amb_user_query": "q",
           "sol_sql": [gold], "conditions": {"decimal": decimal, "order": order},
           "follow_up": {"query": "f", "sol_sql": ["SELECT 1"]}}
    env = agentgym.make("sql-c-lite", runtime="local", tasks=[task_from_bird(raw, {})])
    env.reset(options={"task_id": "attack_1"})
    return env


# ---- PostgreSQL: disk, time, limits, other episodes, the host ----------------------------------------

@docker
def test_attack_fill_the_postgres_disk(small_server):
    """Committed INSERTs until the data disk is full, beside an honest episode. Filling the disk used to
    PANIC the server at the next template copy's checkpoint and kill every episode. Now the disk
    guard cancels the filler past its 24 MB quota: reward 0, info['agent_failure'], the episode
    ends; the neighbour scores 1.0 and the server never restarts."""
    filler, honest = make("docker"), make("docker")
    try:
        filler.reset(options={"task_id": TASK})
        srv = filler.engine.server
        cid = srv.container_id
        sql(filler, "CREATE TABLE fill(x text)")

        def attack():
            for _ in range(100):
                out = sql(filler, "INSERT INTO fill SELECT repeat('x', 1900) FROM generate_series(1, 20000)")
                if out[2]:
                    return out
            return out

        with ThreadPoolExecutor(2) as pool:
            a, h = pool.submit(attack), pool.submit(play_gold, honest)
            text, reward, term, info = a.result(timeout=120)
            assert h.result(timeout=120) == pytest.approx(1.0)
        assert term and reward == 0.0 and "disk quota" in info["agent_failure"] and "error" not in info
        assert srv.container_id == cid and "PANIC" not in subprocess.run(
            ["docker", "logs", cid], capture_output=True, text=True, timeout=30).stderr
    finally:
        filler.close()
        honest.close()


@docker
def test_attack_many_fillers_at_once_exhaust_the_reserve():
    """Four episodes with a generous quota (100 MB each, 400 MB in all) fill a 320 MB disk together,
    none past its own quota. The guard's reserve stops the largest writer whenever free space
    falls under 64 MB, copies never take the reserve's last half: no PANIC, every filler ends
    with an agent failure or an SQL error, and a fresh episode afterwards scores 1.0."""
    options = {**SMALL, "episode_disk_mb": 100}
    envs = [make("docker", engine_options=options) for _ in range(5)]
    honest, fillers = envs[0], envs[1:]
    try:
        honest.reset(options={"task_id": TASK})
        for e in fillers:
            e.reset(options={"task_id": TASK})
            sql(e, "CREATE TABLE fill(x text)")
        cid = honest.engine.server.container_id

        def attack(e):
            for _ in range(60):
                text, reward, term, info = sql(e, "INSERT INTO fill SELECT repeat('x', 1900) FROM generate_series(1, 10000)")
                assert "error" not in info
                if term:
                    return info
            return info

        with ThreadPoolExecutor(4) as pool:
            infos = list(pool.map(attack, fillers))
        assert sum("agent_failure" in i for i in infos) >= 1
        for e in fillers:
            e.close()
        assert play_gold(honest) == pytest.approx(1.0)
        assert honest.engine.server.container_id == cid
        assert "PANIC" not in subprocess.run(["docker", "logs", cid], capture_output=True, text=True, timeout=30).stderr
    finally:
        for e in envs:
            e.close()


@docker
@pytest.mark.parametrize("attack", [
    "SELECT length(string_agg(repeat(md5(g::text), 3000000), '')) FROM generate_series(1, 9) g",
    "DO $$DECLARE a text[] := '{}'; BEGIN FOR i IN 1..40 LOOP a := a || repeat(md5(i::text), 2000000); END LOOP; END$$",
])
def test_attack_memory_bomb_in_a_backend(attack):
    """One query that holds gigabytes (a huge string_agg, a plpgsql array of big strings). The kernel's
    OOM killer used to end that backend, and PostgreSQL then ends every session: all episodes
    failed. Each server process now has its own memory limit (RLIMIT_DATA, backend_memory_mb):
    the attacker gets an 'out of memory' SQL error, the neighbour and the server are untouched."""
    options = {**SMALL, "backend_memory_mb": 256}
    env, other = make("docker", engine_options=options), make("docker", engine_options=options)
    try:
        env.reset(options={"task_id": TASK})
        other.reset(options={"task_id": TASK})
        srv = env.engine.server
        cid, generation = srv.container_id, srv.generation
        text, reward, term, info = sql(env, attack)
        assert "SQL error" in text and "error" not in info and not term
        assert "out of memory" in text or "time limit" in text  # never the OOM killer
        assert "(1 row)" in sql(other, "SELECT COUNT(*) FROM orders")[0]
        assert "(1 row)" in sql(env, "SELECT COUNT(*) FROM orders")[0]
        assert srv.container_id == cid and srv.generation == generation
    finally:
        env.close()
        other.close()


@docker
def test_attack_sleep_past_the_limit_after_resetting_statement_timeout(small_server):
    """SET statement_timeout = 0 (or RESET ALL), then pg_sleep for a minute. We SET the timeout again
    before every statement and cancel from the client at the deadline: the call ends after ~5 s
    with a time-limit message, and a neighbour's queries answer meanwhile."""
    env, other = make("docker"), make("docker")
    try:
        env.reset(options={"task_id": TASK})
        other.reset(options={"task_id": TASK})
        with ThreadPoolExecutor(1) as pool:
            started = time.monotonic()
            fut = pool.submit(sql, env, "SET statement_timeout = 0; RESET ALL; SELECT pg_sleep(60)")
            time.sleep(0.5)
            t = time.monotonic()
            assert "(1 row)" in sql(other, "SELECT COUNT(*) FROM orders")[0] and time.monotonic() - t < 2
            text, reward, term, info = fut.result(timeout=30)
        assert time.monotonic() - started < 10 and "time limit" in text and "error" not in info
    finally:
        env.close()
        other.close()


@docker
@pytest.mark.parametrize("attack", [
    "SET temp_file_limit = -1", "SET SESSION AUTHORIZATION postgres", "SET ROLE postgres",
    "ALTER ROLE CURRENT_USER SET temp_file_limit = -1", "ALTER SYSTEM SET temp_file_limit = -1",
    "CREATE EXTENSION dblink", "ALTER DATABASE CURRENT SET temp_file_limit = -1",
])
def test_attack_lift_the_postgres_limits(attack, small_server):
    """Session, role, database and system settings that would lift temp_file_limit or reach other
    databases: temp_file_limit is a superuser setting and the episode's role is no superuser, so
    each is refused with an SQL error; after RESET ALL a big sort still hits the quota."""
    env = make("docker")
    try:
        env.reset(options={"task_id": TASK})
        text, _, term, info = sql(env, attack)
        assert "SQL error" in text and not term and "error" not in info
        text, *_ = sql(env, "RESET ALL; SELECT g FROM generate_series(1, 20000000) g ORDER BY g DESC OFFSET 19999999")
        assert "temp_file_limit" in text or "time limit" in text
    finally:
        env.close()


@docker
@pytest.mark.parametrize("attack", [
    "SELECT pg_read_file('/etc/passwd')", "COPY (SELECT 1) TO PROGRAM 'touch /tmp/pwned'",
    "SELECT lo_import('/etc/passwd')", "COPY orders TO '/tmp/orders.csv'", "SELECT pg_ls_dir('/')",
])
def test_attack_reach_the_server_host(attack, small_server):
    """Server-side files and programs (pg_read_file, COPY TO PROGRAM, lo_import, COPY TO a file,
    pg_ls_dir): superuser or pg_*_server_files privileges only, which no episode role holds."""
    env = make("docker")
    try:
        env.reset(options={"task_id": TASK})
        text, _, term, info = sql(env, attack)
        assert "SQL error" in text and ("permission denied" in text or "must be superuser" in text or "privileges" in text)
        assert "error" not in info
    finally:
        env.close()


@docker
def test_attack_other_episodes_and_shared_objects(small_server):
    """Find a neighbour's database in pg_database, then DROP it, cancel or terminate its backend,
    drop the template and the owner role. Databases belong to the superuser and each episode has
    its own login role: all refused, and the neighbour's data is intact."""
    env, other = make("docker"), make("docker")
    try:
        env.reset(options={"task_id": TASK})
        other.reset(options={"task_id": TASK})
        sql(other, "UPDATE orders SET status = 'mine' WHERE order_id = 1")
        name = other.db.name
        for attack in (f"DROP DATABASE {name}", f"ALTER DATABASE {name} RENAME TO x",
                       f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'",
                       f"SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'",
                       "DROP DATABASE tpl_retail_lite", "DROP ROLE agentgym_owner"):
            text, _, term, info = sql(env, attack)
            assert "error" not in info
            if text.startswith("SQL error"):
                continue
            assert "| f" in text or "(0 rows)" in text or "false" in text.lower(), (attack, text)
        text, *_ = sql(other, "SELECT status FROM orders WHERE order_id = 1")
        assert "mine" in text
    finally:
        env.close()
        other.close()


@docker
def test_attack_fill_the_disk_from_a_submission(small_server):
    """The filler hidden in a submission, so it runs in the grader's fresh copy. The copy has the
    same quota: the submission fails (reward 0), the episode is told so, nothing is infrastructure."""
    env = make("docker", env_id="sql-c-lite")
    try:
        env.reset(options={"task_id": TASK})
        bomb = ("CREATE TABLE fill AS SELECT repeat('x', 1900) AS x FROM generate_series(1, 10); "
                + "; ".join(["INSERT INTO fill SELECT repeat('x', 1900) FROM generate_series(1, 20000)"] * 8))
        text, reward, term, info = submit(env, bomb)
        assert reward == 0.0 and "error" not in info and "Failed" in text
    finally:
        env.close()


# ---- SQLite: the host process ------------------------------------------------------------------------

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
    env, other = make(), make()
    try:
        env.reset(options={"task_id": TASK})
        other.reset(options={"task_id": TASK})
        before = rss_mb()
        text, reward, term, info = sql(env, attack)
        assert "SQL error" in text and ("too big" in text or "full" in text) and "error" not in info
        assert rss_mb() - before < 64
        assert "(1 row)" in sql(other, "SELECT COUNT(*) FROM orders")[0]
    finally:
        env.close()
        other.close()


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
    env = make()
    try:
        env.reset(options={"task_id": TASK})
        before = rss_mb()
        text, reward, term, info = sql(env, attack)
        assert "SQL error" in text and "error" not in info
        assert rss_mb() - before < 64
    finally:
        env.close()


@pytest.mark.parametrize("attack", [
    "ATTACH DATABASE '/etc/passwd' AS host", "/* comment first */ VACUUM INTO '/tmp/agentgym-exfil.db'",
    "SELECT load_extension('/usr/lib/x86_64-linux-gnu/libsqlite3.so.0')", "PRAGMA max_page_count = 2000000000",
    "PRAGMA temp_store = MEMORY", "PRAGMA hard_heap_limit = 0", "PRAGMA writable_schema = ON",
])
def test_attack_sqlite_host_files_and_limits(attack, tmp_path):
    """ATTACH and VACUUM INTO would read or write host files, load_extension would run host code,
    and PRAGMAs would lift the episode's limits: the authorizer refuses each (ATTACH, and VACUUM
    INTO's internal ATTACH; the function; any PRAGMA given a value outside a short safe list)."""
    env = make()
    try:
        env.reset(options={"task_id": TASK})
        text, _, _, info = sql(env, attack)
        assert "SQL error" in text and ("not authorized" in text or "denied" in text or "not allowed" in text)
        assert "error" not in info
    finally:
        env.close()


# ---- the grader ----------------------------------------------------------------------------------------

def test_attack_off_by_one_count_at_decimal_zero():
    """A BIRD task with decimal=0 used to become an inclusive tolerance of 1, so a count off by one
    passed. Both sides are now rounded to 0 decimals and compared exactly: reward 0."""
    env = bird_env("SELECT COUNT(*) FROM orders WHERE status = 'delivered'", decimal=0)
    try:
        for cheat in ("SELECT COUNT(*) + 1 FROM orders WHERE status = 'delivered'",
                      "SELECT COUNT(*) - 1 FROM orders WHERE status = 'delivered'"):
            text, reward, term, info = submit(env, cheat)
            assert reward == 0.0 and "Failed" in text
    finally:
        env.close()
    env = bird_env("SELECT COUNT(*) FROM orders WHERE status = 'delivered'", decimal=0)
    try:
        assert submit(env, "SELECT COUNT(*) FROM orders WHERE status = 'delivered'")[1] == pytest.approx(0.7)
    finally:
        env.close()


def test_attack_empty_result_against_an_empty_gold():
    """When the gold result is empty, `SELECT 1 WHERE 1=0` (any empty result) used to earn 0.7: the
    column check was skipped. The gold's width is now recorded at grading: reward 0 for the wrong
    width, while an empty result with the gold's columns still passes."""
    gold = "SELECT customer_id, segment FROM customers WHERE 1 = 0"
    env = bird_env(gold)
    try:
        text, reward, term, info = submit(env, "SELECT 1 WHERE 1=0")
        assert reward == 0.0 and "Failed" in text
        assert submit(env, "SELECT customer_id, segment FROM customers WHERE customer_id < 0")[1] == pytest.approx(0.5)
    finally:
        env.close()


def test_attack_numeric_text_does_not_pass_a_numeric_gold():
    """Type leniency as a loophole: where the gold column is numeric, a text answer (e.g. a printf
    that rounds or pads) is not accepted as the number; only a text gold accepts its digits."""
    env = bird_env("SELECT COUNT(*) FROM orders")
    try:
        text, reward, *_ = submit(env, "SELECT CAST(COUNT(*) AS TEXT) FROM orders")
        assert reward == 0.0
    finally:
        env.close()


@pytest.mark.parametrize("runtime_", ["local", pytest.param("docker", marks=docker)])
def test_attack_huge_values_in_the_result(runtime_):
    """100 rows of 10 MB values (1 GB) in one execute_sql result, or in a submission's result: the
    rows used to be held whole in the process that holds every episode. Results now stop at
    32 MB of values (SQLite row by row; PostgreSQL in single-row mode): an SQL error for the agent,
    a failed submission, and the process grows by a few row sizes (under 300 MB; it was 1 GB)."""
    env = make(runtime_)
    big = ("SELECT g, {fn} FROM generate_series(1, 100) g" if runtime_ == "docker" else
           "WITH RECURSIVE r(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM r LIMIT 100) SELECT g, {fn} FROM r")
    fn = "repeat(md5(g::text), 320000)" if runtime_ == "docker" else "hex(randomblob(5000000))"
    try:
        env.reset(options={"task_id": TASK})
        before = rss_mb()
        text, reward, term, info = sql(env, big.format(fn=fn))
        assert "SQL error" in text and "MB of values" in text and "error" not in info and not term
        assert rss_mb() - before < 300
        text, reward, term, info = submit(env, big.format(fn=fn))
        assert reward == 0.0 and "error" not in info
        assert rss_mb() - before < 300
    finally:
        env.close()


@docker
@pytest.mark.parametrize("attack", [
    "SELECT (repeat('[', 5000) || repeat(']', 5000))::jsonb", "SELECT 'infinity'::timestamp",
    "SELECT '5874897-12-31'::date", "SELECT '0044-03-15 BC'::date",
])
def test_attack_values_python_cannot_load(attack, small_server):
    """Values PostgreSQL holds but Python cannot (JSON nested past the recursion limit, dates past
    year 9999 or BC): the driver's exception mid-result used to leave the connection mid-protocol,
    so this call was an 'Infrastructure error' and so was every later one (a way to dodge a zero).
    Now the value is the agent's SQL error, the rest of the result is read, the session goes on."""
    env = make("docker")
    try:
        env.reset(options={"task_id": TASK})
        text, _, term, info = sql(env, attack)
        assert "SQL error" in text and "cannot be read" in text and "error" not in info and not term
        assert "(1 row)" in sql(env, "SELECT COUNT(*) FROM orders")[0]
        text, reward, term, info = submit(env, attack)
        assert reward == 0.0 and "error" not in info
    finally:
        env.close()
