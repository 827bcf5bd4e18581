"""Red-team attacks found after the domains and sandboxes were hardened (issue 13): each made as an
agent makes it, through env.step tool calls on a shipped id, asserting the SAFE behaviour. An attack
on a domain whose fix belongs to another owner is xfail(strict=True) with the hole named, so the
suite stays green and the hole stays on record until its owner closes it."""

from __future__ import annotations

from typing import Any

import pytest

from tests.adversarial.test_shell import bash, beside, call

docker = pytest.mark.docker

#: Raise the container's pid 1 (the keeper) to the highest OOM score, then fill the memory limit
#: with many mid-sized processes: each scores below pid 1 (their own adj is the server's 500), so
#: the kernel's OOM killer takes pid 1 and the whole container stops.
OOM_PID1 = ("echo 1000 > /proc/1/oom_score_adj; "
            "lim=$(cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes); "
            "chunk=$((lim/16)); for i in $(seq 24); do python3 -c \"import time; a=bytearray($chunk); "
            "a[::4096]=b'x'*len(a[::4096]); time.sleep(30)\" & done; sleep 20")


@pytest.fixture(scope="module")
def docker_pair() -> Any:
    import agentgym

    a = agentgym.make("shell-fixture", runtime="docker")
    b = agentgym.make("shell-fixture", runtime="docker")
    try:
        yield a, b
    finally:
        a.close()
        b.close()


@docker
def test_attack_oom_kill_the_containers_pid1(docker_pair: tuple[Any, Any]) -> None:
    """Root in the container writes 1000 to /proc/1/oom_score_adj and fills the memory limit with
    24 processes of 1/16 of it each: the kernel's OOM killer picks pid 1 and the container stops.
    The channel could not reopen, so this was 'Infrastructure error (not your fault)' (ChannelDied)
    and the episode left out of scores. Stopped by the channel asking Docker why the container
    ended: OOMKilled is SandboxOutOfMemory, an agent failure that ends the episode with reward 0;
    reset gives a fresh container and the neighbour's episode is untouched."""
    a, b = docker_pair
    with beside(b):
        a.reset(options={"task_id": "hello"})
        call(a, "write_file", path="hello.txt", content="hello, world\n")  # a correct answer, then the attack
        text, reward, terminated, info = call(a, "bash", command=OOM_PID1, timeout=40)
        assert "error" not in info, (text, info)
        assert terminated and reward == 0.0 and "out of memory" in info.get("agent_failure", ""), (text, info)
    a.reset(options={"task_id": "hello"})
    assert "alive" in bash(a, "echo alive")


@docker
@pytest.mark.xfail(strict=True, reason="no disk quota on a docker sandbox's writable root (time series and SWE "
                   "specs are read_only=False; overlay2 on ext4 has no size option): one call takes ~6 GB of the "
                   "host's docker disk, ~40 calls fill it for every episode; owner: timeseries, swe (spec), sandbox")
def test_attack_fill_the_host_disk_through_the_writable_root() -> None:
    """Three 1.9 GB fallocate calls in /var/tmp of a time-series sandbox (RLIMIT_FSIZE caps one
    file at 2 GB, not their number): the blocks are taken on the host disk that holds every
    container, PostgreSQL data and image at once. Safe behaviour: the sandbox's writable space is
    bounded (a read-only root with tmpfs sized from the memory limit, as the shell fixture has, or
    a quota), so the third allocation fails inside the sandbox."""
    import agentgym

    env = agentgym.make("ts-impute", runtime="docker", tasks=["imp-scattered-d-10"])
    try:
        env.reset(options={"task_id": "imp-scattered-d-10"})
        obs, _, _, _, info = env.step({"name": "bash", "arguments": {
            "command": "for i in 1 2 3; do fallocate -l 1900M /var/tmp/f$i || echo REFUSED; done; rm -f /var/tmp/f*"}})
        assert "error" not in info, info
        assert "REFUSED" in obs["text"], obs["text"][:500]
    finally:
        env.close()
