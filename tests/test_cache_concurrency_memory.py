"""Caches that live in memory (SQLite templates, time-series instances, web prewarmed browser
contexts) and PostgreSQL's templates in its server, under many threads and processes at once.

The in-memory ones have no disk race; these tests show that they stay correct under the same
load as the disk caches (cache_harness.py) and that every process gets the same data from a cold
AGENTGYM_CACHE (a secret or file added there later must not make processes disagree).
"""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from cache_harness import cold, in_processes, in_threads, procs  # noqa: F401


# ---------------------------------------------------------------- SQL templates (SQLite: in memory)


def _sqlite_worker(cache: str, db_id: str) -> str:
    """A fresh episode copy of db_id from a cold template cache: a digest of every table's rows."""
    os.environ["AGENTGYM_CACHE"] = cache
    from agentgym.envs.sql.engines.sqlite import SqliteEngine

    db = SqliteEngine().open(db_id)
    try:
        digest = hashlib.sha256()
        tables = [r[0] for r in db.conn.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
        assert tables, f"{db_id}: the copy has no tables"
        for table in tables:
            rows = db.conn.execute(f'SELECT * FROM "{table}" ORDER BY 1').fetchall()
            digest.update(f"{table}:{len(rows)}:{rows!r}".encode())
        return digest.hexdigest()
    finally:
        db.close()


@pytest.fixture
def cold_sqlite(monkeypatch):
    from agentgym.envs.sql.engines.sqlite import SqliteEngine

    monkeypatch.setattr(SqliteEngine, "_templates", {})  # cold for this test, the shared one back after


def test_sqlite_templates_cold_many_threads_and_processes(cold, tmp_path, cold_sqlite, procs):
    """SQLite templates live in each process's memory (built under a class lock); nothing is
    written to the cache, and every thread and process gets the same full database."""
    from agentgym.envs.sql.engines.sqlite import SqliteEngine

    threads = in_threads(_sqlite_worker, str(cold), "retail_lite")
    assert len(SqliteEngine._templates) == 1
    processes = in_processes(procs, tmp_path, _sqlite_worker, str(cold), "retail_lite")
    assert len(set(threads + processes)) == 1
    assert not cold.exists() or not any(cold.rglob("*"))


# ---------------------------------------------------------------- time-series task builds (in memory)


def _timeseries_worker(cache: str, task_id: str) -> str:
    """Build task_id from a cold cache: a digest of what the agent sees and what grading hides."""
    os.environ["AGENTGYM_CACHE"] = cache
    from agentgym.envs.timeseries import builders
    from agentgym.envs.timeseries.catalog import all_specs

    spec = next(s for s in all_specs() if s.id == task_id)
    inst = builders.build(spec)
    body = json.dumps([inst.public_files, inst.hidden_inputs, inst.answers.to_csv(index=False),
                       inst.floor, inst.reference, inst.pass_reward, inst.baselines], sort_keys=True, default=str)
    return hashlib.sha256(body.encode()).hexdigest()


def test_timeseries_builds_cold_many_threads_and_processes(cold, tmp_path, procs, monkeypatch):
    """Instances are built in memory, once per process and spec; threads get the one kept, and
    processes started on the same cold cache build identical public files and hidden answers."""
    from agentgym.envs.timeseries import builders

    monkeypatch.setattr(builders, "_CACHE", {})
    threads = in_threads(_timeseries_worker, str(cold), "imp-blocks-d-20")
    assert len(builders._CACHE) == 1
    processes = in_processes(procs, tmp_path, _timeseries_worker, str(cold), "imp-blocks-d-20")
    assert len(set(threads)) == 1 and set(processes) == set(threads)


# ---------------------------------------------------------------- web prewarm (browser contexts, in memory)


def _web_worker(cache: str, resets: int) -> list[str]:
    """One web-lite env reset `resets` times (from the second reset on, the env prewarms the next
    episode's context): each reset must land on its task's start page with no error."""
    os.environ["AGENTGYM_CACHE"] = cache
    import agentgym

    env = agentgym.make("web-lite", runtime="local")
    seen = []
    try:
        for seed in range(resets):
            obs, info = env.reset(seed=seed)
            assert "error" not in info, info
            task = env.task()
            start = env.host.origins[task.start[0]] + task.start[1]
            assert obs["url"] == start, (obs["url"], start)
            seen.append(f"{env.task_id}@{task.start[1]}")
    finally:
        env.close()
    return seen


@pytest.mark.slow
def test_web_prewarm_many_threads_and_processes(cold, tmp_path, procs):
    """Prewarmed contexts are per env and in memory (nothing on disk): envs reset at once in
    threads sharing one browser, and in processes with a browser each, all start where their
    task says."""
    threads = in_threads(_web_worker, str(cold), 3, n=4)
    processes = in_processes(procs, tmp_path, _web_worker, str(cold), 3)
    assert all(len(s) == 3 for s in threads + processes)
    assert len({tuple(s) for s in threads + processes}) == 1  # same seeds, same tasks everywhere


# ---------------------------------------------------------------- SQL templates (PostgreSQL: in its server)


def _pg_digest(engine: Any, db_id: str) -> str:
    db = engine.open(db_id)
    try:
        tables = db.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
                            "ORDER BY 1", max_rows=1000).rows
        assert tables, f"{db_id}: the copy has no tables"
        digest = hashlib.sha256()
        for (table,) in tables:
            rows = db.execute(f'SELECT * FROM "{table}" ORDER BY 1', max_rows=10**6).rows
            digest.update(f"{table}:{len(rows)}:{rows!r}".encode())
        return digest.hexdigest()
    finally:
        db.close()


def _pg_worker(cache: str, db_id: str, copies: int) -> list[str]:
    """A fresh server of this process; `copies` threads take episode copies of a cold template."""
    os.environ["AGENTGYM_CACHE"] = cache
    from agentgym.envs.sql.engines.postgres import PostgresEngine

    engine = PostgresEngine(spares=0)
    try:
        with ThreadPoolExecutor(copies) as pool:
            return list(pool.map(lambda _: _pg_digest(engine, db_id), range(copies)))
    finally:
        engine.close()


@pytest.mark.docker
def test_postgres_templates_cold_many_threads_and_processes(cold, tmp_path, procs):
    """PostgreSQL templates live in each process's own server container (nothing on the host's
    disk), built once per server under a lock per template: threads of one process and processes
    with a server each all get the same full database."""
    results = in_processes(procs, tmp_path, _pg_worker, str(cold), "retail_lite", 4)
    assert len({d for r in results for d in r}) == 1
