"""Metrics: exact values, and pass@k of known-skill simulated policies against 1-(1-p)^k."""

import math
import time

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
    wilson_ci,
)


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
