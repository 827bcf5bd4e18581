"""The validation sample (tests/task_sample.py) covers every family/template and is stable."""

import agentgym
from task_sample import cover_sample, family_sample, task_keys


def test_cover_sample_covers_every_key_and_is_stable():
    ids = [f"{db}.{t}.v{n}" for db in ("a", "b", "c") for t in ("x", "y", "z", "w") for n in (1, 2)]
    keys = lambda i: task_keys("sql-a", i)  # noqa: E731
    one = cover_sample(ids, keys, "sql-a/local")
    assert one == cover_sample(ids, keys, "sql-a/local")
    assert {k for i in one for k in keys(i)} == {k for i in ids for k in keys(i)}
    assert len(one) == 4 and one == [i for i in ids if i in one]
    assert any(cover_sample(ids, keys, f"sql-a/{s}") != one for s in range(5))  # the seed picks instances


def test_samples_of_the_shipped_suites_cover_their_templates():
    with agentgym.make("sql-a", runtime="local") as env:
        sample = family_sample(env, "sql-a", "docker")
        assert {t.split(".")[1] for t in sample} == {t.split(".")[1] for t in env.task_ids()}
        assert len(sample) < len(env.task_ids()) // 5
    with agentgym.make("swe-synth-lite", runtime="local") as env:
        sample = family_sample(env, "swe-synth-lite", "local")
        kinds = {env.instances[t].mutation["kind"] for t in env.task_ids()}
        assert {env.instances[t].mutation["kind"] for t in sample} == kinds and len(kinds) > 5
        assert {t.split("__")[0] for t in sample} == {t.split("__")[0] for t in env.task_ids()}
    with agentgym.make("ts-forecast", runtime="local") as env:
        sample = family_sample(env, "ts-forecast", "local")
        assert {"fc-synth", "fc-regime", "fc-real", "fc-quantile"} <= {"-".join(t.split("-")[:2]) for t in sample}
    with agentgym.make("web-shop", runtime="local") as env:
        sample = family_sample(env, "web-shop", "local")
        assert sorted(t.rsplit("-", 1)[0] for t in sample) == sorted({t.rsplit("-", 1)[0] for t in env.task_ids()})


def test_a_heavy_id_without_families_gets_a_seeded_draw():
    class Env:
        def task_ids(self):
            return [f"miniwob.t{i}" for i in range(40)]

    local = family_sample(Env(), "web-x", "local", heavy=True)
    docker = family_sample(Env(), "web-x", "docker", heavy=True)
    assert len(local) == len(docker) == 4 and local != docker
    assert local == family_sample(Env(), "web-x", "local", heavy=True)
    assert len(family_sample(Env(), "web-x", "local")) == 40  # not heavy: every task
