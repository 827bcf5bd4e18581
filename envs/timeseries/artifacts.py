"""Model-artifact tasks: the submission is a fitted linear autoregressive model in a SAFE format,
an `.npz` archive of float64 coefficients (read with np.load(allow_pickle=False) after its zip
directory and array headers were checked) or JSON validated by pydantic. No agent code runs
anywhere: the grader applies the coefficients itself to hidden future windows (rolling origin:
forecast h steps from each origin, given the true history up to it) and scores them by MASE
against baselines it ran itself, like every other forecasting task."""

from __future__ import annotations

import io
import json
import warnings
import zipfile
from typing import Annotated, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, ValidationError

from agentgym.envs.timeseries import generators as G
from agentgym.envs.timeseries import metrics as M
from agentgym.envs.timeseries import solutions as S
from agentgym.envs.timeseries.builders import SOLUTION_SOURCE, _csv, _finish
from agentgym.envs.timeseries.grading import SubmissionError, report_for, score_frame
from agentgym.envs.timeseries.models import GradeReport, SubmissionSpec, TaskInstance, TaskSpec
from agentgym.guard import AgentFault, check_zip, load_npz, parse_json

MAX_ARTIFACT_BYTES = 1024 * 1024
MAX_LAG = 200
MAX_HARMONICS = 6
Finite = Annotated[StrictFloat, Field(allow_inf_nan=False)]


class ARSeries(BaseModel):
    model_config = ConfigDict(extra="forbid")
    intercept: Finite
    trend: Finite = Field(description="weight of t, the position counted from the first training point")
    seasonal: list[Finite] = Field(description="2 * harmonics weights: sin, cos of 2 pi k t / period for k = 1..")
    ar: list[Finite] = Field(description="one weight per entry of `lags`, in the same order")


class ARModel(BaseModel):
    """The JSON artifact: y[t] = intercept + trend * t + seasonal terms + sum_k ar[k] * y[t - lags[k]]."""

    model_config = ConfigDict(extra="forbid")
    model: Literal["linear_ar"]
    harmonics: Annotated[StrictInt, Field(ge=0, le=MAX_HARMONICS)]
    lags: list[Annotated[StrictInt, Field(ge=1, le=MAX_LAG)]] = Field(max_length=64)
    series: dict[str, ARSeries]


def layout_doc(period: int, harmonics: int, lags: list[int]) -> str:
    """The feature layout, in words (the statement and task.json say it)."""
    terms = ["1 (intercept)", "t"]
    for k in range(1, harmonics + 1):
        terms += [f"sin(2*pi*{k}*t/{period})", f"cos(2*pi*{k}*t/{period})"]
    return ", ".join(terms + [f"y[t-{k}]" for k in lags])


# ---- applying a model (host code only) ---------------------------------------------------------------

def ar_forecast(history: np.ndarray, coef: np.ndarray, period: int, harmonics: int, lags: list[int],
                horizon: int) -> np.ndarray:
    """Recursive forecasts of the linear AR model from the end of `history` (position 0 = the first
    training point): each step's forecast feeds the later ones as a lag."""
    n = len(history)
    buf = np.concatenate([np.asarray(history, dtype=float), np.zeros(horizon)])
    with np.errstate(all="ignore"):
        for h in range(horizon):
            buf[n + h] = S.linear_ar_rows(buf, [n + h], period, harmonics, lags)[0] @ coef
    return buf[n:]


def _windows(panel: pd.DataFrame, n_train: int, horizon: int, origins: int) -> pd.DataFrame:
    """The hidden future windows: one row per (series, origin, step) with the true value."""
    rows = []
    for sid, g in panel.groupby("series_id", sort=False):
        y = g["value"].to_numpy()
        for k in range(origins):
            o = n_train + k * horizon
            rows.append(pd.DataFrame({"id": [f"{sid}_o{k}_h{s:03d}" for s in range(1, horizon + 1)], "series_id": sid,
                                      "origin": o, "value": y[o:o + horizon]}))
    return pd.concat(rows, ignore_index=True)


