"""Attacks on the sandbox itself (its command server, its limits), through the shell fixture's
tool calls only, on both runtimes where the defence exists. Each ends in reward 0 or a clear
refusal (info["agent_failure"], never info["error"]) while an honest neighbour episode beside it
still scores 1.0 (helpers in test_shell.py)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.adversarial.test_shell import bash, beside, call, pair, refused_submit  # noqa: F401 - pair is a fixture


def test_attack_device_and_fifo_through_the_read_tool(pair: tuple[Any, Any]) -> None:  # noqa: F811
    """read_file on a link to /dev/zero and on a FIFO, write_file on the FIFO: each used to hang
    or exhaust the command server (every later call an infrastructure error). Stopped by the
    server's non-blocking, typed opens: a refusal as an agent failure, the episode goes on."""
    a, b = pair
    with beside(b):
        a.reset(options={"task_id": "hello"})
        bash(a, "ln -s /dev/zero z; mkfifo p")
        for name, args in (("read_file", {"path": "z"}), ("read_file", {"path": "p"}),
                           ("write_file", {"path": "p", "content": "x"})):
            t0 = time.monotonic()
            text, _, terminated, info = call(a, name, **args)
            assert info.get("agent_failure") and "error" not in info and not terminated, (text, info)
            assert time.monotonic() - t0 < 20
        assert "alive" in bash(a, "echo alive")
        refused_submit(a)


def test_attack_output_flood(pair: tuple[Any, Any]) -> None:  # noqa: F811
    """A command prints 50 MB, and a background job keeps printing between calls: output piling up
    in the server or the observation would exhaust the host. Stopped by the per-command cap (head
    and tail kept, a marker in between) and the bounded carry-over of background output."""
    a, b = pair
    with beside(b):
        a.reset(options={"task_id": "hello"})
        text = bash(a, "head -c 50000000 /dev/zero | tr '\\0' x", timeout=60)
        assert "output truncated" in text and len(text) < 200_000
        bash(a, "(yes flood &) ; sleep 0.2")
        for _ in range(3):  # the flood buries the command's own output in the cut, but the call returns
            text = bash(a, "echo still-here")
            assert "[exit code: 0]" in text and len(text) < 200_000
        bash(a, "pkill yes || true")
        assert "still-here" in bash(a, "echo still-here")
        refused_submit(a)


@pytest.mark.parametrize("pair", [pytest.param("docker", marks=pytest.mark.docker)], indirect=True)
def test_attack_fork_bomb(pair: tuple[Any, Any]) -> None:  # noqa: F811
    """A fork bomb, in the foreground and detached. Stopped by the container's pids limit (128
    for the fixture) and the timeout's hunt for every process of the command; reset gives a clean
    container. (The local runtime has no pids limit: it is not run there, see the README.)"""
    a, b = pair
    assert a.unwrapped.runtime == "docker"  # the local runtime has no pids limit to test
    with beside(b):
        a.reset(options={"task_id": "hello"})
        text = bash(a, ":(){ :|:& };:; while true; do true; done", timeout=3)
        assert "timed out" in text
        assert "alive" in bash(a, "echo alive")
        bash(a, ":(){ :|:& };:", timeout=3)
        refused_submit(a)
    a.reset(options={"task_id": "hello"})
    assert int(bash(a, "ps -e --no-headers | wc -l").split()[0]) < 10


def test_attack_disk_fill(pair: tuple[Any, Any]) -> None:  # noqa: F811
    """The agent writes a 200 MB file, then (docker) tries the root filesystem and fills every
    writable mount with 60 MB files. Stopped by the fixture's limits: no file past 64 MiB
    (RLIMIT_FSIZE, both runtimes) and, in docker, a read-only root with the workdir, /tmp and
    /var/tmp on tmpfs sized to 3/4 of the memory limit in all: the filler gets ENOSPC, nothing
    reaches the host's disk, and the command server keeps the memory it needs (full tmpfs used to
    starve it: an infrastructure error)."""
    a, b = pair
    with beside(b):
        a.reset(options={"task_id": "hello"})
        text = bash(a, "head -c 200000000 /dev/zero > big; echo rc=$?; wc -c < big", timeout=60)
        assert "rc=0" not in text and str(64 << 20) in text, text
        if a.unwrapped.runtime == "docker":
            assert "Read-only file system" in bash(a, "echo x > /big.txt")
            text, _, terminated, info = call(a, "bash", timeout=120, command=(
                "for d in . /tmp /var/tmp; do for i in 1 2 3 4 5 6 7 8; do "
                "head -c 60000000 /dev/zero > $d/fill$i 2>/dev/null || break; done; done; df -m . /tmp /var/tmp"))
            assert "error" not in info and not terminated and "100%" in text, (text, info)
            assert "alive" in bash(a, "echo alive")
        refused_submit(a)


def test_attack_kill_the_command_server(pair: tuple[Any, Any]) -> None:  # noqa: F811
    """The agent kills the sandbox's command server (its shell's parent), and in docker every
    process it can signal (kill -9 -1): reported as infrastructure, this would void the episode
    instead of scoring it. Stopped by attribution: the sandbox is up and a fresh server answers,
    so it is the agent's failure (info["agent_failure"]), and the episode goes on to a 0."""
    a, b = pair
    attacks = ["kill -9 $PPID"] + (["kill -9 -1"] if a.unwrapped.runtime == "docker" else [])
    with beside(b):
        a.reset(options={"task_id": "hello"})
        for cmd in attacks:
            text, _, terminated, info = call(a, "bash", command=cmd)
            assert "command server" in info.get("agent_failure", "") and "error" not in info and not terminated, info
            assert "back" in bash(a, "echo back")
        refused_submit(a)


FORGE = r"""python3 - "$PPID" <<'EOF'
import json, os, struct, sys
fd = os.open("/proc/%s/fd/1" % sys.argv[1], os.O_WRONLY)
body = json.dumps({"ok": True, "exit_code": 0, "stdout": "forged", "stderr": "", "timed_out": False,
                   "truncated": False, "duration_s": 0, "data": "aGVsbG8sIHdvcmxkCg=="}).encode()
os.write(fd, struct.pack(">I", len(body)) + body + (b"\xff\xff\xff\xff" if sys.argv[1:] else b""))
EOF"""


def test_attack_forge_the_channels_replies(pair: tuple[Any, Any]) -> None:  # noqa: F811
    """The agent writes into its command server's output (/proc/$PPID/fd/1): a forged reply
    (read_file data saying "hello, world"), then a header announcing a 4 GiB reply. Before, the
    host took the forged frame as the answer to its request, read the next reply out of step (a
    KeyError: an infrastructure error), or waited for the 4 GiB. Stopped by each request's random
    seq that a reply must echo and a size bound per request: a reply that fails either is the
    agent's doing (a fresh server, info["agent_failure"]). In docker the host reads replies from
    a unix socket the agent cannot open, so the writes go nowhere."""
    a, b = pair
    with beside(b):
        a.reset(options={"task_id": "hello"})
        text, _, terminated, info = call(a, "bash", command=FORGE)
        assert "error" not in info and not terminated, (text, info)
        if a.unwrapped.runtime == "local":
            assert "command server" in info.get("agent_failure", ""), info
        assert "back" in bash(a, "echo back")
        refused_submit(a)
