"""Turn a TaskSpec into a TaskInstance: public files, hidden answers, the trivial floor, the
baselines the generator runs itself, the reference score and the pass threshold."""

from __future__ import annotations

import inspect
import json
import threading
import warnings

import numpy as np
import pandas as pd

from agentgym.envs.timeseries import generators as G
from agentgym.envs.timeseries import metrics as M
from agentgym.envs.timeseries import solutions as S
from agentgym.envs.timeseries.grading import score_frame
from agentgym.envs.timeseries.models import SubmissionSpec, TaskInstance, TaskSpec

SOLUTION_SOURCE = inspect.getsource(S)
QUANTILES = [0.1, 0.5, 0.9]


class UnlearnableDraw(RuntimeError):
    """The drawn data make a task whose reference does not beat its trivial floor."""


def _csv(df: pd.DataFrame) -> str:
    return df.to_csv(index=False)


def pass_reward_from(floor: float, reference: float, baselines: dict[str, float], lower: bool) -> float:
    """Pass = beat the best baseline the generator ran (when the reference does), else half-way."""
    from agentgym.envs.timeseries.grading import reward_of

    best = min(baselines.values()) if lower else max(baselines.values()) if baselines else None
    r = reward_of(best, floor, reference, lower) if best is not None else 0.5
    return float(min(0.9, max(0.3, r if r < 0.99 else 0.5)))


def _finish(spec: TaskSpec, inst: dict, trivial: dict[str, pd.DataFrame], baselines: dict[str, pd.DataFrame],
            reference: pd.DataFrame, noise: list[pd.DataFrame] | None = None, noise_sd: float = 6.0) -> TaskInstance:
    """Score trivial predictors, baselines and the reference on the hidden answers; set thresholds.

    `noise`: random submissions; the floor is also at least the best of them and, where the
    reference clears it, their mean plus `noise_sd` standard deviations, so another random draw
    earns 0 too (all but very rarely; on tiny test sets only the best of the draws is ensured)."""
    draft = TaskInstance(spec=spec, floor=0.0, baselines={}, reference=0.0, pass_reward=1.0, **inst)
    sc = lambda f: score_frame(draft, f.set_index("id"))[0]  # noqa: E731
    lower = draft.lower_is_better
    better = (lambda a, b: a < b) if lower else (lambda a, b: a > b)  # noqa: E731
    triv = {k: sc(v) for k, v in trivial.items()}
    ref = sc(reference)
    if noise:
        rand = np.array([sc(f) for f in noise])
        triv["random_best"] = float(rand.min() if lower else rand.max())
        margin = float(rand.mean() + (-noise_sd if lower else noise_sd) * rand.std())
        if better(ref, margin):
            triv[f"random_mean_{noise_sd:g}sd"] = margin
    best = (min if lower else max)(triv, key=triv.get)
    floor = triv[best]
    base = {k: round(sc(v), 6) for k, v in baselines.items()}
    if not better(ref, floor):
        raise UnlearnableDraw(f"task {spec.id}: the reference ({ref:.4f}) does not beat the trivial floor ({floor:.4f}, "
                           f"set by {best})")
    pr = spec.pass_reward or pass_reward_from(floor, ref, base, lower)
    draft.context["trivial"] = {k: round(v, 6) for k, v in triv.items()}
    return draft.model_copy(update={"floor": floor, "baselines": base, "reference": ref,
                                    "pass_reward": round(pr, 4)})


def _reference_actions(files: dict[str, str]) -> dict[str, str]:
    return {"reference_solution.py": SOLUTION_SOURCE, **files}


def _byo_panel(spec: TaskSpec) -> tuple[pd.DataFrame, int]:
    from agentgym.envs.timeseries.byo import user_panel

    return user_panel(spec), int(spec.params["period"])


# ---- forecasting ---------------------------------------------------------------------------------

