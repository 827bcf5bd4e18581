"""SQL attacks on the PostgreSQL server, through tool calls only (execute_sql, submit): its disk,
memory, time and role limits, its host, and the other episodes on it.

Each test is one attack: what it does and what stops it is in its docstring. Each asserts reward
0 or a clear refusal, and where a neighbour runs beside it, that the neighbour is untouched.
They share one small server (sql_episodes.SMALL: 320 MB data disk, 24 MB episode quota).
"""

from __future__ import annotations

import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.adversarial.sql_episodes import SMALL, TASK, episodes, make, play_gold, shared_envs, sql, submit  # noqa: F401

docker = pytest.mark.docker


@pytest.fixture(scope="module")
def small_server():
    """Holds the SMALL server for the module's attacks, so each does not start its own container
    (a server lives while any env on it is open)."""
    env = make("docker")
    env.reset(options={"task_id": TASK})
    yield env.engine.server
    env.close()


@docker
def test_attack_fill_the_postgres_disk(small_server):
    """Committed INSERTs until the data disk is full, beside an honest episode. Filling the disk used to
    PANIC the server at the next template copy's checkpoint and kill every episode. Now the disk
    guard cancels the filler past its 24 MB quota: reward 0, info['agent_failure'], the episode
    ends; the neighbour scores 1.0 and the server never restarts."""
    with episodes(2, "docker") as (filler, honest):
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


@docker
def test_attack_many_fillers_at_once_exhaust_the_reserve():
    """Four episodes with a generous quota (100 MB each, 400 MB in all) fill a 320 MB disk together,
    none past its own quota. The guard's reserve stops the largest writer whenever free space
    falls under 64 MB, copies never take the reserve's last half: no PANIC, every filler ends
    with an agent failure or an SQL error, and a fresh episode afterwards scores 1.0."""
    with episodes(5, "docker", engine_options={**SMALL, "episode_disk_mb": 100}) as envs:
        honest, fillers = envs[0], envs[1:]
        for e in fillers:
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
    with episodes(2, "docker", engine_options={**SMALL, "backend_memory_mb": 256}) as (env, other):
        srv = env.engine.server
        cid, generation = srv.container_id, srv.generation
        text, reward, term, info = sql(env, attack)
        assert "SQL error" in text and "error" not in info and not term
        assert "out of memory" in text or "time limit" in text  # never the OOM killer
        assert "(1 row)" in sql(other, "SELECT COUNT(*) FROM orders")[0]
        assert "(1 row)" in sql(env, "SELECT COUNT(*) FROM orders")[0]
        assert srv.container_id == cid and srv.generation == generation


@docker
def test_attack_sleep_past_the_limit_after_resetting_statement_timeout(small_server):
    """SET statement_timeout = 0 (or RESET ALL), then pg_sleep for a minute. We SET the timeout again
    before every statement and cancel from the client at the deadline: the call ends after ~5 s
    with a time-limit message, and a neighbour's queries answer meanwhile."""
    with episodes(2, "docker") as (env, other), ThreadPoolExecutor(1) as pool:
        started = time.monotonic()
        fut = pool.submit(sql, env, "SET statement_timeout = 0; RESET ALL; SELECT pg_sleep(60)")
        time.sleep(0.5)
        t = time.monotonic()
        assert "(1 row)" in sql(other, "SELECT COUNT(*) FROM orders")[0] and time.monotonic() - t < 2
        text, reward, term, info = fut.result(timeout=30)
        assert time.monotonic() - started < 10 and "time limit" in text and "error" not in info


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
    with episodes(1, "docker") as env:
        text, _, term, info = sql(env, attack)
        assert "SQL error" in text and not term and "error" not in info
        text, *_ = sql(env, "RESET ALL; SELECT g FROM generate_series(1, 20000000) g ORDER BY g DESC OFFSET 19999999")
        assert "temp_file_limit" in text or "time limit" in text


@docker
@pytest.mark.parametrize("attack", [
    "SELECT pg_read_file('/etc/passwd')", "COPY (SELECT 1) TO PROGRAM 'touch /tmp/pwned'",
    "SELECT lo_import('/etc/passwd')", "COPY orders TO '/tmp/orders.csv'", "SELECT pg_ls_dir('/')",
])
def test_attack_reach_the_server_host(attack, small_server):
    """Server-side files and programs (pg_read_file, COPY TO PROGRAM, lo_import, COPY TO a file,
    pg_ls_dir): superuser or pg_*_server_files privileges only, which no episode role holds."""
    with episodes(1, "docker") as env:
        text, _, term, info = sql(env, attack)
        assert "SQL error" in text and ("permission denied" in text or "must be superuser" in text or "privileges" in text)
        assert "error" not in info


@docker
def test_attack_other_episodes_and_shared_objects(small_server):
    """Find a neighbour's database in pg_database, then DROP it, cancel or terminate its backend,
    drop the template and the owner role. Databases belong to the superuser and each episode has
    its own login role: all refused, and the neighbour's data is intact."""
    with episodes(2, "docker") as (env, other):
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


