"""Reference methods (numpy + pandas only). This module is BOTH what the host uses to compute each
task's reference score at build time AND, shipped verbatim as a script, what the reference policy
runs inside the sandbox: one source, so the gold score is the score the threshold was set from.
It must stay self-contained (no agentgym imports)."""

import json
import sys

import numpy as np
import pandas as pd


def _design(t, period, exog=None, harmonics=2, trend=True):
    cols = [np.ones_like(t, dtype=float)] + ([t.astype(float)] if trend else [])
    if period > 1:
        for k in range(1, harmonics + 1):
            cols += [np.sin(2 * np.pi * k * t / period), np.cos(2 * np.pi * k * t / period)]
    X = np.column_stack(cols)
    if exog is not None and exog.size:
        X = np.column_stack([X, exog])
    return X


def fit_predict(y, period, horizon, exog_hist=None, exog_future=None, window=None, harmonics=2, trend=True):
    """Trend + 2-harmonic seasonality (+ exog) least squares on the recent window, AR(1) residual decay.

    Returns (point forecasts, in-sample residuals)."""
    y = np.asarray(y, dtype=float)
    n = len(y)
    win = min(n, window or max(8 * period, 40))
    t = np.arange(n - win, n)
    eh = None if exog_hist is None else np.asarray(exog_hist, dtype=float)[-win:]
    X = _design(t, period, eh, harmonics, trend)
    coef, *_ = np.linalg.lstsq(X, y[-win:], rcond=None)
    resid = y[-win:] - X @ coef
    phi = float(np.clip(np.corrcoef(resid[:-1], resid[1:])[0, 1], 0, 0.95)) if win > 3 else 0.0
    tf = np.arange(n, n + horizon)
    Xf = _design(tf, period, None if exog_future is None else np.asarray(exog_future, dtype=float), harmonics, trend)
    point = Xf @ coef + resid[-1] * phi ** np.arange(1, horizon + 1)
    return point, resid


def forecast(train, future, period, exog_cols=(), quantiles=()):
    """train: series_id,timestamp,value[,exog]; future: id,series_id,timestamp[,exog] -> submission."""
    out = []
    for sid, fut in future.groupby("series_id", sort=False):
        hist = train[train["series_id"] == sid].sort_values("timestamp")
        fut = fut.sort_values("timestamp")
        ex = list(exog_cols)
        point, resid = fit_predict(hist["value"].to_numpy(), period, len(fut),
                                   hist[ex].to_numpy() if ex else None, fut[ex].to_numpy() if ex else None)
        row = pd.DataFrame({"id": fut["id"].to_numpy()})
        if quantiles:
            sd = np.std(resid) * np.sqrt(1 + 0.1 * np.arange(len(fut)))
            z = {0.1: -1.2816, 0.25: -0.6745, 0.5: 0.0, 0.75: 0.6745, 0.9: 1.2816}
            for q in quantiles:
                row[f"q{q}"] = point + z[q] * sd
        else:
            row["yhat"] = point
        out.append(row)
    return pd.concat(out, ignore_index=True)


def _features(X):
    X = np.asarray(X, dtype=float)
    z = (X - X.mean(1, keepdims=True)) / (X.std(1, keepdims=True) + 1e-9)
    spec = np.abs(np.fft.rfft(z, axis=1))[:, 1:12]
    d = np.diff(X, axis=1)
    half = X.shape[1] // 2
    stats = np.column_stack([X.std(1), np.abs(d).mean(1) / (X.std(1) + 1e-9), (np.abs(d) < 1e-9).mean(1),
                             X[:, half:].mean(1) - X[:, :half].mean(1), np.max(z, 1), np.min(z, 1),
                             (np.sign(d[:, 1:]) != np.sign(d[:, :-1])).mean(1)])
    return np.column_stack([spec, stats])


def classify(train, test, k=5):
    cols = [c for c in train.columns if c.startswith("t")]
    Ftr, Fte = _features(train[cols].to_numpy()), _features(test[cols].to_numpy())
    mu, sd = Ftr.mean(0), Ftr.std(0) + 1e-9
    Ftr, Fte = (Ftr - mu) / sd, (Fte - mu) / sd
    labels = train["label"].to_numpy()
    pred = []
    for f in Fte:
        idx = np.argsort(((Ftr - f) ** 2).sum(1))[:k]
        vals, counts = np.unique(labels[idx], return_counts=True)
        pred.append(vals[np.argmax(counts)])
    return pd.DataFrame({"id": test["id"], "label": pred})