def _split(panel: pd.DataFrame, horizon: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    step = panel.groupby("series_id").cumcount(ascending=False)  # 0 = last point
    train, future = panel[step >= horizon].copy(), panel[step < horizon].copy()
    future["step"] = future.groupby("series_id").cumcount() + 1
    future.insert(0, "id", future["series_id"] + "_h" + future["step"].astype(str).str.zfill(3))
    return train, future


def _ets(train: pd.DataFrame, future: pd.DataFrame, period: int) -> pd.DataFrame:
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    rows = []
    for sid, fut in future.groupby("series_id", sort=False):
        y = train.loc[train["series_id"] == sid, "value"].to_numpy()
        seasonal = "add" if period > 1 and len(y) >= 2 * period + 2 else None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = ExponentialSmoothing(y, trend="add", damped_trend=True, seasonal=seasonal,
                                       seasonal_periods=period if seasonal else None).fit()
            rows.append(pd.DataFrame({"id": fut["id"], "yhat": fit.forecast(len(fut))}))
    return pd.concat(rows, ignore_index=True)


def _trivial_forecasts(train: pd.DataFrame, future: pd.DataFrame, period: int) -> dict[str, pd.DataFrame]:
    out: dict[str, list] = {"naive_last": [], "seasonal_naive": [], "train_mean": [], "copy_last_window": []}
    for sid, fut in future.groupby("series_id", sort=False):
        y = train.loc[train["series_id"] == sid, "value"].to_numpy()
        h = len(fut)
        m = max(1, period)
        out["naive_last"].append(np.full(h, y[-1]))
        out["seasonal_naive"].append(np.resize(y[-m:], h) if len(y) >= m else np.full(h, y[-1]))
        out["train_mean"].append(np.full(h, y.mean()))
        out["copy_last_window"].append(y[-h:] if len(y) >= h else np.resize(y, h))
    return {k: pd.DataFrame({"id": future["id"].to_numpy(), "yhat": np.concatenate(v)}) for k, v in out.items()}


def _seasonal_drift(train: pd.DataFrame, future: pd.DataFrame, period: int) -> pd.DataFrame:
    rows = []
    for sid, fut in future.groupby("series_id", sort=False):
        y = train.loc[train["series_id"] == sid, "value"].to_numpy()
        m, h = max(1, period), len(fut)
        slope = (y[-1] - y[0]) / max(1, len(y) - 1)
        rows.append(np.resize(y[-m:], h) + slope * (np.arange(h) // m + 1) * m)
    return pd.DataFrame({"id": future["id"].to_numpy(), "yhat": np.concatenate(rows)})


def _as_quantiles(frame: pd.DataFrame, spread: float = 0.0) -> pd.DataFrame:
    out = pd.DataFrame({"id": frame["id"]})
    for q, z in zip(QUANTILES, (-1.2816, 0.0, 1.2816)):
        out[f"q{q}"] = frame["yhat"].to_numpy() + z * spread
    return out


def build_forecast(spec: TaskSpec) -> TaskInstance:
    p = spec.params
    if spec.variant == "real":
        panel = G.real_panel(spec.seed, p["datasets"])
        period = G.REAL_PERIOD[p["datasets"][0]]
    elif spec.variant == "byo":
        panel, period = _byo_panel(spec)
    else:
        panel = G.synth_panel(spec.seed, p.get("n_series", 5), p.get("length", 200), p["freq"],
                              regime=p.get("regime", False), exog=p.get("exog", False))
        period = G.FREQS[p["freq"]]
    h = p["horizon"]
    exog = ["promo", "temperature"] if p.get("exog") else []
    quant = spec.variant == "quantile"
    train, future = _split(panel, h)
    answers = future.set_index("id")[["series_id", "value"]]
    fut_public = future[["id", "series_id", "timestamp", *exog]]
    scales = {sid: M.mase_scale(g["value"].to_numpy(), period) for sid, g in train.groupby("series_id")}
    cols = ["id", *(f"q{q}" for q in QUANTILES)] if quant else ["id", "yhat"]
    sub = SubmissionSpec(kind="csv", path="submission.csv", columns=cols, numeric=cols[1:])
    meta = {"family": "forecast", "period": period, "horizon": h, "exog": exog, "submission": sub.path,
            "quantiles": QUANTILES if quant else []}
    what = (f"quantile forecasts (columns {', '.join(cols[1:])}) scored by CRPS (mean pinball loss x2, scaled per series)"
            if quant else "point forecasts (column yhat) scored by MASE per series, averaged over series")
    statement = (
        f"Forecasting task. train.csv holds {train['series_id'].nunique()} series (series_id, timestamp, value"
        f"{', ' + ', '.join(exog) if exog else ''}); seasonal period {period}. Forecast the next {h} steps of every "
        f"series: future.csv lists the ids to predict{' and the known future values of ' + ', '.join(exog) if exog else ''}. "
        f"Write {sub.path} with columns {', '.join(cols)}: {what}. Every id exactly once, finite numbers. "
        "Missing series fail the whole submission.")
    inst = dict(statement=statement, submission=sub, metric="crps" if quant else "mase", lower_is_better=True,
                answers=answers, context={"scales": scales, "period": period},
                public_files={"train.csv": _csv(train[["series_id", "timestamp", "value", *exog]]),
                              "future.csv": _csv(fut_public), "task.json": json.dumps(meta, indent=1),
                              "sample_submission.csv": _csv(pd.DataFrame({"id": future["id"], **{c: 0.0 for c in cols[1:]}}))},
                reference_command="python3 reference_solution.py task.json")
    triv = _trivial_forecasts(train, future, period)
    ref = S.forecast(train, fut_public, period, exog, QUANTILES if quant else [])
    # ETS per series is the costly part of a build: many-series tasks get a cheap drift baseline instead
    base = ({"ets_damped": _ets(train, future, period)} if train["series_id"].nunique() <= 5
            else {"seasonal_naive_drift": _seasonal_drift(train, future, period)})
    if quant:
        spread = float(np.mean(list(scales.values())))
        triv = {k: _as_quantiles(v) for k, v in triv.items()}
        base = {k: _as_quantiles(v, spread) for k, v in base.items()}
    inst["reference_files"] = _reference_actions({})
    return _finish(spec, inst, triv, base, ref)


# ---- classification ------------------------------------------------------------------------------

def build_classify(spec: TaskSpec) -> TaskInstance:
    p = spec.params
    if spec.variant == "byo":
        from agentgym.envs.timeseries.byo import class_frames

        train, test = class_frames(spec)
    else:
        train, test = G.class_dataset(spec.seed, p["n_classes"], p.get("n_train", 120), p.get("n_test", 80),
                                      p.get("length", 96), p.get("noise", 0.3))
    classes = sorted(train["label"].unique())
    sub = SubmissionSpec(kind="csv", path="submission.csv", columns=["id", "label"], labels=classes)
    answers = test.set_index("id")[["label"]]
    statement = (
        f"Series classification. train.csv has {len(train)} labelled series (id, label, t000..t{p.get('length', 96) - 1:03d}); "
        f"test.csv has {len(test)} unlabelled ones. Classes: {', '.join(classes)}. Write {sub.path} with columns id,label "
        "for every test id. Scored by macro F1 over the classes.")
    meta = {"family": "classify", "period": 0, "submission": sub.path, "classes": classes}
    inst = dict(statement=statement, submission=sub, metric="macro_f1", lower_is_better=False, answers=answers,
                context={"classes": classes},
                public_files={"train.csv": _csv(train), "test.csv": _csv(test.drop(columns="label")),
                              "task.json": json.dumps(meta, indent=1)},
                reference_command="python3 reference_solution.py task.json", reference_files=_reference_actions({}))
    triv = {f"constant_{c}": pd.DataFrame({"id": test["id"], "label": c}) for c in classes}
    # random labels and copies of the training labels (in their order, or shuffled) beat a constant
    # on macro F1: they set the floor too
    rng = np.random.default_rng(spec.seed + 99)
    tr_labels = np.resize(train["label"].to_numpy(), len(test))
    noise = [pd.DataFrame({"id": test["id"], "label": lab}) for lab in
             [tr_labels] + [rng.choice(classes, len(test)) for _ in range(32)] + [rng.permutation(tr_labels) for _ in range(31)]]
    base = {"hist_gradient_boosting": _gbm_classify(train, test)}
    ref = S.classify(train, test.drop(columns="label"))
    return _finish(spec, inst, triv, base, ref, noise)


def _gbm_classify(train: pd.DataFrame, test: pd.DataFrame) -> pd.DataFrame:
    from sklearn.ensemble import HistGradientBoostingClassifier

    cols = [c for c in train.columns if c.startswith("t")]
    clf = HistGradientBoostingClassifier(max_iter=60, random_state=0)
    clf.fit(S._features(train[cols].to_numpy()), train["label"])
    return pd.DataFrame({"id": test["id"], "label": clf.predict(S._features(test[cols].to_numpy()))})


# ---- anomaly detection ---------------------------------------------------------------------------

def build_anomaly(spec: TaskSpec) -> TaskInstance:
    p = spec.params
    if spec.variant == "byo":
        panel, period = _byo_panel(spec)
        panel.insert(0, "id", panel["series_id"] + "_" + panel.groupby("series_id").cumcount().astype(str).str.zfill(5))
        return _anomaly_instance(spec, panel[["id", "series_id", "timestamp", "value"]], panel["label"].to_numpy(),
                                 period, "with labelled anomalies (points or ranges)")
    rng = np.random.default_rng(spec.seed + 7)
    panel = G.synth_panel(spec.seed, p.get("n_series", 4), p.get("length", 300), p["freq"])
    period = G.FREQS[p["freq"]]
    labels = []
    for sid, idx in panel.groupby("series_id").groups.items():
        y, lab = G.inject_anomalies(rng, panel.loc[idx, "value"].to_numpy(), p["kinds"], p.get("count", 4))
        panel.loc[idx, "value"] = np.round(y, 4)
        labels.append(lab)
    panel["label"] = np.concatenate(labels)
    panel.insert(0, "id", panel["series_id"] + "_" + panel.groupby("series_id").cumcount().astype(str).str.zfill(4))
    public = panel[["id", "series_id", "timestamp", "value"]]
    return _anomaly_instance(spec, public, panel["label"].to_numpy(), period,
                             f"with injected anomalies of kinds: {', '.join(p['kinds'])} (ranges of 1 to ~15 points)")


def _anomaly_instance(spec: TaskSpec, public: pd.DataFrame, labels: np.ndarray, period: int, what: str) -> TaskInstance:
    """The anomaly task over `public` (id, series_id, timestamp, value) with hidden 0/1 `labels`."""
    cols = ["id", "is_anomaly", "score"]
    sub = SubmissionSpec(kind="csv", path="submission.csv", columns=cols, numeric=["score"], binary=["is_anomaly"])
    statement = (
        f"Anomaly detection. series.csv holds {public['series_id'].nunique()} series (id, series_id, timestamp, value), "
        f"seasonal period {period}, {what}. Write {sub.path} with columns id,is_anomaly,score for EVERY id: "
        "is_anomaly 0/1, score a finite anomaly score (higher = more anomalous). Scored per series by the mean of "
        "the range-based F1 of is_anomaly (recall: each true range detected and covered; precision: predicted ranges "
        "inside true ones) and the AUC-PR (average precision) of score, averaged over series.")
    meta = {"family": "anomaly", "period": period, "submission": sub.path}
    answers = public.assign(label=labels).set_index("id")[["series_id", "label"]]
    inst = dict(statement=statement, submission=sub, metric="f1_auc_pr", lower_is_better=False,
                answers=answers, context={"period": period},
                public_files={"series.csv": _csv(public), "task.json": json.dumps(meta, indent=1)},
                reference_command="python3 reference_solution.py task.json", reference_files=_reference_actions({}))
    z = lambda flag, score=0.0: pd.DataFrame({"id": public["id"], "is_anomaly": flag, "score": score})  # noqa: E731
    triv = {"none": z(0), "all": z(1)}
    rng = np.random.default_rng(spec.seed + 99)
    noise = [z((rng.random(len(public)) < rate).astype(int), rng.random(len(public)))
             for rate in (0.01, 0.05, 0.2, 0.5) for _ in range(16)]
    gz = public.groupby("series_id")["value"].transform(lambda v: (v - v.mean()).abs() / (v.std() + 1e-9))
    base = {"global_zscore_3": z((gz > 3).astype(int), gz.to_numpy())}
    return _finish(spec, inst, triv, base, S.detect(public, period), noise)


# ---- imputation ----------------------------------------------------------------------------------

def build_impute(spec: TaskSpec) -> TaskInstance:
    p = spec.params
    rng = np.random.default_rng(spec.seed + 11)
    if spec.variant == "byo":
        panel, period = _byo_panel(spec)
    else:
        panel = G.synth_panel(spec.seed, p.get("n_series", 4), p.get("length", 240), p["freq"])
        period = G.FREQS[p["freq"]]
    panel.insert(0, "id", panel["series_id"] + "_" + panel.groupby("series_id").cumcount().astype(str).str.zfill(4))
    mask = np.concatenate([G.mask_values(rng, len(idx), p.get("frac", 0.15), p.get("blocks", False))
                           for idx in panel.groupby("series_id", sort=False).groups.values()])
    answers = panel[mask].set_index("id")[["series_id", "value"]]
    public = panel[["id", "series_id", "timestamp", "value"]].copy()
    public.loc[mask, "value"] = np.nan
    scales = {sid: float(g["value"].std()) for sid, g in public.groupby("series_id")}
    sub = SubmissionSpec(kind="csv", path="submission.csv", columns=["id", "value"], numeric=["value"])
    statement = (
        f"Imputation. data.csv holds {public['series_id'].nunique()} series (id, series_id, timestamp, value) with "
        f"{int(mask.sum())} missing values (empty cells{', in blocks' if p.get('blocks') else ''}); seasonal period {period}. "
        f"Write {sub.path} with columns id,value giving a finite value for every missing id (and only those). "
        "Scored by RMSE on the masked points divided by the series' standard deviation, averaged over series.")
    meta = {"family": "impute", "period": period, "submission": sub.path}
    inst = dict(statement=statement, submission=sub, metric="nrmse", lower_is_better=True, answers=answers,
                context={"scales": scales, "period": period},
                public_files={"data.csv": _csv(public), "task.json": json.dumps(meta, indent=1)},
                reference_command="python3 reference_solution.py task.json", reference_files=_reference_actions({}))
    miss = public[mask]
    g = public.groupby("series_id")["value"]
    fill = lambda s: pd.DataFrame({"id": miss["id"], "value": s[mask].to_numpy()})  # noqa: E731
    seasonal_copy = g.shift(max(1, period)).fillna(g.ffill())  # the value one period earlier (copied data)
    triv = {"series_mean": fill(g.transform("mean")), "forward_fill": fill(g.ffill()), "backward_fill": fill(g.bfill()),
            "seasonal_copy": fill(seasonal_copy), "zero": fill(public["value"].fillna(0))}
    base = {"linear_interpolation": fill(g.transform(lambda s: s.interpolate(limit_direction="both")))}
    return _finish(spec, inst, triv, base, S.impute(public, period))


BUILDERS = {"forecast": build_forecast, "classify": build_classify, "anomaly": build_anomaly, "impute": build_impute}


_CACHE: dict[str, TaskInstance] = {}
#: salted draws tried per task before giving up (each install draws its own data; a draw whose
#: reference does not beat the trivial floor is skipped, deterministically per install)
BUILD_ATTEMPTS = 6
_LOCK = threading.Lock()


def build(spec: TaskSpec, salt: bytes | None = None) -> TaskInstance:
    """Build (once per process, spec and salt) the instance of a spec.

    The generators see the public seed mixed with this install's secret salt (secret.py), never
    the public seed alone: pasting the public generator with catalog.py's seed does not give the
    data. Deterministic per install; the returned instance carries the public spec."""
    from agentgym.envs.timeseries.secret import salt as install_salt, salted_seed

    key_bytes = install_salt() if salt is None else salt
    key = spec.model_dump_json() + key_bytes.hex()
    with _LOCK:
        if key in _CACHE:
            return _CACHE[key]
    inst = None
    for attempt in range(BUILD_ATTEMPTS):  # a draw where the reference cannot beat the floor: the next draw
        private = spec.model_copy(update={"seed": salted_seed(spec.seed, attempt, key_bytes)})
        try:
            if spec.family == "engineering":
                from agentgym.envs.timeseries.engineering import build_engineering

                inst = build_engineering(private)
            else:
                inst = BUILDERS[spec.family](private)
            break
        except UnlearnableDraw:
            if attempt == BUILD_ATTEMPTS - 1:
                raise
    assert inst is not None
    inst = inst.model_copy(update={"spec": spec})
    with _LOCK:
        return _CACHE.setdefault(key, inst)
