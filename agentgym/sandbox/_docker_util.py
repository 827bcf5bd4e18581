"""Container plumbing for DockerSandbox: create (rate-limited, retried), open the channel, discard."""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from agentgym.sandbox import reaper
from agentgym.sandbox._docker_workdir import seed_workdir, workdir_mount
from agentgym.sandbox.base import SandboxError, SandboxOutOfMemory, SandboxSpec
from agentgym.sandbox.channel import FAST_PATH, Channel, DockerTransport, server_argv

#: Concurrent container creations per process: dockerd and containerd slow down (and time out)
#: under a burst of parallel creates, so bursts queue here instead.
CREATE_SEM = threading.BoundedSemaphore(int(os.environ.get("AGENTGYM_DOCKER_CREATE_CONCURRENCY", "4")))
CREATE_ATTEMPTS = 3
#: How long a channel that cannot reopen waits for Docker to record a container's OOM kill. A loaded
#: machine's dockerd took more than 3 s, and the agent's OOM was then reported as an infrastructure error.
OOM_WAIT_S = 20.0
#: Background work: warm spares and asynchronous removal of replaced containers.
POOL = ThreadPoolExecutor(max_workers=int(os.environ.get("AGENTGYM_DOCKER_WORKERS", "8")), thread_name_prefix="agentgym-docker")

# Default Docker capabilities minus those an agent never needs and an attacker likes: raw
# sockets (spoofing), device nodes, audit, file capabilities, capability games, chroot.
CAP_DROP = ["NET_RAW", "MKNOD", "AUDIT_WRITE", "SETFCAP", "SETPCAP", "SYS_CHROOT"]

#: The container's pid 1: a shell that keeps a sleep running. The kernel never delivers a signal
#: from inside the container to its pid 1 unless it has a handler, so `kill -9 -1` (or any kill)
#: from the agent's commands cannot stop the container: it takes only the sleep, which comes back,
#: and the channel server, which the host reopens (an agent failure, not an infrastructure one).
#: Under docker-init the sleep was pid 1's only child, and killing it ended the container. The
#: shell's `wait` reaps any child, so orphans that reach pid 1 do not pile up as zombies.
KEEPER = "trap '' HUP INT QUIT TERM USR1 USR2; while :; do sleep infinity & wait $!; done"

_checked: set[str] = set()
_checked_lock = threading.Lock()


@dataclass
class Target:
    """What a container must look like when it starts: an image, then files and a workdir tar."""

    image: str
    files: dict[str, str] = field(default_factory=dict)
    workdir_tar: bytes | None = None


@dataclass
class Live:
    """A running container with its channel open."""

    container_id: str
    channel: Channel


def ensure_image(image: str) -> None:
    """Make sure image exists locally (agentgym.images builds agentgym/* images and pulls others).
    Remembered per process, so creating many sandboxes pays the check once."""
    import docker.errors

    from agentgym.images import ensure_image as ensure

    with _checked_lock:
        if image in _checked:
            return
    try:
        ensure(image)
    except docker.errors.APIError as e:
        raise SandboxError(f"Docker could not inspect image {image}: {e}") from e
    except Exception as e:  # noqa: BLE001 - build, bootstrap or pull failure: say what to do
        if image.startswith("agentgym/"):
            raise SandboxError(f"image {image} is missing and building it failed: {e}. "
                               "Run `agentgym images build` to see the full build log.") from e
        raise SandboxError(f"image {image} is not present and could not be pulled ({e}); "
                           f"`docker pull {image}` or load it first") from e
    with _checked_lock:
        _checked.add(image)


