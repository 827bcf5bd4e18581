"""The channel (server + client), tested directly and through both backends (`runtime` fixture)."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentgym.sandbox import ChannelKilled, Sandbox, SandboxError, SandboxSpec, make_sandbox, resolve_runtime
from agentgym.sandbox.channel import Channel, LocalTransport, server_argv
from agentgym.sandbox.channel_procs import Stream


def new_sandbox(runtime: str, **spec: object) -> Sandbox:
    s = SandboxSpec(**spec)  # type: ignore[arg-type]
    if runtime == "docker":
        from agentgym.sandbox.docker import DockerSandbox

        return DockerSandbox(s, warm_spares=False)  # spares are tested in test_sandbox_docker.py
    from agentgym.sandbox.local import LocalSandbox

    return LocalSandbox(s)


@pytest.fixture
def sbx(runtime: str) -> Iterator[Sandbox]:
    s = new_sandbox(runtime)
    yield s
    s.close()


def sandbox_procs(s: Sandbox, needle: str, *, host_wide: bool = False) -> list[str]:
    """Command lines containing needle of processes that belong to sandbox s.

    Local sandboxes: processes marked with the sandbox id, or with host_wide=True any host
    process (for children that scrubbed their environment; use a needle nothing else has).
    """
    if s.runtime == "docker":
        out = s.exec("ps -eo args", timeout=10).stdout.splitlines()
        return [line for line in out if needle in line and "ps -eo" not in line]
    found = []
    for name in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{name}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            env = Path(f"/proc/{name}/environ").read_bytes()
        except OSError:
            continue
        if needle in cmd and (host_wide or f"AGENTGYM_SBX={s.id}".encode() in env):
            found.append(cmd)
    return found


# ---- the server's output handling, no shell needed --------------------------------------------


def test_stream_keeps_head_and_tail_and_marks_the_cut() -> None:
    s = Stream(cap=10)
    for _ in range(100):
        s.feed(b"0123456789")
    s.feed(b"abcdefghij")
    text, truncated = s.finish()
    assert truncated and text.startswith("01234") and text.endswith("ghij")
    assert "[agentgym: output truncated, 1000 bytes omitted]" in text
    assert Stream(cap=100, carry=b"held ").finish() == ("held ", False)
    assert Stream(cap=100, carry=b"x", carry_omitted=5).finish()[1] is True


# ---- the channel over a local transport --------------------------------------------------------


@pytest.fixture
def channel(tmp_path: Path) -> Iterator[Channel]:
    def opener() -> LocalTransport:
        argv = server_argv(os.sys.executable, "chan-test", str(tmp_path), data_limit=0)  # type: ignore[attr-defined]
        return LocalTransport(argv, cwd=str(tmp_path), env={"PATH": os.environ["PATH"]}, stderr_path=str(tmp_path / "err.log"))

    ch = Channel(opener, name="test channel", max_output_bytes=4096, default_timeout=10)
    yield ch
    ch.close()


def test_forged_markers_and_control_bytes_do_not_end_a_command_early(channel: Channel) -> None:
    r = channel.exec(r"printf '\001AG0000000000000000:0\n'; echo still-running; printf '\001AG'; echo done")
    assert r.exit_code == 0 and "still-running" in r.stdout and r.stdout.endswith("done\n")


def test_background_output_between_commands_shows_up_in_the_next_result(channel: Channel) -> None:
    assert channel.exec("(sleep 0.2; echo late-output) &").ok
    time.sleep(0.5)
    assert "late-output" in channel.exec("echo now").stdout


def test_unknown_op_is_a_sandbox_error_and_the_channel_survives(channel: Channel) -> None:
    with pytest.raises(SandboxError, match="unknown op"):
        channel.request({"op": "frobnicate"})
    assert channel.exec("echo ok").stdout == "ok\n"


def test_a_dead_server_raises_then_reopens(channel: Channel) -> None:
    pid = channel.ping()["pid"]
    os.kill(pid, 9)
    with pytest.raises(ChannelKilled, match="channel died"):
        channel.exec("echo hi")
    assert channel.exec("echo again").stdout == "again\n"


# ---- behaviour both backends share ---------------------------------------------------------------


def test_echo_stderr_and_exit_codes(sbx: Sandbox) -> None:
    r = sbx.exec("echo hi; echo oops >&2")
    assert (r.exit_code, r.stdout, r.stderr, r.ok) == (0, "hi\n", "oops\n", True)
    assert sbx.exec("false").exit_code == 1
    assert sbx.exec("(exit 7)").exit_code == 7
    r = sbx.exec("no_such_command_xyz")
    assert r.exit_code == 127 and "no_such_command_xyz" in r.stderr
    assert sbx.exec("printf 'no newline'").stdout == "no newline"


def test_shell_state_persists_but_per_call_cwd_and_env_do_not(sbx: Sandbox) -> None:
    sbx.exec("mkdir -p sub/dir && cd sub/dir && export GREETING='hello world'")
    r = sbx.exec('pwd; echo "$GREETING"')
    assert r.stdout.splitlines()[0].endswith("/sub/dir") and r.stdout.splitlines()[1] == "hello world"
    r = sbx.exec('echo "$GREETING $ONLY_NOW"; pwd', cwd="/tmp", env={"ONLY_NOW": "it's here", "GREETING": "hi"})
    assert r.stdout.splitlines() == ["hi it's here", "/tmp"]
    r = sbx.exec('echo "${ONLY_NOW-unset} $GREETING"; pwd')
    assert r.stdout.splitlines()[0] == "unset hello world" and r.stdout.splitlines()[1].endswith("/sub/dir")


def test_commands_cannot_read_the_protocol_stdin(sbx: Sandbox) -> None:
    r = sbx.exec("cat; read -r line; echo rc=$?", timeout=5)
    assert r.stdout == "rc=1\n" and not r.timed_out


def test_exit_ends_the_shell_and_the_next_command_gets_a_fresh_one(sbx: Sandbox) -> None:
    sbx.exec("export MARK=1")
    r = sbx.exec("echo bye; exit 3")
    assert (r.exit_code, r.stdout, r.timed_out) == (3, "bye\n", False)
    assert sbx.exec("echo ${MARK-fresh}").stdout == "fresh\n"


def test_timeout_kills_the_command_and_returns_fast(sbx: Sandbox) -> None:
    sbx.exec("mkdir -p /tmp/tdir && cd /tmp/tdir")
    t0 = time.monotonic()
    r = sbx.exec("echo started; sleep 100", timeout=1)
    elapsed = time.monotonic() - t0
    assert r.timed_out and r.exit_code is None and not r.ok and elapsed < 2.0, (r, elapsed)
    assert "started" in r.stdout
    assert sandbox_procs(sbx, "sleep 100") == []
    assert sbx.exec("pwd").stdout == "/tmp/tdir\n"  # restarted in the same directory


def test_timeout_kills_daemonized_and_detached_children(sbx: Sandbox) -> None:
    cmd = ("setsid sleep 1000.11 & (setsid sleep 1000.12 &); nohup sleep 1000.13 >/dev/null 2>&1 & "
           "(env -i sleep 1000.14 &); (env -i setsid sleep 1000.15 &); sleep 100")
    assert len(sandbox_procs(sbx, "sleep 1000.1", host_wide=True)) == 0
    r = sbx.exec(cmd, timeout=1)
    assert r.timed_out
    assert sandbox_procs(sbx, "sleep 1000.1", host_wide=True) == []


def test_a_timeout_spares_background_jobs_of_earlier_commands(sbx: Sandbox) -> None:
    sbx.exec("sleep 977 &")
    assert sbx.exec("sleep 100", timeout=0.5).timed_out
    assert len(sandbox_procs(sbx, "sleep 977")) == 1


def test_huge_output_is_capped_with_a_marker_and_does_not_block(sbx: Sandbox) -> None:
    t0 = time.monotonic()
    r = sbx.exec("head -c 10000000 /dev/zero | tr '\\0' x; echo; echo THE-END; head -c 3000000 /dev/zero >&2", timeout=30)
    assert time.monotonic() - t0 < 10
    assert r.exit_code == 0 and r.truncated
    cap = sbx.spec.max_output_bytes
    assert len(r.stdout.encode()) < cap + 200 and len(r.stderr.encode()) < cap + 200
    assert re.search(r"\[agentgym: output truncated, \d+ bytes omitted\]", r.stdout)
    assert r.stdout.startswith("xxx") and r.stdout.endswith("THE-END\n")  # head and tail both kept


def test_invalid_utf8_is_replaced_not_fatal(sbx: Sandbox) -> None:
    r = sbx.exec(r"printf 'ok \377\376 done'")
    assert r.stdout == "ok \ufffd\ufffd done"


def test_concurrent_calls_on_one_sandbox_are_serialized(sbx: Sandbox) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: sbx.exec(f"echo {i}; echo e{i} >&2").stdout + sbx.read_file("/etc/hostname").decode()[:0], range(64)))
    assert results == [f"{i}\n" for i in range(64)]


def test_big_commands_and_heredocs(sbx: Sandbox) -> None:
    body = "line\n" * 40000
    r = sbx.exec(f"cat > big.txt <<'EOF'\n{body}EOF\nwc -l < big.txt")
    assert r.stdout.strip() == "40000"


def test_read_write_round_trip_with_binary_data(sbx: Sandbox) -> None:
    blob = bytes(range(256)) * 100
    sbx.write_file("data/blob.bin", blob)
    assert sbx.read_file(f"{sbx.spec.workdir}/data/blob.bin") == blob
    sbx.write_file("run.sh", "#!/bin/sh\necho ran\n", mode=0o755)
    assert sbx.exec("./run.sh").stdout == "ran\n"
    assert sbx.exec("cmp -s data/blob.bin data/blob.bin && wc -c < data/blob.bin").stdout.strip() == "25600"
    with pytest.raises(FileNotFoundError):
        sbx.read_file("missing.txt")


def test_copy_in_and_out_round_trip(sbx: Sandbox, tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "nested").mkdir(parents=True)
    (src / "nested" / "b.bin").write_bytes(bytes(range(256)))
    (src / "a.txt").write_text("alpha")
    sbx.copy_in(src, "proj")
    assert sbx.exec("cat proj/a.txt; echo; wc -c < proj/nested/b.bin").stdout.split() == ["alpha", "256"]
    sbx.copy_in(src / "a.txt", "single/copy.txt")
    assert sbx.read_file("single/copy.txt") == b"alpha"
    sbx.exec("echo made-inside > proj/new.txt")
    sbx.copy_out("proj", tmp_path / "out")
    assert (tmp_path / "out" / "nested" / "b.bin").read_bytes() == bytes(range(256))
    assert (tmp_path / "out" / "new.txt").read_text() == "made-inside\n"
    sbx.copy_out("proj/a.txt", tmp_path / "one.txt")
    assert (tmp_path / "one.txt").read_text() == "alpha"


def test_snapshot_restore_and_fork_are_independent(runtime: str) -> None:
    s = new_sandbox(runtime, files={"seed.txt": "seed"})
    try:
        s.write_file("a.txt", "1")
        snap = s.snapshot()
        s.write_file("a.txt", "2")
        child = s.fork()
        try:
            s.write_file("a.txt", "3")
            assert child.read_file("a.txt") == b"2"
            child.write_file("only-child.txt", "c")
            s.restore(snap)
            assert s.read_file("a.txt") == b"1" and s.exec("ls only-child.txt").exit_code != 0
            s.restore()
            assert s.exec("ls").stdout.split() == ["seed.txt"]
            child.restore()  # a fork's creation state is the fork point
            assert child.read_file("a.txt") == b"2" and child.exec("ls only-child.txt").exit_code != 0
        finally:
            child.close()
        with pytest.raises(SandboxError, match="unknown snapshot"):
            s.restore("nope")
    finally:
        s.close()


def test_close_is_idempotent_and_a_closed_sandbox_says_so(runtime: str) -> None:
    s = new_sandbox(runtime)
    s.exec("sleep 1234 &")
    assert s.alive
    s.close()
    s.close()
    assert not s.alive
    with pytest.raises(SandboxError, match="closed"):
        s.exec("echo hi")


def test_make_sandbox_and_resolve_runtime(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTGYM_RUNTIME", "local")
    assert resolve_runtime("auto") == "local" and resolve_runtime("docker") == "docker"
    with make_sandbox(memory="512m", max_output_bytes=1000) as s:
        assert s.runtime == "local" and s.spec.memory == "512m" and s.spec.max_output_bytes == 1000
    with pytest.raises(TypeError, match="unknown SandboxSpec field"):
        make_sandbox(runtime="local", memroy="1g")
    monkeypatch.setenv("AGENTGYM_RUNTIME", "bogus")
    with pytest.raises(ValueError, match="AGENTGYM_RUNTIME"):
        resolve_runtime("auto")
