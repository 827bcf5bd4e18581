"""Who is blamed for an OOM of a docker sandbox (_docker_util.oom_check), without Docker: a fake API.

The agent fills its container's memory and the kernel kills pid 1 (test_redteam.py does it for
real): SandboxOutOfMemory, an agent failure. On a loaded machine dockerd took more than the 3 s the
check waited to record the kill, so the agent's OOM became an infrastructure error (and dodged
its zero). The check now waits while the container's first process is gone from the host, and
stops waiting after a second when it runs (nothing to wait for).
"""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from agentgym.sandbox._docker_util import oom_check
from agentgym.sandbox.base import SandboxOutOfMemory


class _LateDocker:
    """inspect_container says Running (pid 1 already dead) for `late_s`, then exited OOMKilled."""

    def __init__(self, late_s: float, pid: int, oom: bool = True):
        self.until, self.pid, self.oom = time.monotonic() + late_s, pid, oom

    def inspect_container(self, cid):
        if time.monotonic() < self.until:
            return {"State": {"Running": True, "OOMKilled": False, "Pid": self.pid}}
        return {"State": {"Running": False, "OOMKilled": self.oom, "Pid": 0}}


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_an_oom_docker_records_late_is_still_the_agents():
    with pytest.raises(SandboxOutOfMemory):
        oom_check(_LateDocker(4.5, _dead_pid()), "c", "sbx", "512m")


def test_a_container_that_runs_is_not_waited_for():
    t0 = time.monotonic()
    assert oom_check(_LateDocker(60, os.getpid()), "c", "sbx", "512m") is True
    assert time.monotonic() - t0 < 5


def test_a_stop_without_an_oom_kill_stays_infrastructure():
    assert oom_check(_LateDocker(0.5, _dead_pid(), oom=False), "c", "sbx", "512m") is False
