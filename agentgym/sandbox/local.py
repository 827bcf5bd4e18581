"""LocalSandbox: the same channel server as a plain local process in a fresh temp dir. No Docker.

What it keeps out of the agent's reach, as far as a process of the same user can: the host's
environment variables (a clean environment), agentgym itself (`python3` is a per-sandbox venv
without it, see local_python.py), paths out of the sandbox directory through the file ops
(symlinks are resolved and refused), and the user's home and cache (HOME is the sandbox's own).
What it cannot keep out: anything the user can read by absolute path; see Sandbox's docstring.
"""

from __future__ import annotations

import os
import posixpath
import re
import shutil
import stat
import sys
import tempfile
import uuid
import weakref
from pathlib import Path
from typing import ClassVar

from agentgym.sandbox import reaper
from agentgym.sandbox.archive import safe_extract
from agentgym.sandbox.base import (
    ARCHIVE_LIMIT,
    READ_LIMIT,
    CommandResult,
    Sandbox,
    SandboxError,
    SandboxFileRefused,
    SandboxSpec,
)
from agentgym.sandbox.channel import Channel, LocalTransport, server_argv
from agentgym.sandbox.local_python import make_python

_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_memory(text: str) -> int:
    """Docker memory syntax (``512m``, ``2g``, ``1.5g``, bytes) to bytes."""
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([bkmgt]?)b?\s*", str(text).lower())
    if not m:
        raise ValueError(f"bad memory size {text!r}: use docker syntax such as 512m or 2g")
    return int(float(m.group(1)) * _UNITS[m.group(2)])


def _cleanup(root: str, sbx_id: str, channel: Channel, owner_pid: int) -> None:
    # runs from close(), garbage collection or interpreter exit: must not reference the sandbox
    if os.getpid() != owner_pid:  # a forked child exiting: the sandbox is its parent's
        return
    try:
        channel.close()
    finally:
        reaper.kill_marked(sbx_id)
        shutil.rmtree(root, ignore_errors=True)



def _sandbox_path(py_bin: Path) -> str:
    """The host PATH with the sandbox's own Python first (local_python.py: the interpreter and
    packages agentgym runs with, pandas and pytest included, but not agentgym), and without this
    interpreter's bin directory (whose scripts would bring agentgym back)."""
    host = os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin")
    own = str(Path(sys.executable).parent)
    parts = [p for p in host.split(os.pathsep) if p and p != own]
    return os.pathsep.join([str(py_bin), *parts])

