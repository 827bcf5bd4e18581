"""Honest scaling metrics: unbiased pass@k, pass^k, coverage curves, selected-answer accuracy
versus k and cost per solved task, each with a confidence interval.

Inputs are per-task outcomes: ``{task_id: [passed, passed, ...]}`` (n samples per task; n may
differ between tasks). An outcome of ``None`` is an episode that ended in an infrastructure error:
neither a pass nor a fail, it is left out of its task's n (a dead model server must not read as a
weak agent), and every Estimate counts such samples in ``errors``. A task that errors leave with
fewer than k scored samples is left out of that k's estimate and counted in ``tasks_dropped``.
``task_outcomes`` builds the input from stored episodes (the sweep store's rows). Intervals are seeded, so a report is reproducible. Wilson intervals are
given for plain proportions.

pass@k and pass^k (``method="auto"``, the default) get a *hybrid* interval: the union of
- a percentile bootstrap over tasks (tasks are the unit that varies between benchmarks; it
  captures differences in difficulty between tasks), and
- a within-task binomial bootstrap: the tasks stay fixed, each task's count of passes is redrawn
  from Binomial(n, (c + 1/2) / (n + 1)), and the spread of the mean is centred on the observed
  estimate. It captures the sampling noise of the n samples that the task bootstrap cannot see
  near the boundary, where most per-task values are exactly 1 (or 0).
The task bootstrap alone undercovers there. In simulations (150 runs per setting, n=32 samples
per task; 10, 30 or 100 tasks of equal or spread difficulty; k in {1, 4, 8, 16}; p in {0.05, 0.3,
0.9}) it covered the true pass@16 at p=0.3 in 56% of runs with 10 equal tasks and 79% with 100,
the true pass@8 at p=0.9 in 9% to 27%, and pass^k near zero in as few as 0%; the hybrid covered
the truth in at least 93% of runs in every setting, for both metrics (95% is within the noise of
150 runs), and was at most about 15% wider where the bootstrap alone was already right.
tests/test_metrics.py repeats a reduced version of that simulation.

Where every task has the same value (every task passes, or none does), the bootstrap collapses
to a point; there "auto" reports a Wilson score interval over tasks instead, treating the
per-task values (in [0, 1]) as m Bernoulli-like outcomes: with all m tasks passing it is
[m / (m + z^2), 1], the "rule of three" bound, valid whatever the spread of skill between tasks.
``method="pooled"`` is a tighter option for pass@k and pass^k when tasks are equally hard: a
Wilson interval on the pooled per-sample success rate p, mapped through 1-(1-p)^k or p^k. With
tasks of different difficulty it overstates pass@k (Jensen), which is why it is not the default.
A per-task Jeffreys posterior mapped through 1-(1-p)^k was tried and rejected: averaged over
tasks it is biased low. ``method="bootstrap"`` forces the plain task bootstrap. Every Estimate
records the ``method`` its interval came from (hybrid, bootstrap, wilson or pooled).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field


class Estimate(BaseModel):
    mean: float
    low: float
    high: float
    n_tasks: int
    k: int | None = None
    level: float = 0.95
    method: str = Field("bootstrap", description="where [low, high] came from: hybrid, bootstrap, wilson or pooled")
    errors: int = Field(0, description="samples that ended in an infrastructure error, left out of n")
    tasks_dropped: int = Field(0, description="tasks left with fewer than k scored samples by errors, left out of the mean")

    def contains(self, value: float) -> bool:
        return self.low - 1e-12 <= value <= self.high + 1e-12


def pass_at_k(n: int, c: int, k: int) -> float:
    """P(at least one of k samples drawn without replacement from n, c correct, passes) =
    1 - C(n-c, k)/C(n, k); the product form avoids huge binomials (Chen et al., 2021)."""
    _check(n, c, k)
    if n - c < k:
        return 1.0
    return 1.0 - float(np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def pass_hat_k(n: int, c: int, k: int) -> float:
    """pass^k: P(all k samples pass) = C(c, k)/C(n, k) (tau-bench's reliability metric)."""
    _check(n, c, k)
    return math.comb(c, k) / math.comb(n, k)


def _check(n: int, c: int, k: int) -> None:
    if not (0 <= c <= n and 1 <= k):
        raise ValueError(f"need 0 <= c <= n and k >= 1, got n={n}, c={c}, k={k}")
    if k > n:
        raise ValueError(f"k={k} needs at least k samples per task, this task has n={n}; sample more or lower k")


def bootstrap_ci(values: Sequence[float], level: float = 0.95, n_boot: int = 2000, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap of the mean of per-task values."""
    v = np.asarray(values, dtype=float)
    if len(v) == 0:
        raise ValueError("no tasks to estimate over")
    if len(v) == 1 or np.all(v == v[0]):
        return float(v[0]) if len(v) == 1 else float(v.mean()), float(v.mean())
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, len(v), size=(n_boot, len(v)))].mean(axis=1)
    a = (1 - level) / 2
    return float(np.quantile(means, a)), float(np.quantile(means, 1 - a))


def wilson_ci(successes: float, trials: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (right at 0 and 1, unlike the normal one).
    `successes` may be a sum of values in [0, 1] (their variance is at most that of Bernoullis
    with the same mean, so the interval is then conservative)."""
    if trials <= 0:
        raise ValueError("wilson_ci needs at least one trial")
    z = _z(level)
    p = successes / trials
    denom = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denom
    # Clamp float dust (e.g. 3e-17 at zero successes) so 0 and 1 are reported exactly.
    low, high = centre - half, centre + half
    return (0.0 if low < 1e-12 else low), (1.0 if high > 1 - 1e-12 else high)


def _z(level: float) -> float:
    from statistics import NormalDist

    return NormalDist().inv_cdf(0.5 + level / 2)


Outcome = bool | None  # None: an infrastructure error, neither pass nor fail


def task_outcomes(episodes: Iterable[Mapping[str, Any]]) -> dict[str, list[Outcome]]:
    """{task_id: [outcome, ...]} from episode rows with task_id, passed and infra_error (the
    sweep store's): an errored episode is None."""
    out: dict[str, list[Outcome]] = {}
    for ep in episodes:
        out.setdefault(str(ep["task_id"]), []).append(None if ep.get("infra_error") else bool(ep["passed"]))
    return out


def _scored(results: Mapping[str, Sequence[Outcome]], k: int) -> tuple[dict[str, list[bool]], int, int]:
    """(results without errored samples, errored samples, tasks dropped for having fewer than k
    scored samples left). A task with fewer than k samples in all is the caller's mistake (raises)."""
    scored: dict[str, list[bool]] = {}
    errors = dropped = 0
    for task, rows in results.items():
        kept = [bool(x) for x in rows if x is not None]
        errors += len(rows) - len(kept)
        if len(kept) < k and len(kept) < len(rows):  # short because of errors (too few in all: pass_at_k says so)
            dropped += 1
            continue
        scored[task] = kept
    if results and not scored:
        raise ValueError(f"no task has {k} samples without infrastructure errors ({errors} errored); fix the cause "
                         "and re-run them (agentgym sweep CONFIG --retry-errors)")
    return scored, errors, dropped


CIMethod = Literal["auto", "hybrid", "bootstrap", "wilson", "pooled"]
_METHODS = ("auto", "hybrid", "bootstrap", "wilson", "pooled")


def _per_task(results: Mapping[str, Sequence[bool]], k: int, fn: Callable[[int, int, int], float]) -> list[float]:
    return [fn(len(r), int(sum(bool(x) for x in r)), k) for r in results.values()]


def _counts(results: Mapping[str, Sequence[bool]]) -> tuple[np.ndarray, np.ndarray]:
    n = np.array([len(r) for r in results.values()], dtype=float)
    c = np.array([sum(bool(x) for x in r) for r in results.values()], dtype=float)
    return n, c


def pooled_ci(n: Sequence[int] | np.ndarray, c: Sequence[int] | np.ndarray, transform: Callable[[float], float],
              level: float = 0.95) -> tuple[float, float]:
    """Wilson interval for the pooled per-sample success rate p = sum(c) / sum(n), mapped through
    a transform increasing in p (1-(1-p)^k for pass@k, p^k for pass^k). It assumes every task has
    the same p: with tasks of different difficulty it overstates pass@k (1-(1-p)^k is concave),
    so it is an option for homogeneous task sets (simulations), not the default."""
    total, succ = int(np.sum(n)), int(np.sum(c))
    if total <= 0:
        raise ValueError("no samples to estimate over")
    low, high = wilson_ci(succ, total, level)
    return float(transform(low)), float(transform(high))


def within_task_ci(n: Sequence[int] | np.ndarray, c: Sequence[int] | np.ndarray, k: int,
                   fn: Callable[[int, int, int], float], level: float = 0.95, n_boot: int = 2000,
                   seed: int = 0) -> tuple[float, float]:
    """Interval for the mean over tasks of fn(n_i, c_i, k) from the sampling noise within tasks
    alone: tasks fixed, each c_i redrawn from Binomial(n_i, (c_i + 1/2) / (n_i + 1)) (smoothed so
    that a task with every sample passing still varies), the replicates' spread centred on the
    observed mean (the plug-in's own bias is not the estimator's). Clipped to [0, 1]."""
    n_arr, c_arr = np.asarray(n, dtype=int), np.asarray(c, dtype=int)
    if len(n_arr) == 0:
        raise ValueError("no tasks to estimate over")
    rng = np.random.default_rng(seed + 1)
    draws = rng.binomial(n_arr, (c_arr + 0.5) / (n_arr + 1), size=(n_boot, len(n_arr)))
    values = np.empty(draws.shape)
    for size in np.unique(n_arr):  # fn looked up in a table per sample size: n_boot x m calls would be slow
        table = np.array([fn(int(size), j, k) for j in range(int(size) + 1)])
        cols = n_arr == size
        values[:, cols] = table[draws[:, cols]]
    means = values.mean(axis=1)
    observed = float(np.mean([fn(int(ni), int(ci), k) for ni, ci in zip(n_arr, c_arr)]))
    a = (1 - level) / 2
    low = observed + float(np.quantile(means, a)) - float(means.mean())
    high = observed + float(np.quantile(means, 1 - a)) - float(means.mean())
    return max(0.0, low), min(1.0, high)


def _estimate(values: list[float], k: int | None, level: float, n_boot: int, seed: int, method: str = "auto",
              pooled: Callable[[], tuple[float, float]] | None = None,
              within: Callable[[], tuple[float, float]] | None = None) -> Estimate:
    if method not in _METHODS:
        raise ValueError(f"unknown interval method {method!r}; use one of {', '.join(_METHODS)}")
    v = np.asarray(values, dtype=float)
    if len(v) == 0:
        raise ValueError("no tasks to estimate over")
    degenerate = bool(np.all(v == v[0]))
    if method == "pooled":
        if pooled is None:
            raise ValueError("method='pooled' is for pass@k and pass^k (it needs per-task sample counts)")
        low, high = pooled()
    elif method == "wilson" or (method == "auto" and degenerate and np.all((v >= 0) & (v <= 1))):
        method = "wilson"
        low, high = wilson_ci(float(v.sum()), len(v), level)
    elif method == "bootstrap" or within is None:
        if method == "hybrid":
            raise ValueError("method='hybrid' is for pass@k and pass^k (it needs per-task sample counts)")
        method = "bootstrap"
        low, high = bootstrap_ci(values, level, n_boot, seed)
    else:
        method = "hybrid"
        (b_low, b_high), (w_low, w_high) = bootstrap_ci(values, level, n_boot, seed), within()
        low, high = min(b_low, w_low), max(b_high, w_high)
    return Estimate(mean=float(v.mean()), low=low, high=high, n_tasks=len(v), k=k, level=level, method=method)


def pass_at_k_estimate(results: Mapping[str, Sequence[Outcome]], k: int, level: float = 0.95, n_boot: int = 2000, seed: int = 0,
                       method: CIMethod = "auto") -> Estimate:
    """Mean unbiased pass@k over tasks; interval by `method` (see the module docstring: the
    default is the hybrid of the task bootstrap and the within-task binomial bootstrap, and
    Wilson where every task has the same value). None outcomes (infra errors) are left out of n."""
    scored, errors, dropped = _scored(results, k)
    values = _per_task(scored, k, pass_at_k)
    n, c = _counts(scored)
    est = _estimate(values, k, level, n_boot, seed, method,
                    lambda: pooled_ci(n, c, lambda p: 1.0 - (1.0 - p) ** k, level),
                    lambda: within_task_ci(n, c, k, pass_at_k, level, n_boot, seed))
    return est.model_copy(update={"errors": errors, "tasks_dropped": dropped})


def pass_hat_k_estimate(results: Mapping[str, Sequence[Outcome]], k: int, level: float = 0.95, n_boot: int = 2000, seed: int = 0,
                        method: CIMethod = "auto") -> Estimate:
    """Mean pass^k over tasks; interval by `method` as for pass_at_k_estimate (infra errors left out)."""
    scored, errors, dropped = _scored(results, k)
    values = _per_task(scored, k, pass_hat_k)
    n, c = _counts(scored)
    est = _estimate(values, k, level, n_boot, seed, method, lambda: pooled_ci(n, c, lambda p: p**k, level),
                    lambda: within_task_ci(n, c, k, pass_hat_k, level, n_boot, seed))
    return est.model_copy(update={"errors": errors, "tasks_dropped": dropped})


def coverage_curve(results: Mapping[str, Sequence[Outcome]], ks: Sequence[int] = (1, 2, 4, 8, 16), **kw: Any) -> list[Estimate]:
    """pass@k for each k (Large Language Monkeys' coverage)."""
    return [pass_at_k_estimate(results, k, **kw) for k in ks]


class Sample(BaseModel):
    """One rollout's outcome, as selection sees it."""

    passed: bool
    answer: str | None = None
    score: float | None = Field(None, description="a verifier's score; higher is better")
    cost: float = 0.0
    error: bool = Field(False, description="ended in an infrastructure error: never selected from, never scored")


Selector = Callable[[Sequence[Sample], np.random.Generator], int]


def selected_accuracy(samples: Mapping[str, Sequence[Sample]], k: int, select: Selector, n_subsets: int = 50,
                      level: float = 0.95, n_boot: int = 2000, seed: int = 0, method: CIMethod = "auto") -> Estimate:
    """Accuracy of the answer `select` picks from k samples: per task, the mean over `n_subsets`
    random k-subsets of its n samples; then a bootstrap over tasks. Errored samples are left out
    (a task they leave with fewer than k is left out too; all tasks so: ValueError)."""
    rng = np.random.default_rng(seed)
    per_task = []
    for all_rows in samples.values():
        rows = [s for s in all_rows if not s.error]
        if k > len(all_rows):
            raise ValueError(f"k={k} exceeds the {len(all_rows)} samples of a task")
        if k > len(rows):
            continue

        hits = 0
        for _ in range(n_subsets):
            subset = [rows[i] for i in rng.choice(len(rows), size=k, replace=False)]
            hits += subset[select(subset, rng)].passed
        per_task.append(hits / n_subsets)
    if samples and not per_task:
        raise ValueError(f"no task has {k} samples without infrastructure errors; re-run them (agentgym sweep --retry-errors)")
    if method in ("pooled", "hybrid"):
        raise ValueError(f"method={method!r} is for pass@k and pass^k; use 'auto', 'bootstrap' or 'wilson'")
    return _estimate(per_task, k, level, n_boot, seed, method)


def cost_per_solved(samples: Mapping[str, Sequence[Sample]], level: float = 0.95, n_boot: int = 2000, seed: int = 0) -> Estimate:
    """Total cost / tasks solved by any sample (pass@n), bootstrapped over tasks as a ratio.
    Infinite when nothing is solved; say so rather than divide by zero silently. Errored samples'
    cost counts (it was spent); they solve nothing."""
    costs = np.array([sum(s.cost for s in rows) for rows in samples.values()])
    solved = np.array([float(any(s.passed and not s.error for s in rows)) for rows in samples.values()])
    if len(costs) == 0:
        raise ValueError("no tasks")
    mean = costs.sum() / solved.sum() if solved.sum() else math.inf
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(costs), size=(n_boot, len(costs)))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = np.where(solved[idx].sum(1) > 0, costs[idx].sum(1) / solved[idx].sum(1), np.inf)
    a = (1 - level) / 2
    # inverted_cdf: interpolating towards an infinite ratio would give nan
    lo, hi = np.quantile(ratios, a, method="inverted_cdf"), np.quantile(ratios, 1 - a, method="inverted_cdf")
    return Estimate(mean=float(mean), low=float(lo), high=float(hi), n_tasks=len(costs), level=level)


__all__ = [
    "CIMethod", "Estimate", "Outcome", "Sample", "bootstrap_ci", "cost_per_solved", "coverage_curve", "pass_at_k", "pass_at_k_estimate",
    "pass_hat_k", "pass_hat_k_estimate", "pooled_ci", "selected_accuracy", "task_outcomes", "wilson_ci",
    "within_task_ci",
]
