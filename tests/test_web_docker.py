"""WebEnv on the docker runtime: sites in a container on an internal network (no internet), the
browser on the host reaching them, and container and network removed on close."""

from __future__ import annotations

import pytest

import agentgym
from agentgym.rollout import run_episode

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def _labelled(api, kind: str) -> list:
    from agentgym.sandbox import reaper

    filters = {"label": [f"agentgym.run={reaper.RUN_ID}", "agentgym.kind=web-sites"]}
    return api.containers(all=True, filters=filters) if kind == "container" else api.networks(filters=filters)


def test_docker_sites_private_network_and_cleanup():
    from agentgym.sandbox import reaper

    api = reaper.docker_client().api
    env = agentgym.make("web-booking", runtime="docker", per_template=None)
    try:
        env.reset(options={"task_id": "booking_make-0"})
        (net,) = _labelled(api, "network")
        assert api.inspect_network(net["Id"])["Internal"] is True
        (box,) = _labelled(api, "container")
        assert env.host.origins["booking"].startswith("http://172.") or env.host.origins["booking"].startswith("http://")
        # The container has no route out: the internal network is its only one.
        assert list(api.inspect_container(box["Id"])["NetworkSettings"]["Networks"]) == [net["Name"]]
        traj = run_episode(env, env.reference_policy(), options={"task_id": "booking_make-0"})
        assert traj.passed, env.last_check
        obs, *_ = env.step({"name": "noop"})  # episode over: no crash
        env.reset(options={"task_id": "booking_make-0"})
        obs, *_ = env.step({"name": "goto", "arguments": {"url": "/__state"}})
        assert "blocked" in obs["last_action_error"]
    finally:
        env.close()
    assert _labelled(api, "container") == [] and _labelled(api, "network") == []