class LocalSandbox(Sandbox):
    """Commands run as ordinary processes of this user on this machine, in a fresh temp dir.

    What it does give: a persistent shell, timeouts that kill the command's whole process tree
    (daemonized children included), output caps, a per-process data-segment limit
    (RLIMIT_DATA = spec.memory, so one runaway allocation fails with MemoryError), and cleanup
    of every process it started when closed. It does NOT give any of ISOLATION_KINDS; see WARNING.

    spec fields with no local meaning are ignored: image, pids, cpus, network, read_only.

    Paths: the sandbox's ``spec.workdir`` (``/workspace`` by default) is the temp dir's ``work``
    folder. read_file/write_file/copy_in/copy_out map relative paths and absolute paths under
    spec.workdir into it; any other absolute path is the real host path. Commands are not
    rewritten: in a command, use relative paths or ``$AGENTGYM_WORKDIR`` (the host path of the
    workdir); ``/workspace/x`` in a command text means the host's ``/workspace/x``.
    """

    runtime: ClassVar[str] = "local"
    isolation: ClassVar[frozenset[str]] = frozenset()
    WARNING: ClassVar[str] = (
        "LocalSandbox gives NO isolation: commands run as your user on this machine with your "
        "files, network, processes and devices in reach. filesystem: absolute paths outside the "
        "temp dir are the host's; network: full host network; memory: only a per-process "
        "RLIMIT_DATA, not a total; pids: no limit (a fork bomb hits the whole machine); cpu: no "
        "quota; processes: host processes are visible and killable; user: same user as the caller. "
        "Use it for trusted code and tests on machines without Docker; use runtime='docker' for agents."
    )

    def __init__(self, spec: SandboxSpec | None = None, *, _template: Path | None = None) -> None:
        self.spec = spec or SandboxSpec()
        self.id = "local-" + uuid.uuid4().hex[:12]
        self.root = reaper.make_local_dir(self.id)
        self.work = self.root / "work"
        for sub in ("home", "tmp", "run", "snapshots"):
            (self.root / sub).mkdir()
        self._py_bin = make_python(self.root)
        self._snapshots: dict[str, Path] = {}
        self._init: Path | None = None
        if _template is not None:
            _copy_tree(_template, self.work)
            self._init = self.root / "snapshots" / "_init"  # a fork's creation state is the fork point
            _copy_tree(self.work, self._init)
        else:
            self.work.mkdir()
        self._env = self._shell_env()
        root, sbx_id, env, data_limit = str(self.root), self.id, self._env, parse_memory(self.spec.memory)
        file_limit = parse_memory(self.spec.max_file_size) if self.spec.max_file_size else 0

        def opener() -> LocalTransport:
            # -I: the server's own interpreter ignores PYTHON* variables and user site-packages
            argv = server_argv(sys.executable, sbx_id, str(Path(root) / "work"), rundir=str(Path(root) / "run"),
                               data_limit=data_limit, file_limit=file_limit, confine=root)
            argv.insert(1, "-I")
            return LocalTransport(argv, cwd=str(Path(root) / "work"), env=env, stderr_path=str(Path(root) / "server.log"))

        self._channel = Channel(opener, name=f"local sandbox {self.id}", max_output_bytes=self.spec.max_output_bytes,
                                default_timeout=self.spec.default_timeout)
        self._finalizer = weakref.finalize(self, _cleanup, str(self.root), self.id, self._channel, os.getpid())
        reaper.install_handlers()  # SIGTERM -> SystemExit -> atexit -> this finalizer
        try:
            if _template is None:
                self._write_spec_files()
            self._channel.ping()
        except BaseException:
            self.close()
            raise

    def _shell_env(self) -> dict[str, str]:
        # Not os.environ: the host's secrets (API keys, tokens) must not leak into agent commands.
        env = {
            "PATH": _sandbox_path(self._py_bin),
            "PYTHONNOUSERSITE": "1",
            "HOME": str(self.root / "home"),
            "TMPDIR": str(self.root / "tmp"),
            "LANG": "C.UTF-8",
            "TERM": "dumb",
            "USER": os.environ.get("USER", "agent"),
            "AGENTGYM_WORKDIR": str(self.work),
            "AGENTGYM_SANDBOX": self.id,
        }
        env.update(self.spec.env)
        return env

    def _write_spec_files(self) -> None:
        for path, content in self.spec.files.items():
            self.write_file(path, content)

    def _host_path(self, path: str) -> Path:
        """Where a sandbox path lives on the host (see the class docstring)."""
        wd = posixpath.normpath(self.spec.workdir)
        p = posixpath.normpath(path if posixpath.isabs(path) else posixpath.join(wd, path))
        if p == wd or p.startswith(wd.rstrip("/") + "/"):
            return self.work / posixpath.relpath(p, wd)
        return Path(p)

    # ---- Sandbox API -----------------------------------------------------------------------------

    def exec(self, command: str, timeout: float | None = None, cwd: str | None = None,
             env: dict[str, str] | None = None) -> CommandResult:
        return self._channel.exec(command, timeout, str(self._host_path(cwd)) if cwd else None, env)

    def kill_processes(self) -> None:
        self._check_open()
        self._channel.killall(cwd=str(self.work))
        reaper.kill_marked(self.id)  # those a killed server left behind carry the sandbox's mark

    def read_file(self, path: str, *, max_bytes: int = READ_LIMIT) -> bytes:
        return self._channel.read_file(str(self._host_path(path)), max_bytes)

    def write_file(self, path: str, data: bytes | str, mode: int = 0o644) -> None:
        self._channel.write_file(str(self._host_path(path)), data, mode)

    def copy_in(self, host_path: str | Path, sandbox_path: str) -> None:
        dest = self._host_path(sandbox_path)
        if _inside(dest, self.root) and not _inside(Path(os.path.realpath(dest.parent)), self.root.resolve()):
            raise SandboxFileRefused(f"copy_in {sandbox_path}: its folder leads out of the sandbox through a symlink")
        _copy(Path(host_path), dest)

    def copy_out(self, sandbox_path: str, host_path: str | Path, *, max_bytes: int = ARCHIVE_LIMIT) -> None:
        """Through the channel server's bounded, typed tar (as docker's read-only sandboxes do), so
        a FIFO, a device, a sparse giant or a symlink out of the sandbox never reaches the host."""
        src, dest = self._host_path(sandbox_path), Path(host_path)
        if not src.exists() and not src.is_symlink():
            raise FileNotFoundError(f"{sandbox_path} does not exist in sandbox {self.id}")
        data = self._channel.tar_out(str(src), max_bytes)
        dest.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".agentgym-copy-") as tmp:
            top = safe_extract(data, Path(tmp), limit=max_bytes, what=sandbox_path)
            if dest.is_dir() and top.is_dir() and not top.is_symlink():
                shutil.copytree(top, dest, symlinks=True, dirs_exist_ok=True)
            else:
                if dest.is_dir() and not dest.is_symlink():
                    raise IsADirectoryError(f"{dest} is a directory but {sandbox_path} is a file")
                os.replace(top, dest)

    def snapshot(self) -> str:
        self._check_open()
        snap_id = uuid.uuid4().hex[:12]
        dest = self.root / "snapshots" / snap_id
        _copy_tree(self.work, dest)
        self._snapshots[snap_id] = dest
        return snap_id

    def restore(self, snapshot_id: str | None = None) -> None:
        self._check_open()
        if snapshot_id is not None and snapshot_id not in self._snapshots:
            raise SandboxError(f"unknown snapshot {snapshot_id!r} for {self.id}; known: {sorted(self._snapshots)}")
        # kill first: a running process could write into the tree while it is replaced. Also those
        # a killed server left behind (no longer its descendants): they carry the sandbox's mark.
        self._channel.killall(cwd=str(self.work))
        reaper.kill_marked(self.id)
        shutil.rmtree(self.work)
        # What lies outside the workdir is the agent's too: a tool planted first on PATH (the
        # sandbox's python bin), files in HOME or TMPDIR. They go, so no episode inherits them.
        for sub in ("home", "tmp"):
            shutil.rmtree(self.root / sub)
            (self.root / sub).mkdir()
        shutil.rmtree(self.root / "py")
        self._py_bin = make_python(self.root)
        source = self._snapshots[snapshot_id] if snapshot_id else self._init
        if source is not None:
            _copy_tree(source, self.work)
        else:
            self.work.mkdir()
            self._write_spec_files()

    def fork(self) -> LocalSandbox:
        self._check_open()
        return LocalSandbox(self.spec.model_copy(update={"files": {}}), _template=self.work)

    def close(self) -> None:
        self._finalizer()

    @property
    def alive(self) -> bool:
        return self._finalizer.alive and self.work.is_dir()

    def _check_open(self) -> None:
        if not self._finalizer.alive:
            raise SandboxError(f"local sandbox {self.id} is closed; create a new one")

    def __repr__(self) -> str:
        return f"LocalSandbox(id={self.id!r}, root={str(self.root)!r})"


