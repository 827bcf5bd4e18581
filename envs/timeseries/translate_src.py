"""Routines of the translation tasks, each in two library idioms: the SOURCE the agent is given and
the TARGET idiom it must re-express it in (the task's reference solution). Both versions of a
routine compute the same thing; tests check they agree. Each function is shipped to the sandbox
as a module of its own (its source, renamed to the contract name, under the idiom's imports), so
every function here must only use the names its `IMPORTS` line provides."""

import warnings

import numpy as np
import pandas as pd
from statsmodels.tsa.ar_model import AutoReg
from statsmodels.tsa.holtwinters import ExponentialSmoothing

IMPORTS = {
    "numpy": "import numpy as np\n",
    "pandas": "import numpy as np\nimport pandas as pd\n",
    "statsmodels": "import warnings\n\nimport numpy as np\nfrom statsmodels.tsa.holtwinters import ExponentialSmoothing\n",
    "autoreg": "import numpy as np\nfrom statsmodels.tsa.ar_model import AutoReg\n",
}


# ---- simple exponential smoothing: numpy loop -> pandas ewm ---------------------------------------

def ses_loop(y, alpha):
    """Simple exponential smoothing levels.

    y: 1-D float array (length >= 1); alpha: smoothing weight in (0, 1].
    Returns a float array of len(y): level[0] = y[0] and
    level[t] = alpha * y[t] + (1 - alpha) * level[t - 1].
    """
    y = np.asarray(y, dtype=float)
    level = np.empty(len(y))
    level[0] = y[0]
    for t in range(1, len(y)):
        level[t] = alpha * y[t] + (1 - alpha) * level[t - 1]
    return level


def ses_pandas(y, alpha):
    """Simple exponential smoothing levels.

    y: 1-D float array (length >= 1); alpha: smoothing weight in (0, 1].
    Returns a float array of len(y): level[0] = y[0] and
    level[t] = alpha * y[t] + (1 - alpha) * level[t - 1].
    """
    return pd.Series(np.asarray(y, dtype=float)).ewm(alpha=alpha, adjust=False).mean().to_numpy()


# ---- Holt's linear trend: numpy loop -> statsmodels ------------------------------------------------

def holt_loop(y, alpha, beta, level0, trend0, horizon):
    """Holt's additive-trend exponential smoothing with fixed parameters and known initial state.

    y: 1-D float array; alpha, beta in (0, 1]; level0, trend0: the state before y[0];
    horizon >= 1. For each t: level = alpha * y[t] + (1 - alpha) * (level + trend), then
    trend = beta * (level - previous level) + (1 - beta) * trend.
    Returns the `horizon` forecasts after the last point: level + trend * (1..horizon).
    """
    y = np.asarray(y, dtype=float)
    level, trend = float(level0), float(trend0)
    for t in range(len(y)):
        previous = level
        level = alpha * y[t] + (1 - alpha) * (level + trend)
        trend = beta * (level - previous) + (1 - beta) * trend
    return level + trend * np.arange(1, horizon + 1)


def holt_statsmodels(y, alpha, beta, level0, trend0, horizon):
    """Holt's additive-trend exponential smoothing with fixed parameters and known initial state.

    y: 1-D float array; alpha, beta in (0, 1]; level0, trend0: the state before y[0];
    horizon >= 1. For each t: level = alpha * y[t] + (1 - alpha) * (level + trend), then
    trend = beta * (level - previous level) + (1 - beta) * trend.
    Returns the `horizon` forecasts after the last point: level + trend * (1..horizon).
    """
    model = ExponentialSmoothing(np.asarray(y, dtype=float), trend="add", initialization_method="known",
                                 initial_level=level0, initial_trend=trend0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = model.fit(smoothing_level=alpha, smoothing_trend=beta, optimized=False)
    return np.asarray(fit.forecast(horizon), dtype=float)


# ---- rolling features: pandas -> numpy -------------------------------------------------------------

def rolling_pandas(y, window, lag):
    """Rolling features of a series, one row per point.

    y: 1-D float array; window >= 2; lag >= 1. Returns a float array of shape (len(y), 4):
    rolling mean, rolling standard deviation (ddof=1) and rolling minimum over the last `window`
    points (NaN until `window` points exist), and the difference y[t] - y[t - lag] (NaN for t < lag).
    """
    s = pd.Series(np.asarray(y, dtype=float))
    roll = s.rolling(window, min_periods=window)
    return pd.DataFrame({"mean": roll.mean(), "std": roll.std(), "min": roll.min(),
                         "diff": s.diff(lag)}).to_numpy(dtype=float)


def rolling_numpy(y, window, lag):
    """Rolling features of a series, one row per point.

    y: 1-D float array; window >= 2; lag >= 1. Returns a float array of shape (len(y), 4):
    rolling mean, rolling standard deviation (ddof=1) and rolling minimum over the last `window`
    points (NaN until `window` points exist), and the difference y[t] - y[t - lag] (NaN for t < lag).
    """
    y = np.asarray(y, dtype=float)
    out = np.full((len(y), 4), np.nan)
    if len(y) >= window:
        win = np.lib.stride_tricks.sliding_window_view(y, window)
        out[window - 1:, 0] = win.mean(axis=1)
        out[window - 1:, 1] = win.std(axis=1, ddof=1)
        out[window - 1:, 2] = win.min(axis=1)
    out[lag:, 3] = y[lag:] - y[:-lag]
    return out


# ---- autoregression: statsmodels AutoReg -> numpy ----------------------------------------------------

def ar_autoreg(y, lags, horizon):
    """Fit an AR(lags) model with an intercept by least squares; forecast recursively.

    y: 1-D float array longer than 2 * lags; lags >= 1; horizon >= 1. The model is
    y[t] = c + a1 * y[t-1] + ... + a_lags * y[t-lags], fitted on every t >= lags.
    Returns the `horizon` forecasts after the last point (each feeds the next as a lag).
    """
    fit = AutoReg(np.asarray(y, dtype=float), lags=lags, trend="c").fit()
    return np.asarray(fit.forecast(horizon), dtype=float)


def ar_numpy(y, lags, horizon):
    """Fit an AR(lags) model with an intercept by least squares; forecast recursively.

    y: 1-D float array longer than 2 * lags; lags >= 1; horizon >= 1. The model is
    y[t] = c + a1 * y[t-1] + ... + a_lags * y[t-lags], fitted on every t >= lags.
    Returns the `horizon` forecasts after the last point (each feeds the next as a lag).
    """
    y = np.asarray(y, dtype=float)
    n = len(y)
    X = np.column_stack([np.ones(n - lags)] + [y[lags - k:n - k] for k in range(1, lags + 1)])
    coef = np.linalg.lstsq(X, y[lags:], rcond=None)[0]
    buf = np.concatenate([y[-lags:], np.zeros(horizon)])
    for h in range(horizon):
        buf[lags + h] = coef[0] + coef[1:] @ buf[h:lags + h][::-1]
    return buf[lags:]
