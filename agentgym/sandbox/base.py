"""The Sandbox protocol: what every backend (docker, local) offers to environments.

A sandbox is a place where an agent's commands run: a container, or a temporary directory with
plain processes. Environments only talk to this interface, so a domain never knows which backend
it runs on. Graders never run inside a sandbox: they read artifacts out of it (read_file,
copy_out) and judge them in the host process or in a fresh sandbox.

Everything read out of a sandbox is hostile (the agent runs arbitrary code in it): read_file and
copy_out are bounded and typed on both backends (SandboxFileRefused, an AgentFault, for a FIFO, a
device, a socket, a file over the limit or a symlink out of a local sandbox), and the command
server survives them. A server killed from inside is the agent's failure (ChannelKilled) when the
sandbox is still up and a fresh server answers; so is a container the kernel OOM-killed
(SandboxOutOfMemory: root inside can make pid 1 the OOM victim) and a running container where a
server that answered before no longer starts (SandboxServerBroken: its Python replaced); both end
the episode. SandboxError is kept for what the agent could not cause (a container gone, an engine
that stopped answering, an image without Python).

The local backend isolates as far as a process of the same user can, no further:
- kept out: the host's environment variables (a clean environment, HOME and TMPDIR of its own,
  so ~/.cache/agentgym and $AGENTGYM_CACHE are not the user's), agentgym itself (`python3`,
  `python` and the venv's console scripts are a per-sandbox venv with the host's packages but
  not agentgym; PYTHONNOUSERSITE=1, no PYTHONPATH), and, through read_file/write_file/copy_out,
  any path that leads out of the sandbox's directory through a symlink.
- still exposed: anything the user can reach by absolute path from a command: the repository and
  its task files (`sys.path.insert(0, "/path/to/repo"); import agentgym` works), the user's
  cache of task data and secrets, other sandboxes' directories, the host's processes (their
  /proc/<pid>/environ and memory, signals: `pkill` reaches the neighbours' servers), the network,
  and no pids, disk or total memory limit (only RLIMIT_DATA and RLIMIT_FSIZE per process). Use
  runtime="docker" for agents you do not trust, and for any number you report.
"""

from __future__ import annotations

import abc
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from agentgym.guard import AgentFault

Runtime = Literal["docker", "local", "auto"]

#: The kinds of isolation a backend may provide. LocalSandbox provides none of them and says so.
ISOLATION_KINDS = frozenset({"filesystem", "network", "memory", "pids", "cpu", "processes", "user"})


class SandboxError(RuntimeError):
    """An infrastructure failure of the sandbox itself (not of the agent's command).

    Environments turn this into ``info["error"]``; it must never look like an agent failure.
    """


class SandboxFileRefused(AgentFault):
    """A sandbox file that cannot be read or written safely: a FIFO, device or socket, a file over
    the size limit, or (local backend) a symlink out of the sandbox's directory.

    The agent put it there, so it is an AgentFault (info["agent_failure"], reward 0 where a grader
    needed the file), never a SandboxError: the channel server refused it and still answers.
    """


class SandboxOutOfMemory(AgentFault):
    """The container stopped because what ran in it used up its memory limit: the kernel's OOM
    killer took the container's pid 1 (root in the container can raise any process's
    oom_score_adj, pid 1's included, and then a few mid-sized allocations make the kernel pick it;
    no container setting stops that). The sandbox is gone until restore() (reset), so this ends
    the episode with reward 0: the agent's failure, never an infrastructure error."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, terminal=True)


class SandboxServerBroken(AgentFault):
    """The sandbox is up but no fresh command server starts in it: what ran there broke what the
    server needs (root in a writable container replaced or removed its Python, or planted code its
    interpreter runs at start-up). Ends the episode with reward 0; reset() starts a fresh sandbox."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, terminal=True)


class ChannelKilled(AgentFault):
    """The sandbox's command server died while the sandbox itself stayed up, and a fresh server
    answers: what ran in the sandbox killed it (kill -9, exhausted memory). Shell state (cwd,
    variables) is lost; files are kept."""


#: Default byte limits of reads of agent files (read_file) and of archives (copy_out, tar_out).
READ_LIMIT = 64 * 1024 * 1024
ARCHIVE_LIMIT = 256 * 1024 * 1024


class CommandResult(BaseModel):
    """The outcome of one command run through a sandbox's channel."""

    model_config = ConfigDict(frozen=True)

    command: str
    exit_code: int | None = Field(description="None when the command was killed (timeout)")
    stdout: str = ""
    stderr: str = ""
    timed_out: bool = False
    truncated: bool = Field(False, description="output went over the cap and was cut (a marker shows where)")
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out

    @property
    def output(self) -> str:
        """stdout then stderr, the way an agent usually wants to read them."""
        if self.stdout and self.stderr:
            sep = "" if self.stdout.endswith("\n") else "\n"
            return f"{self.stdout}{sep}{self.stderr}"
        return self.stdout or self.stderr


