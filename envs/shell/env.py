"""ShellEnv: the fixture env of small shell tasks. It exercises the whole core path (sandbox,
tools, budgets, grading outside the sandbox, validate) without any domain's weight."""

from __future__ import annotations

import posixpath
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agentgym.actions import ActionError, NoArgs, Tool, ToolResult
from agentgym.env import AgentEnv
from agentgym.guard import AgentFault
from agentgym.policy import Policy, ScriptedPolicy
from agentgym.sandbox import CommandResult, Runtime, Sandbox, SandboxSpec
from agentgym.sandbox.factory import make_sandbox, resolve_runtime
from agentgym.envs.shell.tasks import ShellTask, Verdict, build_tasks

READ_CAP = 64 * 1024


class BashArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    command: str = Field(description="a bash command; shell state (cwd, variables) persists between calls")
    timeout: float | None = Field(None, gt=0, le=600, description="seconds before the command is killed (default 30)")


class ReadArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str = Field(description="file path inside the working directory (relative, or absolute under it)")


class WriteArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str = Field(description="file path inside the working directory (relative, or absolute under it)")
    content: str = Field(description="the whole new content of the file")


def format_command_result(res: CommandResult) -> str:
    """How a command's result reads to the agent."""
    out = res.output.rstrip("\n")
    if res.timed_out:
        status = f"[timed out after {res.duration_s:.0f}s; the command and its processes were killed]"
    else:
        status = f"[exit code: {res.exit_code}]"
    return f"{out}\n{status}" if out else status


class WorkdirFiles:
    """Paths and the write_file tool for envs whose files live in `self.sandbox` under
    `self.spec_template.workdir` (the shell and time-series envs)."""

    sandbox: Sandbox | None
    spec_template: SandboxSpec

    def workdir_shown(self) -> str:
        """The working directory as the agent's commands see it: spec.workdir in a container; on
        the local runtime the sandbox's real directory (spec.workdir does not exist on the host)."""
        work = getattr(self.sandbox, "work", None)  # LocalSandbox: its temp dir's work/
        return str(work) if work is not None else self.spec_template.workdir

    def _path(self, path: str) -> str:
        """The sandbox path of a tool's path argument: inside the working directory, or refused
        (`../` and absolute paths elsewhere would reach the host's files on the local runtime)."""
        if not path or "\x00" in path:
            raise ActionError("path must be a non-empty string without NUL bytes")
        wd = posixpath.normpath(self.spec_template.workdir)
        shown = posixpath.normpath(self.workdir_shown())
        if shown != wd and (path == shown or path.startswith(shown + "/")):  # the real directory, by its absolute path
            path = posixpath.relpath(posixpath.normpath(path), shown)
        full = posixpath.normpath(posixpath.join(wd, path))
        if full != wd and not full.startswith(wd.rstrip("/") + "/"):
            raise ActionError(f"path {path[:200]!r} is outside the working directory {wd}; file tools work inside it")
        return full

    def _write(self, args: WriteArgs) -> ToolResult:
        assert self.sandbox is not None
        try:
            self.sandbox.write_file(self._path(args.path), args.content)
        except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
            return ToolResult(output=f"Error: cannot write {args.path}: {exc}", is_error=True)
        return ToolResult(output=f"wrote {len(args.content.encode())} bytes to {args.path}")


