"""Every registered id passes gymnasium's checker and `validate`, on both runtimes."""

import pytest
from gymnasium.utils.env_checker import check_env

import agentgym
from agentgym.validate import spread_sample, validate

# Envs tagged "needs-dataset" (swe-verified) cannot be made offline without a file: their own
# tests build a local dataset and run the same checks (tests/test_swe_verified.py).
READY = [i for i in agentgym.list_envs() if "needs-dataset" not in agentgym.env_info(i).tags]
# Every (id, runtime) an env declares it supports; docker ones carry the docker marker.
COMBOS = [
    pytest.param(i, rt, id=f"{i}-{rt}", marks=[pytest.mark.docker] if rt == "docker" else [])
    for i in READY
    for rt in agentgym.env_info(i).runtimes
]
#: Envs tagged "heavy" (hundreds of tasks, or seconds per episode) are validated here on an evenly
#: spread sample; `agentgym validate ID` checks all of them (their full runs are in the issue notes).
HEAVY_SAMPLE = 4


def _sample(env_id, runtime):
    if "heavy" not in agentgym.env_info(env_id).tags:
        return None
    with agentgym.make(env_id, runtime=runtime) as env:
        return spread_sample(list(env.task_ids()), HEAVY_SAMPLE)


@pytest.mark.parametrize("env_id, runtime", COMBOS)
def test_check_env(env_id, runtime):
    with agentgym.make(env_id, runtime=runtime) as env:
        check_env(env, skip_render_check=True)


@pytest.mark.parametrize("env_id, runtime", COMBOS)
def test_validate_gold_passes_and_null_fails(env_id, runtime):
    report = validate(env_id, runtime=runtime, task_ids=_sample(env_id, runtime))
    failing = [r for r in report.rows if not r.gold_pass or r.null_pass or r.error]
    assert report.tasks > 0
    assert (report.gold_pass_rate, report.null_pass_rate, report.errors) == (1.0, 0.0, 0), failing
    assert report.runtime == runtime


def test_every_env_runs_without_docker():
    assert all("local" in agentgym.env_info(i).runtimes for i in agentgym.list_envs())
