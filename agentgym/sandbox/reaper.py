"""Ownership labels and cleanup: no container, network, volume or snapshot image outlives its owner.

Every Docker resource agentgym creates carries :func:`owner_labels` (run id, owner pid and the
pid's start time, hostname). This process tracks what it created and removes it at exit and on
SIGTERM/SIGHUP. What a crashed or SIGKILLed process left behind is found by its labels: its owner
pid is dead on this host. :func:`gc` removes that (``agentgym gc``), and the first DockerSandbox a
process creates triggers one quiet gc in the background. :func:`owner_context` adds labels (a Ray
sweep's id and node) to what a process creates meanwhile, and ``gc(where=...)`` limits a gc to
resources that carry them: still only those of dead owners.

Local sandboxes are temp dirs named ``agentgym-sbx-*`` with an ``owner.json`` inside; gc removes
those whose owner is dead, after killing any process still marked with their sandbox id.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import signal
import socket
import tempfile
import threading
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

RUN_ID = os.environ.get("AGENTGYM_RUN_ID") or uuid.uuid4().hex[:12]
HOSTNAME = socket.gethostname()
LOCAL_PREFIX = "agentgym-sbx-"
SNAPSHOT_REPO = "agentgym-snapshot"
DOCKER_TIMEOUT_S = float(os.environ.get("AGENTGYM_DOCKER_TIMEOUT", "120"))

_lock = threading.Lock()
_client: Any = None
_tracked: dict[str, set[str]] = {"container": set(), "image": set(), "network": set(), "volume": set()}
_installed = False
_signals_installed = False
_reaped_once = False


def pid_start(pid: int) -> str:
    """The start time (clock ticks since boot) of a process: with the pid, it names one process.
    "" when it is gone, or a zombie (killed, not yet waited for: it owns nothing any more)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
        fields = data[data.rfind(b")") + 2 :].split()
        return "" if fields[0] == b"Z" else fields[19].decode()
    except (OSError, IndexError):
        return ""


_starts: dict[int, str] = {}
_context: dict[str, str] = {}  # extra labels for what this process creates now (owner_context)


@contextlib.contextmanager
def owner_context(labels: Mapping[str, str]) -> Iterator[None]:
    """Add `labels` to every resource this process creates inside the block (e.g. the sweep and the
    Ray node an episode runs for), so a later gc can pick one sweep's orphans. Process-wide: meant
    for a worker process that runs one episode at a time."""
    before = dict(_context)
    _context.update(labels)
    try:
        yield
    finally:
        _context.clear()
        _context.update(before)


def owner_labels() -> dict[str, str]:
    """Labels that tie a Docker resource to this process (and let gc find it once we are gone)."""
    return {
        **_context,
        "agentgym": "1",
        "agentgym.run": RUN_ID,
        "agentgym.pid": str(os.getpid()),
        "agentgym.host": HOSTNAME,
        "agentgym.pidstart": _starts.setdefault(os.getpid(), pid_start(os.getpid())),
    }


def owner_alive(labels: dict[str, str]) -> bool | None:
    """True/False for an owner on this host; None when the owner is on another host (unknowable)."""
    if labels.get("agentgym.host", HOSTNAME) != HOSTNAME:
        return None
    try:
        pid = int(labels.get("agentgym.pid", ""))
    except ValueError:
        return False
    start = pid_start(pid)
    if not start:
        return False
    want = labels.get("agentgym.pidstart")
    return not want or want == start  # a reused pid has another start time


def docker_client() -> Any:
    """The process-wide Docker client: every call through it times out (AGENTGYM_DOCKER_TIMEOUT)."""
    global _client
    with _lock:
        if _client is None:
            import docker

            _client = docker.from_env(timeout=DOCKER_TIMEOUT_S, max_pool_size=256)
        return _client


def _after_fork_in_child() -> None:
    # A forked child owns nothing yet (its parent's resources are the parent's to remove), and a
    # Docker client's connections must not be shared across processes.
    global _client
    _client = None
    for idents in _tracked.values():
        idents.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)


# ---- tracking what this process owns ------------------------------------------------------------


def track(kind: str, ident: str) -> None:
    with _lock:
        _tracked[kind].add(ident)
    install_handlers()


def untrack(kind: str, ident: str) -> None:
    with _lock:
        _tracked[kind].discard(ident)


