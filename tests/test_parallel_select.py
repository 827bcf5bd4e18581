"""Parallel rollouts (isolation, limits, determinism, a free event loop) and selection."""

import asyncio
import threading
import time

import numpy as np
import pytest
from agentgym.agents import SimulatedPolicy
from toy_env import ToyEnv

from agentgym.metrics import Sample, pass_at_k_estimate, selected_accuracy
from agentgym.parallel import (
    derive_seed,
    rollout_specs,
    run_rollouts,
    run_rollouts_sync,
)
from agentgym.select import (
    NoisyVerifier,
    best_of_n,
    final_answer,
    majority_vote,
    select_trajectories,
    verifier_ceiling,
)


class SlowToy(ToyEnv):
    """Its submit sleeps (a slow sandbox) and counts how many instances work at once."""

    SLEEP_S = 0.3  # long next to a scheduling hiccup on 2 loaded cores, so a blocked loop stands out
    lock = threading.Lock()
    busy = 0
    peak = 0

    def _submit(self, args):
        cls = SlowToy
        with cls.lock:
            cls.busy += 1
            cls.peak = max(cls.peak, cls.busy)
        time.sleep(cls.SLEEP_S)
        with cls.lock:
            cls.busy -= 1
        return super()._submit(args)


def simulated(p):
    return lambda env, spec: SimulatedPolicy(env, p=p, seed=spec.seed)


def test_results_are_deterministic_and_independent_of_concurrency():
    specs = rollout_specs("toy", ToyEnv(n_tasks=6).task_ids(), k=5, base_seed=3)
    assert len({s.seed for s in specs}) == 30 and specs[0].seed == derive_seed(3, "toy", "sum-1", 0)
    a = run_rollouts_sync(specs, lambda _: ToyEnv(n_tasks=6), simulated(0.5), max_concurrency=1)
    b = run_rollouts_sync(specs, lambda _: ToyEnv(n_tasks=6), simulated(0.5), max_concurrency=8)
    assert [r.trajectory.passed for r in a] == [r.trajectory.passed for r in b]
    assert [r.trajectory.task_id for r in a] == [s.task_id for s in specs]
    assert 0 < sum(r.trajectory.passed for r in a) < 30 and not any(r.infra_error for r in a)


def test_failures_are_isolated_and_recorded_as_infrastructure_errors():
    class Broken:
        def reset(self, obs, info):
            pass

        def act(self, obs, info):
            raise ConnectionError("model server went away")

    def policy(env, spec):
        return Broken() if spec.task_id == "sum-2" else SimulatedPolicy(env, p=1.0, seed=spec.seed)

    res = run_rollouts_sync(rollout_specs("toy", ["sum-1", "sum-2", "sum-3"], k=2), lambda _: ToyEnv(), policy, max_concurrency=4)
    bad = [r for r in res if r.infra_error]
    assert [r.spec.task_id for r in bad] == ["sum-2", "sum-2"]
    assert all("ConnectionError: model server went away" in r.trajectory.error and not r.trajectory.passed for r in bad)
    assert all(r.trajectory.passed for r in res if not r.infra_error)


def test_env_reported_infra_error_is_marked():
    class Crashy(ToyEnv):
        def _submit(self, args):
            raise RuntimeError("grader crashed")

    (r,) = run_rollouts_sync(rollout_specs("toy", ["sum-1"], k=1), lambda _: Crashy(), simulated(1.0))
    assert r.infra_error and "grader crashed" in r.trajectory.error


def test_limits_hold_and_the_loop_stays_free():
    SlowToy.peak = 0
    made = []

    def factory(env_id):
        made.append(env_id)
        return SlowToy()

    specs = rollout_specs("a", ["sum-1", "sum-2"], k=6) + rollout_specs("b", ["sum-1"], k=6)

    async def main():
        gaps = []
        done = asyncio.Event()

        async def heartbeat():  # a blocked loop shows as a gap as long as an env call
            last = time.perf_counter()
            while not done.is_set():
                await asyncio.sleep(0.002)
                now = time.perf_counter()
                gaps.append(now - last)
                last = now

        hb = asyncio.create_task(heartbeat())
        res = await run_rollouts(specs, factory, simulated(1.0), max_concurrency=4, per_env_limit={"a": 2, "b": 1})
        done.set()
        await hb
        return res, gaps

    res, gaps = asyncio.run(main())
    assert all(r.trajectory.passed for r in res)
    assert SlowToy.peak == 3, "2 instances of env a plus 1 of b, never more"
    assert made.count("a") == 2 and made.count("b") == 1, "env instances are pooled and reused"
    assert len(gaps) > 50 and max(gaps) < SlowToy.SLEEP_S / 2, f"env work must not block the event loop (longest gap {max(gaps):.3f} s)"


def test_majority_vote_and_best_of_n():
    s = [Sample(passed=False, answer="1", score=0.2), Sample(passed=True, answer="2", score=0.9), Sample(passed=True, answer="2"), Sample(passed=False, answer="1")]
    assert majority_vote(s) == 0  # tie 2-2: the answer seen first
    assert majority_vote(s[1:]) == 0 and best_of_n(s) == 1
    assert majority_vote([Sample(passed=False)]) == 0


def test_final_answer_and_select_trajectories():
    res = run_rollouts_sync(rollout_specs("toy", ["sum-3"], k=6), lambda _: ToyEnv(), simulated(0.5))
    trajs = [r.trajectory for r in res]
    answers = [final_answer(t) for t in trajs]
    assert set(answers) == {'{"answer": 6}', "{}"}
    best = select_trajectories(trajs, best_of_n, scores=[float(t.passed) for t in trajs])
    assert best.passed


@pytest.mark.parametrize("fp,fn", [(0.0, 0.0), (0.2, 0.0), (0.3, 0.2)])
def test_noisy_verifier_selected_accuracy_matches_its_ceiling(fp, fn):
    rng = np.random.default_rng(5)
    p, k = 0.3, 4
    samples = {f"t{i}": [Sample(passed=bool(rng.random() < p)) for _ in range(16)] for i in range(300)}
    est = selected_accuracy(samples, k, NoisyVerifier(fp_rate=fp, fn_rate=fn).selector(), seed=2)
    assert est.contains(verifier_ceiling(p, k, fp, fn)), (est, verifier_ceiling(p, k, fp, fn))
    cover = pass_at_k_estimate({t: [s.passed for s in r] for t, r in samples.items()}, k)
    if fp == fn == 0:
        assert verifier_ceiling(p, k, 0, 0) == pytest.approx(1 - (1 - p) ** k) and abs(est.mean - cover.mean) < 0.02
    else:
        assert est.high < cover.low, "an imperfect verifier stays below coverage"