def tmpfs_sizes(spec: SandboxSpec) -> list[tuple[str, str, int]]:
    """(path, extra options, bytes) of a read-only spec's tmpfs mounts (the workdir first). tmpfs
    pages count against the container's memory limit, so together they hold at most 3/4 of it (at
    least 64 MiB stays for processes): an agent that fills them gets ENOSPC, and the channel server
    still has the memory to run (full tmpfs used to starve it: every call an infrastructure error).
    The workdir takes half, or spec.workdir_size; /tmp and /var/tmp share the rest 3:1."""
    from agentgym.sandbox.local import parse_memory

    total = parse_memory(spec.memory)
    budget = max(16 << 20, total - max(64 << 20, total // 4))
    work = parse_memory(spec.workdir_size) if spec.workdir_size else budget // 2
    rest = budget - work
    if rest < 32 << 20:
        raise ValueError(f"workdir_size (SWE: testbed_size) {spec.workdir_size} leaves no room for /tmp under the "
                         f"memory limit {spec.memory} (tmpfs may take {budget >> 20} MiB of it): raise memory or "
                         "lower workdir_size")
    return [(spec.workdir, "", work), ("/tmp", ",nosuid", rest * 3 // 4), ("/var/tmp", ",nosuid", rest // 4)]


def container_config(spec: SandboxSpec, image: str, labels: dict[str, str], name: str) -> dict[str, Any]:
    api = reaper.docker_client().api
    tmpfs, mounts = None, None
    if spec.read_only:
        sizes = tmpfs_sizes(spec)
        if spec.workdir_from_image:  # a tmpfs volume the image's files are copied into (_docker_workdir.py)
            mounts = [workdir_mount(spec, sizes[0][2], labels)]
            sizes = sizes[1:]
        tmpfs = {path: f"rw,exec{opts},size={size}" for path, opts, size in sizes}
    if spec.network is False:
        network_mode = "none"
    elif spec.network is True:
        network_mode = "bridge"
    else:
        network_mode = str(spec.network)
    host_config = api.create_host_config(
        init=False,  # pid 1 is KEEPER itself
        mem_limit=spec.memory,
        memswap_limit=spec.memory,  # equal: no swap, so a memory hog is killed instead of thrashing
        pids_limit=spec.pids,
        nano_cpus=int(spec.cpus * 1e9),
        network_mode=network_mode,
        read_only=spec.read_only,
        tmpfs=tmpfs,
        mounts=mounts,
        cap_drop=CAP_DROP,
        security_opt=["no-new-privileges"],
    )
    return dict(
        image=image, entrypoint=["/bin/sh", "-c"], command=[KEEPER], name=name, hostname="sandbox",
        working_dir=spec.workdir, environment=dict(spec.env), labels=labels, host_config=host_config,
        detach=True, stdin_open=False, tty=False,
    )


def create_container(spec: SandboxSpec, image: str, sbx_id: str, seq: int) -> str:
    """Create and start a container; rate-limited, retried, and tracked for cleanup from birth."""
    import docker.errors

    api = reaper.docker_client().api
    labels = {**reaper.owner_labels(), **spec.labels, "agentgym.sandbox": sbx_id}
    last: Exception | None = None
    for attempt in range(CREATE_ATTEMPTS):
        name = f"agentgym-{sbx_id}-{seq}" + (f"-r{attempt}" if attempt else "")
        cid = None
        with CREATE_SEM:
            try:
                cid = api.create_container(**container_config(spec, image, labels, name))["Id"]
                reaper.track("container", cid)
                api.start(cid)
                return cid
            except docker.errors.ImageNotFound as e:
                raise SandboxError(f"image {image} not found: {e}") from e
            except Exception as e:  # noqa: BLE001 - APIError, timeouts: retried, then reported
                last = e
                if cid:
                    reaper.remove_many("container", [cid])
        if attempt + 1 < CREATE_ATTEMPTS:
            time.sleep(0.5 * 2**attempt)
    raise SandboxError(f"could not start a container from {image} after {CREATE_ATTEMPTS} attempts: {last}. "
                       "Check `docker info`, free disk and memory, or lower AGENTGYM_DOCKER_CREATE_CONCURRENCY.")


def file_size_limit(spec: SandboxSpec) -> int:
    """spec.max_file_size in bytes (0: no limit)."""
    from agentgym.sandbox.local import parse_memory

    return parse_memory(spec.max_file_size) if spec.max_file_size else 0


def open_channel(spec: SandboxSpec, container_id: str, sbx_id: str, *, fast_path: bool = FAST_PATH) -> Channel:
    api = reaper.docker_client().api

    def opener() -> DockerTransport:
        try:
            state = api.inspect_container(container_id)["State"]
        except Exception as e:  # noqa: BLE001
            raise SandboxError(f"container {container_id[:12]} of sandbox {sbx_id} is gone: {e}") from e
        if not state.get("Running"):
            why = " (killed: out of memory)" if state.get("OOMKilled") else ""
            raise SandboxError(f"container {container_id[:12]} of sandbox {sbx_id} is {state.get('Status')}{why}; "
                               "create a new sandbox (or restore() one)")
        argv = server_argv(None, sbx_id, spec.workdir, file_limit=file_size_limit(spec))
        return DockerTransport(api, container_id, argv, workdir=spec.workdir,
                               host_pid=state.get("Pid"), fast=fast_path)

    def why_gone() -> bool:
        return oom_check(api, container_id, sbx_id, spec.memory)

    return Channel(opener, name=f"docker sandbox {sbx_id}", max_output_bytes=spec.max_output_bytes,
                   default_timeout=spec.default_timeout, why_gone=why_gone)


def oom_check(api: Any, container_id: str, sbx_id: str, memory: str, wait_s: float = OOM_WAIT_S) -> bool:
    """Raise SandboxOutOfMemory when the container stopped out of memory (the agent used up its
    limit and the kernel took pid 1); else whether it still runs (False: stopped otherwise, or
    Docker did not answer). Docker may need a moment to record a pid 1 the kernel just killed,
    hence a wait while it still runs (OOM_WAIT_S: this is a failure path only, so waiting costs
    nothing when all is well); it ends after a second when the container's first process is seen
    alive on this host (Docker's record is then not late: the container really runs)."""
    deadline = time.monotonic() + wait_s
    quiet = time.monotonic() + min(wait_s, 1.0)
    while True:
        try:
            state = api.inspect_container(container_id)["State"]
        except Exception:  # noqa: BLE001 - gone or no answer: infrastructure, as it was
            return False
        if not state.get("Running"):
            if state.get("OOMKilled"):
                raise SandboxOutOfMemory(
                    f"the sandbox ran out of memory and stopped: what ran in it used up its {memory} limit and "
                    f"the kernel killed the container's first process (docker sandbox {sbx_id}); the episode "
                    "ends, reset() starts a fresh sandbox")
            return False
        if time.monotonic() > deadline or (time.monotonic() > quiet and _pid_alive(state.get("Pid"))):
            return True
        time.sleep(0.1)


def _pid_alive(pid: Any) -> bool:
    """Whether the host process pid runs (False: gone, a zombie, or not visible from here, as
    with a Docker engine in a VM: then the full wait applies)."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return False
    fields = stat[stat.rfind(b")") + 2:].split()
    return bool(fields) and fields[0] not in (b"Z", b"X")


def start_live(spec: SandboxSpec, target: Target, sbx_id: str, seq: int) -> Live:
    """A container for target with its channel open and its files in place."""
    cid = create_container(spec, target.image, sbx_id, seq)
    try:
        if spec.read_only and spec.workdir_from_image and target.workdir_tar is None:
            seed_workdir(spec, target.image, cid, tmpfs_sizes(spec)[0][2])
        channel = open_channel(spec, cid, sbx_id)
        channel.ping()
        if target.workdir_tar is not None:
            channel.tar_in(posixpath_parent(spec.workdir), target.workdir_tar)
        for path, content in target.files.items():
            channel.write_file(path if path.startswith("/") else f"{spec.workdir.rstrip('/')}/{path}", content)
    except BaseException:
        reaper.remove_many("container", [cid])
        raise
    return Live(container_id=cid, channel=channel)


def posixpath_parent(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[0] or "/"


def discard(live: Live | None) -> None:
    """Drop a container we no longer need (a replaced one, or a spare after close)."""
    if live is None:
        return
    live.channel.close(graceful=False)
    reaper.remove_many("container", [live.container_id])
