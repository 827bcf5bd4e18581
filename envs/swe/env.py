"""SWEEnv: edit a real repository until its hidden tests pass (SWE-bench style).

The agent gets the problem statement and a sandbox with the repository at /testbed (a container
from the instance image, or a temp copy of the tree on the local runtime). Tools: bash (persistent
shell), editor (view/create/str_replace/insert/undo_edit), search, submit. submit takes the diff
against the start commit and grades it in a FRESH sandbox (grading.py); the gold patch, the test
patch and the test lists never enter the agent's sandbox.

On docker the sandbox (the agent's and the grader's) has a read-only root: /testbed is a tmpfs
volume that starts with the image's repository (testbed_size, default half of what the memory
limit leaves for tmpfs), /tmp and /var/tmp are tmpfs too, so an agent that writes gigabytes gets
ENOSPC inside its sandbox instead of filling the host's Docker disk. HOME and pip's user site
(PIP_USER) are on /tmp; the image's site-packages stay read-only.

Reset is cheap: the same instance restores its sandbox (a warm spare container, or a snapshot
copy of the tree), never a rebuild; another instance starts a container from its (cached) image.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agentgym.actions import NoArgs, Tool, ToolCall, ToolResult
from agentgym.env import AgentEnv, InfraError
from agentgym.guard import AgentFault
from agentgym.envs.shell.env import format_command_result
from agentgym.envs.swe.grading import GradeReport, grade
from agentgym.envs.swe.images import enforce_disk_budget, find_official, instance_image
from agentgym.envs.swe.instance import SWEInstance
from agentgym.envs.swe.sources import cached_tree
from agentgym.envs.swe.testrun import GRADING_OUTPUT_BYTES
from agentgym.envs.swe.specs import RepoSpec
from agentgym.envs.swe.tools import Editor, EditorArgs, SearchArgs, search
from agentgym.policy import Policy, ScriptedPolicy
from agentgym.sandbox import Runtime, Sandbox, SandboxSpec
from agentgym.sandbox.factory import make_sandbox, resolve_runtime

REPO = "/testbed"
MAX_DIFF_BYTES = 20 * 1024 * 1024
_DIFF_IN_INFO = 256 * 1024
#: Docker: a read-only root, so HOME and pip's user site live on the /tmp tmpfs.
DOCKER_ENV = {"HOME": "/tmp", "PYTHONUSERBASE": "/tmp/.local", "PIP_USER": "1"}
#: Byproducts of running code and tests, never part of a submission.
_NOT_CHANGES = " ".join(f"':(exclude,glob){p}'" for p in ("**/__pycache__/**", "**/*.pyc", "**/.pytest_cache/**",
                                                          "**/.hypothesis/**", "**/*.egg-info/**"))


class BashArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    command: str = Field(description="a bash command, run in the repository; shell state persists between calls")
    timeout: float | None = Field(None, gt=0, le=1800, description="seconds before it is killed (default 120)")


class SWEEnv(AgentEnv):
    """A suite of SWE instances; one task per instance_id."""

    def __init__(
        self,
        instances: list[SWEInstance],
        source_for: Any,
        spec_for: Any,
        *,
        runtime: Runtime = "auto",
        image_source: Literal["auto", "official", "local"] = "auto",
        disk_budget_gb: float | None = None,
        memory: str = "2g",
        cpus: float = 1.0,
        testbed_size: str | None = None,
        **kwargs: Any,
    ):
        self.runtime = resolve_runtime(runtime)
        self.instances = {i.instance_id: i for i in instances}
        self._source_for = source_for  # instance -> RepoSource
        self._spec_for = spec_for  # instance -> RepoSpec
        self.image_source = image_source
        self.disk_budget = disk_budget_gb * 2**30 if disk_budget_gb else None
        self.limits = {"memory": memory, "cpus": cpus, "pids": 512}
        self.testbed_size = testbed_size
        self.sandbox: Sandbox | None = None
        self._sandbox_key: str | None = None
        self._snapshot: str | None = None
        self._start_commit = ""
        self._image: str | None = None
        self.editor: Editor | None = None
        self.last_report: GradeReport | None = None
        super().__init__(**kwargs)

    # -- domain hooks ----------------------------------------------------------------------------
    def task_ids(self) -> list[str]:
        return list(self.instances)

    def instance(self, task_id: str | None = None) -> SWEInstance:
        return self.instances[task_id or self.task_id or ""]

    def _start_episode(self, task_id: str) -> str:
        inst = self.instances[task_id]
        if self.runtime == "docker":
            self._start_docker(inst)
        else:
            self._start_local(inst)
        assert self.sandbox is not None
        self.editor = Editor(self.sandbox, REPO)
        self.last_report = None
        return (
            f"You are working in the repository {inst.repo} checked out at {REPO} (instance {task_id}).\n"
            "Fix the issue below by editing the repository's source code (not its tests: edits to tests "
            "and test configuration are ignored when grading). You may run code and tests with bash.\n"
            "Tools: bash, editor, search, submit. Call submit when done; your changes are graded by "
            "hidden tests in a fresh copy of the repository.\n\n"
            f"<issue>\n{inst.problem_statement.strip()}\n</issue>"
        )

    def _start_docker(self, inst: SWEInstance) -> None:
        image, start = self._docker_image(inst)
        if self.sandbox is not None and self.sandbox.alive and self._sandbox_key == image:
            self.sandbox.restore()  # a warm spare of the same image: milliseconds, no rebuild
        else:
            self._drop_sandbox()
            self.sandbox = make_sandbox(self._spec(image), runtime="docker")
            self._sandbox_key = image
        self._image, self._start_commit = image, start

    def _docker_image(self, inst: SWEInstance) -> tuple[str, str]:
        if self.image_source in ("auto", "official"):
            official = find_official(inst.instance_id, try_pull=self.image_source == "official")
            if official is not None:
                return official, inst.base_commit
            if self.image_source == "official":
                raise InfraError(f"no official image for {inst.instance_id} here and no registry answered; "
                                 "use image_source='local' with repo_source=PATH")
        image, start = instance_image(inst, self._spec_for(inst), self._source_for(inst))
        if self.disk_budget:
            enforce_disk_budget(self.disk_budget, keep={image})
        return image, start

    def _start_local(self, inst: SWEInstance) -> None:
        if self.sandbox is not None and self.sandbox.alive and self._sandbox_key == inst.instance_id:
            self.sandbox.restore(self._snapshot)
            return
        self._drop_sandbox()
        tree, self._start_commit = cached_tree(self._source_for(inst), inst)
        self.sandbox = make_sandbox(self._spec(None), runtime="local")
        self.sandbox.copy_in(tree, REPO)
        self._snapshot = self.sandbox.snapshot()
        self._sandbox_key = inst.instance_id

    def _spec(self, image: str | None) -> SandboxSpec:
        env = {"PYTHONDONTWRITEBYTECODE": "1", "HYPOTHESIS_STORAGE_DIRECTORY": "/tmp/.hypothesis"}
        bounded: dict[str, Any] = {}
        if self.runtime == "docker":  # writes bounded: no disk of the host's reachable (see the module docstring)
            env.update(DOCKER_ENV)
            bounded = {"read_only": True, "workdir_from_image": True, "workdir_size": self.testbed_size}
        return SandboxSpec(image=image or "agentgym/swe-base:latest", workdir=REPO, default_timeout=120, env=env,
                           labels={"agentgym.swe.instance": self.task_id or ""}, **bounded, **self.limits)

    def _drop_sandbox(self) -> None:
        if self.sandbox is not None:
            self.sandbox.close()
        self.sandbox, self._sandbox_key, self._snapshot = None, None, None

    def _end_episode(self) -> None:
        pass  # the sandbox is kept: the next reset of the same instance restores it

    def _fork_episode(self, clone: AgentEnv) -> None:
        assert isinstance(clone, SWEEnv) and self.sandbox is not None
        clone.sandbox = self.sandbox.fork()
        clone._snapshot = None if self.runtime == "docker" else clone.sandbox.snapshot()
        clone.editor = Editor(clone.sandbox, REPO)
        clone.editor.history = {k: list(v) for k, v in (self.editor.history if self.editor else {}).items()}

    def _close(self) -> None:
        self._drop_sandbox()

    def _tools(self) -> list[Tool]:
        return [
            Tool(name="bash", description="Run a bash command in the repository (persistent shell).",
                 params=BashArgs, handler=self._bash),
            Tool(name="editor", description="View a file or directory, create a file, replace an exact string, "
                 "insert lines, or undo the last edit of a file.", params=EditorArgs, handler=self._edit),
            Tool(name="search", description="Search file contents (grep -E) or file names (find), capped output.",
                 params=SearchArgs, handler=self._search),
            Tool(name="submit", description="Submit your changes for grading by the hidden tests. Ends the episode.",
                 params=NoArgs, handler=self._submit),
        ]

    def reference_policy(self) -> Policy:
        """Apply the gold patch with the agent's own tools, then submit."""
        inst = self.instance()
        return ScriptedPolicy([
            ToolCall(name="editor", arguments={"command": "create", "path": ".git/agentgym-gold.diff", "file_text": inst.patch}),
            ToolCall(name="bash", arguments={"command": "git apply .git/agentgym-gold.diff && rm .git/agentgym-gold.diff"}),
            ToolCall(name="submit"),
        ])

    # -- tools -----------------------------------------------------------------------------------
    def _bash(self, args: BashArgs) -> ToolResult:
        assert self.sandbox is not None
        res = self.sandbox.exec(args.command, timeout=self.command_timeout(args.timeout, 120.0))
        return ToolResult(output=format_command_result(res))

    def _edit(self, args: EditorArgs) -> ToolResult:
        assert self.editor is not None
        return self.editor.run(args)

    def _search(self, args: SearchArgs) -> ToolResult:
        assert self.sandbox is not None
        return search(self.sandbox, REPO, args)

    def agent_diff(self) -> str:
        """The agent's changes: everything in the repository against the start commit.

        Written to a fresh mktemp folder outside the repository (a path the agent could have planted,
        such as a symlink to /dev/zero, is never used) and read with the channel's bounded, typed
        read; what it refuses is the agent's failure (reward 0), never infrastructure."""
        assert self.sandbox is not None
        res = self.sandbox.exec(
            f"d=$(mktemp -d) && git add -A . && git diff --cached --binary --no-color --no-ext-diff --no-textconv "
            f"{self._start_commit} -- . {_NOT_CHANGES} > \"$d/diff\" && printf '%s\\n' \"$d/diff\"",
            timeout=300)
        path = res.stdout.strip()
        if not res.ok or "\n" in path or not path:
            return ""  # the agent broke its repository (e.g. removed .git): an empty submission
        try:
            data = self.sandbox.read_file(path, max_bytes=MAX_DIFF_BYTES)
        except FileNotFoundError:
            raise AgentFault("the submission's diff vanished before it could be read", terminal=True) from None
        except AgentFault as exc:  # SandboxFileRefused: not a regular file, or over the limit
            raise AgentFault(f"the submission's diff cannot be read: {exc.reason}", terminal=True) from None
        return data.decode("utf-8", errors="replace")

    def _grading_sandbox(self, inst: SWEInstance) -> Sandbox:
        # the run's supervisor answers on stdout: room for its one line however much the tests print
        spec = self._spec(self._image if self.runtime == "docker" else None).model_copy(
            update={"max_output_bytes": GRADING_OUTPUT_BYTES})
        if self.runtime == "docker":
            assert self._image is not None
            return make_sandbox(spec, runtime="docker", warm_spares=False)
        tree, _ = cached_tree(self._source_for(inst), inst)
        sbx = make_sandbox(spec, runtime="local")
        sbx.copy_in(tree, REPO)
        return sbx

    def _submit(self, args: NoArgs) -> ToolResult:
        inst = self.instance()
        diff = self.agent_diff()
        spec: RepoSpec = self._spec_for(inst)
        report = grade(inst, spec, diff, open_sandbox=lambda: self._grading_sandbox(inst),
                       start_commit=self._start_commit, runtime=self.runtime)
        self.last_report = report
        if report.error:
            raise InfraError(f"grading {inst.instance_id}: {report.error}")
        if report.agent_failure:  # forged outcomes, or a run the agent's code crashed, hung or flooded
            raise AgentFault(f"Submitted, and graded 0: {report.agent_failure}", terminal=True)
        info = {"passed": report.resolved, "resolved": report.resolved, "report": report.model_dump(exclude={"log_tail"}),
                "diff_bytes": len(diff.encode()), "diff": diff[:_DIFF_IN_INFO]}  # for selection (verify.py)
        return ToolResult(output=f"Submitted. {report.summary()}", terminated=True,
                          reward=1.0 if report.resolved else 0.0, info=info)