def rolling_predict(panel: pd.DataFrame, windows: pd.DataFrame, horizon: int, predict) -> pd.DataFrame:
    """predict(sid, history, horizon) -> forecasts, at every origin; frame id, yhat."""
    series = {sid: g["value"].to_numpy() for sid, g in panel.groupby("series_id", sort=False)}
    out = []
    for (sid, o), w in windows.groupby(["series_id", "origin"], sort=False):
        f = np.asarray(predict(sid, series[sid][:o], horizon), dtype=float)
        out.append(pd.DataFrame({"id": w["id"].to_numpy(), "yhat": np.where(np.isfinite(f), f, 1e12)}))
    return pd.concat(out, ignore_index=True)


def _ets_rolling(panel: pd.DataFrame, n_train: int, period: int):
    """Damped additive ETS fitted once per series on the training part; at later origins the same
    parameters filter the longer history (rolling origin without refitting)."""
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    kw = dict(trend="add", damped_trend=True, seasonal="add", seasonal_periods=period)
    fixed = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for sid, g in panel.groupby("series_id", sort=False):
            fixed[sid] = ExponentialSmoothing(g["value"].to_numpy()[:n_train], **kw).fit().params

    def predict(sid, y, h):
        q = fixed[sid]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = ExponentialSmoothing(y, **kw, initialization_method="known", initial_level=q["initial_level"],
                                         initial_trend=q["initial_trend"], initial_seasonal=q["initial_seasons"])
            return model.fit(smoothing_level=q["smoothing_level"], smoothing_trend=q["smoothing_trend"],
                             smoothing_seasonal=q["smoothing_seasonal"], damping_trend=q["damping_trend"],
                             optimized=False).forecast(h)

    return predict


def _trivial(period: int):
    return {"naive_last": lambda sid, y, h: np.full(h, y[-1]),
            "seasonal_naive": lambda sid, y, h: np.resize(y[-period:], h),
            "history_mean": lambda sid, y, h: np.full(h, y.mean()),
            "copy_last_window": lambda sid, y, h: y[-h:].copy()}


# ---- build ---------------------------------------------------------------------------------------------

def build_artifact(spec: TaskSpec) -> TaskInstance:
    p = spec.params
    period, h, origins, fmt = G.FREQS[p["freq"]], p["horizon"], p.get("origins", 4), p["format"]
    n_train = p.get("length", 200)
    panel = G.synth_panel(spec.seed, p.get("n_series", 4), n_train + origins * h, p["freq"])
    train = panel[panel.groupby("series_id").cumcount() < n_train]
    series = sorted(panel["series_id"].unique())
    windows = _windows(panel, n_train, h, origins)
    scales = {sid: M.mase_scale(g["value"].to_numpy(), period) for sid, g in train.groupby("series_id")}
    harmonics, lags = p.get("harmonics", 2), list(range(1, p.get("lags", 2) + 1))
    path = "model.npz" if fmt == "npz" else "model.json"
    sub = SubmissionSpec(kind=fmt, path=path)
    layout = layout_doc(period, harmonics, lags)
    meta = {"family": "engineering", "artifact": fmt, "period": period, "horizon": h, "series": series,
            "submission": path, "harmonics": harmonics, "lags": lags, "features": layout}
    if fmt == "npz":
        layout = (f"{path}: an .npz archive (numpy.savez) holding exactly one array, 'coef', float64, shape "
                  f"({len(series)}, {len(lags) + 2 + 2 * harmonics}): row i for series {', '.join(series)} in that "
                  f"order, one column per feature in this order: {layout}. No other arrays, no pickled objects, "
                  "finite values only.")
    else:
        layout = (f"{path}: JSON {{\"model\": \"linear_ar\", \"harmonics\": K (0..{MAX_HARMONICS}), \"lags\": [distinct "
                  f"ints 1..{MAX_LAG}], \"series\": {{\"<series_id>\": {{\"intercept\": w, \"trend\": w, \"seasonal\": [2K "
                  f"weights: sin, cos of 2*pi*k*t/{period} for k = 1..K], \"ar\": [one weight per lag, same order]}}, ...}}}} "
                  f"with an entry for every series ({', '.join(series)}) and no other keys, finite numbers only. You "
                  f"choose K and the lags (a sound start: K={harmonics}, lags {lags}).")
    statement = (
        f"Model-artifact task. train.csv holds {len(series)} series (series_id, timestamp, value), seasonal period "
        f"{period}. Fit a linear autoregressive model per series, y[t] = w . features(t), where t is the position in the "
        f"series counted from 0 at its first training point, and hand in its coefficients as {layout} No code of yours runs at grading: the grader applies your coefficients "
        f"to the hidden continuation of each series at {origins} rolling origins (every {h} steps; from each origin "
        f"it forecasts {h} steps recursively from the TRUE history up to it) and scores MASE per series, averaged. "
        "task.json has the details.")
    inst = dict(statement=statement, submission=sub, metric="mase", lower_is_better=True,
                answers=windows.set_index("id")[["series_id", "value"]],
                context={"scales": scales, "period": period, "panel": panel, "windows": windows, "horizon": h,
                         "series": series, "lags": lags, "harmonics": harmonics},
                public_files={"train.csv": _csv(train[["series_id", "timestamp", "value"]]),
                              "task.json": json.dumps(meta, indent=1)},
                reference_files={"reference_solution.py": SOLUTION_SOURCE},
                reference_command="python3 reference_solution.py task.json")
    pred = lambda f: rolling_predict(panel, windows, h, f)  # noqa: E731
    fits = {sid: S.fit_linear_ar(train.loc[train["series_id"] == sid, "value"].to_numpy(), period, harmonics, lags)
            for sid in series}
    ref = pred(lambda sid, y, hh: ar_forecast(y, fits[sid], period, harmonics, lags, hh))
    triv = {k: pred(f) for k, f in _trivial(period).items()}
    base = {"ets_damped": pred(_ets_rolling(panel, n_train, period))}
    return _finish(spec, inst, triv, base, ref)


