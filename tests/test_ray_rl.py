"""RL collection on a real two-node Ray cluster (agentgym.distributed.collect): env workers are Ray
actors on both nodes, the driver's deterministic token backend generates, and the records (prompt
ids, masks, logprobs, rewards, group, seed, infrastructure errors) equal the in-process
collector's for the same seeds; an env actor whose process dies mid-episode costs that episode
only (an infrastructure error, dropped and counted by make_batch) and the group goes on on a
fresh actor. One module-scoped cluster."""

from __future__ import annotations

import asyncio
import os

import psutil
import pytest

from conftest import IN_CI

try:
    import transformers  # noqa: F401
except ImportError:
    if IN_CI:
        raise
    pytest.skip("needs transformers (a tokenizer with a chat template)", allow_module_level=True)
if IN_CI:
    import ray  # `make install` installs agentgym[ray]: under CI a missing Ray is a failure, not a skip
else:
    ray = pytest.importorskip("ray", reason="the Ray executor needs agentgym[ray]")

import rl_fakes  # noqa: E402
from rl_fakes import GuessEnv, byte_tokenizer, call_text  # noqa: E402

from agentgym.distributed import RayExecutor  # noqa: E402
from agentgym.distributed.collect import GroupSpec, acollect_groups  # noqa: E402
from agentgym.models.base import ModelBackend, TokenSample  # noqa: E402
from agentgym.rl.chat_format import HFChatFormat  # noqa: E402
from agentgym.rl.collect import acollect_group  # noqa: E402
from agentgym.rl.groups import make_batch  # noqa: E402
from ray_cluster import cluster  # noqa: E402


class SeededTokens(ModelBackend):
    """Deterministic by (episode seed, turn) alone, so concurrent groups sample what serial ones do:
    turn 0 looks, turn 1 submits 7 (right) unless the episode seed is a multiple of 3.
    `on_sample(seed)` runs before each sample (a test's fault injection)."""

    model = "seeded"

    def __init__(self, tok, on_sample=None):
        self.tok, self.on_sample = tok, on_sample

    async def chat(self, *a, **k):
        raise AssertionError("token-level only")

    async def generate_ids(self, prompt_ids, *, max_tokens, temperature=1.0, seed=None, stop_ids=()):
        if self.on_sample is not None:
            await asyncio.to_thread(self.on_sample, seed)
        ep, turn = divmod(seed, 1000)
        reply = call_text("look") if turn == 0 else call_text("submit", {"answer": 3 if ep % 3 == 0 else 7})
        ids = self.tok.encode(reply, add_special_tokens=False)[: max_tokens - 1] + [self.tok.eos_token_id]
        return TokenSample(ids=ids, logprobs=[-0.1 - (i % 5) / 10 for i in range(len(ids))], finish_reason="stop")


GROUPS = [GroupSpec(env_id="guess-test", task_id=t, n=n, seed=s, group_id=f"{t}/{s}") for t, n, s in
          (("t1", 3, 0), ("t2", 3, 10), ("t1", 2, 20), ("t2", 2, 30))]


# A lambda travels by value (cloudpickle); GuessEnv by reference: the nodes import rl_fakes first (imports=).
make_guess = lambda env_id: GuessEnv(fail_seeds={11}, reset_fail_seeds={21})  # noqa: E731


@pytest.fixture(scope="module")
def fmt():
    return HFChatFormat(byte_tokenizer())


@pytest.fixture(scope="module")
def ray_cluster():
    with cluster(nodes=2) as c:
        ex = RayExecutor(c.address, imports=[rl_fakes.__file__])
        try:
            ex.connect()
            yield c, ex
        finally:
            ex.close()


def _view(eps):
    return [e.model_dump(exclude={"seconds"}) for e in eps]


def test_groups_on_two_nodes_equal_the_in_process_collector(ray_cluster, fmt):
    _, ex = ray_cluster
    backend = SeededTokens(fmt.tokenizer)
    there = asyncio.run(acollect_groups(ex, GROUPS, make_guess, backend, fmt, max_concurrency=2))
    here = [asyncio.run(acollect_group(make_guess(g.env_id), backend, fmt, task_id=g.task_id, n=g.n, seed=g.seed, group_id=g.group_id))
            for g in GROUPS]
    assert [_view(g) for g in there] == [_view(g) for g in here]
    assert len({n for n in ex.nodes}) == 2, f"the groups ran on one node only: {ex.nodes}"
    flat = [e for g in there for e in g]
    assert [e.seed for e in flat] == [0, 1, 2, 10, 11, 12, 20, 21, 30, 31]
    assert all(e.prompt_ids and e.turns and e.turns[0].logprobs for e in flat if e.seed != 21)
    # the faults of the env (grader died on seed 11, reset failed on 21) are infra errors, dropped and counted
    errors = {e.seed: e.infra_error for e in flat if e.infra_error}
    assert set(errors) == {11, 21} and "grader container died" in errors[11], errors
    assert errors[21].startswith("reset failed: ") and "sandbox did not start" in errors[21]
    batch, ref = make_batch(flat), make_batch([e for g in here for e in g])
    no_time = {"episodes": {"__all__": {"seconds"}}}
    assert batch.model_dump(exclude=no_time) == ref.model_dump(exclude=no_time)
    assert batch.dropped_infra == 2 and len(batch.groups) == 4
    assert [e.passed for e in flat] == [False, True, True, True, False, False, True, False, False, True]


def test_an_env_actor_killed_mid_episode_costs_that_episode_only(ray_cluster, fmt):
    c, ex = ray_cluster
    killed: list[int] = []

    def kill_actor(seed):  # before episode 1's second sample: its actor's process dies (its node lives)
        if seed == 1001 and not killed:
            [p] = [p for p in c.processes() if "EnvWorker" in " ".join(_cmd(p))]
            killed.append(p.pid)
            p.kill()
            p.wait(10)

    backend = SeededTokens(fmt.tokenizer, on_sample=kill_actor)
    [eps] = asyncio.run(acollect_groups(ex, [GroupSpec(env_id="guess-test", task_id="t1", n=3, seed=0)], make_guess, backend, fmt,
                                        max_concurrency=1))
    assert killed and [e.seed for e in eps] == [0, 1, 2]
    assert eps[1].infra_error and "step raised" in eps[1].infra_error and "Actor" in eps[1].infra_error
    assert eps[0].infra_error is None and eps[2].infra_error is None and eps[2].passed
    batch = make_batch(eps)
    assert batch.dropped_infra == 1 and batch.dropped_episode_ids == ["t1@0/1"] and len(batch.episodes) == 2
    assert os.getpid() not in killed


def _cmd(p):
    try:
        return p.cmdline()
    except psutil.Error:
        return []
