"""DockerSandbox specifics: limits, labels, warm-spare reset, reaping after SIGKILL. Real Docker."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentgym.sandbox import ChannelKilled, SandboxError, SandboxServerBroken, SandboxSpec, reaper

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def api():  # noqa: ANN201 - docker.APIClient
    return reaper.docker_client().api


def make(warm_spares: bool = False, **spec: object):  # noqa: ANN201
    from agentgym.sandbox.docker import DockerSandbox

    return DockerSandbox(SandboxSpec(**spec), warm_spares=warm_spares)  # type: ignore[arg-type]


@pytest.fixture
def sbx() -> Iterator[object]:
    s = make(memory="256m", pids=64, labels={"team": "tests"})
    yield s
    s.close()


def host_procs(needle: str) -> list[str]:
    out = []
    for name in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{name}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if needle in cmd:
            out.append(cmd)
    return out


def test_container_is_locked_down_and_labelled(sbx, api) -> None:  # noqa: ANN001
    info = api.inspect_container(sbx.container_id)
    hc, labels = info["HostConfig"], info["Config"]["Labels"]
    assert hc["NetworkMode"] == "none" and hc["Memory"] == 256 << 20 and hc["MemorySwap"] == 256 << 20
    assert hc["PidsLimit"] == 64 and hc["NanoCpus"] == 10**9 and not hc["Init"]
    assert "NET_RAW" in hc["CapDrop"] and "no-new-privileges" in hc["SecurityOpt"]
    for key, value in reaper.owner_labels().items():
        assert labels[key] == value
    assert labels["team"] == "tests" and labels["agentgym.sandbox"] == sbx.id
    assert sbx.isolation >= {"filesystem", "network", "memory", "pids", "cpu", "processes"}
    assert "user" in sbx.missing_isolation()  # root in the container is root: no user namespace


def test_no_network_by_default(sbx) -> None:  # noqa: ANN001
    r = sbx.exec("python3 -c 'import socket; print(sorted(n for _, n in socket.if_nameindex()))'")
    assert r.stdout.strip() == "['lo']"
    r = sbx.exec("python3 -c 'import socket; socket.create_connection((\"1.1.1.1\", 53), timeout=2)'")
    assert r.exit_code != 0 and "Network is unreachable" in r.stderr


def test_fork_bomb_hits_the_pids_limit_and_everything_recovers(sbx) -> None:  # noqa: ANN001
    # a builtin busy loop keeps the command in the foreground (no fork needed) until it times out
    r = sbx.exec(":(){ :|:& };:; while true; do true; done", timeout=3)
    assert r.timed_out and "Resource temporarily unavailable" in r.stderr
    after = sbx.exec("echo alive; ps -e --no-headers | wc -l", timeout=10)
    assert after.stdout.split()[0] == "alive" and int(after.stdout.split()[1]) < 10, after
    assert subprocess.run(["true"], timeout=10).returncode == 0  # the host can still fork
    # a detached bomb outlives its command (like in any shell); restore() gives a clean container
    sbx.exec(":(){ :|:& };:", timeout=5)
    sbx.restore()
    assert sbx.exec("ps -e --no-headers | wc -l").stdout.strip() in {str(n) for n in range(3, 10)}


def test_nothing_from_inside_stops_the_container(sbx, api) -> None:  # noqa: ANN001
    # pid 1 (the keeper shell) gets no signal from inside; kill -9 -1 takes the server and the sleep
    for cmd in ("kill -9 -1", "kill -9 1; kill -TERM 1; kill -9 $PPID"):
        with pytest.raises(ChannelKilled):
            sbx.exec(cmd)
        assert api.inspect_container(sbx.container_id)["State"]["Running"]
        assert sbx.exec("echo back").stdout == "back\n"
    procs = sbx.exec("ps -eo stat=,comm=").stdout.split("\n")
    assert not [p for p in procs if p.startswith("Z")], procs  # orphans that reached pid 1 are reaped


def test_memory_hog_is_killed_and_the_sandbox_survives(sbx) -> None:  # noqa: ANN001
    r = sbx.exec("python3 -c 'x = b\"x\" * (2 * 1024**3)'", timeout=60)
    assert r.exit_code == 137 or "MemoryError" in r.stderr, r
    assert sbx.exec("echo still-here").stdout == "still-here\n"


def test_read_only_root_keeps_workdir_and_tmp_writable_and_snapshots_them() -> None:
    s = make(read_only=True)
    try:
        assert s.exec("touch /etc/nope").exit_code != 0
        assert s.exec("echo w > w.txt && echo t > /tmp/t.txt && cat w.txt /tmp/t.txt").stdout == "w\nt\n"
        snap = s.snapshot()
        s.exec("echo changed > w.txt")
        s.restore(snap)
        assert s.read_file("w.txt") == b"w\n"
    finally:
        s.close()


def test_workdir_from_image_starts_with_the_images_files_bounded_and_leaves_no_volume(api) -> None:  # noqa: ANN001
    """The SWE sandbox's bound (issue 13): a read-only root whose workdir is a tmpfs volume that
    starts with what the image has at that path; writes past its size are ENOSPC inside; restore()
    gives the image's files again; close() removes the volume with the container."""
    from agentgym.sandbox._docker_util import tmpfs_sizes

    with pytest.raises(ValueError, match="raise memory"):
        tmpfs_sizes(SandboxSpec(read_only=True, memory="256m", workdir_size="190m"))
    with pytest.raises(SandboxError, match="do not fit its tmpfs"):  # 36 KiB of files into 16 KiB
        make(read_only=True, workdir_from_image=True, workdir="/usr/share/base-files", memory="256m",
             workdir_size="16k")
    s = make(read_only=True, workdir_from_image=True, workdir="/usr/share/base-files", memory="256m",
             workdir_size="32m", warm_spares=True)
    try:
        out = s.exec("ls | grep -c . ; echo mine > motd && cat motd; fallocate -l 64M big || echo REFUSED").stdout
        lines = out.splitlines()
        assert int(lines[0]) >= 5 and lines[1] == "mine" and "REFUSED" in out, out
        df = s.exec("df -k . | tail -1").stdout
        assert 30_000 < int(df.split()[1]) <= 32 * 1024, df  # the tmpfs is the 32m asked for
        assert s.exec("touch /usr/share/nope").exit_code != 0  # the rest of the root stays read-only
        vols = [m["Name"] for m in api.inspect_container(s.container_id)["Mounts"] if m["Type"] == "volume"]
        assert len(vols) == 1
        s.restore()
        assert s.exec("! test -e big && ! grep -q mine motd && echo pristine").stdout == "pristine\n"
    finally:
        s.close()
    assert not any(v["Name"] in vols for v in api.volumes()["Volumes"] or [])
    assert api.containers(all=True, filters={"label": f"agentgym.sandbox={s.id}"}) == []
    mine = ["agentgym.kind=workdir-source", f"agentgym.pid={os.getpid()}"]
    sources = api.containers(all=True, filters={"label": mine})
    assert sources == []