def _inside(path: Path, root: Path) -> bool:
    p, r = os.path.normpath(path), os.path.normpath(root)
    return p == r or p.startswith(r.rstrip("/") + "/")


def _special(folder: str, names: list[str]) -> set[str]:
    """What a snapshot, fork or restore leaves out of the agent's tree: FIFOs, devices and sockets
    (copying a FIFO blocks or fails, copying a device like /dev/zero never ends)."""
    out = set()
    for name in names:
        try:
            mode = os.lstat(os.path.join(folder, name)).st_mode
        except OSError:
            out.add(name)
            continue
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode) or stat.S_ISLNK(mode)):
            out.add(name)
    return out


def _copy_tree(src: Path, dst: Path) -> None:
    shutil.copytree(src, dst, symlinks=True, ignore=_special)


def _copy(src: Path, dst: Path) -> None:
    """Copy a file or a directory to exactly dst (parents created, directories merged)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    if src.is_dir() and not src.is_symlink():
        shutil.copytree(src, dst, symlinks=True, dirs_exist_ok=True)
    elif src.exists() or src.is_symlink():
        if dst.is_symlink() or dst.exists() and not dst.is_dir():
            dst.unlink()
        shutil.copy2(src, dst, follow_symlinks=False)
    else:
        raise FileNotFoundError(str(src))
