"""Grade an agent's diff in a fresh sandbox, never in the agent's own.

Steps (SWE-bench's harness, hardened): drop the diff's sections on tests and test configuration;
start a fresh sandbox from the instance image (or a fresh copy of the tree on the local runtime);
apply the diff (git apply, then git apply with whitespace tolerance, then patch with fuzz); restore
the test files and apply test_patch; run the repository's test command with our report plugin;
parse and cross-check. resolved = every FAIL_TO_PASS and every PASS_TO_PASS test passed.

Infrastructure failures (the sandbox died, the log holds no tests, the log contradicts itself) are
GradeReport.error, which the env reports as info["error"]: never a silent 0, never a pass.
"""

from __future__ import annotations

import secrets
import shlex
import sys
import time
from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, Field

from agentgym.envs.swe.diffs import diff_paths, filter_diff
from agentgym.envs.swe.instance import SWEInstance
from agentgym.envs.swe.log_parsers import FAILED, PASSED, REPORT_PLUGIN, TEXT_PARSERS, XFAIL, LogParseError, parse_pytest
from agentgym.envs.swe.specs import RepoSpec
from agentgym.sandbox import Sandbox, SandboxError

PASSING = (PASSED, XFAIL)
MISSING = "MISSING"
_LOG_TAIL = 4000


class GradeReport(BaseModel):
    instance_id: str
    resolved: bool = False
    applied: bool = False
    apply_method: str | None = None
    apply_error: str | None = None
    ignored_paths: list[str] = Field(default_factory=list, description="test/config files the diff touched; not applied")
    fail_to_pass: dict[str, str] = Field(default_factory=dict)
    pass_to_pass: dict[str, str] = Field(default_factory=dict)
    tampered: bool = Field(False, description="the run reported a must-fail canary as passing: outcomes were forged")
    tests_parsed: int = 0
    exit_code: int | None = None
    error: str | None = Field(None, description="infrastructure error: the run could not be judged")
    log_tail: str = ""
    seconds: float = 0.0

    def summary(self) -> str:
        if self.error:
            return f"could not be graded: {self.error}"
        if not self.applied:
            return f"the patch did not apply: {self.apply_error}"
        if self.tampered:
            return "NOT resolved: the test run's outcomes were forged (a test that must fail passed)"
        f2p = sum(s in PASSING for s in self.fail_to_pass.values())
        p2p = sum(s in PASSING for s in self.pass_to_pass.values())
        verdict = "RESOLVED" if self.resolved else "NOT resolved"
        text = (f"{verdict}: FAIL_TO_PASS {f2p}/{len(self.fail_to_pass)} pass, "
                f"PASS_TO_PASS {p2p}/{len(self.pass_to_pass)} pass")
        if self.ignored_paths:
            text += f"; ignored changes to test/config files: {', '.join(self.ignored_paths[:8])}"
        return text


def test_files(instance: SWEInstance) -> list[str]:
    """What to run: the instance's test_files, else test_patch's files, else the F2P/P2P ids' files."""
    explicit = getattr(instance, "test_files", None)
    if explicit:
        return list(explicit)
    if instance.test_patch.strip():
        return diff_paths(instance.test_patch)
    seen: dict[str, None] = {}
    for tid in instance.FAIL_TO_PASS + instance.PASS_TO_PASS:
        if "::" in tid:
            seen[tid.split("::", 1)[0]] = None
    return list(seen)


def grade(
    instance: SWEInstance,
    spec: RepoSpec,
    diff: str,
    *,
    open_sandbox: Callable[[], Sandbox],
    start_commit: str,
    runtime: Literal["docker", "local"],
) -> GradeReport:
    """Judge diff for instance. open_sandbox gives a FRESH sandbox at the instance's start state
    (workdir = the repository). Grading files go in a directory of it outside the repository."""
    t0 = time.monotonic()
    report = GradeReport(instance_id=instance.instance_id)
    tests = test_files(instance)
    diff, report.ignored_paths = filter_diff(diff, frozenset(tests) | frozenset(diff_paths(instance.test_patch)))
    try:
        sbx = open_sandbox()
    except Exception as exc:  # noqa: BLE001
        report.error = f"could not start the grading sandbox: {type(exc).__name__}: {exc}"
        return report
    try:
        _run(sbx, instance, spec, diff, tests, start_commit, scratch_dir(sbx), runtime, report)
    except (SandboxError, OSError) as exc:
        report.error = f"grading sandbox failed: {type(exc).__name__}: {exc}"
    finally:
        sbx.close()
        report.seconds = time.monotonic() - t0
    return report