def _remove(client: Any, kind: str, ident: str) -> str | None:
    """Remove one resource; returns an error message, or None when it is gone."""
    import docker.errors

    try:
        if kind == "container":
            client.api.remove_container(ident, force=True, v=True)
        elif kind == "image":
            client.api.remove_image(ident, force=True, noprune=False)
        elif kind == "network":
            client.api.remove_network(ident)
        elif kind == "volume":
            client.api.remove_volume(ident, force=True)
    except docker.errors.NotFound:
        pass
    except docker.errors.APIError as e:
        if "already in progress" not in str(e):  # another process (a concurrent gc) is removing it
            return f"{kind} {ident}: {e}"
    except Exception as e:  # noqa: BLE001 - cleanup reports, never raises
        return f"{kind} {ident}: {e}"
    untrack(kind, ident)
    return None


def remove_many(kind: str, idents: list[str]) -> list[str]:
    """Remove resources in parallel (a container removal takes ~0.1-0.5 s); returns errors."""
    if not idents:
        return []
    client = docker_client()
    if len(idents) == 1:
        return [e for e in [_remove(client, kind, idents[0])] if e]
    results: dict[str, str | None] = {}
    threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, _remove(client, kind, i)), daemon=True)
               for i in idents]
    try:
        for t in threads:
            t.start()
    except RuntimeError:  # no new threads at interpreter shutdown (atexit): one by one, then
        pass
    for t in threads:
        if t.is_alive() or t.ident is not None:
            t.join(DOCKER_TIMEOUT_S)
    for i in idents:
        if i not in results:
            results[i] = _remove(client, kind, i)
    return [e for e in results.values() if e]


def cleanup_own() -> list[str]:
    """Remove everything this process still tracks. Containers first: images may back them."""
    with _lock:
        todo = {k: sorted(v) for k, v in _tracked.items()}
    if not any(todo.values()):
        return []
    errors = remove_many("container", todo["container"])
    # newest snapshot images first: a fork's image is a child of its parent's
    for ident in reversed(todo["image"]):
        err = _remove(docker_client(), "image", ident)
        if err:
            errors.append(err)
    errors += remove_many("network", todo["network"]) + remove_many("volume", todo["volume"])
    return errors


def install_handlers() -> None:
    """atexit + SIGTERM/SIGHUP cleanup, chained to whatever handlers were there. Idempotent.

    Signal handlers can only be set from the main thread: a call from another thread installs
    atexit only, and a later call from the main thread adds the signal handlers.
    """
    global _installed, _signals_installed
    with _lock:
        first, _installed = not _installed, True
    if first:
        atexit.register(cleanup_own)
    if _signals_installed or threading.current_thread() is not threading.main_thread():
        return
    _signals_installed = True
    for sig in (signal.SIGTERM, signal.SIGHUP):
        previous = signal.getsignal(sig)
        if previous is signal.SIG_IGN:
            continue  # e.g. under nohup: the process keeps running, and so must its sandboxes

        def handler(signum: int, frame: Any, previous: Any = previous) -> None:
            try:
                if callable(previous):  # the application's own shutdown first; it may still need them
                    previous(signum, frame)
            finally:
                cleanup_own()
            raise SystemExit(128 + signum)  # atexit handlers and finalizers still run

        try:
            signal.signal(sig, handler)
        except (ValueError, OSError):
            pass


# ---- garbage collection -----------------------------------------------------------------------


class GcReport(BaseModel):
    """What gc removed (or, with dry_run, would remove)."""

    dry_run: bool = False
    containers: list[str] = Field(default_factory=list)
    images: list[str] = Field(default_factory=list)
    networks: list[str] = Field(default_factory=list)
    volumes: list[str] = Field(default_factory=list)
    local_dirs: list[str] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.containers) + len(self.images) + len(self.networks) + len(self.volumes) + len(self.local_dirs)


def _doomed(labels: dict[str, str], all: bool, run: str | None, where: Mapping[str, str] | None = None) -> bool:
    if where and any(labels.get(k) != v for k, v in where.items()):
        return False
    if run is not None:
        return labels.get("agentgym.run") == run
    if all:
        return True
    return owner_alive(labels) is False


