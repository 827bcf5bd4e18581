"""The committed task suites (data/tasks/<suite>.jsonl) and their loader.

Tasks are host-side data: gold SQL, alternative readings and expected rows live here and never
in an agent's database or observation. Regenerate with `python -m agentgym.envs.sql.generate`.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from agentgym.envs.sql.catalog import DATA_DIR
from agentgym.envs.sql.models import SqlTask

SUITES = ("lite", "full")


@lru_cache(maxsize=8)
def load_suite(suite: str, data_dir: Path | None = None) -> tuple[SqlTask, ...]:
    if suite not in SUITES:
        raise ValueError(f"unknown suite {suite!r}; choose one of {', '.join(SUITES)} (or load BIRD data with bird.py)")
    path = (data_dir or DATA_DIR) / "tasks" / f"{suite}.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; regenerate with: python -m agentgym.envs.sql.generate")
    lines = path.read_text(encoding="utf-8").splitlines()
    return tuple(SqlTask.model_validate_json(line) for line in lines if line.strip())