def _run(sbx: Sandbox, instance: SWEInstance, spec: RepoSpec, diff: str, tests: list[str], start: str,
         scratch: str, runtime: str, report: GradeReport) -> None:
    q = shlex.quote
    sbx.exec(f"mkdir -p {q(scratch)}", timeout=30)
    # 1. the agent's diff
    if diff.strip():
        sbx.write_file(f"{scratch}/model.diff", diff)
        report.apply_method, report.apply_error = _apply(sbx, f"{scratch}/model.diff")
        report.applied = report.apply_method is not None
        if not report.applied:
            return
    else:
        report.applied, report.apply_method = True, "empty"
    # 2. tests back to their start state, then the judging tests
    restore = [t for t in dict.fromkeys(tests + diff_paths(instance.test_patch))]
    if restore:
        sbx.exec(f"git checkout -q {q(start)} -- {' '.join(q(t) for t in restore)} 2>/dev/null; true", timeout=120)
    if instance.test_patch.strip():
        sbx.write_file(f"{scratch}/test.diff", instance.test_patch)
        res = sbx.exec(f"git apply --whitespace=nowarn {q(scratch)}/test.diff", timeout=120)
        if not res.ok:
            report.error = f"test_patch does not apply to the start commit: {res.output[-500:]}"
            return
    # 3. the test run
    env = {**spec.env, "PYTHONDONTWRITEBYTECODE": "1"}
    cmd = spec.test_cmd
    if runtime == "local" and cmd.startswith("python3 "):
        cmd = q(sys.executable) + cmd[len("python3"):]
    report_path, canary, args = "", "", [q(t) for t in tests]
    if spec.parser == "pytest":
        plugin = f"agentgym_report_{secrets.token_hex(6)}"
        report_path = f"{scratch}/{secrets.token_hex(8)}.json"
        sbx.write_file(f"{scratch}/{plugin}.py", REPORT_PLUGIN)
        # The canary must fail. Agent code that makes every test report "passed" (monkeypatching
        # pytest from inside the package under test) makes it pass, and so gives itself away.
        canary = f"test_agentgym_canary_{secrets.token_hex(6)}"
        sbx.write_file(f"{scratch}/{canary}.py", f"def {canary}():\n    assert False, 'this test must fail'\n")
        args.append(q(f"{scratch}/{canary}.py"))
        env.update({"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "AGENTGYM_PYTEST_REPORT": report_path})
        cmd += f" -p {plugin} --rootdir=."
    pypath = [scratch] + [p for p in spec.pythonpath.split(":") if p]
    exports = " ".join(f"{k}={q(v)}" for k, v in env.items())
    line = f"cd {q(_workdir(sbx))} && env {exports} PYTHONPATH={q(':'.join(pypath))}${{PYTHONPATH:+:$PYTHONPATH}} {cmd} {' '.join(args)}"
    res = sbx.exec(line, timeout=spec.test_timeout)
    log = res.output
    report.exit_code, report.log_tail = res.exit_code, log[-_LOG_TAIL:]
    if res.timed_out:
        report.error = f"the test run timed out after {spec.test_timeout:.0f} s"
        return
    try:
        if spec.parser == "pytest":
            try:
                raw = sbx.read_file(report_path).decode()
            except (FileNotFoundError, OSError, SandboxError):
                raw = ""
            results = parse_pytest(raw, log, res.exit_code)
        else:
            results = TEXT_PARSERS[spec.parser](log, res.exit_code)
    except LogParseError as exc:
        report.error = str(exc)
        return
    if canary:
        seen = [v for k, v in results.items() if k.endswith(f"::{canary}")]
        results = {k: v for k, v in results.items() if canary not in k}
        if not seen:
            report.error = "the canary test did not run: the test run was cut short or its collection was altered"
            return
        if seen[0] != FAILED:
            report.tampered = True  # resolved stays False: the agent's code forged test outcomes
            report.log_tail = "agentgym: a test that must fail was reported " + seen[0] + "\n" + report.log_tail
            return
    report.tests_parsed = len(results)
    report.fail_to_pass = {t: results.get(t, MISSING) for t in instance.FAIL_TO_PASS}
    report.pass_to_pass = {t: results.get(t, MISSING) for t in instance.PASS_TO_PASS}
    statuses = list(report.fail_to_pass.values()) + list(report.pass_to_pass.values())
    report.resolved = bool(statuses) and all(s in PASSING for s in statuses)


def _apply(sbx: Sandbox, path: str) -> tuple[str | None, str | None]:
    q = shlex.quote(path)
    attempts = [
        ("git apply", f"git apply --whitespace=nowarn {q}"),
        ("git apply --ignore-whitespace", f"git apply --whitespace=nowarn --ignore-whitespace --recount {q}"),
        ("patch --fuzz", f"patch --batch --forward --fuzz=5 -p1 -i {q}"),
    ]
    last = ""
    for name, cmd in attempts:
        res = sbx.exec(cmd, timeout=120)
        if res.ok:
            return name, None
        last = res.output[-800:]
        sbx.exec("git checkout -q -- . && git clean -fdq", timeout=120)  # a half-applied try must not stack up
    return None, last


def scratch_dir(sbx: Sandbox, name: str = "agentgym-grade") -> str:
    """A directory of the sandbox outside the repository, for files the grader puts in."""
    root = getattr(sbx, "root", None)  # LocalSandbox: absolute paths outside its workdir are the host's
    return f"{root}/tmp/{name}" if root is not None else f"/{name}"


def _workdir(sbx: Sandbox) -> str:
    root = getattr(sbx, "work", None)  # LocalSandbox: the repository is its host work dir
    return str(root) if root is not None else sbx.spec.workdir