def gc(all: bool = False, run: str | None = None, dry_run: bool = False, where: Mapping[str, str] | None = None,
       docker: bool = True) -> GcReport:
    """Remove agentgym resources whose owner process is dead on this host.

    all=True removes every agentgym resource (other live processes' included); run=ID removes
    one run's. Snapshot images are only ever those in the ``agentgym-snapshot`` repository, never
    the base or environment images (which carry no owner pid). where: only resources carrying
    these labels (e.g. one sweep's, see owner_context). docker=False: local sandboxes only.
    """
    report = GcReport(dry_run=dry_run)
    report.local_dirs = _gc_local_dirs(all, run, dry_run, report.errors, where)
    if not docker:
        return report
    try:
        client = docker_client()
        # agentgym.pid, not just agentgym: images from the image pipeline carry agentgym=1, and
        # so does any container a user starts from them; only our own resources name an owner
        containers = client.api.containers(all=True, filters={"label": "agentgym.pid"})
        networks = client.api.networks(filters={"label": "agentgym.pid"})
        volumes = (client.api.volumes(filters={"label": "agentgym.pid"}) or {}).get("Volumes") or []
        images = client.api.images(filters={"label": "agentgym.pid"})
    except Exception as e:  # noqa: BLE001 - no engine: local dirs were still collected
        report.errors.append(f"docker: {e}")
        return report
    report.containers = [c["Id"][:12] for c in containers if _doomed(c.get("Labels") or {}, all, run, where)]
    report.networks = [n["Id"][:12] for n in networks if _doomed(n.get("Labels") or {}, all, run, where)]
    report.volumes = [v["Name"] for v in volumes if _doomed(v.get("Labels") or {}, all, run, where)]
    snaps = [i for i in images if _is_snapshot(i) and _doomed(i.get("Labels") or {}, all, run, where)]
    snaps.sort(key=lambda i: i.get("Created", 0), reverse=True)  # children before parents
    report.images = [next((t for t in i.get("RepoTags") or [] if t != "<none>:<none>"), i["Id"]) for i in snaps]
    if dry_run:
        return report
    report.errors += remove_many("container", report.containers)
    for ident in [i["Id"] for i in snaps]:
        err = _remove(client, "image", ident)
        if err:
            report.errors.append(err)
    report.errors += remove_many("network", report.networks) + remove_many("volume", report.volumes)
    return report


def _is_snapshot(image: dict[str, Any]) -> bool:
    tags = [t for t in image.get("RepoTags") or [] if t != "<none>:<none>"]
    if tags:
        return all(t.startswith(SNAPSHOT_REPO + ":") for t in tags)
    return (image.get("Labels") or {}).get("agentgym.kind") == "snapshot"


def reap_orphans_once() -> None:
    """One quiet background gc per process, the first time it creates a DockerSandbox."""
    global _reaped_once
    with _lock:
        if _reaped_once:
            return
        _reaped_once = True
    threading.Thread(target=lambda: gc(), name="agentgym-reap-orphans", daemon=True).start()


# ---- local sandboxes ----------------------------------------------------------------------------


def make_local_dir(sbx_id: str) -> Path:
    """A temp dir for a local sandbox, with an owner file gc can judge it by."""
    root = Path(tempfile.mkdtemp(prefix=LOCAL_PREFIX))
    owner = {**owner_labels(), "agentgym.sandbox": sbx_id}
    (root / "owner.json").write_text(json.dumps(owner))
    return root


def kill_marked(sbx_id: str) -> int:
    """SIGKILL every host process whose environment says it belongs to local sandbox sbx_id."""
    needle = f"AGENTGYM_SBX={sbx_id}\0".encode()
    killed = 0
    for _ in range(20):
        victims = []
        for name in os.listdir("/proc"):
            if name.isdigit():
                try:
                    with open(f"/proc/{name}/environ", "rb") as f:
                        if needle in f.read():
                            victims.append(int(name))
                except OSError:
                    pass
        if not victims:
            break
        for pid in victims:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except OSError:
                pass
    return killed


def _gc_local_dirs(all: bool, run: str | None, dry_run: bool, errors: list[str],
                   where: Mapping[str, str] | None = None) -> list[str]:
    removed = []
    for root in Path(tempfile.gettempdir()).glob(LOCAL_PREFIX + "*"):
        try:
            labels = json.loads((root / "owner.json").read_text())
        except (OSError, ValueError):
            continue  # not ours, or still being created
        if labels.get("agentgym.pid") == str(os.getpid()) and run is None and not all:
            continue
        if not _doomed(labels, all, run, where):
            continue
        removed.append(str(root))
        if not dry_run:
            kill_marked(labels.get("agentgym.sandbox", "\0"))
            shutil.rmtree(root, ignore_errors=True)
            if root.exists():
                errors.append(f"could not remove {root}")
    return removed
