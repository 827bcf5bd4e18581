"""agentgym.distributed.placements reads a run without writing to it (no Ray needed)."""

from __future__ import annotations

import sqlite3
from types import SimpleNamespace

import pytest

from agentgym.distributed.placement import placements, record_placement
from agentgym.sweep.store import Store


def _tables(db) -> set[str]:
    conn = sqlite3.connect(db)
    try:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        conn.close()


def test_placements_read_only_closed_and_empty_without_the_table(tmp_path, monkeypatch):
    run = tmp_path / "[run] 1"  # a path a URI must escape
    Store(run).close()  # a local sweep's store: no ray_placements table
    db = run / "results.sqlite"
    before = db.read_bytes()
    opened = []
    connect = sqlite3.connect
    monkeypatch.setattr(sqlite3, "connect", lambda *a, **k: opened.append(connect(*a, **k)) or opened[-1])
    assert placements(run) == {}
    monkeypatch.undo()
    assert "ray_placements" not in _tables(db) and db.read_bytes() == before, "a reader created a table in someone's run"
    assert opened and all(_closed(c) for c in opened), "the connection was left open"
    store = Store(run)
    try:
        record_placement(store, SimpleNamespace(config_id="c", task_id="t", sample=1), "node-a", 2)
        store.conn.commit()
    finally:
        store.close()
    assert placements(run) == {("c", "t", 1): {"node_id": "node-a", "attempts": 2}}
    with pytest.raises(FileNotFoundError, match="results.sqlite"):
        placements(tmp_path / "nope")
    assert not (tmp_path / "nope").exists()


def _closed(conn: sqlite3.Connection) -> bool:
    try:
        conn.execute("SELECT 1")
    except sqlite3.ProgrammingError:
        return True
    return False


def test_node_id_outside_ray_starts_no_ray(monkeypatch):
    """Outside a Ray worker the node id is None, asked without starting Ray: get_runtime_context() would start a
    local instance, and the ~/.ray/auth_token it leaves makes every later `ray start` cluster refuse connections."""
    ray = pytest.importorskip("ray")
    from agentgym.distributed import worker

    started = []
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "get_runtime_context", lambda: started.append(1) or SimpleNamespace(get_node_id=lambda: "n"))
    assert worker._node_id() is None
    assert started == []
