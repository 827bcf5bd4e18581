"""LocalSandbox specifics: honesty about isolation, path mapping, cleanup of processes and dirs."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agentgym.sandbox import ISOLATION_KINDS, ChannelKilled, SandboxFileRefused, SandboxSpec, reaper
from agentgym.sandbox.local import LocalSandbox, parse_memory


def host_procs(needle: str) -> list[int]:
    pids = []
    for name in filter(str.isdigit, os.listdir("/proc")):
        try:
            if needle in Path(f"/proc/{name}/cmdline").read_bytes().replace(b"\0", b" ").decode():
                pids.append(int(name))
        except OSError:
            pass
    return pids


def wait_gone(needle: str, timeout: float = 3.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while (left := host_procs(needle)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def test_it_claims_no_isolation_and_the_warning_names_every_kind() -> None:
    assert LocalSandbox.isolation == frozenset()
    for kind in ISOLATION_KINDS:
        assert kind in LocalSandbox.WARNING
    with LocalSandbox() as s:
        assert s.missing_isolation() == ISOLATION_KINDS and s.runtime == "local"


def test_workdir_paths_map_into_the_temp_dir() -> None:
    with LocalSandbox(SandboxSpec(files={"/workspace/in/a.txt": "abs", "rel.txt": "rel"})) as s:
        assert s.root.name.startswith(reaper.LOCAL_PREFIX)
        assert (s.work / "in" / "a.txt").read_text() == "abs" and (s.work / "rel.txt").read_text() == "rel"
        assert s.read_file("/workspace/rel.txt") == b"rel"
        r = s.exec('pwd; cat "$AGENTGYM_WORKDIR/in/a.txt"', cwd="/workspace/in")
        assert r.stdout == f"{s.work}/in\nabs"


def test_host_secrets_are_not_in_the_sandbox_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTGYM_TEST_SECRET", "hunter2")
    with LocalSandbox(SandboxSpec(env={"GIVEN": "yes"})) as s:
        out = s.exec("env").stdout
        assert "hunter2" not in out and "GIVEN=yes" in out
        assert s.exec("echo $HOME").stdout.strip().startswith(str(s.root))


def test_python3_in_the_sandbox_has_the_hosts_packages_but_not_agentgym(monkeypatch: pytest.MonkeyPatch) -> None:
    # A fresh machine's system python3 lacks the extras (pandas, pytest); the venv's has them. But
    # agentgym itself would hand an agent the tasks' generators (issue 13): it is not importable.
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parents[1]))
    with LocalSandbox() as s:
        res = s.exec("python3 -c 'import sys, pydantic, pytest; print(sys.version.split()[0], sys.base_prefix)'")
        assert res.exit_code == 0, res.output
        assert res.stdout.split() == [sys.version.split()[0], sys.base_prefix]
        for cmd in ("python3 -c 'import agentgym'", "python -c 'import agentgym.envs.shell.tasks'",
                    "cd / && python3 -c 'import agentgym'", "echo 'import agentgym' > t_ag.py && pytest -q t_ag.py"):
            res = s.exec(cmd)
            assert res.exit_code != 0 and "No module named 'agentgym'" in res.output, (cmd, res.output)
        assert s.exec("pytest --version").exit_code == 0
        env = s.exec("env").stdout
        assert "PYTHONPATH" not in env and "PYTHONNOUSERSITE=1" in env and "/.venv/bin" not in env


def test_the_users_cache_and_home_are_not_the_sandboxes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    (cache / "agentgym").mkdir(parents=True)
    (cache / "agentgym" / "secret.txt").write_text("hunter2")
    monkeypatch.setenv("AGENTGYM_CACHE", str(cache / "agentgym"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    with LocalSandbox() as s:
        res = s.exec('echo "[$AGENTGYM_CACHE][$XDG_CACHE_HOME]"; ls -R ~ 2>&1; cat ~/.cache/agentgym/secret.txt 2>&1')
        assert res.stdout.startswith("[][]\n") and "hunter2" not in res.output and "No such file" in res.output


def test_a_memory_hog_fails_inside_its_data_limit() -> None:
    assert parse_memory("256m") == 256 << 20 and parse_memory("1.5g") == 3 << 29
    with LocalSandbox(SandboxSpec(memory="256m")) as s:
        r = s.exec(f"{sys.executable} -c 'x = b\"x\" * (2 * 1024**3)'", timeout=30)
        assert r.exit_code != 0 and "MemoryError" in r.stderr
        assert s.exec("echo fine").stdout == "fine\n"


def test_close_kills_hidden_processes_and_removes_the_dir() -> None:
    s = LocalSandbox()
    s.exec("setsid sleep 2001.31 & (setsid sleep 2001.32 &); (env -i setsid sleep 2001.33 &); "
           "nohup sleep 2001.34 >/dev/null 2>&1 &")
    deadline = time.monotonic() + 3
    while len(host_procs("sleep 2001.3")) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(host_procs("sleep 2001.3")) == 4
    root = s.root
    s.close()
    assert wait_gone("sleep 2001.3") == [] and not root.exists()


def test_garbage_collection_closes_a_dropped_sandbox() -> None:
    s = LocalSandbox()
    s.exec("sleep 2002.5 &")
    root = s.root
    del s
    gc.collect()
    assert wait_gone("sleep 2002.5") == [] and not root.exists()


def test_restore_of_a_small_dir_is_fast_and_kills_running_processes() -> None:
    with LocalSandbox() as s:
        for i in range(20):
            s.write_file(f"f{i}.txt", str(i))
        snap = s.snapshot()
        s.exec("sleep 2003.5 & rm f1*.txt")
        times = []
        for _ in range(5):
            t0 = time.monotonic()
            s.restore(snap)
            times.append(time.monotonic() - t0)
        assert sorted(times)[2] < 0.2, times
        assert len(s.exec("ls").stdout.split()) == 20 and wait_gone("sleep 2003.5") == []


def test_restore_leaves_nothing_the_agent_planted_outside_the_workdir() -> None:
    """A tool planted first on PATH (the sandbox's python bin), files in HOME and TMPDIR: the next
    episode must not inherit them (an SWE test's fake git survived reset and forged the next diff)."""
    with LocalSandbox() as s:
        s.restore()
        planted = s.exec('b=$(dirname "$(command -v python3)"); printf "#!/bin/sh\\necho forged\\n" > "$b/git" && '
                         'chmod +x "$b/git" && touch "$HOME/.bashrc_x" "$TMPDIR/left" && git status')
        assert planted.stdout.strip() == "forged", planted
        s.restore()
        after = s.exec('git --version; ls -A "$HOME" "$TMPDIR"; python3 -c "import sys; print(sys.prefix)"')
        assert "forged" not in after.stdout and "git version" in after.stdout, after
        assert ".bashrc_x" not in after.stdout and "left" not in after.stdout, after


def test_a_killed_server_is_reported_then_replaced() -> None:
    # the sandbox is still there and a fresh server answers: what ran in it killed the server
    with LocalSandbox() as s:
        os.kill(s._channel.ping()["pid"], 9)
        with pytest.raises(ChannelKilled, match="channel died"):
            s.exec("echo hi")
        assert s.exec("echo back").stdout == "back\n"
        os.kill(s._channel.ping()["pid"], 9)
        s.write_file("a.txt", "x")  # not an exec: sent again to the fresh server
        assert s.read_file("a.txt") == b"x"


def test_gc_removes_stale_dirs_of_dead_owners_only() -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = reaper.make_local_dir("local-stale-test")
    owner = json.loads((stale / "owner.json").read_text())
    owner["agentgym.pid"] = str(dead.pid)
    (stale / "owner.json").write_text(json.dumps(owner))
    with LocalSandbox() as live:
        report = reaper.gc(dry_run=True)
        assert str(stale) in report.local_dirs and str(live.root) not in report.local_dirs and stale.exists()
        report = reaper.gc()
        assert str(stale) in report.local_dirs and not stale.exists() and live.root.exists()


def test_snapshot_fork_and_restore_leave_out_fifos_and_devices(tmp_path: Path) -> None:
    # copying a FIFO blocks or fails and copying a device never ends: an agent's mkfifo must not
    # turn the env's fork() or reset into an infrastructure error (or a hang)
    with LocalSandbox() as s:
        mk = "mkfifo p && echo kept > a.txt" + (" && mknod z c 1 5" if os.geteuid() == 0 else "")
        assert s.exec(mk).exit_code == 0
        snap = s.snapshot()
        child = s.fork()
        try:
            assert child.exec("ls").stdout.split() == ["a.txt"]
        finally:
            child.close()
        s.restore(snap)
        assert s.exec("ls").stdout.split() == ["a.txt"]


def test_copy_in_through_a_folder_linked_out_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "f.txt").write_text("x")
    with LocalSandbox() as s:
        s.exec(f"ln -s {outside} out")
        with pytest.raises(SandboxFileRefused, match="out of the sandbox"):
            s.copy_in(tmp_path / "f.txt", "out/f.txt")
        assert not (outside / "f.txt").exists()
        s.copy_in(tmp_path / "f.txt", "in/f.txt")
        assert s.read_file("in/f.txt") == b"x"
