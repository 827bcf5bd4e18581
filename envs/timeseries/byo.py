"""Bring your own series: turn a long CSV (series_id, timestamp, value) or a folder of such CSVs
plus a task kind into a registered task with the same hidden split, baselines and grading as the
built-in ones, from user code, without editing the package.

    from agentgym.envs.timeseries.byo import register_byo
    register_byo("my-sales", "sales.csv", kind="forecast", horizon=14, period=7)
    register_byo("my-ecg", "ecg/", kind="classify")                  # a `label` per series
    register_byo("my-plant", "sensors.csv", kind="anomaly", period=24)  # a 0/1 `label` per point
    env = agentgym.make("my-sales", runtime="docker")

Kinds: forecast (the last `horizon` points are hidden), impute (a seeded `mask_frac` of the points
is hidden), classify (a seeded stratified `test_frac` of the series loses its label; ids are
renamed so they cannot give the label away), anomaly (every label is hidden; labels come from a
0/1 `label` column or from a `ranges` CSV of series_id,start,end timestamps, both ends included).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from agentgym.envs.timeseries.models import TaskSpec

Kind = Literal["forecast", "impute", "classify", "anomaly"]
_USER_DATA: dict[str, pd.DataFrame] = {}


def load_series(path: str | Path, keep: tuple[str, ...] = ()) -> pd.DataFrame:
    """Read a long CSV, or every *.csv in a folder (series_id defaults to the file stem).
    Columns: series_id, timestamp, value, plus those in `keep` that the files have."""
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
        frames.append(df[["series_id", "timestamp", "value", *(c for c in keep if c in df.columns)]])
    out = pd.concat(frames, ignore_index=True)
    out["series_id"] = out["series_id"].astype(str)
    out = out.sort_values(["series_id", "timestamp"], kind="stable").reset_index(drop=True)
    if out["value"].isna().any():
        raise ValueError(f"{path}: empty values; every value must be a number")
    return out


def _class_labels(data: pd.DataFrame, labels: str | Path | None) -> pd.Series:
    """One label per series: from a `label` column (constant within each series) or a labels CSV."""
    if labels is not None:
        table = pd.read_csv(labels, dtype=str)
        if {"series_id", "label"} - set(table.columns):
            raise ValueError(f"{labels}: needs columns series_id,label")
        per = table.drop_duplicates("series_id", keep="last").set_index("series_id")["label"]
    elif "label" in data.columns:
        n = data.groupby("series_id")["label"].nunique()
        if (n > 1).any():
            raise ValueError(f"series {n[n > 1].index[0]!r} has more than one label; a classify task needs one per series")
        per = data.groupby("series_id")["label"].first().astype(str)
    else:
        raise ValueError("kind='classify' needs a `label` column (one value per series) or labels='labels.csv'")
    unlabelled = sorted(set(data["series_id"]) - set(per.dropna().index))
    if unlabelled:
        raise ValueError(f"series without a label: {unlabelled[:5]}")
    per = per.loc[sorted(set(data["series_id"]))]
    counts = per.value_counts()
    if len(counts) < 2 or counts.min() < 2:
        raise ValueError(f"kind='classify' needs at least 2 classes with at least 2 series each; got {counts.to_dict()}")
    return per


def _point_labels(data: pd.DataFrame, ranges: str | Path | None) -> np.ndarray:
    """0/1 per point: from a `label` column or from a ranges CSV (series_id,start,end; ends included)."""
    if ranges is not None:
        table = pd.read_csv(ranges, dtype={"series_id": str}, parse_dates=["start", "end"])
        if {"series_id", "start", "end"} - set(table.columns):
            raise ValueError(f"{ranges}: needs columns series_id,start,end")
        lab = np.zeros(len(data), dtype=int)
        for r in table.itertuples():
            lab[((data["series_id"] == r.series_id) & (data["timestamp"] >= r.start) & (data["timestamp"] <= r.end)).to_numpy()] = 1
    elif "label" in data.columns:
        raw = pd.to_numeric(data["label"], errors="coerce")
        if not raw.isin([0, 1]).all():
            raise ValueError("the `label` column of an anomaly task must be 0 or 1 at every point")
        lab = raw.to_numpy(dtype=int)
    else:
        raise ValueError("kind='anomaly' needs a 0/1 `label` column or ranges='ranges.csv' (series_id,start,end)")
    if not lab.any():
        raise ValueError("no labelled anomalies: an anomaly task needs at least one")
    return lab


def byo_spec(task_id: str, path: str | Path, kind: Kind = "forecast", *, horizon: int = 12, period: int = 1,
             seed: int = 0, mask_frac: float = 0.1, test_frac: float = 0.3, length: int | None = None,
             labels: str | Path | None = None, ranges: str | Path | None = None) -> TaskSpec:
    """A TaskSpec whose data is the user's series (loaded now, kept in this process).

    classify: `labels` (optional CSV series_id,label), `test_frac` of each class hidden, `length`
    (optional: keep each series' last `length` points; else all series must have one length).
    anomaly: `ranges` (optional CSV series_id,start,end), `period` for the seasonal reference."""
    data = load_series(path, keep=("label",) if kind in ("classify", "anomaly") else ())
    if kind == "classify":
        per = _class_labels(data, labels)
        data = data.drop(columns="label", errors="ignore")
        data["label"] = data["series_id"].map(per)
        sizes = data.groupby("series_id").size()
        if length is None and sizes.nunique() > 1:
            raise ValueError(f"series lengths differ ({sizes.min()}..{sizes.max()}); pass length= to keep each "
                             "series' last `length` points")
        length = int(length or sizes.iloc[0])
        if sizes.min() < length:
            raise ValueError(f"series {sizes.idxmin()!r} has {sizes.min()} points; length={length} needs that many")
    elif kind == "anomaly":
        data = data.assign(label=_point_labels(data, ranges))
    _USER_DATA[task_id] = data
    params = {"user_data": task_id, "horizon": horizon, "period": period, "frac": mask_frac, "test_frac": test_frac,
              "length": length}
    return TaskSpec(id=task_id, family=kind, variant="byo", seed=seed, params=params)


def register_byo(env_id: str, path: str | Path, kind: Kind = "forecast", **kw) -> TaskSpec:
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


def class_frames(spec: TaskSpec) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, test) wide frames (id, label, t000..) from a classify spec: a seeded stratified split,
    series renamed tr0000.., te0000.. in a shuffled order (the user's ids never reach the agent)."""
    data, n = user_panel(spec), int(spec.params["length"])
    rng = np.random.default_rng(spec.seed)
    rows, labels = [], []
    for _, g in data.groupby("series_id", sort=True):
        rows.append(g["value"].to_numpy()[-n:])
        labels.append(g["label"].iloc[0])
    labels = np.asarray(labels, dtype=object)
    is_test = np.zeros(len(labels), dtype=bool)
    for c in sorted(set(labels)):
        idx = rng.permutation(np.flatnonzero(labels == c))
        k = min(len(idx) - 1, max(1, round(spec.params["test_frac"] * len(idx))))
        is_test[idx[:k]] = True
    X = np.vstack(rows)

    def frame(mask: np.ndarray, prefix: str) -> pd.DataFrame:
        order = rng.permutation(np.flatnonzero(mask))
        df = pd.DataFrame(X[order], columns=[f"t{j:03d}" for j in range(n)])
        df.insert(0, "label", labels[order])
        df.insert(0, "id", [f"{prefix}{k:04d}" for k in range(len(order))])
        return df

    return frame(~is_test, "tr"), frame(is_test, "te")
