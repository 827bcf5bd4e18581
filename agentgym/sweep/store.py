"""The sweep store: runs/<name>/results.sqlite (source of truth) + trajectories.jsonl.

Every episode is one row keyed by (config_id, task_id, sample), written once in a transaction
(INSERT OR IGNORE), with its trajectory JSON in the row. trajectories.jsonl is appended after
the commit; on open it is rebuilt from the DB, so a kill between the commit and the append
(or during the append) leaves no duplicate, missing or torn line after a resume.

An episode that ended in an infrastructure error is stored like any other (infra_error=1), so a
resume skips it; `agentgym sweep --retry-errors` re-runs such keys and `replace_error` swaps the
row in one transaction, only while the stored row is still an error (a key is never stored twice,
and a scored episode is never replaced). The JSONL is rebuilt when the store closes after that.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticSerializationError

from agentgym.rollout import Trajectory

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS configs (config_id TEXT PRIMARY KEY, env TEXT, agent TEXT, model TEXT, budget TEXT,
                                    max_turns INTEGER, spec TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS episodes (
  config_id TEXT NOT NULL, task_id TEXT NOT NULL, sample INTEGER NOT NULL,
  seed INTEGER, passed INTEGER NOT NULL, reward REAL, turns INTEGER, cost REAL, seconds REAL,
  infra_error INTEGER NOT NULL, error TEXT, trajectory TEXT NOT NULL, created REAL DEFAULT (julianday('now')),
  PRIMARY KEY (config_id, task_id, sample)
);
"""


class EpisodeRecord(BaseModel):
    config_id: str
    task_id: str
    sample: int
    seed: int | None
    passed: bool
    reward: float
    turns: int
    cost: float
    seconds: float
    infra_error: bool
    error: str | None = None


#: keys whose values never reach the store (a run directory is shared, reported and exported)
_SECRET_KEY = re.compile(r"(api[_-]?key|access[_-]?key|private[_-]?key|token|secret|passw(or)?d|authorization|"
                         r"credentials?|cookie)$", re.IGNORECASE)


#: credentials inside a URL: user:password@ and key/token query parameters (a base_url may carry them)
_URL_USERINFO = re.compile(r"(?<=://)[^/@\s]+@")
_URL_KEY_PARAM = re.compile(r"(?<=[?&])((?:api[_-]?)?key|(?:access[_-]?)?token|sig|signature)=[^&#\s]+", re.IGNORECASE)


