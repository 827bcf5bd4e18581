"""Read a run store (RUN_DIR/results.sqlite) for the viewer and the static report: read-only,
one short-lived connection per call (the viewer's threads, and a sweep that may still be
writing), tolerant of columns added later and of tables a run does not have (a training run
holds train_steps only, a sweep no train_steps). Outcomes: ``error`` (infrastructure: not scored),
``failed``, ``passed``; listings put errors first, then failures.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from agentgym.actions import loads_or

OUTCOMES = ("error", "failed", "passed")
OUTCOME_RANK = {o: i for i, o in enumerate(OUTCOMES)}
_LIST_COLS = ("config_id", "task_id", "sample", "seed", "passed", "reward", "turns", "cost", "seconds", "infra_error", "error")


def outcome(ep: dict[str, Any]) -> str:
    return "error" if ep.get("infra_error") else "passed" if ep.get("passed") else "failed"


def config_label(c: dict[str, Any] | None) -> str:
    """env · agent · model · budget, leaving out what is unset."""
    c = c or {}
    return " · ".join(str(c[k]) for k in ("env", "agent", "model", "budget") if c.get(k) not in (None, "", "-"))


class RunData:
    DB = "results.sqlite"

    def __init__(self, run_dir: str | Path):
        self.root = Path(run_dir)
        self.db = self.root / self.DB
        if not self.db.is_file():
            raise FileNotFoundError(f"{run_dir} holds no {self.DB}; pass a run directory written by `agentgym sweep` or `agentgym train` (e.g. runs/demo)")
        self._known: set[str] = set()  # tables seen so far (see _has)

    @contextlib.contextmanager
    def _conn(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(f"{self.db.resolve().as_uri()}?mode=ro", uri=True, timeout=30, check_same_thread=False)
        try:
            yield conn
        finally:
            conn.close()

    def tables(self) -> set[str]:
        """The store's tables: a training run holds train_steps only, a sweep no train_steps."""
        with self._conn() as c:
            return {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}

    def _has(self, table: str) -> bool:
        """Whether `table` exists; a table once seen stays (a store never drops one), so the
        per-episode reads of a report ask the schema once, not once per episode."""
        if table not in self._known:
            self._known = self.tables()
        return table in self._known

    def meta(self, key: str, default: Any = None) -> Any:
        if not self._has("meta"):
            return default
        with self._conn() as c:
            row = c.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    def train_steps(self) -> list[Any]:
        """The training curve (trl_log.StepRow per algorithm and step, in order); [] for a sweep."""
        from agentgym.rl.trl_log import steps_from  # stdlib and pydantic only: no torch, no trl

        if not self._has("train_steps"):
            return []
        with self._conn() as c:
            return steps_from(c)

    def train_step_count(self) -> int:
        """How many training steps the run logged (0 for a sweep), counted by SQLite: nothing parsed."""
        if not self._has("train_steps"):
            return 0
        with self._conn() as c:
            return c.execute("SELECT COUNT(*) FROM train_steps").fetchone()[0]

    def configs(self) -> list[dict[str, Any]]:
        if not self._has("configs"):
            return []
        with self._conn() as c:
            cur = c.execute("SELECT config_id, env, agent, model, budget, max_turns FROM configs ORDER BY rowid")
            return [dict(zip(("config_id", "env", "agent", "model", "budget", "max_turns"), r)) for r in cur]

    def specs(self) -> dict[str, dict[str, Any]]:
        """Each config's full spec as the sweep stored it (env kwargs included); {} where unreadable."""
        if not self._has("configs"):
            return {}
        with self._conn() as c:
            return {cid: spec if isinstance(spec := loads_or(raw, {}), dict) else {}
                    for cid, raw in c.execute("SELECT config_id, spec FROM configs")}

    def keys(self) -> list[tuple[str, str, int]]:
        """Every episode's (config_id, task_id, sample), in the order stored: for ``trajectories``."""
        if not self._has("episodes"):
            return []
        with self._conn() as c:
            return [tuple(r) for r in c.execute("SELECT config_id, task_id, sample FROM episodes ORDER BY rowid")]

    def episodes(self) -> list[dict[str, Any]]:
        """Every episode's row (no trajectory), with its env and outcome, errors first."""
        cfgs = {c["config_id"]: c for c in self.configs()}
        if not self._has("episodes"):
            return []
        with self._conn() as c:
            cur = c.execute(f"SELECT {', '.join(_LIST_COLS)} FROM episodes")
            rows = [dict(zip(_LIST_COLS, r)) for r in cur]
        for r in rows:
            r["passed"], r["infra_error"] = bool(r["passed"]), bool(r["infra_error"])
            r["env"] = cfgs.get(r["config_id"], {}).get("env", "?")
            r["label"] = config_label(cfgs.get(r["config_id"])) or r["config_id"]
            r["outcome"] = outcome(r)
        rows.sort(key=lambda r: (OUTCOME_RANK[r["outcome"]], r["label"], str(r["task_id"]), r["sample"]))
        return rows

    def episode(self, config_id: str, task_id: str, sample: int) -> dict[str, Any] | None:
        """One episode's row with its parsed trajectory, or None."""
        return self.episodes_by_key([(config_id, task_id, sample)])[0]

    def episodes_by_key(self, keys: list[tuple[str, str, int]]) -> list[dict[str, Any] | None]:
        """The episodes of `keys` (config_id, task_id, sample), each with its parsed trajectory or
        None, in the order of `keys`, through one connection (a report page: its episodes only)."""
        if not self._has("episodes"):
            return [None] * len(keys)
        cols = (*_LIST_COLS, "trajectory")
        sql = f"SELECT {', '.join(cols)} FROM episodes WHERE config_id = ? AND task_id = ? AND sample = ?"
        with self._conn() as c:
            rows = [c.execute(sql, k).fetchone() for k in keys]
        return [None if row is None else _with_trajectory(dict(zip(cols, row))) for row in rows]

    def trajectories(self, keys: list[tuple[str, str, int]], page: int = 200) -> Iterator[dict[str, Any]]:
        """The episodes of `keys` with their trajectories, read `page` at a time (one connection
        each): only one page is parsed and held at once."""
        for i in range(0, len(keys), max(1, page)):
            yield from (ep for ep in self.episodes_by_key(keys[i:i + max(1, page)]) if ep is not None)


def _with_trajectory(ep: dict[str, Any]) -> dict[str, Any]:
    ep["passed"], ep["infra_error"] = bool(ep["passed"]), bool(ep["infra_error"])
    ep["trajectory"] = loads_or(ep["trajectory"], {"error": "(stored trajectory is not valid JSON, or nested too deeply)"})
    ep["outcome"] = outcome(ep)
    return ep


def filter_episodes(rows: list[dict[str, Any]], env: str = "", config: str = "", task: str = "", outcome_: str = "") -> list[dict[str, Any]]:
    """Rows matching every given filter (an empty one matches all; task matches a substring)."""
    return [r for r in rows if (not env or r["env"] == env) and (not config or r["config_id"] == config)
            and (not task or task in str(r["task_id"])) and (not outcome_ or r["outcome"] == outcome_)]


__all__ = ["OUTCOME_RANK", "OUTCOMES", "RunData", "config_label", "filter_episodes", "outcome"]