# ---- reading artifacts (bytes in, numbers out; nothing is unpickled or executed) --------------------------

def _npz_coef(inst: TaskInstance, data: bytes) -> np.ndarray:
    path = inst.submission.path
    if data[:6] == b"\x93NUMPY":
        raise SubmissionError(f"{path} is a bare .npy array; save an .npz archive: np.savez({path!r}, coef=coef)")
    if data[:1] == b"\x80" or data[:2] in (b"(d", b"(l", b"}q", b"]q"):
        raise SubmissionError(f"{path} is a pickle; pickles are never loaded. Save with np.savez({path!r}, coef=coef)")
    try:  # members, encryption flag, compression method, declared sizes and every CRC, before numpy
        infos = check_zip(data, max_members=8, max_bytes=4 * MAX_ARTIFACT_BYTES, what=path)
    except AgentFault as exc:
        if "not a valid zip archive" in exc.reason:
            raise SubmissionError(f"{path} is not an .npz archive (numpy.savez writes one)") from None
        raise SubmissionError(f"{exc.reason} (numpy.savez writes a valid .npz archive)") from None
    zf = zipfile.ZipFile(io.BytesIO(data))
    names = [i.filename for i in infos]
    if names != ["coef.npy"]:
        raise SubmissionError(f"{path} must hold exactly one array named 'coef'; it holds {[n.removesuffix('.npy') for n in names]}")
    if infos[0].file_size > MAX_ARTIFACT_BYTES:
        raise SubmissionError(f"{path}: 'coef' is {infos[0].file_size} bytes uncompressed; the limit is {MAX_ARTIFACT_BYTES}")
    raw = zf.read("coef.npy")  # CRC and sizes checked above
    try:
        fh = io.BytesIO(raw)
        version = np.lib.format.read_magic(fh)
        shape, fortran, dtype = (np.lib.format.read_array_header_1_0(fh) if version == (1, 0)
                                 else np.lib.format.read_array_header_2_0(fh))
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError) as exc:
        raise SubmissionError(f"{path}: 'coef' is not a valid .npy array: {exc}") from None
    if dtype.hasobject:
        raise SubmissionError(f"{path}: 'coef' holds Python objects (dtype object); only float64 arrays are accepted")
    if dtype != np.dtype("float64"):
        raise SubmissionError(f"{path}: 'coef' has dtype {dtype}; expected float64")
    want = (len(inst.context["series"]), len(inst.context["lags"]) + 2 + 2 * inst.context["harmonics"])
    if tuple(shape) != want:
        raise SubmissionError(f"{path}: 'coef' has shape {tuple(shape)}; expected {want}")
    try:
        coef = load_npz(data, max_members=8, max_bytes=4 * MAX_ARTIFACT_BYTES, what=path)["coef"]
    except AgentFault as exc:
        raise SubmissionError(exc.reason) from None
    if coef.shape != want or coef.dtype != np.float64:
        raise SubmissionError(f"{path}: 'coef' does not hold a float64 array of shape {want}")
    bad = np.argwhere(~np.isfinite(coef))
    if bad.size:
        raise SubmissionError(f"{path}: 'coef' holds NaN or inf at {bad[0].tolist()}; every value must be finite")
    return coef