@docker
def test_attack_fill_the_disk_from_a_submission(small_server):
    """The filler hidden in a submission, so it runs in the grader's fresh copy. The copy has the
    same quota: the submission fails (reward 0), the episode is told so, nothing is infrastructure."""
    with episodes(1, "docker", env_id="sql-c-lite") as env:
        bomb = ("CREATE TABLE fill AS SELECT repeat('x', 1900) AS x FROM generate_series(1, 10); "
                + "; ".join(["INSERT INTO fill SELECT repeat('x', 1900) FROM generate_series(1, 20000)"] * 8))
        text, reward, term, info = submit(env, bomb)
        assert reward == 0.0 and "error" not in info and "Failed" in text


SHARED_SIZE = ("SELECT SUM(pg_total_relation_size(c))::bigint FROM unnest(ARRAY['pg_db_role_setting', "
               "'pg_shdescription', 'pg_shseclabel']::regclass[]) c")


@docker
def test_attack_fill_a_shared_catalog_with_role_settings(small_server):
    """ALTER ROLE agentgym_owner SET is allowed (a role may set its own defaults; the session acts
    as that role) and never applied (nobody logs in as it), but it writes to a shared catalog that
    no episode's database size counts: a loop of them (each a new row version; ~3 MB/s, so ~15 MB
    per call at the time limit) grew the disk unseen by the quota. Now the guard watches the shared catalogs: the looping episode is stopped past
    its quota, the settings are deleted and the catalog rewritten; the neighbour goes on."""
    with episodes(2, "docker") as (env, other):
        srv = env.engine.server
        with srv.admin() as a:
            before = a.execute(SHARED_SIZE).fetchone()[0]
        loop = ("DO $$ BEGIN FOR i IN 1..600 LOOP EXECUTE format('ALTER ROLE agentgym_owner SET search_path = %s', "
                "(SELECT string_agg('s' || md5(random()::text), ',') FROM generate_series(1, 3000))); END LOOP; END $$")
        for _ in range(12):  # each call is cut at the 5 s time limit; what it wrote stays
            text, reward, term, info = sql(env, loop)
            if term:
                break
        assert term and "role's settings" in info.get("agent_failure", "") and "error" not in info, (text, info)
        assert "(1 row)" in sql(other, "SELECT COUNT(*) FROM orders")[0]
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with srv.admin() as a:
                after = a.execute(SHARED_SIZE).fetchone()[0]
                settings = a.execute("SELECT COUNT(*) FROM pg_db_role_setting").fetchone()[0]
            if after < before + 1024 * 1024 and settings == 0:
                break
            time.sleep(0.2)
        assert after < before + 1024 * 1024 and settings == 0, (before, after, settings)


@docker
def test_attack_end_your_own_session(small_server):
    """The agent ends its own PostgreSQL session: SET ROLE NONE makes it the session's login role,
    which may pg_terminate_backend(pg_backend_pid()); or it sets idle_session_timeout to 1 ms and
    the server ends the session between calls. The lost connection was an InfraError: the episode
    ended as an infrastructure error, left out of scores (in a submission too, run in the grader's
    copy). Stopped: when the server and the episode's database answer a fresh connection at once,
    the session was ended from inside: an SQL error, a new session, the episode goes on; the same
    submission fails with reward 0; a neighbour's session (not the agent's to end) is untouched."""
    with episodes(2, "docker") as (env, other):
        name = other.db.name
        for attack in ("SET ROLE NONE; SELECT pg_terminate_backend(pg_backend_pid())", "SET idle_session_timeout = 1"):
            text, _, term, info = sql(env, attack)
            for _ in range(6):  # the idle timeout ends the session between calls (later on a loaded machine)
                if "session was ended" in text or "error" in info:
                    break
                time.sleep(0.5)
                text, _, term, info = sql(env, "SELECT 1")
            assert "error" not in info and not term and "session was ended" in text, (attack, text, info)
            text, _, term, info = sql(env, "SELECT COUNT(*) FROM orders")
            assert "(1 row)" in text and "error" not in info, text
        text, *_ = sql(env, f"SET ROLE NONE; SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
        assert "(1 row)" in sql(other, "SELECT COUNT(*) FROM orders")[0]
        text, reward, term, info = submit(env, "SET ROLE NONE; SELECT pg_terminate_backend(pg_backend_pid())")
        assert reward == 0.0 and "error" not in info and "session was ended" in text, (text, info)


@docker
def test_attack_fill_the_shared_lock_table_with_advisory_locks(small_server):
    """200000 session-level advisory locks in one statement: they live in the server's one shared
    lock table and outlive the statement that failed 'out of shared memory', so every neighbour's
    query (and the graders' fresh copies) failed the same way until the attacker's session ended.
    Stopped: the templates (so every copy) give EXECUTE on the advisory lock functions to nobody;
    the neighbour's queries answer."""
    with episodes(2, "docker") as (env, other):
        for attack in ("SELECT count(*) FROM (SELECT pg_advisory_lock(i) FROM generate_series(1, 200000) i) x",
                       "SET ROLE NONE; BEGIN; SELECT pg_advisory_xact_lock_shared(1)", "ROLLBACK; SELECT pg_try_advisory_lock(1, 2)"):
            text, _, term, info = sql(env, attack)
            assert "permission denied" in text and "error" not in info and not term, (attack, text)
        assert "(1 row)" in sql(other, "SELECT COUNT(*) FROM orders")[0]
