"""Every registered id passes `validate` on both runtimes, and every env class gymnasium's checker.

Validation runs each (id, runtime) on a seeded sample that covers every task family/template of
the id (tests/task_sample.py says how it is chosen); `agentgym validate ID` checks every task.
check_env runs once per env class x runtime: ids of one class differ only by their task list.
"""

from collections import defaultdict

import pytest
from gymnasium.utils.env_checker import check_env

import agentgym
from agentgym.validate import validate
from task_sample import family_sample

# Envs tagged "needs-dataset" (swe-verified) cannot be made offline without a file: their own
# tests build a local dataset and run the same checks (tests/test_swe_verified.py).
READY = [i for i in agentgym.list_envs() if "needs-dataset" not in agentgym.env_info(i).tags]


def _param(env_id, rt):
    return pytest.param(env_id, rt, id=f"{env_id}-{rt}", marks=[pytest.mark.docker] if rt == "docker" else [])


# Every (id, runtime) an env declares it supports; docker ones carry the docker marker.
COMBOS = [_param(i, rt) for i in READY for rt in agentgym.env_info(i).runtimes]


def _env_class(env_id):
    """An id's env class, named by its entry point's module (web.miniwob's make_env and make_lite
    are one class configured two ways; every id of a module differs only by its tasks or suite)."""
    return agentgym.env_info(env_id).entry_point.split(":")[0]


_BY_CLASS = defaultdict(list)
for _i in READY:
    _BY_CLASS[_env_class(_i)].append(_i)
#: One id per env class: its "lite" id where it has one (the cheapest to start), else its first.
CLASS_REPS = {cls: next((i for i in ids if "lite" in agentgym.env_info(i).tags), ids[0])
              for cls, ids in _BY_CLASS.items()}
CLASS_COMBOS = [_param(i, rt) for i in CLASS_REPS.values() for rt in agentgym.env_info(i).runtimes]

#: Lite ids that hold only tasks of other ids of their class (checked below), whose samples cover
#: every family of those tasks: validating them again would repeat them. (sql-*-lite have their own
#: databases, so they are validated.)
COVERED_LITE = {i: [j for j in _BY_CLASS[_env_class(i)] if j != i]
                for i in ("swe-synth-lite", "ts-lite", "web-lite", "web-miniwob-lite")}
VALIDATE_COMBOS = [c for c in COMBOS if c.values[0] not in COVERED_LITE]

_SAMPLES: dict[tuple[str, str], list[str]] = {}


def _sample(env_id, runtime):
    if (env_id, runtime) not in _SAMPLES:
        with agentgym.make(env_id, runtime="local") as env:  # the task list does not depend on the runtime
            _SAMPLES[env_id, runtime] = family_sample(env, env_id, runtime, "heavy" in agentgym.env_info(env_id).tags)
    return _SAMPLES[env_id, runtime]


@pytest.mark.parametrize("env_id, runtime", CLASS_COMBOS)
def test_check_env(env_id, runtime):
    with agentgym.make(env_id, runtime=runtime) as env:
        check_env(env, skip_render_check=True)


def test_check_env_covers_every_class_on_every_runtime():
    assert set(CLASS_REPS) == {_env_class(i) for i in READY}
    for i in READY:
        rep = CLASS_REPS[_env_class(i)]
        assert set(agentgym.env_info(i).runtimes) <= set(agentgym.env_info(rep).runtimes), (i, rep)


def test_lite_ids_left_out_of_validate_hold_only_tasks_their_siblings_validate():
    def tasks(env_id):
        with agentgym.make(env_id, runtime="local") as env:
            return set(env.unwrapped.task_ids())

    assert COVERED_LITE
    for lite, siblings in COVERED_LITE.items():
        missing = tasks(lite) - set().union(*(tasks(j) for j in siblings))
        assert not missing, (lite, sorted(missing)[:5])


@pytest.mark.parametrize("env_id, runtime", VALIDATE_COMBOS)
def test_validate_gold_passes_and_null_fails(env_id, runtime):
    report = validate(env_id, runtime=runtime, task_ids=_sample(env_id, runtime))
    failing = [r for r in report.rows if not r.gold_pass or r.null_pass or r.error]
    assert report.tasks > 0
    assert (report.gold_pass_rate, report.null_pass_rate, report.errors) == (1.0, 0.0, 0), failing
    assert report.runtime == runtime


def test_every_env_runs_without_docker():
    assert all("local" in agentgym.env_info(i).runtimes for i in agentgym.list_envs())
