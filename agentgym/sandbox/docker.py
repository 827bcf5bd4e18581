"""DockerSandbox: a locked-down container with one persistent channel, snapshots and fast reset.

Reset is fast because of a warm spare: a second container, already started from the restore
target with its channel open, waits in the background. restore() swaps it in (milliseconds),
removes the old container asynchronously and starts the next spare. Without a ready spare it
creates one synchronously (a few hundred ms).
"""

from __future__ import annotations

import io
import itertools
import os
import posixpath
import shlex
import tarfile
import tempfile
import threading
import uuid
import weakref
from concurrent.futures import Future
from pathlib import Path
from typing import ClassVar

from agentgym.sandbox import reaper
from agentgym.sandbox._docker_util import (
    POOL,
    Live,
    Target,
    discard,
    ensure_image,
    start_live,
    tmpfs_sizes,
)
from agentgym.sandbox.archive import read_bounded, safe_extract
from agentgym.sandbox.base import ARCHIVE_LIMIT, READ_LIMIT, CommandResult, Sandbox, SandboxError, SandboxSpec

_WARM_SPARES_DEFAULT = os.environ.get("AGENTGYM_WARM_SPARES", "1").lower() not in ("0", "false", "no")
_SPARE_WAIT_S = 120.0


class _State:
    """Everything close() must release; held apart from the sandbox so finalizers can run."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.active: Live | None = None
        self.spares: dict[str | None, Future[Live]] = {}
        self.images: list[str] = []  # snapshot images this sandbox owns, oldest first
        self.removals: set[Future[None]] = set()  # replaced containers still being removed
        self.stale: list[Future[Live]] = []  # spares no longer wanted, maybe still starting
        self.closed = False
        self.owner_pid = os.getpid()  # a forked child exiting must not remove its parent's containers

    def remove_later(self, live: Live) -> None:
        try:
            fut = POOL.submit(discard, live)
        except RuntimeError:  # interpreter shutdown: no new background work, so remove it now
            discard(live)
            return
        with self.lock:
            self.removals.add(fut)
        fut.add_done_callback(lambda f: self.removals.discard(f))


def _cleanup(state: _State) -> None:
    if os.getpid() != state.owner_pid:
        return
    with state.lock:
        state.closed = True
        lives = [state.active] if state.active else []
        state.active = None
        futures = list(state.spares.values()) + state.stale
        state.spares.clear()
        state.stale = []
        images = list(state.images)
        state.images.clear()
        removals = list(state.removals)
    for fut in futures:
        if not fut.cancel():  # started: wait so the container it creates is removed, not leaked
            try:
                lives.append(fut.result(timeout=_SPARE_WAIT_S))
            except Exception:  # noqa: BLE001 - a failed spare has nothing to remove
                pass
    for fut in removals:  # so that when close() returns, no container of this sandbox is left
        try:
            fut.result(timeout=_SPARE_WAIT_S)
        except Exception:  # noqa: BLE001
            pass
    for live in lives:
        live.channel.close(graceful=False)
    errors = reaper.remove_many("container", [live.container_id for live in lives])
    for image in reversed(images):  # newest first: children before parents
        err = reaper._remove(reaper.docker_client(), "image", image)
        if err:
            errors.append(err)
    if errors:
        import warnings

        warnings.warn(f"agentgym: sandbox cleanup left resources behind ({'; '.join(errors)}); run `agentgym gc`",
                      RuntimeWarning, stacklevel=2)


class DockerSandbox(Sandbox):
    """A container from spec.image: no network, memory/pids/cpu limits, dropped capabilities.

    The container's pid 1 is a shell keeping a ``sleep infinity`` (_docker_util.KEEPER: no signal
    from inside stops the container); commands go through one long-lived
    ``docker exec`` channel. Snapshots are ``docker commit`` images (``agentgym-snapshot:<id>``)
    plus, for read-only specs, a tar of the workdir (tmpfs is not committed). Shell state (cwd,
    exported variables) and processes do not survive restore() or fork(): they start fresh.
    """

    runtime: ClassVar[str] = "docker"
    isolation: ClassVar[frozenset[str]] = frozenset({"filesystem", "network", "memory", "pids", "cpu", "processes"})

    def __init__(self, spec: SandboxSpec | None = None, *, warm_spares: bool | None = None,
                 _owned_image: str | None = None, _workdir_tar: bytes | None = None) -> None:
        self.spec = spec or SandboxSpec()
        self.id = uuid.uuid4().hex[:12]
        self.warm_spares = _WARM_SPARES_DEFAULT if warm_spares is None else warm_spares
        self._counter = itertools.count(1)
        self._state = _State()
        if _owned_image:
            self._state.images.append(_owned_image)
        self._finalizer = weakref.finalize(self, _cleanup, self._state)
        reaper.install_handlers()
        reaper.reap_orphans_once()
        self._targets: dict[str | None, Target] = {
            None: Target(image=self.spec.image, files=dict(self.spec.files), workdir_tar=_workdir_tar)
        }
        try:
            if self.spec.read_only:
                tmpfs_sizes(self.spec)  # a workdir_size the memory limit cannot hold: one line now, not 3 retries
            ensure_image(self.spec.image)
            self._state.active = self._start(None)
        except BaseException:
            self.close()
            raise
        self._refill(None)

    # ---- containers ------------------------------------------------------------------------------

    def _start(self, key: str | None) -> Live:
        return start_live(self.spec, self._targets[key], self.id, next(self._counter))

    def _refill(self, key: str | None) -> None:
        """Start a spare for key in the background; keep at most the initial one plus one more."""
        if not self.warm_spares:
            return
        stale: list[Future[Live]] = []
        with self._state.lock:
            if self._state.closed or key in self._state.spares:
                return
            for k in [k for k in self._state.spares if k is not None and k != key]:
                if key is not None:
                    stale.append(self._state.spares.pop(k))
            self._state.spares[key] = POOL.submit(self._spare_task, key)
        state = self._state  # not self: a callback must not keep the sandbox alive
        with state.lock:
            state.stale = [f for f in state.stale if not f.done()] + stale
        for fut in stale:
            fut.add_done_callback(lambda f: state.remove_later(f.result()) if not f.cancelled() and f.exception() is None else None)

    def _spare_task(self, key: str | None) -> Live:
        live = self._start(key)
        with self._state.lock:
            closed = self._state.closed
        if closed:  # close() ran while this spare was starting: it is not needed
            discard(live)
        return live

    def _take_spare(self, key: str | None) -> Live | None:
        with self._state.lock:
            fut = self._state.spares.pop(key, None)
        if fut is None:
            return None
        try:
            return fut.result(timeout=_SPARE_WAIT_S)
        except Exception:  # noqa: BLE001 - a failed spare only costs us the fast path
            return None

    @property
    def _live(self) -> Live:
        live = self._state.active
        if live is None or self._state.closed:
            raise SandboxError(f"docker sandbox {self.id} is closed; create a new one")
        return live

    @property
    def container_id(self) -> str:
        return self._live.container_id

    # ---- Sandbox API -----------------------------------------------------------------------------

    def exec(self, command: str, timeout: float | None = None, cwd: str | None = None,
             env: dict[str, str] | None = None) -> CommandResult:
        return self._live.channel.exec(command, timeout, cwd, env)

    def kill_processes(self) -> None:
        self._live.channel.killall(cwd=self.spec.workdir)

    def read_file(self, path: str, *, max_bytes: int = READ_LIMIT) -> bytes:
        return self._live.channel.read_file(self._abs(path), max_bytes)

    def write_file(self, path: str, data: bytes | str, mode: int = 0o644) -> None:
        self._live.channel.write_file(self._abs(path), data, mode)

    def _abs(self, path: str) -> str:
        return posixpath.normpath(posixpath.join(self.spec.workdir, path))

    def copy_in(self, host_path: str | Path, sandbox_path: str) -> None:
        """Copy a host file or directory to exactly sandbox_path (parents created)."""
        src, dest = Path(host_path), self._abs(sandbox_path)
        if not src.exists():
            raise FileNotFoundError(f"{src} does not exist on the host")
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            tar.add(str(src), arcname=posixpath.basename(dest))
        parent = posixpath.dirname(dest) or "/"
        live = self._live
        if self.spec.read_only:  # the archive API cannot write into tmpfs mounts or a read-only root
            live.channel.tar_in(parent, buf.getvalue())
            return
        live.channel.exec(f"mkdir -p -- {shlex.quote(parent)}", timeout=30)
        try:
            ok = reaper.docker_client().api.put_archive(live.container_id, parent, buf.getvalue())
        except Exception as e:  # noqa: BLE001
            raise SandboxError(f"copy_in {src} -> {dest} failed: {e}") from e
        if not ok:
            raise SandboxError(f"copy_in {src} -> {dest} failed (the Docker API refused the archive)")

    def copy_out(self, sandbox_path: str, host_path: str | Path, *, max_bytes: int = ARCHIVE_LIMIT) -> None:
        """Copy a sandbox file or directory to exactly host_path (parents created); bounded and
        filtered (see archive.py): SandboxFileRefused past max_bytes."""
        import docker.errors

        src, dest = self._abs(sandbox_path), Path(host_path)
        live = self._live
        if self.spec.read_only:
            data = live.channel.tar_out(src, max_bytes)
        else:
            try:
                stream, _ = reaper.docker_client().api.get_archive(live.container_id, src, chunk_size=1 << 20)
                # headers and padding on top of max_bytes of content: the content is checked on extraction
                data = read_bounded(stream, max_bytes + max_bytes // 8 + (1 << 20), f"{sandbox_path} (copy_out)")
            except docker.errors.NotFound:
                raise FileNotFoundError(f"{sandbox_path} does not exist in sandbox {self.id}") from None
            except docker.errors.APIError as e:
                raise SandboxError(f"copy_out {src} failed: {e}") from e
        dest.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".agentgym-copy-") as tmp:
            top = safe_extract(data, Path(tmp), limit=max_bytes, what=sandbox_path)
            if dest.is_dir() and top.is_dir():
                import shutil

                shutil.copytree(top, dest, symlinks=True, dirs_exist_ok=True)
            else:
                if dest.is_dir():
                    raise IsADirectoryError(f"{dest} is a directory but {sandbox_path} is a file")
                os.replace(top, dest)

    def snapshot(self) -> str:
        return self._snapshot(spare=True)

    def _snapshot(self, spare: bool) -> str:
        live = self._live
        snap_id = f"{self.id}-{next(self._counter)}"
        # the workdir's tmpfs is bounded by its size (and the memory limit), not by a grader's limit
        tar = live.channel.tar_out(self.spec.workdir, 1 << 40) if self.spec.read_only else None
        labels = {**reaper.owner_labels(), **self.spec.labels, "agentgym.kind": "snapshot", "agentgym.sandbox": self.id}
        ref = f"{reaper.SNAPSHOT_REPO}:{snap_id}"
        with self._state.lock:
            self._state.images.append(ref)  # owned before it exists: a crash mid-commit is still gc'd
        reaper.track("image", ref)
        try:
            reaper.docker_client().api.commit(live.container_id, repository=reaper.SNAPSHOT_REPO, tag=snap_id,
                                              conf={"Labels": labels}, pause=True)
        except Exception as e:  # noqa: BLE001
            raise SandboxError(f"snapshot of sandbox {self.id} failed (docker commit): {e}") from e
        self._targets[snap_id] = Target(image=ref, files={}, workdir_tar=tar)
        if spare:
            self._refill(snap_id)
        return snap_id

    def restore(self, snapshot_id: str | None = None) -> None:
        if snapshot_id not in self._targets:
            raise SandboxError(f"unknown snapshot {snapshot_id!r} for sandbox {self.id}; "
                               f"known: {sorted(k for k in self._targets if k)}")
        old = self._live
        new = self._take_spare(snapshot_id) or self._start(snapshot_id)
        with self._state.lock:
            if self._state.closed:
                discard(new)
                raise SandboxError(f"docker sandbox {self.id} was closed during restore()")
            self._state.active = new
        self._state.remove_later(old)
        self._refill(snapshot_id)

    def fork(self) -> DockerSandbox:
        """An independent sandbox from a commit of this one; its restore() returns to the fork point."""
        target = self._targets.pop(self._snapshot(spare=False))
        with self._state.lock:  # ownership moves to the child, which removes it on close
            self._state.images.remove(target.image)
        return DockerSandbox(self.spec.model_copy(update={"image": target.image, "files": {}}),
                             warm_spares=self.warm_spares, _owned_image=target.image, _workdir_tar=target.workdir_tar)

    def close(self) -> None:
        self._finalizer()

    @property
    def alive(self) -> bool:
        live = self._state.active
        if live is None or self._state.closed:
            return False
        try:
            return bool(reaper.docker_client().api.inspect_container(live.container_id)["State"]["Running"])
        except Exception:  # noqa: BLE001
            return False

    def wait_for_spares(self, timeout: float = _SPARE_WAIT_S) -> None:
        """Block until background spares are ready (tests and benchmarks use this)."""
        with self._state.lock:
            futures = list(self._state.spares.values())
        for fut in futures:
            try:
                fut.result(timeout=timeout)
            except Exception:  # noqa: BLE001
                pass

    def __repr__(self) -> str:
        live = self._state.active
        return f"DockerSandbox(id={self.id!r}, image={self.spec.image!r}, container={live.container_id[:12] if live else None!r})"