def test_a_replaced_python_on_a_writable_root_is_the_agents_broken_server() -> None:
    """Root in a writable container replaces python3 with a script that exits, then kills the
    command server: no fresh server starts, and that is SandboxServerBroken (the agent's failure,
    terminal), not an infrastructure error. (The SWE, time-series and shell sandboxes have a
    read-only root, where python3 cannot be replaced: tests/adversarial/test_redteam.py.)"""
    from tests.adversarial.test_redteam import BREAK_SERVER

    s = make(memory="256m")
    try:
        s.exec(BREAK_SERVER)
        with pytest.raises(SandboxServerBroken, match="no longer starts"):
            for _ in range(60):  # the kill comes a second after the command returned (later under load)
                s.exec("echo hi")
                time.sleep(0.5)
    finally:
        s.close()


def test_restore_from_a_warm_spare_is_fast_and_close_leaves_nothing(api) -> None:  # noqa: ANN001
    s = make(warm_spares=True, files={"seed.txt": "seed"})
    try:
        times = []
        for i in range(3):
            s.wait_for_spares()
            s.exec(f"echo {i} > episode.txt; cd /tmp")
            t0 = time.monotonic()
            s.restore()
            times.append(time.monotonic() - t0)
            assert s.exec("ls; pwd").stdout == "seed.txt\n/workspace\n"
        assert sorted(times)[1] < 0.3, times
        snap = s.snapshot()
        s.wait_for_spares()
        s.exec("rm seed.txt")
        t0 = time.monotonic()
        s.restore(snap)
        assert time.monotonic() - t0 < 0.3 and s.read_file("seed.txt") == b"seed"
        s.exec("setsid sleep 3001.5 &")
    finally:
        s.close()
    assert api.containers(all=True, filters={"label": f"agentgym.sandbox={s.id}"}) == []
    assert api.images(filters={"label": f"agentgym.sandbox={s.id}"}) == []
    assert host_procs("sleep 3001.5") == []  # container processes are host processes: none survives


