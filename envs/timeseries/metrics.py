"""Scoring functions of the time-series grader. Plain numpy, no agent code anywhere near them.

Every forecasting metric is computed per series and then averaged, so each series counts the
same: a submission cannot trade a hard series for an easy one. Lower is better for MASE, sMAPE,
RMSE, NRMSE and CRPS; higher is better for F1, AUC-PR and accuracy (see LOWER_IS_BETTER).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

LOWER_IS_BETTER = {"mase": True, "smape": True, "rmse": True, "nrmse": True, "crps": True,
                   "range_f1": False, "auc_pr": False, "f1_auc_pr": False, "accuracy": False, "macro_f1": False,
                   "cases_matched": False}


def _arr(x: Sequence[float] | np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=float)


def mase_scale(history: Sequence[float], period: int = 1) -> float:
    """Mean absolute in-sample error of the seasonal naive forecast (period m) on the history.

    Falls back to the lag-1 naive when the history is shorter than two periods, and to 1.0 for
    a constant history (so a series never divides by zero)."""
    h = _arr(history)
    h = h[~np.isnan(h)]
    m = period if len(h) > 2 * period else 1
    if len(h) <= m:
        return 1.0
    scale = float(np.mean(np.abs(h[m:] - h[:-m])))
    return scale if scale > 1e-12 else 1.0


def mase(actual: Sequence[float], forecast: Sequence[float], scale: float) -> float:
    """Mean absolute scaled error: MAE of the forecast divided by the in-sample naive MAE."""
    return float(np.mean(np.abs(_arr(actual) - _arr(forecast))) / scale)


def smape(actual: Sequence[float], forecast: Sequence[float]) -> float:
    """Symmetric MAPE in percent (0..200); a point where both are 0 counts as 0 error."""
    a, f = _arr(actual), _arr(forecast)
    denom = np.abs(a) + np.abs(f)
    terms = np.where(denom == 0, 0.0, 2.0 * np.abs(f - a) / np.where(denom == 0, 1.0, denom))
    return float(100.0 * np.mean(terms))


def rmse(actual: Sequence[float], forecast: Sequence[float]) -> float:
    a, f = _arr(actual), _arr(forecast)
    return float(np.sqrt(np.mean((a - f) ** 2)))


def pinball(actual: Sequence[float], quantile_forecast: Sequence[float], q: float) -> float:
    """Mean pinball (quantile) loss of one quantile level q in (0, 1)."""
    a, f = _arr(actual), _arr(quantile_forecast)
    d = a - f
    return float(np.mean(np.maximum(q * d, (q - 1.0) * d)))


def crps_quantiles(actual: Sequence[float], quantiles: dict[float, Sequence[float]], scale: float = 1.0) -> float:
    """CRPS approximated by twice the mean pinball loss over the quantile levels, divided by scale.

    With many evenly spread levels this tends to the CRPS of the predictive distribution; with a
    point forecast at every level it equals the (scaled) MAE, so a point forecast is no shortcut."""
    losses = [pinball(actual, f, q) for q, f in sorted(quantiles.items())]
    return float(2.0 * np.mean(losses) / scale)


# ---- anomaly detection: range-based scoring -------------------------------------------------------

def ranges_from_labels(labels: Sequence[int] | np.ndarray) -> list[tuple[int, int]]:
    """Half-open [start, end) index ranges of consecutive 1s."""
    lab = np.asarray(labels, dtype=int)
    if lab.size == 0:
        return []
    padded = np.concatenate([[0], (lab != 0).astype(int), [0]])
    diff = np.diff(padded)
    starts, ends = np.flatnonzero(diff == 1), np.flatnonzero(diff == -1)
    return [(int(s), int(e)) for s, e in zip(starts, ends)]


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> int:
    return max(0, min(a[1], b[1]) - max(a[0], b[0]))


def range_precision_recall(true_labels: Sequence[int], pred_labels: Sequence[int], alpha: float = 0.5) -> tuple[float, float]:
    """Range-based precision and recall (after Tatbul et al. 2018, flat bias, no cardinality term).

    Recall of a true range = alpha * (detected at all) + (1 - alpha) * (fraction of it covered).
    Precision of a predicted range = fraction of it that lies inside true ranges. Each is the
    mean over ranges. No predicted ranges: precision 1 only when there were no true ranges."""
    true_r, pred_r = ranges_from_labels(true_labels), ranges_from_labels(pred_labels)
    if not true_r:
        recall = 1.0
    else:
        rec = []
        for t in true_r:
            cover = sum(_overlap(t, p) for p in pred_r)
            rec.append(alpha * (cover > 0) + (1 - alpha) * cover / (t[1] - t[0]))
        recall = float(np.mean(rec))
    if not pred_r:
        precision = 1.0 if not true_r else 0.0
    else:
        precision = float(np.mean([sum(_overlap(p, t) for t in true_r) / (p[1] - p[0]) for p in pred_r]))
    return precision, recall


def range_f1(true_labels: Sequence[int], pred_labels: Sequence[int], alpha: float = 0.5) -> float:
    p, r = range_precision_recall(true_labels, pred_labels, alpha)
    return 0.0 if p + r == 0 else float(2 * p * r / (p + r))


def auc_pr(true_labels: Sequence[int], scores: Sequence[float]) -> float:
    """Average precision (area under the precision-recall curve, step-wise), ties kept together."""
    y = np.asarray(true_labels, dtype=int)
    s = _arr(scores)
    n_pos = int(y.sum())
    if n_pos == 0:
        return 0.0
    order = np.argsort(-s, kind="mergesort")
    s_sorted, y_sorted = s[order], y[order]
    # evaluate only at the last index of each block of tied scores
    last = np.r_[np.flatnonzero(np.diff(s_sorted) != 0), len(s_sorted) - 1]
    tp = np.cumsum(y_sorted)[last]
    fp = (last + 1) - tp
    precision = tp / (tp + fp)
    recall = tp / n_pos
    prev_recall = np.r_[0.0, recall[:-1]]
    return float(np.sum((recall - prev_recall) * precision))


# ---- classification -------------------------------------------------------------------------------

def accuracy(true: Sequence[str], pred: Sequence[str]) -> float:
    t, p = np.asarray(true, dtype=object), np.asarray(pred, dtype=object)
    return float(np.mean(t == p)) if len(t) else 0.0


def macro_f1(true: Sequence[str], pred: Sequence[str], classes: Sequence[str] | None = None) -> float:
    """Unweighted mean of per-class F1 over the TRUE label set (a class never predicted scores 0)."""
    t, p = np.asarray(true, dtype=object), np.asarray(pred, dtype=object)
    labels = sorted(set(classes) if classes is not None else set(t.tolist()))
    f1s = []
    for c in labels:
        tp = float(np.sum((t == c) & (p == c)))
        fp = float(np.sum((t != c) & (p == c)))
        fn = float(np.sum((t == c) & (p != c)))
        f1s.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return float(np.mean(f1s)) if f1s else 0.0


def nrmse(actual: Sequence[float], forecast: Sequence[float], scale: float) -> float:
    """RMSE divided by a per-series scale (the series' standard deviation) for imputation."""
    return rmse(actual, forecast) / (scale if scale > 1e-12 else 1.0)
