"""Metrics: exact values, and pass@k of known-skill simulated policies against 1-(1-p)^k."""

import math
import time

import numpy as np
import pytest
from agentgym.agents import SimulatedPolicy, make_agent
from toy_env import ToyEnv

from agentgym import run_episode
from agentgym.metrics import (
    Sample,
    bootstrap_ci,
    cost_per_solved,
    coverage_curve,
    pass_at_k,
    pass_at_k_estimate,
    pass_hat_k,
    pass_hat_k_estimate,
    selected_accuracy,
    wilson_ci,
)
from agentgym.select import best_of_n


def test_pass_at_k_and_pass_hat_k_exact():
    assert pass_at_k(5, 2, 2) == pytest.approx(1 - math.comb(3, 2) / math.comb(5, 2))
    assert pass_at_k(5, 0, 3) == 0.0 and pass_at_k(5, 3, 3) == 1.0 and pass_at_k(5, 5, 1) == 1.0
    assert pass_at_k(200, 7, 50) == pytest.approx(1 - math.comb(193, 50) / math.comb(200, 50))
    assert pass_hat_k(5, 2, 2) == pytest.approx(0.1) and pass_hat_k(5, 1, 2) == 0.0
    with pytest.raises(ValueError, match="k=6"):
        pass_at_k(5, 1, 6)


def test_wilson_and_bootstrap():
    low, high = wilson_ci(0, 10)
    assert low == 0.0 and 0.25 < high < 0.30
    low, high = wilson_ci(50, 100)
    assert low == pytest.approx(1 - high) and 0.40 < low < 0.41
    assert bootstrap_ci([0.5]) == (0.5, 0.5)
    low, high = bootstrap_ci([0, 1] * 50, seed=1)
    assert low < 0.5 < high and bootstrap_ci([0, 1] * 50, seed=1) == (low, high)


def simulate(p, n_tasks, n_samples):
    env = ToyEnv(n_tasks=n_tasks)
    out = {}
    for tid in env.task_ids():
        out[tid] = [run_episode(env, SimulatedPolicy(env, p=p, seed=s), options={"task_id": tid}).passed for s in range(n_samples)]
    return out


def test_simulated_policy_is_deterministic_and_registered():
    env = ToyEnv()
    a = [run_episode(env, make_agent("simulated", env, p=0.5, seed=s), options={"task_id": "sum-3"}).passed for s in range(20)]
    b = [run_episode(env, SimulatedPolicy(env, p=0.5, seed=s), options={"task_id": "sum-3"}).passed for s in range(20)]
    assert a == b and 0 < sum(a) < 20
    assert all(run_episode(env, SimulatedPolicy(env, p=1.0, seed=s)).passed for s in range(5))
    assert not any(run_episode(env, SimulatedPolicy(env, p=0.0, seed=s)).passed for s in range(5))


@pytest.mark.parametrize("p", [0.1, 0.3])
def test_pass_at_k_of_simulated_skill_matches_theory(p):
    t0 = time.perf_counter()
    results = simulate(p, n_tasks=150, n_samples=32)
    for est in coverage_curve(results, ks=(1, 2, 4, 8, 16), seed=7):
        truth = 1 - (1 - p) ** est.k
        assert est.contains(truth), f"pass@{est.k}: {est.mean:.3f} [{est.low:.3f}, {est.high:.3f}] vs {truth:.3f}"
    for k in (1, 2, 4):
        assert pass_hat_k_estimate(results, k, seed=7).contains(p**k)
    assert time.perf_counter() - t0 < 10


def test_the_check_can_fail():
    """A wrong skill must be caught: pass@k of p=0.3 excludes the curve of p=0.4."""
    results = simulate(0.3, n_tasks=150, n_samples=32)
    assert not all(pass_at_k_estimate(results, k, seed=7).contains(1 - 0.6**k) for k in (1, 2, 4))


def test_cost_per_solved():
    samples = {"a": [Sample(passed=True, cost=2.0), Sample(passed=False, cost=1.0)], "b": [Sample(passed=False, cost=3.0)]}
    est = cost_per_solved(samples)
    assert est.mean == pytest.approx(6.0) and est.low <= 6.0 <= est.high
    assert cost_per_solved({"a": [Sample(passed=False, cost=1.0)]}).mean == math.inf


def _simulated_counts(p, n, n_tasks, seed):
    rng = np.random.default_rng(seed)
    return {f"t{i}": list(rng.random(n) < p) for i in range(n_tasks)}


