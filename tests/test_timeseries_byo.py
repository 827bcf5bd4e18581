"""Bring your own series for every kind: a user's CSV (or folder) plus a kind becomes a registered
task with the hidden split, baselines, grading and reference of the built-in ones."""

import uuid

import numpy as np
import pandas as pd
import pytest

import agentgym
from agentgym.envs.timeseries.builders import build
from agentgym.envs.timeseries.byo import byo_spec, register_byo
from agentgym.validate import validate


def _shape(rng, label, n):
    t = np.arange(n)
    base = {"wave": np.sin(2 * np.pi * t / rng.uniform(8, 16)), "ramp": np.linspace(-1, 1, n) * rng.uniform(1, 2),
            "steps": np.sign(np.sin(2 * np.pi * t / rng.uniform(10, 20)))}[label]
    return 10 + 3 * base + rng.normal(0, 0.3, n)


def _class_folder(tmp_path, n_per_class=10, n=64):
    rng = np.random.default_rng(5)
    ts = pd.date_range("2021-01-01", periods=n, freq="h")
    for label in ("wave", "ramp", "steps"):
        for k in range(n_per_class):  # the file name gives the label away; the task must hide it
            pd.DataFrame({"timestamp": ts, "value": _shape(rng, label, n), "label": label}).to_csv(
                tmp_path / f"{label}_{k:02d}.csv", index=False)
    return tmp_path


def _anomaly_frame(n_series=3, n=240):
    rng = np.random.default_rng(9)
    frames = []
    for s in range(n_series):
        t = np.arange(n)
        y = 50 + 5 * np.sin(2 * np.pi * t / 24) + rng.normal(0, 0.5, n)
        lab = np.zeros(n, dtype=int)
        for start in rng.choice(np.arange(30, n - 30, 40), size=3, replace=False):
            if rng.random() < 0.5:
                y[start] += rng.choice([-1, 1]) * 12
                lab[start] = 1
            else:
                y[start:start + 8] = y[start]
                lab[start:start + 8] = 1
        frames.append(pd.DataFrame({"series_id": f"m{s}", "timestamp": pd.date_range("2022-03-01", periods=n, freq="h"),
                                    "value": np.round(y, 4), "label": lab}))
    return pd.concat(frames, ignore_index=True)


def _ok(report):
    failing = [r for r in report.rows if not r.gold_pass or r.null_pass or r.error]
    assert (report.tasks, report.gold_pass_rate, report.null_pass_rate, report.errors) == (1, 1.0, 0.0, 0), failing


def test_bring_your_own_classification_folder(tmp_path):
    folder = _class_folder(tmp_path)
    env_id = f"byo-cls-{uuid.uuid4().hex[:6]}"
    spec = register_byo(env_id, folder, kind="classify", test_frac=0.3)
    inst = build(spec)
    test = pd.read_csv(pd.io.common.StringIO(inst.public_files["test.csv"]))
    train = pd.read_csv(pd.io.common.StringIO(inst.public_files["train.csv"]))
    assert (len(train), len(test)) == (21, 9) and "label" not in test.columns
    assert set(inst.answers["label"].value_counts()) == {3}  # stratified: 3 of each class hidden
    public = "".join(inst.public_files.values())
    assert not any(f"{c}_0" in public for c in ("wave", "ramp", "steps"))  # user ids renamed
    assert inst.context["trivial"] and "hist_gradient_boosting" in inst.baselines
    assert build(byo_spec("again", folder, kind="classify", test_frac=0.3)).answers.equals(inst.answers)
    _ok(validate(env_id, runtime="local"))


def test_bring_your_own_classification_long_csv_with_a_labels_file(tmp_path):
    rng = np.random.default_rng(1)
    rows, labels = [], []
    for k in range(40):
        label = ("wave", "ramp")[k % 2]
        rows.append(pd.DataFrame({"series_id": f"u{k}", "timestamp": pd.date_range("2020-01-01", periods=50 + k % 12),
                                  "value": _shape(rng, label, 50 + k % 12)}))
        labels.append({"series_id": f"u{k}", "label": label})
    pd.concat(rows).to_csv(tmp_path / "long.csv", index=False)
    pd.DataFrame(labels).to_csv(tmp_path / "labels.csv", index=False)
    with pytest.raises(ValueError, match=r"series lengths differ \(50..61\); pass length="):
        byo_spec("x", tmp_path / "long.csv", kind="classify", labels=tmp_path / "labels.csv")
    inst = build(byo_spec("x", tmp_path / "long.csv", kind="classify", labels=tmp_path / "labels.csv", length=48))
    assert "t047" in inst.public_files["train.csv"].splitlines()[0] and len(inst.answers) == 12