def redact(value: Any) -> Any:
    """The value with every secret-looking key's value replaced (an api_key: under models:), and
    credentials written into URLs (https://user:pass@host, ?key=...) cut out of strings."""
    if isinstance(value, dict):
        return {k: ("<redacted>" if isinstance(k, str) and _SECRET_KEY.search(k) and v else redact(v))
                for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    if isinstance(value, str) and "://" in value:
        return _URL_KEY_PARAM.sub(lambda m: m.group(1) + "=<redacted>", _URL_USERINFO.sub("<redacted>@", value))
    return value


def trajectory_json(traj: Trajectory) -> str:
    """The trajectory as stored: JSON text. A lone UTF-16 surrogate in any of its strings (a model
    server's \\udXXX escape in the model's text or tool call, kept as the model wrote it) cannot be
    encoded as UTF-8, and model_dump_json raised: the episode could not be stored and the sweep
    stopped. Such characters are stored as '?'."""
    try:
        return traj.model_dump_json()
    except PydanticSerializationError:
        return json.dumps(traj.model_dump(mode="json"), ensure_ascii=False).encode("utf-8", "replace").decode("utf-8")


class Store:
    DB, JSONL = "results.sqlite", "trajectories.jsonl"

    def __init__(self, root: str | Path, *, rebuild: bool = True):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.db_path = self.root / self.DB
        self.jsonl_path = self.root / self.JSONL
        self.conn = sqlite3.connect(self.db_path, isolation_level=None, timeout=30)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.executescript(SCHEMA)
        self._replaced = 0
        if rebuild:  # the writer repairs a JSONL an interrupted run left behind
            self.rebuild_jsonl()

    @classmethod
    def open_existing(cls, root: str | Path) -> Store:
        """A reader's handle (tables, export): it never rewrites trajectories.jsonl, which a sweep
        still running in another process may be appending to."""
        if not (Path(root) / cls.DB).is_file():
            raise FileNotFoundError(f"{root} holds no {cls.DB}; pass a run directory written by `agentgym sweep` (e.g. runs/demo)")
        return cls(root, rebuild=False)

    def close(self) -> None:
        if self._replaced:
            self.rebuild_jsonl()
            self._replaced = 0
        self.conn.close()

    # -- metadata ---------------------------------------------------------------------------
    def set_meta(self, key: str, value: Any) -> None:
        self.conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(redact(value))))

    def meta(self, key: str, default: Any = None) -> Any:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    def add_config(self, rc: Any) -> None:
        mt = rc.budget.max_turns if rc.budget is not None else None
        self.conn.execute("INSERT OR REPLACE INTO configs VALUES (?, ?, ?, ?, ?, ?, ?)",
                          (rc.config_id, rc.env, rc.agent_label, rc.model_label, rc.budget_label, mt,
                           json.dumps(redact(json.loads(rc.model_dump_json())))))

    def configs(self) -> list[dict[str, Any]]:
        cur = self.conn.execute("SELECT config_id, env, agent, model, budget, max_turns FROM configs ORDER BY rowid")
        return [dict(zip(("config_id", "env", "agent", "model", "budget", "max_turns"), r)) for r in cur]

    # -- episodes ---------------------------------------------------------------------------
    def done_keys(self) -> set[tuple[str, str, int]]:
        return {(c, t, s) for c, t, s in self.conn.execute("SELECT config_id, task_id, sample FROM episodes")}

    def error_keys(self) -> set[tuple[str, str, int]]:
        """Keys whose stored episode ended in an infrastructure error (neither pass nor fail)."""
        cur = self.conn.execute("SELECT config_id, task_id, sample FROM episodes WHERE infra_error = 1")
        return {(c, t, s) for c, t, s in cur}

    def record(self, rec: EpisodeRecord, traj: Trajectory, *, replace_error: bool = False) -> bool:
        """Write one episode exactly once; returns False when the key was already stored. With
        `replace_error`, a stored row of the same key that is an infrastructure error is replaced
        (in the same transaction); a stored scored row never is."""
        if traj.error or rec.error:  # a model server's error names its URL, credentials and all
            traj = traj.model_copy(update={"error": redact(traj.error)})
            rec = rec.model_copy(update={"error": redact(rec.error)})
        tj = trajectory_json(traj)
        with self._tx():
            replaced = replace_error and self.conn.execute(
                "DELETE FROM episodes WHERE config_id = ? AND task_id = ? AND sample = ? AND infra_error = 1",
                (rec.config_id, rec.task_id, rec.sample)).rowcount == 1
            cur = self.conn.execute(
                "INSERT OR IGNORE INTO episodes (config_id, task_id, sample, seed, passed, reward, turns, cost, seconds,"
                " infra_error, error, trajectory) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (rec.config_id, rec.task_id, rec.sample, rec.seed, int(rec.passed), rec.reward, rec.turns, rec.cost,
                 rec.seconds, int(rec.infra_error), rec.error, tj))
            inserted = cur.rowcount == 1
        if replaced:  # its old line is in the JSONL: rebuilt on close (or on the next open, after a kill)
            self._replaced += 1
        elif inserted:
            line = json.dumps({"config_id": rec.config_id, "task_id": rec.task_id, "sample": rec.sample,
                               "trajectory": json.loads(tj)})
            with open(self.jsonl_path, "a", encoding="utf-8") as f:
                f.write(line + "\n")
        return inserted

    @contextlib.contextmanager
    def _tx(self) -> Iterator[None]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def episodes(self, with_trajectory: bool = False) -> Iterator[dict[str, Any]]:
        cols = ["config_id", "task_id", "sample", "seed", "passed", "reward", "turns", "cost", "seconds", "infra_error", "error"]
        sel = cols + (["trajectory"] if with_trajectory else [])
        for row in self.conn.execute(f"SELECT {', '.join(sel)} FROM episodes ORDER BY config_id, task_id, sample"):
            d = dict(zip(sel, row))
            d["passed"], d["infra_error"] = bool(d["passed"]), bool(d["infra_error"])
            if with_trajectory:
                d["trajectory"] = json.loads(d["trajectory"])
            yield d

    def count(self) -> int:
        return self.conn.execute("SELECT COUNT(*) FROM episodes").fetchone()[0]

    def rebuild_jsonl(self) -> None:
        """Rewrite trajectories.jsonl from the DB (atomically), one line per stored episode."""
        tmp = self.jsonl_path.with_suffix(".jsonl.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            f.writelines(json.dumps({"config_id": row[0], "task_id": row[1], "sample": row[2], "trajectory": json.loads(row[3])}) + "\n" for row in self.conn.execute("SELECT config_id, task_id, sample, trajectory FROM episodes ORDER BY rowid"))
        os.replace(tmp, self.jsonl_path)


__all__ = ["EpisodeRecord", "Store"]
