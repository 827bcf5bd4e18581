"""TimeSeriesEnv: time-series ML engineering tasks in a sandbox, graded on the host.

Tools: bash, python (a persistent session inside the sandbox), view_file, write_file,
validate_submission (format only, no score) and submit (grades and ends the episode). Hidden
answers live in this process only (builders.build); the sandbox only ever receives public files.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agentgym.actions import NoArgs, Tool, ToolCall, ToolResult
from agentgym.env import AgentEnv
from agentgym.policy import Policy, ScriptedPolicy
from agentgym.sandbox import Runtime, Sandbox, SandboxSpec
from agentgym.sandbox.factory import make_sandbox, resolve_runtime
from agentgym.envs.shell.env import BashArgs, WorkdirFiles, WriteArgs, format_command_result
from agentgym.envs.timeseries import repl
from agentgym.envs.timeseries.catalog import QUICK, all_specs
from agentgym.envs.timeseries.grading import (MAX_SUBMISSION_BYTES, SubmissionError, grade_csv_bytes, invalid_report,
                                              parse_csv, read_bounded)
from agentgym.guard import AgentFault
from agentgym.envs.timeseries.models import GradeReport, TaskInstance, TaskSpec

VIEW_CAP = 32 * 1024
IMAGE = "agentgym/timeseries:latest"


class PythonArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(description="Python code; variables persist between calls; the last expression is printed")
    timeout: float | None = Field(None, gt=0, le=600, description="seconds before the cell is interrupted (default 60)")


class ViewArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str = Field(description="file path, relative to the working directory")
    max_lines: int = Field(200, ge=1, le=5000, description="show at most this many lines")


def select_specs(tasks: str | list[str], extra: list[TaskSpec] | None = None) -> list[TaskSpec]:
    """Specs for `tasks`: 'all', a family name ('forecast', ...) for all of it, 'quick-<family>' or
    'lite' for the small validated subsets, or an explicit list of task ids."""
    specs = all_specs() + list(extra or [])
    by_id = {s.id: s for s in specs}
    if isinstance(tasks, list):
        unknown = [t for t in tasks if t not in by_id]
        if unknown:
            raise ValueError(f"unknown time-series task ids {unknown[:5]}; see catalog.all_specs()")
        return [by_id[t] for t in tasks]
    if tasks == "all":
        return specs
    if tasks == "lite":
        return [by_id[t] for t in QUICK["lite"]]
    if tasks.startswith("quick-") and tasks[6:] in QUICK:
        return [by_id[t] for t in QUICK[tasks[6:]]]
    fam = [s for s in specs if s.family == tasks]
    if not fam:
        raise ValueError(f"tasks={tasks!r}: use 'all', 'lite', a family ({sorted({s.family for s in specs})}), "
                         "'quick-<family>' or a list of task ids")
    return fam


_BUILT_KEEP = 8  # built tasks kept per env (gold and null episodes of one task share one build)


class TimeSeriesEnv(WorkdirFiles, AgentEnv):
    """Forecasting, classification, anomaly detection, imputation and engineering tasks."""

    def __init__(self, runtime: Runtime = "auto", tasks: str | list[str] = "lite", image: str = IMAGE,
                 extra_specs: list[TaskSpec | dict[str, Any]] | None = None, python_timeout: float = 60.0,
                 **kwargs: Any):
        self.runtime = resolve_runtime(runtime)
        # A read-only root on docker: the agent's writable space is tmpfs under the memory limit
        # (workdir, /tmp, /var/tmp), never the host's Docker disk, which overlay2 on ext4 cannot
        # bound; HOME moves to /tmp there (a local sandbox has a HOME of its own).
        env = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
        if self.runtime == "docker":
            env.update(HOME="/tmp", MPLCONFIGDIR="/tmp")
        self.spec_template = SandboxSpec(image=image, memory="2g", pids=256, read_only=True,
                                         cpus=1.0, default_timeout=120, env=env)
        extra = [TaskSpec.model_validate(s) for s in extra_specs or []]
        self._specs = {s.id: s for s in select_specs(tasks, extra)}
        self.python_timeout = python_timeout
        self._built: dict[str, TaskInstance] = {}
        self.sandbox: Sandbox | None = None
        self.instance: TaskInstance | None = None
        self._cell = 0
        super().__init__(**kwargs)

    # -- domain hooks ------------------------------------------------------------------------------
    def task_ids(self) -> list[str]:
        return list(self._specs)

    def _build(self, task_id: str) -> TaskInstance:
        """Build (data, hidden answers, baselines) once per task: seeded, so a rebuild is identical."""
        from agentgym.envs.timeseries.builders import build

        if task_id not in self._built:
            if len(self._built) >= _BUILT_KEEP:
                self._built.pop(next(iter(self._built)))
            self._built[task_id] = build(self._specs[task_id])
        return self._built[task_id]

    def _start_episode(self, task_id: str) -> str:
        self.instance = self._build(task_id)
        if self.sandbox is None or not self.sandbox.alive:
            self.sandbox = make_sandbox(self.spec_template, runtime=self.runtime)
        else:
            self.sandbox.restore()
        self._cell = 0
        for path, text in self.instance.public_files.items():
            self.sandbox.write_file(self._path(path), text)
        tools = ", ".join(t.name for t in self._tools())
        return (f"Task ({task_id}): {self.instance.statement}\n"
                f"Files in your working directory {self.workdir_shown()}: "
                f"{', '.join(sorted(self.instance.public_files))}. Tools: {tools}. The python tool keeps one "
                "session (numpy, pandas, scipy, scikit-learn, statsmodels); validate_submission checks the format "
                "only; submit grades and ends the episode.")

    def _fork_episode(self, clone: AgentEnv) -> None:
        assert isinstance(clone, TimeSeriesEnv) and self.sandbox is not None
        clone.sandbox = self.sandbox.fork()  # files only: the clone's python session starts empty

    def _close(self) -> None:
        if self.sandbox is not None:
            self.sandbox.close()
            self.sandbox = None

    def _tools(self) -> list[Tool]:
        return [
            Tool(name="bash", description="Run a bash command in the working directory.", params=BashArgs, handler=self._bash),
            Tool(name="python", description="Run Python in a persistent session (state kept between calls).",
                 params=PythonArgs, handler=self._python),
            Tool(name="view_file", description="Show the first lines of a text file.", params=ViewArgs, handler=self._view),
            Tool(name="write_file", description="Create or overwrite a text file.", params=WriteArgs, handler=self._write),
            Tool(name="validate_submission", description="Check the submission's format (columns, ids, values). No score.",
                 params=NoArgs, handler=self._validate),
            Tool(name="submit", description="Grade the submission. Ends the episode.", params=NoArgs, handler=self._submit),
        ]

    def reference_policy(self) -> Policy:
        assert self.instance is not None
        inst = self.instance
        calls = [ToolCall(name="write_file", arguments={"path": p, "content": c}) for p, c in inst.reference_files.items()]
        if inst.spec.family in ("forecast", "impute") or inst.submission.kind != "csv":
            calls.append(ToolCall(name="bash", arguments={"command": inst.reference_command}))
        else:  # the persistent python session runs the others' reference (exercises the tool)
            calls.append(ToolCall(name="python", arguments={"code": "import reference_solution as ref\nref.main('task.json')"}))
        return ScriptedPolicy(calls + [ToolCall(name="submit")])

    def step(self, action: Any):
        obs, reward, terminated, truncated, info = super().step(action)
        if "agent_failure" not in info:  # an invalid submission (the grader's own path) is an agent failure too
            failures = [r["agent_failure"] for r in info.get("tool_results", []) if r.get("agent_failure")]
            if failures:
                info["agent_failure"] = failures[-1]
        return obs, reward, terminated, truncated, info

    def passed(self, reward: float, info: dict[str, Any]) -> bool:
        grades = [r.get("grade") for r in info.get("tool_results", []) if r.get("grade")]
        return bool(grades) and bool(grades[-1].get("passed"))

    # -- tools -------------------------------------------------------------------------------------
    def _bash(self, args: BashArgs) -> ToolResult:
        assert self.sandbox is not None
        res = self.sandbox.exec(args.command, timeout=self.command_timeout(args.timeout, self.spec_template.default_timeout))
        return ToolResult(output=format_command_result(res))

    def _python(self, args: PythonArgs) -> ToolResult:
        assert self.sandbox is not None
        if self._cell == 0:
            self.sandbox.write_file(self._path(repl.REPL_PATH), repl.SOURCE)
            self.sandbox.write_file(self._path(repl.CLIENT_PATH), repl.CLIENT)
        self._cell += 1
        self.sandbox.write_file(self._path(repl.CELL_PATH), args.code)
        t = self.command_timeout(args.timeout, self.python_timeout)
        # /bin/bash by path, without BASH_ENV or rc files: the agent's shell functions, aliases
        # and options cannot reach the client. The channel's own timeout is a backstop: the client
        # interrupts the cell first.
        res = self.sandbox.exec(f'BASH_ENV= /bin/bash --norc --noprofile {repl.CLIENT_PATH} {self._cell} '
                                f'"$PWD/{repl.CELL_PATH}" {int(t * 1e6)} "$PWD/{repl.REPL_DIR}"',
                                timeout=t + repl.INTERRUPT_GRACE_S + 15, cwd=self.spec_template.workdir)
        out = res.output.rstrip("\n")
        if res.timed_out:
            out += "\n[the python session did not answer in time and was stopped]"
        return ToolResult(output=out or "[no output]", is_error=not res.ok)

    def _view(self, args: ViewArgs) -> ToolResult:
        data = self._read(args.path, limit=MAX_SUBMISSION_BYTES)
        if data is None:
            return ToolResult(output=f"Error: {args.path} does not exist or is not a readable file", is_error=True)
        text = data[:VIEW_CAP].decode("utf-8", errors="replace")
        lines = text.splitlines()
        shown = "\n".join(lines[: args.max_lines])
        if len(lines) > args.max_lines or len(data) > VIEW_CAP:
            shown += f"\n[agentgym: showing {min(len(lines), args.max_lines)} lines of a {len(data)}-byte file]"
        return ToolResult(output=shown)


    def _read(self, path: str, limit: int = MAX_SUBMISSION_BYTES) -> bytes | None:
        """The bytes of an agent file, or None when it does not exist. Bounded: the sandbox checks
        the type (regular files only: no FIFO, device or symlink out) and the size before reading;
        anything else is an AgentFault (SandboxFileRefused) naming the reason."""
        assert self.sandbox is not None
        try:
            return read_bounded(self.sandbox, self._path(path), limit)
        except (FileNotFoundError, IsADirectoryError, PermissionError):
            return None

    def _validate(self, args: NoArgs) -> ToolResult:
        inst = self.instance
        assert inst is not None
        if inst.submission.kind != "csv":
            from agentgym.envs.timeseries.engineering import check_format

            ok, msg = check_format(inst, self._read(inst.submission.path))
            return ToolResult(output=msg, is_error=not ok)
        data = self._read(inst.submission.path)
        if data is None:
            return ToolResult(output=f"{inst.submission.path} does not exist yet", is_error=True)
        try:
            df = parse_csv(data, inst.submission, list(inst.answers.index))
        except SubmissionError as exc:
            return ToolResult(output=f"invalid submission: {exc}", is_error=True)
        return ToolResult(output=f"{inst.submission.path} is valid: {len(df)} rows, columns {inst.submission.columns}. "
                                 "(Format only: submit to be scored.)")

    def grade(self) -> GradeReport:
        """Grade what the sandbox holds now (host side; engineering kinds use a fresh sandbox)."""
        inst = self.instance
        assert inst is not None and self.sandbox is not None
        data = self._read(inst.submission.path)
        if inst.submission.kind == "csv":
            return grade_csv_bytes(inst, data)
        from agentgym.envs.timeseries.engineering import grade_engineering

        try:
            return grade_engineering(inst, data, self.runtime, self.spec_template)
        except SubmissionError as exc:
            return invalid_report(inst, f"invalid submission: {exc}")

    def _submit(self, args: NoArgs) -> ToolResult:
        try:
            report = self.grade()
        except AgentFault as exc:  # what the agent left at the submission path cannot be read: its zero
            raise AgentFault(f"submission refused: {exc.reason}", terminal=True) from None
        if report.valid:
            text = (f"Submitted. {report.metric} = {report.score} (reward {report.reward:.3f}; pass needs "
                    f"{report.pass_reward:.3f}): {'PASSED' if report.passed else 'not passed'}. "
                    f"Medals: {', '.join(report.medals) or 'none'}.")
        else:
            text = f"Submitted. {report.message}. Reward 0."
        info: dict[str, Any] = {"grade": report.model_dump()}
        if not report.valid:  # the grader's own agent-failure path: reward 0 with the reason
            info["agent_failure"] = report.message
        return ToolResult(output=text, terminated=True, reward=report.reward, info=info)