def test_a_dead_channel_is_reported_then_reopened_and_a_dead_container_is_explained(sbx, api) -> None:  # noqa: ANN001
    pid = sbx._live.channel.ping()["pid"]
    api.exec_start(api.exec_create(sbx.container_id, ["kill", "-9", str(pid)])["Id"])
    with pytest.raises(ChannelKilled, match="channel died"):  # the container is up: its processes did it
        sbx.exec("echo hi")
    assert sbx.exec("echo back").stdout == "back\n"
    api.kill(sbx.container_id)
    with pytest.raises(SandboxError):
        sbx.exec("echo hi")
    with pytest.raises(SandboxError, match="exited|not running|gone"):
        sbx.exec("echo hi")
    assert not sbx.alive


def test_fast_path_and_exec_stream_both_work(sbx) -> None:  # noqa: ANN001
    from agentgym.sandbox._docker_util import open_channel

    transport = sbx._live.channel.transport
    if os.geteuid() == 0:  # root on the docker host reaches /proc/<pid>/root: the fast path is on
        assert transport.fast_path == "unix socket"
        assert sbx.exec("ls -a /dev/shm/.agentgym-run-*/").stdout.split() == [".", "..", "cmd"]  # socket unlinked
    slow = open_channel(sbx.spec, sbx.container_id, sbx.id, fast_path=False)
    try:
        assert slow.transport is None and slow.exec("echo via-exec").stdout == "via-exec\n"
        assert slow.transport.fast_path == "off"
    finally:
        slow.close()
    assert sbx.exec("echo still-fast").stdout == "still-fast\n"


def test_a_missing_image_or_python_is_a_clear_error(api) -> None:  # noqa: ANN001
    with pytest.raises(SandboxError, match="could not be pulled"):
        make(image="127.0.0.1:9/agentgym-no-such-image:latest")
    if not api.images(name="agentgym/debian"):
        return  # the image pipeline's bare rootfs (no Python) is not built on this machine
    with pytest.raises(SandboxError, match="no Python >= 3.6 in this image"):
        make(image="agentgym/debian:bookworm")


_CHILD = textwrap.dedent(
    """
    import json, os, time
    from agentgym.sandbox import SandboxSpec
    from agentgym.sandbox.docker import DockerSandbox
    a = DockerSandbox()
    b = DockerSandbox(SandboxSpec(read_only=True, workdir_from_image=True, workdir="/usr/share/base-files"))
    a.exec("echo state > f.txt")
    a.snapshot()
    a.wait_for_spares(); b.wait_for_spares()
    print(json.dumps({"pid": os.getpid()}), flush=True)
    time.sleep(600)
    """
)


def test_gc_removes_everything_a_sigkilled_process_left(api) -> None:  # noqa: ANN001
    run_id = "test-" + uuid.uuid4().hex[:8]
    env = {**os.environ, "AGENTGYM_RUN_ID": run_id}
    child = subprocess.Popen([sys.executable, "-c", _CHILD], env=env, stdout=subprocess.PIPE, text=True)
    try:
        info = json.loads(child.stdout.readline())  # type: ignore[union-attr]
        run_filter = {"label": f"agentgym.run={run_id}"}
        left = api.containers(all=True, filters=run_filter)
        assert len(left) >= 4 and {c["Labels"]["agentgym.pid"] for c in left} == {str(info["pid"])}
        assert len(api.images(filters=run_filter)) == 1
        assert len(api.volumes(filters=run_filter)["Volumes"] or []) >= 1  # b's workdir volumes
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    # The user's way: the `agentgym gc` command, in another process.
    proc = subprocess.run([sys.executable, "-m", "agentgym", "gc"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "removed 0 containers" not in proc.stdout and "could not remove" not in proc.stderr, proc.stdout
    assert api.containers(all=True, filters=run_filter) == []
    assert api.images(all=True, filters=run_filter) == []
    assert (api.volumes(filters=run_filter)["Volumes"] or []) == []


def test_sigterm_removes_what_the_process_owned(api) -> None:  # noqa: ANN001
    run_id = "test-" + uuid.uuid4().hex[:8]
    code = ("import time\nfrom agentgym.sandbox.docker import DockerSandbox\n"
            "s = DockerSandbox(warm_spares=False); s.snapshot(); print('ready', flush=True); time.sleep(600)")
    child = subprocess.Popen([sys.executable, "-c", code], env={**os.environ, "AGENTGYM_RUN_ID": run_id},
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "ready"  # type: ignore[union-attr]
    child.send_signal(signal.SIGTERM)
    assert child.wait(timeout=30) == 128 + signal.SIGTERM
    run_filter = {"label": f"agentgym.run={run_id}"}
    assert api.containers(all=True, filters=run_filter) == [] and api.images(all=True, filters=run_filter) == []


def test_gc_leaves_live_owners_alone(sbx, api) -> None:  # noqa: ANN001
    report = reaper.gc(dry_run=True)
    assert sbx.container_id[:12] not in report.containers
    assert api.inspect_container(sbx.container_id)["State"]["Running"]