class SandboxSpec(BaseModel):
    """How to create a sandbox. Defaults are safe: limits on, no network."""

    image: str = "agentgym/base:latest"
    workdir: str = "/workspace"
    env: dict[str, str] = Field(default_factory=dict)
    memory: str = Field("1g", description="memory limit (docker syntax: 512m, 2g)")
    pids: int = Field(256, description="maximum number of processes")
    cpus: float = Field(1.0, description="CPU quota in cores")
    network: bool | str = Field(False, description="False: no network; True: default bridge; str: a named network")
    read_only: bool = Field(False, description="read-only root filesystem (workdir and /tmp stay writable)")
    workdir_from_image: bool = Field(False, description="read_only only: the workdir's tmpfs starts with the "
                                     "image's own content at that path (docker copies it in at start), not empty")
    workdir_size: str | None = Field(None, description="read_only only: size of the workdir's tmpfs (docker "
                                     "syntax); default half of what the memory limit leaves for tmpfs")
    labels: dict[str, str] = Field(default_factory=dict)
    max_output_bytes: int = Field(64 * 1024, description="per-command output cap (stdout and stderr each)")
    default_timeout: float = Field(60.0, description="seconds before a command is killed")
    files: dict[str, str] = Field(default_factory=dict, description="files written into the sandbox at creation")
    max_file_size: str | None = Field("2g", description="largest file a command may write (RLIMIT_FSIZE, both "
                                      "backends; docker syntax). A guard against one runaway file, not a disk quota")


class Sandbox(abc.ABC):
    """A running sandbox. Use it as a context manager, or call close()."""

    runtime: ClassVar[str]
    #: which kinds of ISOLATION_KINDS this backend really provides
    isolation: ClassVar[frozenset[str]]

    spec: SandboxSpec
    id: str

    @abc.abstractmethod
    def exec(
        self,
        command: str,
        timeout: float | None = None,
        cwd: str | None = None,
        env: dict[str, str] | None = None,
    ) -> CommandResult:
        """Run a shell command through the persistent channel.

        Shell state (cwd after ``cd``, exported variables) persists between calls. On timeout the
        whole process group, and any process the command started, is killed; the result has
        ``timed_out=True`` and ``exit_code=None``.
        """

    @abc.abstractmethod
    def read_file(self, path: str, *, max_bytes: int = READ_LIMIT) -> bytes:
        """The bytes of a regular file. A FIFO, device or socket, a file over max_bytes (by its
        size, checked before reading) or, on the local backend, a symlink out of the sandbox's
        directory raises SandboxFileRefused (an AgentFault); the sandbox keeps answering."""

    @abc.abstractmethod
    def write_file(self, path: str, data: bytes | str, mode: int = 0o644) -> None: ...

    @abc.abstractmethod
    def copy_in(self, host_path: str | Path, sandbox_path: str) -> None:
        """Copy a host file or directory into the sandbox."""

    @abc.abstractmethod
    def copy_out(self, sandbox_path: str, host_path: str | Path, *, max_bytes: int = ARCHIVE_LIMIT) -> None:
        """Copy a sandbox file or directory out to the host: regular files, directories and
        symlinks that stay inside the copied tree; FIFOs, devices, sockets and links out of the
        tree are left out. More than max_bytes in all raises SandboxFileRefused (an AgentFault)."""

    @abc.abstractmethod
    def snapshot(self) -> str:
        """Record the current filesystem state; returns a snapshot id for restore()."""

    @abc.abstractmethod
    def restore(self, snapshot_id: str | None = None) -> None:
        """Return to a snapshot (default: the state right after creation). Fast: this is reset()."""

    @abc.abstractmethod
    def fork(self) -> Sandbox:
        """An independent sandbox with the same filesystem state."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release everything (processes, containers, snapshots). Idempotent."""

    @property
    @abc.abstractmethod
    def alive(self) -> bool: ...

    def missing_isolation(self) -> frozenset[str]:
        return ISOLATION_KINDS - self.isolation

    def kill_processes(self) -> None:
        """Kill every process the sandbox's commands started, daemons included (the channel server is
        a subreaper: what double-forked is still its descendant); the next exec starts a fresh shell
        in the workdir. Graders call it after running untrusted code and before putting anything of
        their own in (SWE's reinstall step). Backends without a channel raise NotImplementedError."""
        raise NotImplementedError(f"{type(self).__name__} cannot kill its processes")

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
