"""Seeded data generators: synthetic panels (trend, seasonality, ARMA noise, regime shifts,
exogenous drivers, anomalies, missingness, classes) and real series shipped inside statsmodels,
transformed per task beyond an affine map (warp_real) so neither memorised values nor the copy
that ships in the sandbox image's statsmodels give the hidden horizon. Everything here is a pure
function of its seed, which builders.build derives from the public seed and a secret salt."""

from __future__ import annotations

import numpy as np
import pandas as pd

FREQS = {"D": 7, "h": 24, "MS": 12, "W-MON": 52, "QS": 4}


def arma_noise(rng: np.random.Generator, n: int, ar: float, ma: float, sigma: float) -> np.ndarray:
    e = rng.normal(0.0, sigma, n + 1)
    x = np.zeros(n)
    for t in range(n):  # n is small (hundreds); clarity beats vectorising a recursion
        x[t] = (ar * x[t - 1] if t else 0.0) + e[t + 1] + ma * e[t]
    return x


def synth_series(rng: np.random.Generator, n: int, period: int, *, regime: bool = False,
                 exog: np.ndarray | None = None, noise: float = 0.3) -> np.ndarray:
    """Level + trend + (1-2 harmonic) seasonality + ARMA noise (+ regime shift, + exog effect)."""
    t = np.arange(n)
    level = rng.uniform(20, 200)
    amp = level * rng.uniform(0.1, 0.3)
    phase = rng.uniform(0, 2 * np.pi)
    season = amp * (np.sin(2 * np.pi * t / period + phase) + 0.4 * np.sin(4 * np.pi * t / period + 2 * phase))
    trend = level * rng.uniform(-0.3, 0.6) * t / n
    y = level + trend + season + arma_noise(rng, n, rng.uniform(0.2, 0.7), rng.uniform(-0.3, 0.3), amp * noise)
    if regime:
        cut = int(rng.integers(n // 3, 2 * n // 3))
        y[cut:] += level * rng.choice([-1, 1]) * rng.uniform(0.15, 0.3)
    if exog is not None:
        y = y + exog * amp * rng.uniform(0.8, 1.5)
    return y


def dates(rng: np.random.Generator, n: int, freq: str) -> pd.DatetimeIndex:
    """n timestamps from a seeded start date (shifted per task)."""
    start = pd.Timestamp("2001-01-01") + pd.Timedelta(days=int(rng.integers(0, 7000)))
    if freq in ("MS", "QS"):
        start = start.to_period("M").to_timestamp()
        if freq == "QS":
            start = start.to_period("Q").to_timestamp()
    if freq == "W-MON":
        start = start - pd.Timedelta(days=start.day_of_week)
    if freq == "h":
        return pd.date_range(start, periods=n, freq="h")
    return pd.date_range(start, periods=n, freq=freq)


def synth_panel(seed: int, n_series: int, n: int, freq: str, *, regime: bool = False,
                exog: bool = False) -> pd.DataFrame:
    """Long panel: series_id, timestamp, value (+ promo, temperature when exog)."""
    rng = np.random.default_rng(seed)
    period = FREQS[freq]
    ts = dates(rng, n, freq)
    frames = []
    for i in range(n_series):
        x_promo = x_temp = None
        effect = None
        if exog:
            x_promo = (rng.random(n) < 0.15).astype(float)
            x_temp = np.round(15 + 8 * np.sin(2 * np.pi * np.arange(n) / period) + rng.normal(0, 2, n), 2)
            effect = 2.0 * x_promo + 0.05 * (x_temp - 15)
        y = synth_series(rng, n, period, regime=regime, exog=effect)
        df = pd.DataFrame({"series_id": f"s{i:03d}", "timestamp": ts, "value": np.round(y, 4)})
        if exog:
            df["promo"] = x_promo.astype(int)
            df["temperature"] = x_temp
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


# ---- real series (statsmodels ships these; they load offline) ---------------------------------------

def _real_raw(name: str) -> tuple[np.ndarray, str]:
    import statsmodels.api as sm

    if name == "co2":
        s = sm.datasets.co2.load_pandas().data["co2"].resample("MS").mean().interpolate()
        return s.to_numpy(), "MS"
    if name == "sunspots":
        return sm.datasets.sunspots.load_pandas().data["SUNACTIVITY"].to_numpy(), "YS"
    if name == "nile":
        return sm.datasets.nile.load_pandas().data["volume"].to_numpy(), "YS"
    if name == "elnino":
        d = sm.datasets.elnino.load_pandas().data.drop(columns="YEAR")
        return d.to_numpy().ravel(), "MS"
    if name.startswith("macro-"):
        return sm.datasets.macrodata.load_pandas().data[name[6:]].to_numpy(), "QS"
    raise KeyError(f"unknown real dataset {name!r}")


REAL_PERIOD = {"co2": 12, "sunspots": 11, "nile": 1, "elnino": 12, "macro-realgdp": 4, "macro-cpi": 4,
               "macro-realcons": 4, "macro-unemp": 4}


def warp_real(rng: np.random.Generator, y: np.ndarray, period: int) -> np.ndarray:
    """The task's version of a real series: a keyed nonlinear monotone warp of the standardised
    values plus a keyed AR(1) component, then a keyed affine map.

    The sandbox image ships the original (statsmodels datasets), so an affine (or any pointwise)
    fit of the training part against it would give the hidden horizon almost exactly. The AR(1)
    part is drawn from the secret-salted seed and is new at every step of the horizon: knowing the
    original helps no more than forecasting does. Its size is set from the series' own seasonal
    differences, so trend and seasonality still dominate and the task stays learnable."""
    z = (y - y.mean()) / (y.std() or 1.0)
    a, b, c = rng.uniform(0.15, 0.3), rng.uniform(0.9, 1.6), rng.uniform(-0.8, 0.8)
    w = z + a * np.tanh(b * z + c)  # derivative 1 + a*b*sech^2 > 0: monotone, not affine
    m = max(1, period)
    step = float(np.mean(np.abs(w[m:] - w[:-m]))) if len(w) > m else float(np.std(w))
    phi, size = rng.uniform(0.3, 0.6), rng.uniform(0.2, 0.35) * (step or 1.0)
    e = np.zeros(len(w))
    shocks = rng.normal(0.0, size * np.sqrt(1 - phi ** 2), len(w))
    for t in range(len(w)):  # a few hundred points
        e[t] = (phi * e[t - 1] if t else 0.0) + shocks[t]
    return (w + e) * rng.uniform(5, 50) + rng.uniform(100, 500)


def real_panel(seed: int, names: list[str]) -> pd.DataFrame:
    """Real series, each transformed (warp_real), re-dated and renamed for this task."""
    rng = np.random.default_rng(seed)
    frames = []
    for i, name in enumerate(names):
        y, freq = _real_raw(name)
        y = warp_real(rng, np.asarray(y, dtype=float), REAL_PERIOD.get(name, 1))
        start = pd.Timestamp("1990-01-01") + pd.DateOffset(years=int(rng.integers(0, 30)))
        ts = pd.date_range(start, periods=len(y), freq=freq if freq != "YS" else "YS")
        frames.append(pd.DataFrame({"series_id": f"r{i:02d}", "timestamp": ts, "value": np.round(y, 4)}))
    return pd.concat(frames, ignore_index=True)


# ---- classification, anomalies, missingness ---------------------------------------------------------

CLASS_SHAPES = ["sine", "square", "sawtooth", "bursts", "trend_up", "random_walk"]


def class_series(rng: np.random.Generator, label: str, length: int, noise: float) -> np.ndarray:
    t = np.arange(length)
    f = rng.uniform(2, 5) / length * 2 * np.pi
    ph = rng.uniform(0, 2 * np.pi)
    if label == "sine":
        x = np.sin(f * t + ph)
    elif label == "square":
        x = np.sign(np.sin(f * t + ph))
    elif label == "sawtooth":
        x = 2 * ((f * t + ph) / (2 * np.pi) % 1.0) - 1
    elif label == "bursts":
        x = np.zeros(length)
        for _ in range(rng.integers(2, 5)):
            c = rng.integers(0, length - 8)
            x[c:c + 8] += rng.uniform(1.5, 3.0)
    elif label == "trend_up":
        x = np.linspace(-1, 1, length) * rng.uniform(0.8, 1.5)
    else:
        x = np.cumsum(rng.normal(0, 0.3, length))
    return x * rng.uniform(0.5, 2.0) + rng.uniform(-2, 2) + rng.normal(0, noise, length)


def class_dataset(seed: int, n_classes: int, n_train: int, n_test: int, length: int, noise: float):
    """(train, test) wide frames: id, label, t000..; labels balanced-ish and shuffled."""
    rng = np.random.default_rng(seed)
    classes = CLASS_SHAPES[:n_classes]

    def make(n: int, prefix: str) -> pd.DataFrame:
        labels = [classes[i % n_classes] for i in range(n)]
        rng.shuffle(labels)
        rows = np.vstack([class_series(rng, lab, length, noise) for lab in labels])
        df = pd.DataFrame(np.round(rows, 4), columns=[f"t{j:03d}" for j in range(length)])
        df.insert(0, "label", labels)
        df.insert(0, "id", [f"{prefix}{k:04d}" for k in range(n)])
        return df

    return make(n_train, "tr"), make(n_test, "te")


ANOMALY_KINDS = ["spike", "level_shift", "variance", "flatline"]


def inject_anomalies(rng: np.random.Generator, y: np.ndarray, kinds: list[str], count: int) -> tuple[np.ndarray, np.ndarray]:
    """Copy of y with `count` labelled anomaly ranges (non-overlapping); returns (values, labels)."""
    y = y.copy()
    lab = np.zeros(len(y), dtype=int)
    scale = np.std(np.diff(y)) + 1e-9
    for _ in range(count):
        kind = kinds[int(rng.integers(len(kinds)))]
        width = 1 if kind == "spike" else int(rng.integers(6, 16))
        for _try in range(50):
            s = int(rng.integers(20, len(y) - width - 5))
            if not lab[max(0, s - 5):s + width + 5].any():
                break
        if kind == "spike":
            y[s] += rng.choice([-1, 1]) * scale * rng.uniform(6, 10)
        elif kind == "level_shift":
            y[s:s + width] += rng.choice([-1, 1]) * scale * rng.uniform(4, 6)
        elif kind == "variance":
            y[s:s + width] += rng.normal(0, scale * 4, width)
        else:
            y[s:s + width] = y[s]
        lab[s:s + width] = 1
    return y, lab


def mask_values(rng: np.random.Generator, n: int, frac: float, blocks: bool) -> np.ndarray:
    """Boolean mask of hidden points (never the first/last 3): scattered or in short blocks."""
    m = np.zeros(n, dtype=bool)
    target = int(frac * n)
    while m.sum() < target:
        w = int(rng.integers(3, 10)) if blocks else 1
        s = int(rng.integers(3, n - 3 - w))
        m[s:s + w] = True
    return m
