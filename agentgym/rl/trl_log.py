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

from agentgym.actions import loads_or

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
        return steps_from(self.conn, algorithm)

    def close(self) -> None:
        self.conn.close()


def steps_from(conn: sqlite3.Connection, algorithm: str | None = None) -> list[StepRow]:
    """The rows of train_steps through an open connection, by algorithm and step: the one reader
    (the trainers' own log, ``read_train_steps``, the viewer and the report). Columns added later
    are ignored, a NULL reads as the field's default, an ``extra`` that is no JSON object as {}."""
    q = "SELECT * FROM train_steps" + (" WHERE algorithm = ?" if algorithm else "") + " ORDER BY algorithm, step"
    cur = conn.execute(q, (algorithm,) if algorithm else ())
    cols = [d[0] for d in cur.description]
    out = []
    for values in cur:
        d = {k: v for k, v in zip(cols, values) if v is not None}
        extra = loads_or(d.pop("extra", None) or "{}", {})
        out.append(StepRow(**d, extra=extra if isinstance(extra, dict) else {}))
    return out


def read_train_steps(root: str | Path) -> list[StepRow]:
    """The training curve of a run directory (empty when it holds none), read as the viewer reads
    it: read-only (reading a sweep's directory creates no table in it), any path."""
    from agentgym.view.data import RunData

    return RunData(root).train_steps() if (Path(root) / TrainLog.DB).is_file() else []


__all__ = ["StepRow", "TrainLog", "read_train_steps", "steps_from"]
