"""The training loops' review findings (issue 17, RV1 F2, L4, L5 and FX3's open item).

Why each: a `split` in SkyRL's env_config reached agentgym.make and every env's __init__ raised;
a group id shared by two tasks (or two envs) pooled their rewards into one mean; the split's task
listing ran outside the reset's infrastructure guard (a backend that is down raised out of TRL's
and SkyRL's generators) and re-listed every task at every reset; the TRL evaluation and
run_episode summed a NaN step reward into the episode's total and its mean.
"""

from __future__ import annotations

import math

import pytest

from agentgym.rl.groups import make_batch
from agentgym.rl.records import TokenEpisode
from agentgym.rl.splits import split_of

KW = {"runtime": "local"}


# -- L4: a group is one task of one env -----------------------------------------------------------------
@pytest.mark.parametrize("what, other", [("task_id", "count-lines"), ("env_id", "shell-fixture-2")])
def test_a_group_mixing_tasks_or_envs_is_refused(what, other):
    eps = [TokenEpisode(episode_id=f"g/{i}", group_id="g", env_id="shell-fixture", task_id="hello", seed=0, prompt_ids=[1],
                        reward=float(i)) for i in range(2)]
    eps[1] = eps[1].model_copy(update={what: other})
    with pytest.raises(ValueError, match=f"group 'g' mixes {what} .* a group is one task sampled by one policy"):
        make_batch(eps)
    assert len(make_batch(eps[:1]).episodes) == 1


# -- L5: the split's task listing: once per env, and its failure is the rollout's infra error ------------
class _Counting:
    """Wraps the env's task_ids: counts calls; raises while ``down``."""

    def __init__(self, real):
        self.real, self.calls, self.down = real, 0, False

    def __call__(self):
        self.calls += 1
        if self.down:
            raise ConnectionError("task store unreachable")
        return self.real()


def test_trl_env_lists_the_split_once_and_a_failed_listing_is_unscored(monkeypatch):
    from agentgym.rl import splits
    from agentgym.rl.trl_env import EpisodeStat, environment_class

    stats: list[EpisodeStat] = []
    inst = environment_class("shell-fixture", env_kwargs=KW, max_turns=2, on_episode=stats.append)()
    try:
        base = inst.env.unwrapped
        asked: list[str] = []
        monkeypatch.setattr(splits, "split_of", lambda env, t: asked.append(t) or split_of(env, t))
        for seed in (0, 1, 2):
            inst.reset(seed=seed, split="train")
            assert split_of(base, inst.task_id) == "train" and inst.error is None
        assert sorted(asked) == sorted(base.task_ids())  # each task's split read once per env, not at every reset
        fresh = environment_class("shell-fixture", env_kwargs=KW, max_turns=2, on_episode=stats.append)()
        try:
            fresh.env.unwrapped.task_ids = down = _Counting(fresh.env.unwrapped.task_ids)
            down.down = True
            text = fresh.reset(seed=0)  # no task_id: the listing fails
            assert "Infrastructure error (not your fault)" in text and "ConnectionError" in fresh.error
            assert fresh.get_reward() is None
        finally:
            fresh._close()
    finally:
        inst._close()


def test_skyrl_split_in_env_config_is_not_an_env_option_and_listing_failures_are_flagged():
    skyrl_gym = pytest.importorskip("skyrl_gym")
    from agentgym.rl.adapters.skyrl import AgentGymTextEnv, register_skyrl

    env = skyrl_gym.make(register_skyrl(), env_config={**KW, "split": "test", "env_id": "shell-fixture"}, extras={"seed": 3})
    try:
        assert isinstance(env, AgentGymTextEnv) and env.split == "test"
        _, meta = env.init([])
        assert split_of(env.env.unwrapped, meta["task_id"]) == "test" and "infra_error" not in meta
    finally:
        env.close()
    env = AgentGymTextEnv({**KW, "split": "train"}, {"env_id": "shell-fixture", "seed": 0})
    try:
        env.env.unwrapped.task_ids = down = _Counting(env.env.unwrapped.task_ids)
        down.down = True
        chat, meta = env.init([])
        assert "ConnectionError" in meta["infra_error"] and "Infrastructure error" in chat[-1]["content"]
        out = env.step("anything")
        assert out["done"] and out["reward"] == 0.0 and out["metadata"]["infra_error"] == meta["infra_error"]
    finally:
        env.close()


# -- a non-finite reward in the evaluation and in run_episode --------------------------------------------
class _NanEnv:
    """An env whose grader returns NaN on the first step (the env's bug); it never ends by itself."""

    tools: list = []
    env_id = "nan-env"

    def __init__(self):
        self.unwrapped = self
        self.steps = 0

    def reset(self, seed=None, options=None):
        self.steps = 0
        return {"text": "task"}, {"task_id": (options or {}).get("task_id", "t")}

    def step(self, action):
        self.steps += 1
        return {"text": "graded"}, float("nan") if self.steps == 1 else 1.0, False, False, {}

    def passed(self, total, info):
        return True

    def close(self):
        pass


def test_evaluation_leaves_a_non_finite_reward_out_of_its_means(monkeypatch):
    torch = pytest.importorskip("torch")
    from agentgym.rl import trl_eval

    class Tok:
        eos_token_id, pad_token_id = 1, 0

        def apply_chat_template(self, messages, **kw):
            return {"input_ids": [5, 6]}

        def decode(self, ids, **kw):
            return "no call"

    class Model:
        def eval(self):
            return self

        def generate(self, input_ids, **kw):
            return torch.cat([input_ids, torch.tensor([[7, 1]] * len(input_ids))], dim=1)

    monkeypatch.setattr("agentgym.make", lambda env_id, **kw: _NanEnv())
    r = trl_eval.evaluate(Model(), Tok(), "nan-env", ["t"], seeds=(0, 1), max_turns=3)
    assert r["reward"] is None and r["pass_rate"] is None and r["infra_errors"] == 2, r
    assert all("non-finite" in e["infra_error"] and e["reward"] == 0.0 and e["turns"] == 1 for e in r["episodes"])


def test_run_episode_records_a_non_finite_reward_as_an_infrastructure_error():
    from agentgym.rollout import run_episode

    class Policy:
        def reset(self, obs, info):
            pass

        def act(self, obs, info):
            return {"name": "look", "arguments": {}}

    env = _NanEnv()
    traj = run_episode(env, Policy(), seed=0, options={"task_id": "t"})
    assert env.steps == 1 and traj.turns == 1  # nothing more ran after the env's bug
    assert "non-finite" in traj.error and not traj.passed and traj.total_reward == 0.0 and math.isfinite(traj.steps[0].reward)
    assert traj.model_dump_json()  # no NaN in the record
