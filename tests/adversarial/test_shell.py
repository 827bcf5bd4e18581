"""Attacks on the shell fixture's grading paths and files, through tool calls only, on both runtimes.

Each attack is run by an "attacker" env while a "neighbour" env of the same runtime has an honest
episode open beside it; the attack must end in reward 0 or a clear refusal (an error observation
with info["agent_failure"], never info["error"]), and the neighbour must still score 1.0.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import pytest

import agentgym

RUNTIMES = ["local", pytest.param("docker", marks=pytest.mark.docker)]


@pytest.fixture(scope="module", params=RUNTIMES)
def pair(request: pytest.FixtureRequest) -> Iterator[tuple[Any, Any]]:
    """(attacker, neighbour): two shell-fixture envs of one runtime, kept for the module."""
    a = agentgym.make("shell-fixture", runtime=request.param)
    b = agentgym.make("shell-fixture", runtime=request.param)
    try:
        yield a, b
    finally:
        a.close()
        b.close()


def call(env: Any, name: str, **arguments: Any) -> tuple[str, float, bool, dict[str, Any]]:
    obs, reward, terminated, _, info = env.step({"name": name, "arguments": arguments})
    return obs["text"], reward, terminated, info


def bash(env: Any, command: str, **kw: Any) -> str:
    return call(env, "bash", command=command, **kw)[0]


@contextlib.contextmanager
def beside(neighbour: Any) -> Iterator[None]:
    """An honest episode open in the neighbour env for the whole attack; it must still pass."""
    neighbour.reset(options={"task_id": "hello"})
    call(neighbour, "write_file", path="hello.txt", content="hello, world\n")
    yield
    text, reward, terminated, info = call(neighbour, "submit")
    assert terminated and reward == 1.0 and "error" not in info, text


def refused_submit(env: Any, *words: str) -> dict[str, Any]:
    """Submit; it must be reward 0 and, where words are given, an agent failure naming one of them."""
    text, reward, terminated, info = call(env, "submit")
    assert terminated and reward == 0.0 and "error" not in info, (text, info)
    if words:
        assert any(w in info.get("agent_failure", "") for w in words), info
    return info


def test_attack_dev_zero_at_the_answer_path(pair: tuple[Any, Any]) -> None:
    """answer.txt is a symlink to /dev/zero: the grader's read used to never end (the server read
    it whole, issue 13). Stopped by the server's typed read: a device is refused before any byte is
    read (locally, the link out of the sandbox already is); reward 0 as an agent failure."""
    a, b = pair
    with beside(b):
        a.reset(options={"task_id": "count-lines"})
        bash(a, "ln -s /dev/zero answer.txt")
        t0 = time.monotonic()
        refused_submit(a, "character device", "out of the sandbox")
        assert time.monotonic() - t0 < 20
    a.reset(options={"task_id": "hello"})
    assert "alive" in bash(a, "echo alive")


def test_attack_fifo_at_the_answer_path(pair: tuple[Any, Any]) -> None:
    """answer.txt is a FIFO nobody writes: a blocking open stalled every call. Stopped by the
    O_NONBLOCK open and the type check on the descriptor: refused at once, reward 0."""
    a, b = pair
    with beside(b):
        a.reset(options={"task_id": "count-lines"})
        bash(a, "mkfifo answer.txt")
        t0 = time.monotonic()
        refused_submit(a, "FIFO")
        assert time.monotonic() - t0 < 20


def test_attack_sparse_giant_at_the_answer_path(pair: tuple[Any, Any]) -> None:
    """answer.txt is a 60 MB sparse file: read whole before any size check, it bloats the host.
    Stopped by the size check on st_size before reading (the grader allows 1 MiB): reward 0."""
    a, b = pair
    with beside(b):
        a.reset(options={"task_id": "count-lines"})
        bash(a, "truncate -s 60M answer.txt")
        refused_submit(a, "limit")


def test_attack_symlink_out_at_the_answer_path(pair: tuple[Any, Any], tmp_path: Any) -> None:
    """hello.txt is a link to a host file that holds the expected content (standing for the
    host's answers). Locally the server resolves the link on the open descriptor and refuses it;
    in a container the path is the container's own (absent): reward 0 either way."""
    a, b = pair
    (tmp_path / "h").write_text("hello, world\n")
    with beside(b):
        a.reset(options={"task_id": "hello"})
        bash(a, f"ln -s {tmp_path}/h hello.txt")
        info = refused_submit(a)
        if a.unwrapped.runtime == "local":
            assert "out of the sandbox" in info["agent_failure"]


def test_attack_file_tools_escape_the_workdir(pair: tuple[Any, Any], tmp_path: Any) -> None:
    """read_file/write_file with ../ or an absolute path, or through a symlinked directory: on the
    local runtime these were the host's files. Stopped by the tools' path check (inside the
    workdir or an action error) and, for links, by the server's resolution (local)."""
    a, b = pair
    with beside(b):
        a.reset(options={"task_id": "hello"})
        for path in ("../../../../../etc/passwd", "/etc/passwd", f"{tmp_path}/x"):
            text, _, _, info = call(a, "read_file", path=path)
            assert "outside the working directory" in info.get("action_error", ""), text
        text, _, _, info = call(a, "write_file", path=f"../../../../..{tmp_path}/escaped.txt", content="x")
        assert "outside the working directory" in info.get("action_error", "") and not (tmp_path / "escaped.txt").exists()
        bash(a, f"ln -s {tmp_path} out")
        text, _, _, info = call(a, "write_file", path="out/escaped.txt", content="x")
        if a.unwrapped.runtime == "local":
            assert "out of the sandbox" in info.get("agent_failure", "") and "error" not in info, text
        assert not (tmp_path / "escaped.txt").exists()
        refused_submit(a)


def test_attack_copy_out_of_a_tree_linked_out(pair: tuple[Any, Any]) -> None:
    """rename-ext's grader copies notes/ out: the agent makes notes a link to / and plants a FIFO
    and a device link under it. Stopped by the bounded, filtered copy (links out and special files
    are never followed or copied; locally the link out is refused): reward 0."""
    a, b = pair
    with beside(b):
        a.reset(options={"task_id": "rename-ext"})
        bash(a, "mv notes n2 && ln -s / notes")
        refused_submit(a)
        a.reset(options={"task_id": "rename-ext"})
        bash(a, "rm notes/*; mkfifo notes/a.md; ln -s /dev/zero notes/b.md")
        t0 = time.monotonic()
        refused_submit(a)
        assert time.monotonic() - t0 < 20


def test_attack_import_agentgym_for_the_hidden_inputs(pair: tuple[Any, Any]) -> None:
    """reverse.sh looks the grader's hidden inputs up in agentgym itself and only answers those
    (on the local runtime `python3` was agentgym's own venv). Stopped by the local sandbox's venv
    without agentgym (and docker images without it): the import fails, reward 0."""
    a, b = pair
    script = ("python3 - \"$1\" <<'EOF'\nimport sys\nfrom agentgym.envs.shell.tasks import build_tasks\n"
              "hidden = build_tasks('local')['reverse-script'].hidden\n"
              "print(sys.argv[1][::-1] if sys.argv[1] in hidden else 'x')\nEOF\n")
    with beside(b):
        a.reset(options={"task_id": "reverse-script"})
        out = bash(a, "python3 -c 'import agentgym' 2>&1 | tail -1")
        assert "No module named 'agentgym'" in out, out
        call(a, "write_file", path="reverse.sh", content=script)
        refused_submit(a)


def test_attack_hunt_the_hosts_cache_and_environment(pair: tuple[Any, Any], tmp_path: Any,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The agent looks for the host's task data where a program would keep it: $AGENTGYM_CACHE,
    ~/.cache/agentgym, the host's environment. Stopped by the sandbox's clean environment and its
    own HOME (a container has neither). What stays readable on the local runtime by absolute path
    is listed in the README."""
    a, b = pair
    (tmp_path / "agentgym").mkdir()
    (tmp_path / "agentgym" / "answers.txt").write_text("s3cret-answer")
    monkeypatch.setenv("AGENTGYM_CACHE", str(tmp_path / "agentgym"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    a.close()  # a fresh sandbox, made while the host has the variables set
    with beside(b):
        a.reset(options={"task_id": "hello"})
        out = bash(a, 'env; cat "$AGENTGYM_CACHE"/* ~/.cache/agentgym/* "$XDG_CACHE_HOME"/agentgym/* 2>&1')
        assert "s3cret-answer" not in out and str(tmp_path) not in out, out
        refused_submit(a)


def test_attack_background_writer_outlives_the_episode(pair: tuple[Any, Any]) -> None:
    """A detached process writes hello.txt two seconds after the submit, hoping to land it in the
    next episode (a null submit would then pass). Stopped by reset: restore() kills every process
    of the sandbox (daemonized ones included) before the workdir is replaced: reward 0."""
    a, b = pair
    with beside(b):
        a.reset(options={"task_id": "hello"})
        bash(a, "(setsid nohup sh -c 'sleep 2; printf \"hello, world\\n\" > \"$0/hello.txt\"' \"$PWD\" "
                ">/dev/null 2>&1 &)")
        refused_submit(a)
        a.reset(options={"task_id": "hello"})
        time.sleep(3)
        assert "No such file" in bash(a, "cat hello.txt")
        refused_submit(a)
