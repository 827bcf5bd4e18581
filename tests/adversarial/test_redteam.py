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