def _constant_in(obj) -> str | None:
    """The first NaN or +-Infinity in a parsed JSON value (depth already bounded by parse_json)."""
    if isinstance(obj, float) and not np.isfinite(obj):
        return "NaN" if obj != obj else "Infinity" if obj > 0 else "-Infinity"
    for v in obj.values() if isinstance(obj, dict) else obj if isinstance(obj, list) else ():
        if (token := _constant_in(v)) is not None:
            return token
    return None


def _json_model(inst: TaskInstance, data: bytes) -> ARModel:
    path = inst.submission.path
    try:  # size, nesting depth and digits bounded before json sees it
        obj = parse_json(data, max_bytes=MAX_ARTIFACT_BYTES, max_depth=8, max_digits=40, what=path)
    except AgentFault as exc:
        raise SubmissionError(exc.reason) from None
    if (token := _constant_in(obj)) is not None:
        raise SubmissionError(f"{path} is not valid JSON: {token} is not allowed")
    try:
        model = ARModel.model_validate(obj)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(root)'}: {e['msg']}" for e in exc.errors()[:3])
        raise SubmissionError(f"{path}: {problems}") from None
    if len(set(model.lags)) != len(model.lags):
        raise SubmissionError(f"{path}: lags: must be distinct, got {model.lags}")
    want = inst.context["series"]
    if sorted(model.series) != want:
        missing, extra = sorted(set(want) - set(model.series)), sorted(set(model.series) - set(want))
        raise SubmissionError(f"{path}: series: missing {missing}, unexpected {extra}; expected exactly {want}")
    for sid in want:
        m = model.series[sid]
        if len(m.seasonal) != 2 * model.harmonics:
            raise SubmissionError(f"{path}: series.{sid}.seasonal: {len(m.seasonal)} weights; harmonics "
                                  f"{model.harmonics} needs {2 * model.harmonics}")
        if len(m.ar) != len(model.lags):
            raise SubmissionError(f"{path}: series.{sid}.ar: {len(m.ar)} weights for {len(model.lags)} lags")
    return model


def read_artifact(inst: TaskInstance, data: bytes | None) -> tuple[int, list[int], dict[str, np.ndarray]]:
    """(harmonics, lags, {series: weights in feature order}) from the artifact's bytes, or SubmissionError."""
    path = inst.submission.path
    if data is None:
        raise SubmissionError(f"{path} does not exist")
    if len(data) > MAX_ARTIFACT_BYTES:
        raise SubmissionError(f"{path} is {len(data)} bytes; the limit is {MAX_ARTIFACT_BYTES}")
    if inst.submission.kind == "npz":
        coef = _npz_coef(inst, data)
        return inst.context["harmonics"], inst.context["lags"], dict(zip(inst.context["series"], coef))
    m = _json_model(inst, data)
    return m.harmonics, m.lags, {sid: np.array([s.intercept, s.trend, *s.seasonal, *s.ar], dtype=float)
                                 for sid, s in m.series.items()}


def check_artifact(inst: TaskInstance, data: bytes | None) -> str:
    harmonics, lags, fits = read_artifact(inst, data)
    return (f"{inst.submission.path} is a valid model: {len(fits)} series, {harmonics} harmonics, lags {lags}. "
            "(Format only.)")


def grade_artifact(inst: TaskInstance, data: bytes | None) -> GradeReport:
    harmonics, lags, fits = read_artifact(inst, data)
    ctx = inst.context
    pred = rolling_predict(ctx["panel"], ctx["windows"], ctx["horizon"],
                           lambda sid, y, h: ar_forecast(y, fits[sid], ctx["period"], harmonics, lags, h))
    score, per = score_frame(inst, pred.set_index("id"))
    return report_for(inst, score, per, f"coefficients applied at {ctx['windows']['origin'].nunique()} rolling origins")
