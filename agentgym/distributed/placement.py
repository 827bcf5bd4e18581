"""Where each stored episode ran: the `ray_placements` table next to the episodes.

Kept in the sweep's own SQLite file so a result and its placement are read together, but in a
table of its own so the store's episode schema (read by reports, the viewer, RL export) is
unchanged. `attempts` > 1 marks an episode that was retried after its worker or node died.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

SCHEMA = """CREATE TABLE IF NOT EXISTS ray_placements (config_id TEXT NOT NULL, task_id TEXT NOT NULL,
  sample INTEGER NOT NULL, node_id TEXT, attempts INTEGER NOT NULL, PRIMARY KEY (config_id, task_id, sample))"""


def record_placement(store: Any, ep: Any, node_id: str | None, attempts: int) -> None:
    store.conn.execute(SCHEMA)
    store.conn.execute("INSERT OR REPLACE INTO ray_placements VALUES (?, ?, ?, ?, ?)",
                       (ep.config_id, ep.task_id, ep.sample, node_id, attempts))


def placements(root: str | Path) -> dict[tuple[str, str, int], dict[str, Any]]:
    """(config, task, sample) -> {"node_id", "attempts"} for every episode a Ray sweep stored in `root`;
    {} for a run without placements (a local sweep). Read-only and closed after: a reader never
    writes into a run (a sweep may still be writing it) nor holds its file open.

    Raises:
        FileNotFoundError: `root` holds no results.sqlite.
    """
    import sqlite3

    db = Path(root) / "results.sqlite"
    if not db.is_file():
        raise FileNotFoundError(f"{root} holds no results.sqlite; pass a run directory written by `agentgym sweep`")
    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
    try:
        if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'ray_placements'").fetchone() is None:
            return {}
        rows = conn.execute("SELECT config_id, task_id, sample, node_id, attempts FROM ray_placements").fetchall()
    finally:
        conn.close()
    return {(c, t, s): {"node_id": n, "attempts": a} for c, t, s, n, a in rows}


__all__ = ["placements", "record_placement"]