def _all_pass_seed(p, n, n_tasks):
    """A seed whose simulated tasks all have a success (pass@n = 1 for every task)."""
    for seed in range(100):
        res = _simulated_counts(p, n, n_tasks, seed)
        if all(any(r) for r in res.values()):
            return res
    raise AssertionError("no all-pass seed found")


def test_pass_at_k_interval_does_not_collapse_when_every_task_passes():
    truth = 1 - 0.7**16  # 0.9967
    # n = k = 16: every per-task pass@16 is exactly 1, the bootstrap collapses to [1, 1]
    res = _all_pass_seed(0.3, 16, 150)
    assert bootstrap_ci([1.0] * 150) == (1.0, 1.0)
    boot = pass_at_k_estimate(res, 16, method="bootstrap")
    assert (boot.low, boot.high) == (1.0, 1.0) and not boot.contains(truth)
    est = pass_at_k_estimate(res, 16)  # default: auto
    assert est.method == "wilson" and est.mean == 1.0
    assert (est.low, est.high) != (1.0, 1.0) and est.contains(truth)
    assert est.low == pytest.approx(150 / (150 + 1.959964**2), abs=1e-4)  # all m pass: [m / (m + z^2), 1]
    pooled = pass_at_k_estimate(res, 16, method="pooled")
    assert pooled.method == "pooled" and pooled.contains(truth) and pooled.high < 1.0
    # n = 32, k = 16, all pass (as the issue states it): the interval holds the truth and is not [1, 1]
    res32 = _all_pass_seed(0.3, 32, 150)
    for method in ("auto", "pooled", "wilson"):
        e = pass_at_k_estimate(res32, 16, method=method, seed=7)
        assert (e.low, e.high) != (1.0, 1.0) and e.contains(truth), (method, e)


def test_interval_does_not_collapse_when_no_task_passes():
    res = {f"t{i}": [False] * 8 for i in range(100)}
    est = pass_at_k_estimate(res, 4)
    assert est.method == "wilson" and est.mean == 0.0 and est.low == 0.0 and 0.03 < est.high < 0.04
    assert pass_hat_k_estimate(res, 2).high > 0
    pooled = pass_at_k_estimate(res, 4, method="pooled")
    assert pooled.low == 0.0 and 0 < pooled.high < est.high  # 800 samples pooled, 100 tasks


def test_interval_methods_agree_where_the_bootstrap_is_fine_and_bad_methods_are_refused():
    res = simulate(0.3, n_tasks=60, n_samples=8)
    est = pass_at_k_estimate(res, 2, seed=3)
    boot = pass_at_k_estimate(res, 2, seed=3, method="bootstrap")
    # the hybrid holds the task bootstrap and, away from the boundary, is barely wider
    assert est.method == "hybrid" and est.mean == boot.mean and est.low <= boot.low and est.high >= boot.high
    assert (est.high - est.low) < 1.25 * (boot.high - boot.low)
    with pytest.raises(ValueError, match="unknown interval method"):
        pass_at_k_estimate(res, 2, method="jackknife")
    samples = {"a": [Sample(passed=True)] * 3, "b": [Sample(passed=True)] * 3}
    sel = selected_accuracy(samples, 2, best_of_n)
    assert sel.method == "wilson" and sel.low < 1.0 == sel.high
    for method in ("pooled", "hybrid"):
        with pytest.raises(ValueError, match=method):
            selected_accuracy(samples, 2, best_of_n, method=method)


@pytest.mark.parametrize("metric, k, p, truth", [
    (pass_at_k_estimate, 16, 0.3, 1 - 0.7**16),  # most per-task values are exactly 1
    (pass_at_k_estimate, 8, 0.9, 1 - 0.1**8),
    (pass_hat_k_estimate, 8, 0.05, 0.05**8),     # most per-task values are exactly 0
])
def test_default_interval_covers_the_truth_near_the_boundary(metric, k, p, truth):
    """Repeated experiments with 10 equal tasks, 32 samples each: the task bootstrap alone misses
    the truth most of the time here; the default (hybrid) interval must hold it ~95% of the time."""
    runs, hits, boot_hits = 60, 0, 0
    for seed in range(runs):
        res = _simulated_counts(p, 32, 10, 1000 + seed)
        hits += metric(res, k, seed=seed).contains(truth)
        boot_hits += metric(res, k, seed=seed, method="bootstrap").contains(truth)
    assert hits >= 0.9 * runs, (hits, runs)
    assert boot_hits <= 0.75 * runs, (boot_hits, runs)  # the problem the hybrid exists for