@pytest.mark.parametrize("frame, kw, message", [
    (pd.DataFrame({"series_id": ["a", "a", "b", "b"], "timestamp": [1, 2, 1, 2], "value": 1.0, "label": ["x", "y", "x", "x"]}),
     {}, "series 'a' has more than one label; a classify task needs one per series"),
    (pd.DataFrame({"series_id": ["a", "b", "c"], "timestamp": 1, "value": 1.0, "label": ["x", "x", "y"]}),
     {}, "kind='classify' needs at least 2 classes with at least 2 series each; got {'x': 2, 'y': 1}"),
    (pd.DataFrame({"series_id": ["a", "b"], "timestamp": 1, "value": 1.0}),
     {}, "kind='classify' needs a `label` column (one value per series) or labels='labels.csv'"),
])
def test_bring_your_own_classification_errors(tmp_path, frame, kw, message):
    frame.to_csv(tmp_path / "d.csv", index=False)
    with pytest.raises(ValueError) as err:
        byo_spec("bad", tmp_path / "d.csv", kind="classify", **kw)
    assert str(err.value) == message


def test_bring_your_own_anomalies_with_point_labels(tmp_path):
    data = _anomaly_frame()
    data.to_csv(tmp_path / "plant.csv", index=False)
    env_id = f"byo-ano-{uuid.uuid4().hex[:6]}"
    spec = register_byo(env_id, tmp_path / "plant.csv", kind="anomaly", period=24)
    inst = build(spec)
    assert "label" not in inst.public_files["series.csv"].splitlines()[0]
    assert inst.answers["label"].tolist() == data["label"].tolist() and inst.metric == "f1_auc_pr"
    assert {"none", "all", "random_best"} <= set(inst.context["trivial"])
    _ok(validate(env_id, runtime="local"))
    with agentgym.make(env_id, runtime="local") as env:
        obs, _ = env.reset()
        assert "3 series" in obs["text"] and env.instance.spec.family == "anomaly"


def test_bring_your_own_anomalies_with_a_ranges_file(tmp_path):
    data = _anomaly_frame()
    ranges = []
    for sid, g in data.groupby("series_id"):
        lab = g["label"].to_numpy()
        starts = np.flatnonzero(np.diff(np.r_[0, lab]) == 1)
        ends = np.flatnonzero(np.diff(np.r_[lab, 0]) == -1)
        ranges += [{"series_id": sid, "start": g["timestamp"].iloc[a], "end": g["timestamp"].iloc[b]} for a, b in zip(starts, ends)]
    for sid, g in data.drop(columns="label").groupby("series_id"):  # a folder, one file per series, no labels
        g.drop(columns="series_id").to_csv(tmp_path / f"{sid}.csv", index=False)
    pd.DataFrame(ranges).to_csv(tmp_path / "ranges.txt", index=False)
    inst = build(byo_spec("ranges", tmp_path, kind="anomaly", period=24, ranges=tmp_path / "ranges.txt"))
    assert inst.answers["label"].tolist() == data["label"].tolist()
    with pytest.raises(ValueError, match="^the `label` column of an anomaly task must be 0 or 1 at every point$"):
        data.assign(label=2).to_csv(tmp_path / "bad.csv", index=False)
        byo_spec("bad", tmp_path / "bad.csv", kind="anomaly")
    with pytest.raises(ValueError, match="^no labelled anomalies: an anomaly task needs at least one$"):
        data.assign(label=0).to_csv(tmp_path / "bad.csv", index=False)
        byo_spec("bad", tmp_path / "bad.csv", kind="anomaly")


@pytest.mark.docker
def test_bring_your_own_classification_on_docker(tmp_path):
    env_id = f"byo-cls-{uuid.uuid4().hex[:6]}"
    register_byo(env_id, _class_folder(tmp_path, n=48), kind="classify")
    _ok(validate(env_id, runtime="docker"))
