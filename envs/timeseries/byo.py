"""Bring your own series: turn a long CSV (series_id, timestamp, value) or a folder of such CSVs
plus a task kind into a registered task with the same hidden split, baselines and grading as the
built-in ones, from user code, without editing the package.

    from agentgym.envs.timeseries.byo import register_byo
    register_byo("my-sales", "sales.csv", kind="forecast", horizon=14, period=7)
    env = agentgym.make("my-sales", runtime="docker")
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pandas as pd

from agentgym.envs.timeseries.models import TaskSpec

_USER_DATA: dict[str, pd.DataFrame] = {}


def load_series(path: str | Path) -> pd.DataFrame:
    """Read a long CSV, or every *.csv in a folder (series_id defaults to the file stem)."""
    p = Path(path)
    files = sorted(p.glob("*.csv")) if p.is_dir() else [p]
    if not files:
        raise ValueError(f"{path}: no CSV files found")
    frames = []
    for f in files:
        df = pd.read_csv(f)
        if "series_id" not in df.columns:
            df["series_id"] = f.stem
        missing = {"timestamp", "value"} - set(df.columns)
        if missing:
            raise ValueError(f"{f}: missing columns {sorted(missing)}; need series_id (or one file per series), timestamp, value")
        df["timestamp"] = pd.to_datetime(df["timestamp"])
        df["value"] = pd.to_numeric(df["value"], errors="raise").astype(float)
        frames.append(df[["series_id", "timestamp", "value"]])
    out = pd.concat(frames, ignore_index=True).sort_values(["series_id", "timestamp"], kind="stable")
    out["series_id"] = out["series_id"].astype(str)
    return out.reset_index(drop=True)


def byo_spec(task_id: str, path: str | Path, kind: Literal["forecast", "impute"] = "forecast", *,
             horizon: int = 12, period: int = 1, seed: int = 0, mask_frac: float = 0.1) -> TaskSpec:
    """A TaskSpec whose data is the user's series (loaded now, kept in this process)."""
    _USER_DATA[task_id] = load_series(path)
    params = {"user_data": task_id, "horizon": horizon, "period": period, "frac": mask_frac}
    return TaskSpec(id=task_id, family=kind, variant="byo", seed=seed, params=params)


def register_byo(env_id: str, path: str | Path, kind: Literal["forecast", "impute"] = "forecast", **kw) -> TaskSpec:
    """Register `env_id` as a TimeSeriesEnv holding just this task (runtimes local and docker)."""
    from agentgym.registry import register

    spec = byo_spec(env_id, path, kind, **kw)
    register(env_id, "agentgym.envs.timeseries.env:TimeSeriesEnv", description=f"user time-series task ({kind})",
             kwargs={"tasks": [spec.id], "extra_specs": [spec.model_dump()]}, runtimes=["local", "docker"],
             tags=["timeseries", "byo"])
    return spec


def user_panel(spec: TaskSpec) -> pd.DataFrame:
    """The user's series for a byo spec (builders call this instead of a generator)."""
    try:
        return _USER_DATA[spec.params["user_data"]].copy()
    except KeyError:
        raise ValueError(f"task {spec.id}: its data was registered in another process; call byo_spec() here") from None