def detect(series, period, threshold=4.0):
    """Robust z-score of the residual from a centred rolling median, plus flat stretches."""
    out = []
    for sid, g in series.groupby("series_id", sort=False):
        y = g["value"].reset_index(drop=True)
        base = y.rolling(2 * period + 1 if period > 1 else 9, center=True, min_periods=1).median()
        r = y - base
        mad = np.median(np.abs(r - np.median(r))) * 1.4826 + 1e-9
        z = np.abs(r / mad)
        still = y.diff().abs() < 1e-9
        flat = still.astype(int).rolling(4, center=True, min_periods=1).max() > 0
        flat = flat & still.rolling(5, center=True, min_periods=1).sum().ge(3)
        score = np.maximum(z.to_numpy() / threshold, flat.to_numpy().astype(float))
        flag = pd.Series((score >= 1.0).astype(int))
        # close one-point gaps inside flagged stretches; an isolated point (a spike) stays one point
        gap = (flag == 0) & (flag.shift(1, fill_value=0) == 1) & (flag.shift(-1, fill_value=0) == 1)
        flag = (flag | gap).astype(int)
        out.append(pd.DataFrame({"id": g["id"].to_numpy(), "is_anomaly": flag.to_numpy(), "score": np.round(score, 6)}))
    return pd.concat(out, ignore_index=True)


def impute(data, period):
    """Seasonal-trend fit on the observed points, linear interpolation of the residual."""
    out = []
    for sid, g in data.groupby("series_id", sort=False):
        y = g["value"].to_numpy(dtype=float)
        t = np.arange(len(y))
        obs = ~np.isnan(y)
        X = _design(t, period)
        coef, *_ = np.linalg.lstsq(X[obs], y[obs], rcond=None)
        resid = pd.Series(np.where(obs, y - X @ coef, np.nan)).interpolate(limit_direction="both").to_numpy()
        fill = X @ coef + resid
        miss = ~obs
        out.append(pd.DataFrame({"id": g["id"].to_numpy()[miss], "value": fill[miss]}))
    return pd.concat(out, ignore_index=True)


def linear_ar_rows(y, t, period, harmonics, lags):
    """Feature rows of the linear AR model at positions t (all >= max(lags)) of the series y:
    [1, t, sin(2 pi t / period), cos(2 pi t / period), ... (k = 1..harmonics), y[t - lag] for each lag]."""
    t = np.asarray(t)
    return np.column_stack([_design(t, period, harmonics=harmonics, trend=True)] + [y[t - k] for k in lags])


def fit_linear_ar(y, period, harmonics, lags):
    """Least-squares coefficients of the linear AR model (one per feature of linear_ar_rows)."""
    y = np.asarray(y, dtype=float)
    t = np.arange(max(lags, default=0), len(y))
    return np.linalg.lstsq(linear_ar_rows(y, t, period, harmonics, lags), y[t], rcond=None)[0]


def write_ar_model(task):
    """Fit the linear AR model per series on train.csv and save it in the task's artifact format."""
    train = pd.read_csv("train.csv")
    p, k, lags = task["period"], task["harmonics"], task["lags"]
    fits = {sid: fit_linear_ar(train.loc[train["series_id"] == sid, "value"].to_numpy(), p, k, lags)
            for sid in task["series"]}
    if task["artifact"] == "npz":
        np.savez(task["submission"], coef=np.array(list(fits.values()), dtype=np.float64))
    else:
        series = {sid: {"intercept": float(c[0]), "trend": float(c[1]), "seasonal": [float(v) for v in c[2:2 + 2 * k]],
                        "ar": [float(v) for v in c[2 + 2 * k:]]} for sid, c in fits.items()}
        with open(task["submission"], "w") as f:
            json.dump({"model": "linear_ar", "harmonics": k, "lags": lags, "series": series}, f, indent=1)
    return len(fits)


def main(task_json):
    """Run the reference for the task described in task.json (read from the working directory)."""
    task = json.load(open(task_json))
    fam, p = task["family"], task["period"]
    if fam == "forecast":
        train = pd.read_csv("train.csv", parse_dates=["timestamp"])
        future = pd.read_csv("future.csv", parse_dates=["timestamp"])
        sub = forecast(train, future, p, task.get("exog", []), [float(q) for q in task.get("quantiles", [])])
    elif fam == "classify":
        sub = classify(pd.read_csv("train.csv"), pd.read_csv("test.csv"))
    elif fam == "anomaly":
        sub = detect(pd.read_csv("series.csv"), p)
    elif fam == "impute":
        sub = impute(pd.read_csv("data.csv"), p)
    elif fam == "engineering" and task.get("artifact"):
        print(f"wrote {task['submission']} ({write_ar_model(task)} series)")
        return
    else:
        raise SystemExit(f"no reference for family {fam}")
    sub.to_csv(task["submission"], index=False)
    print(f"wrote {len(sub)} rows to {task['submission']}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "task.json")