class ShellEnv(WorkdirFiles, AgentEnv):
    """Small file and text tasks in a sandboxed shell; submit() grades them from outside."""

    def __init__(self, runtime: Runtime = "auto", image: str = "agentgym/base:latest", show_workdir: bool = True, **kwargs: Any):
        """``show_workdir=False``: the statement does not name the working directory's absolute path
        (on the local runtime a fresh temporary path per sandbox) and says paths are relative to it;
        tools and grading are unchanged. For training, where a path that differs every episode is
        noise in the prompt (benchmarks/train.py)."""
        self.runtime = resolve_runtime(runtime)
        self.show_workdir = bool(show_workdir)
        # docker: a read-only root, so the agent writes only to tmpfs (workdir, /tmp), bounded by
        # their sizes and the memory limit, never to the host's disk; any one file is at most 64 MiB.
        self.spec_template = SandboxSpec(image=image, memory="512m", pids=128, default_timeout=30,
                                         read_only=self.runtime == "docker", max_file_size="64m")
        self._tasks: dict[str, ShellTask] = build_tasks(self.runtime)
        self.sandbox: Sandbox | None = None
        self._verdict: Verdict | None = None  # the last submit's expected vs got: grader_report() only
        super().__init__(**kwargs)

    # -- domain hooks ----------------------------------------------------------------------------
    def task_ids(self) -> list[str]:
        return list(self._tasks)

    #: Held out for evaluation (agentgym.rl's train/test split): kinds of work no training task does.
    TEST_TASKS = frozenset({"sum-column", "rename-ext"})

    def split_of(self, task_id: str) -> str:
        return "test" if task_id in self.TEST_TASKS else "train"

    def _start_episode(self, task_id: str) -> str:
        if self.sandbox is None or not self.sandbox.alive:
            self.sandbox = make_sandbox(self.spec_template, runtime=self.runtime)
        else:
            self.sandbox.restore()  # back to the clean state of creation: cheap, no new sandbox
        task = self._tasks[task_id]
        self._verdict = None
        for path, text in task.files.items():
            self.sandbox.write_file(self._path(path), text)
        tools = ", ".join(t.name for t in self._tools())
        where = (f"Your working directory is {self.workdir_shown()}." if self.show_workdir
                 else "Commands run in your working directory; give paths relative to it.")
        return (
            f"Task ({task_id}): {task.statement}\n"
            f"{where} Tools: {tools}. "
            "Call submit when you are done; it ends the episode."
        )

    def _end_episode(self) -> None:
        pass  # the sandbox is reused across episodes (restored at the next reset)

    def _fork_episode(self, clone: AgentEnv) -> None:
        assert isinstance(clone, ShellEnv) and self.sandbox is not None
        clone.sandbox = self.sandbox.fork()

    def _close(self) -> None:
        if self.sandbox is not None:
            self.sandbox.close()
            self.sandbox = None

    def _tools(self) -> list[Tool]:
        return [
            Tool(name="bash", description="Run a bash command in the working directory.", params=BashArgs, handler=self._bash),
            Tool(name="read_file", description="Read a text file.", params=ReadArgs, handler=self._read),
            Tool(name="write_file", description="Create or overwrite a text file.", params=WriteArgs, handler=self._write),
            Tool(name="submit", description="Submit your work for grading. Ends the episode.", params=NoArgs, handler=self._submit),
        ]

    def reference_policy(self) -> Policy:
        assert self.task_id is not None
        return ScriptedPolicy(self._tasks[self.task_id].solution)

    # -- tools -----------------------------------------------------------------------------------
    def _bash(self, args: BashArgs) -> ToolResult:
        assert self.sandbox is not None
        res = self.sandbox.exec(args.command, timeout=self.command_timeout(args.timeout, self.spec_template.default_timeout))
        return ToolResult(output=format_command_result(res))

    def _read(self, args: ReadArgs) -> ToolResult:
        assert self.sandbox is not None
        try:
            data = self.sandbox.read_file(self._path(args.path))
        except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
            return ToolResult(output=f"Error: cannot read {args.path}: {exc}", is_error=True)
        text = data[:READ_CAP].decode("utf-8", errors="replace")
        if len(data) > READ_CAP:
            text += f"\n[agentgym: file truncated, {len(data) - READ_CAP} bytes omitted]"
        return ToolResult(output=text)


    def _submit(self, args: NoArgs) -> ToolResult:
        assert self.sandbox is not None and self.task_id is not None
        try:
            verdict = self._tasks[self.task_id].check(self.sandbox, self.spec_template.workdir)
        except AgentFault as exc:  # a FIFO, device, giant or link out where the grader reads: reward 0
            raise AgentFault(f"submission cannot be graded: {exc.reason}", terminal=True) from None
        self._verdict, ok, detail = verdict, verdict.passed, verdict.detail
        return ToolResult(
            output=f"Submitted. {'Passed' if ok else 'Failed'}: {detail}",
            terminated=True,
            reward=1.0 if ok else 0.0,
            info={"passed": ok, "detail": detail},
        )

    def grader_report(self) -> dict[str, Any] | None:
        """The last submit's expected vs got (envs/shell/tasks.py Verdict), read by the rollout after
        the episode; the agent is told only the check's one line (answers stay on the host)."""
        return self._verdict.report() if self._verdict is not None else None
