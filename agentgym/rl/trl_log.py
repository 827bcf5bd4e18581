"""Training metrics into the run store: one row per optimizer step.

Why here: a training run is a run like a sweep's, so its curves live in the same store
(``RUN/results.sqlite``, table ``train_steps``, plus ``RUN/train_log.jsonl`` for plain readers) and
next to the evaluation episodes a run records. Each row holds what the issue asks a user to see
per step: reward, pass rate, mean turns and tokens, with TRL's own loss and timing.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel

TABLE = """
CREATE TABLE IF NOT EXISTS train_steps (
  algorithm TEXT NOT NULL, step INTEGER NOT NULL, reward REAL, pass_rate REAL, mean_turns REAL,
  tokens REAL, loss REAL, episodes INTEGER, infra_errors INTEGER, seconds REAL, extra TEXT,
  PRIMARY KEY (algorithm, step)
);
"""


class StepRow(BaseModel):
    algorithm: str
    step: int
    reward: float | None = None
    pass_rate: float | None = None
    mean_turns: float | None = None
    tokens: float | None = None
    loss: float | None = None
    episodes: int = 0
    infra_errors: int = 0
    seconds: float = 0.0
    extra: dict[str, Any] = {}


class TrainLog:
    """Appends StepRows to RUN/results.sqlite (table train_steps) and RUN/train_log.jsonl."""

    DB, JSONL = "results.sqlite", "train_log.jsonl"

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(self.root / self.DB, isolation_level=None, timeout=30)
        self.conn.executescript(TABLE)
        self.t0 = time.perf_counter()

    def add(self, row: StepRow) -> None:
        row = row.model_copy(update={"seconds": row.seconds or time.perf_counter() - self.t0})
        self.conn.execute(
            "INSERT OR REPLACE INTO train_steps VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (row.algorithm, row.step, row.reward, row.pass_rate, row.mean_turns, row.tokens, row.loss, row.episodes,
             row.infra_errors, row.seconds, json.dumps(row.extra)),
        )
        with open(self.root / self.JSONL, "a") as fh:
            fh.write(row.model_dump_json() + "\n")

    def rows(self, algorithm: str | None = None) -> list[StepRow]:
        q = "SELECT * FROM train_steps" + (" WHERE algorithm = ?" if algorithm else "") + " ORDER BY algorithm, step"
        cols = [c[1] for c in self.conn.execute("PRAGMA table_info(train_steps)")]
        out = []
        for values in self.conn.execute(q, (algorithm,) if algorithm else ()):
            d = dict(zip(cols, values))
            d["extra"] = json.loads(d["extra"] or "{}")
            out.append(StepRow(**d))
        return out

    def close(self) -> None:
        self.conn.close()


def read_train_steps(root: str | Path) -> list[StepRow]:
    """The training curve of a run directory (empty when it holds none). Opened read-only: reading
    a sweep's directory creates no table in it."""
    db = Path(root) / TrainLog.DB
    if not db.is_file():
        return []
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='train_steps'").fetchone():
            return []
        cols = [c[1] for c in conn.execute("PRAGMA table_info(train_steps)")]
        out = []
        for values in conn.execute("SELECT * FROM train_steps ORDER BY algorithm, step"):
            d = dict(zip(cols, values))
            d["extra"] = json.loads(d["extra"] or "{}")
            out.append(StepRow(**d))
        return out
    finally:
        conn.close()


__all__ = ["StepRow", "TrainLog", "read_train_steps"]
