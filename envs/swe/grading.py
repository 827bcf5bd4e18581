"""Grade an agent's diff in a fresh sandbox, never in the agent's own.

Steps (SWE-bench's harness, hardened): drop the diff's sections on tests and test configuration
(judged by every path a section names: a rename out of tests/ is still a test change); start a
fresh sandbox from the instance image (or a fresh copy of the tree on the local runtime); apply the
diff (git apply, then git apply with whitespace tolerance, then patch with fuzz for a diff that
names only paths in the tracked tree, none under .git); restore the test files and apply
test_patch (every git the grader runs is the image's or host's by absolute path, hooks off); for
pytest repositories plant must-fail canaries among the real tests (canaries.py) and remove .git
(so nothing can diff the tests against their commit); run the tests under our supervisor
(testrun.py) with the repository's own pytest configuration and the plugins its environment had
before the diff was applied (listed in the fresh sandbox first; on the local runtime, the spec's
venv from local_env.py and the plugins recorded when it was built); fold and reconcile.
resolved = every FAIL_TO_PASS and every PASS_TO_PASS test passed.

Who is to blame: what only the agent's code could have caused (forged or contradictory outcomes, a
canary that passed, a run that exited, crashed, hung or flooded, a sandbox that died while the
code under test ran) is GradeReport.agent_failure: reward 0 with the reason, never an
infrastructure error. With an empty diff nothing of the agent's ran, so the same events are
GradeReport.error (infrastructure), which the env reports as info["error"].
"""

from __future__ import annotations

import os
import shlex
import shutil
import time
from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, Field

from agentgym.envs.swe import local_env, testrun
from agentgym.envs.swe.canaries import Canary
from agentgym.envs.swe.canary_files import plant_canaries, read_tests
from agentgym.envs.swe.diffs import diff_paths, filter_diff, patch_refusal
from agentgym.envs.swe.instance import SWEInstance
from agentgym.envs.swe.log_parsers import ERROR, FAILED, PASSED, TEXT_PARSERS, XFAIL, LogParseError
from agentgym.envs.swe.specs import RepoSpec
from agentgym.envs.swe.swebench_parsers import name_tests
from agentgym.guard import AgentFault
from agentgym.sandbox import Sandbox, SandboxError

PASSING = (PASSED, XFAIL)
MISSING = "MISSING"
CANARIES = 3
_LOG_TAIL = 4000
_TEST_FILE_BYTES = 2 * 1024 * 1024


class GradeReport(BaseModel):
    instance_id: str
    resolved: bool = False
    applied: bool = False
    apply_method: str | None = None
    apply_error: str | None = None
    ignored_paths: list[str] = Field(default_factory=list, description="test/config files the diff touched; not applied")
    fail_to_pass: dict[str, str] = Field(default_factory=dict)
    pass_to_pass: dict[str, str] = Field(default_factory=dict)
    canaries: int = Field(0, description="must-fail tests planted among the real ones")
    tampered: bool = Field(False, description="the run's outcomes were forged (a canary passed, records contradict)")
    agent_failure: str | None = Field(None, description="the agent's code made the run unjudgeable: reward 0, this reason")
    tests_parsed: int = 0
    exit_code: int | None = None
    error: str | None = Field(None, description="infrastructure error: the run could not be judged, not the agent's doing")
    log_tail: str = ""
    seconds: float = 0.0

    def summary(self) -> str:
        if self.error:
            return f"could not be graded: {self.error}"
        if not self.applied:
            return f"the patch did not apply: {self.apply_error}"
        if self.agent_failure:
            return f"NOT resolved: {self.agent_failure}"
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


class _Blame:
    """Where a failure of the run goes: the agent's (its diff ran) or infrastructure (it did not)."""

    def __init__(self, report: GradeReport, agent_code_ran: bool):
        self.report, self.agent = report, agent_code_ran

    def __call__(self, reason: str, tampered: bool = False) -> None:
        if self.agent:
            self.report.agent_failure = reason
            self.report.tampered = self.report.tampered or tampered
        else:
            self.report.error = reason


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
    blame = _Blame(report, bool(diff.strip()))
    try:
        scratch = scratch_dir(sbx)
        python = _interpreter(sbx, instance, spec, runtime)
        if _prepare(sbx, instance, diff, tests, start_commit, scratch, report):
            try:
                _run(sbx, instance, spec, tests, scratch, python, report, blame)
            except (SandboxError, OSError) as exc:  # the code under test can kill its sandbox's processes
                blame(f"the grading sandbox failed while the tests ran: {type(exc).__name__}: {exc}")
            except AgentFault as exc:  # e.g. ChannelKilled: the command server was killed from inside
                blame(f"the grading sandbox gave up on the run: {exc.reason}")
    except local_env.LocalEnvRefused as exc:
        report.error = str(exc)
    except (SandboxError, OSError) as exc:
        report.error = f"grading sandbox failed: {type(exc).__name__}: {exc}"
    except AgentFault as exc:
        blame(exc.reason)
    finally:
        sbx.close()
        report.seconds = time.monotonic() - t0
    return report


class _Python(BaseModel):
    """Which interpreter runs the tests, and which pytest plugins it may load."""

    exe: str = Field(description="the test command's python (docker), or the spec's local venv python")
    bin_dir: str = Field("", description="local venv's bin folder, first on PATH for text runners ('' on docker)")
    plugins: list[str] | None = Field(None, description="allowed pytest11 entry points; None: no autoload")


def _interpreter(sbx: Sandbox, instance: SWEInstance, spec: RepoSpec, runtime: str) -> _Python:
    """Docker: the image's python, its plugins listed now, before any of the agent's changes are in
    the fresh sandbox. Local: the spec's venv (local_env.py) and the plugins recorded when it was
    built; never agentgym's own interpreter (LocalEnvRefused, one line, when a venv cannot do)."""
    python = pytest_command(spec.test_cmd)[0] if spec.parser == "pytest" else "python3"
    if runtime == "local" and not local_env.uses_sandbox_python(spec):
        exe, plugins = local_env.ensure(spec, instance.repo)
        return _Python(exe=str(exe), bin_dir=str(exe.parent), plugins=plugins)
    if runtime == "local":
        return _Python(exe=python)  # the synth suite: the sandbox's own venv, no plugin autoload
    if spec.conda_env:  # an official image's conda env (spec.activation): its python, by absolute path
        found = sbx.exec(f"{spec.activation()}command -v {shlex.quote(python)}", timeout=60)
        lines = found.stdout.strip().splitlines() if found.ok else []
        python = lines[-1] if lines and lines[-1].startswith("/") else python
    return _Python(exe=python, plugins=testrun.installed_plugins(sbx, python) if spec.parser == "pytest" else None)


def _prepare(sbx: Sandbox, instance: SWEInstance, diff: str, tests: list[str], start: str, scratch: str,
             report: GradeReport) -> bool:
    """Apply the diff, then put the tests back and apply test_patch. False: nothing to run."""
    q = shlex.quote
    git = f"{tool_path(sbx, 'git')} {GIT_SAFE}"  # resolved before any diff is in the sandbox
    sbx.exec(f"mkdir -p {q(scratch)}", timeout=30)
    if diff.strip():
        sbx.write_file(f"{scratch}/model.diff", diff)
        report.apply_method, report.apply_error = _apply(sbx, f"{scratch}/model.diff", diff, git)
        report.applied = report.apply_method is not None
        if not report.applied:
            return False
    else:
        report.applied, report.apply_method = True, "empty"
    restore = list(dict.fromkeys(tests + diff_paths(instance.test_patch)))
    if restore:
        sbx.exec(f"{git} checkout -q {q(start)} -- {' '.join(q(t) for t in restore)} 2>/dev/null; true", timeout=120)
    if instance.test_patch.strip():
        sbx.write_file(f"{scratch}/test.diff", instance.test_patch)
        res = sbx.exec(f"{git} apply --whitespace=nowarn {q(scratch)}/test.diff", timeout=120)
        if not res.ok:
            report.error = f"test_patch does not apply to the start commit: {res.output[-500:]}"
            return False
    return True


def _run(sbx: Sandbox, instance: SWEInstance, spec: RepoSpec, tests: list[str], scratch: str,
         python: _Python, report: GradeReport, blame: _Blame) -> None:
    q = shlex.quote
    env = {**spec.env, "PYTHONDONTWRITEBYTECODE": "1"}
    exports = " ".join(f"{k}={q(v)}" for k, v in env.items())
    if python.bin_dir:
        exports += f" PATH={q(python.bin_dir)}:\"$PATH\""
    if spec.parser != "pytest":
        _run_text(sbx, instance, spec, tests, report, blame, exports)
        return
    files = read_tests(sbx, tests, _TEST_FILE_BYTES)  # honest copies, read before anything of the agent's runs
    if spec.reinstall:  # it runs the agent's setup.py / build backend: before any file of ours is in
        why = testrun.run_reinstall(sbx, f"cd {q(_workdir(sbx))} && {spec.prelude(scratch + '/prelude.log')}true",
                                    scratch, spec.test_timeout + 60)
        if why:
            blame(why)
            return
    canaries = plant_canaries(sbx, instance.FAIL_TO_PASS, files, scratch, CANARIES, rewrite_all=bool(spec.reinstall))
    report.canaries = len(canaries)
    args = run_args(spec.test_cmd)
    secret, key_file = testrun.write_harness(sbx, scratch)
    targets = spec.test_args(tests) or tests  # a data file given to pytest fails the whole run (exit 4)
    cmd = testrun.command(python.exe, scratch, key_file, [*args, *targets],
                          [p for p in spec.pythonpath.split(":") if p], spec.test_timeout, spec.isolate_runner,
                          python.plugins)
    res = sbx.exec(f"cd {q(_workdir(sbx))} && {spec.prelude(scratch + '/prelude.log', reinstall=False)}env {exports} {cmd}",
                   timeout=spec.test_timeout + 60)
    run = testrun.outcome(res.stdout, secret, exit_code=res.exit_code, timed_out=res.timed_out,
                          timeout=spec.test_timeout)
    report.exit_code, report.log_tail = run.exit_code, run.log[-_LOG_TAIL:]
    if run.fault:
        blame(run.fault, run.tampered)
        return
    results = run.results
    stops = any(a in ("-x", "--exitfirst") or a.startswith("--maxfail") for a in args)
    forged = _forged_canaries(canaries, results, stops)
    if forged:
        blame(f"the test outcomes were forged: {forged}", tampered=True)
        report.log_tail = f"agentgym: {forged}\n" + report.log_tail
        return
    kept = {k: v for k, v in results.items() if not any(c.matches(k) for c in canaries)}
    _judge(instance, name_tests(spec.log_parser, kept), report)  # ids as the dataset's parser names them


def _run_text(sbx: Sandbox, instance: SWEInstance, spec: RepoSpec, tests: list[str], report: GradeReport, blame: _Blame, exports: str) -> None:
    """Django's and sympy's runners: their log, with the runners' own totals checked."""
    q = shlex.quote
    cmd = spec.test_cmd
    pypath = ":".join(p for p in spec.pythonpath.split(":") if p)
    line = (f"cd {q(_workdir(sbx))} && {spec.prelude()}env {exports} PYTHONPATH={q(pypath)}${{PYTHONPATH:+:$PYTHONPATH}} "
            f"{cmd} {' '.join(q(t) for t in spec.test_args(tests))}")
    res = sbx.exec(line, timeout=spec.test_timeout)
    report.exit_code, report.log_tail = res.exit_code, res.output[-_LOG_TAIL:]
    if res.timed_out:
        blame(f"the test run hung: it did not finish within {spec.test_timeout:.0f} s and was killed")
        return
    try:
        results = TEXT_PARSERS[spec.parser](res.output, res.exit_code)
    except LogParseError as exc:
        blame(str(exc), tampered="forged" in str(exc))
        return
    _judge(instance, results, report)


def _judge(instance: SWEInstance, results: dict[str, str], report: GradeReport) -> None:
    report.tests_parsed = len(results)
    report.fail_to_pass = {t: results.get(t, MISSING) for t in instance.FAIL_TO_PASS}
    report.pass_to_pass = {t: results.get(t, MISSING) for t in instance.PASS_TO_PASS}
    statuses = list(report.fail_to_pass.values()) + list(report.pass_to_pass.values())
    report.resolved = bool(statuses) and all(s in PASSING for s in statuses)


def pytest_command(test_cmd: str) -> tuple[str, list[str]]:
    """(interpreter, pytest arguments) of a spec's pytest command: `PY -m pytest ARGS` or `pytest ARGS`."""
    words = shlex.split(test_cmd)
    if len(words) >= 3 and "python" in words[0].rsplit("/", 1)[-1] and words[1:3] == ["-m", "pytest"]:
        python, args = words[0], words[3:]
    elif words and words[0].rsplit("/", 1)[-1] in ("pytest", "py.test"):
        python, args = "python3", words[1:]
    else:
        raise ValueError(f"a pytest spec's test_cmd must be 'python -m pytest ...' or 'pytest ...', not {test_cmd!r}")
    return python, args  # on the local runtime python3 is the sandbox's own venv (no agentgym in it)


def run_args(test_cmd: str) -> list[str]:
    """pytest's arguments for the grading run: the spec's, --rootdir=. unless it sets one (ids relative
    to the repository, as SWE-bench's are; its ini file still applies), and --tb=native last.
    Tracebacks as the standard library prints them: pytest's own style re-parses the test module for
    every failure, and pytest >= 9 makes one per failing unittest subTest (more-itertools' 969 in a
    5,000-line module took over 5 minutes, 9 s this way). Verdicts come from the records, not the log."""
    args = pytest_command(test_cmd)[1]
    if not any(a.startswith("--rootdir") for a in args):
        args = [*args, "--rootdir=."]
    return [*args, "--tb=native"]


def _forged_canaries(canaries: list[Canary], results: dict[str, str], stopped_early: bool = False) -> str:
    """Why the outcomes must be forged, or "". A canary can pass honestly only where its original
    test fails (the code returns the perturbed value); one passing beside a passing original is
    forged. A canary missing where its original ran was taken out of collection (unless the run
    stops at a failure: -x, --maxfail)."""
    for c in canaries:
        runs = {k: v for k, v in results.items() if c.matches(k)}
        if not runs:
            original_ran = any(k == c.original or k.startswith(c.original + "[") for k in results)
            if original_ran and not stopped_early:
                return f"a must-fail test planted among the tests did not run ({c.path}); collection was altered"
            continue
        for nodeid, status in runs.items():
            original = c.original + nodeid[len(c.base_id):]
            if status == PASSED and results.get(original) not in (FAILED, ERROR):
                return "a test that must fail was reported passing"
    return ""


def _apply(sbx: Sandbox, path: str, diff: str, git: str) -> tuple[str | None, str | None]:
    """git apply, then with whitespace tolerance, then patch with fuzz, but only for a diff that
    patch_refusal() passes (patch would write .git, absolute or `..` paths, through links)."""
    q = shlex.quote(path)
    attempts = [
        ("git apply", f"{git} apply --whitespace=nowarn {q}"),
        ("git apply --ignore-whitespace", f"{git} apply --whitespace=nowarn --ignore-whitespace --recount {q}"),
        ("patch --fuzz", f"--batch --forward --fuzz=5 -p1 -i {q}"),
    ]
    last = ""
    for name, cmd in attempts:
        if name.startswith("patch"):
            refusal = patch_refusal(diff)
            if refusal:
                return None, f"{last}\nnot tried with patch: {refusal}"
            try:  # resolved before it runs: the tries above wrote only inside the tracked tree
                cmd = f"{tool_path(sbx, 'patch')} {cmd}"
            except SandboxError as exc:
                return None, f"{last}\n{exc}"
        res = sbx.exec(cmd, timeout=120)
        if res.ok:
            return name, None
        last = res.output[-800:]
        sbx.exec(f"{git} checkout -q -- . && {git} clean -fdq", timeout=120)  # a half-applied try must not stack up
    return None, last


#: what every git the grader runs is told: no hooks, no fsmonitor command (both would run programs;
#: an empty core.fsmonitor is "off" both for old git, where it names a hook, and new, a bool)
GIT_SAFE = "-c core.hooksPath=/dev/null -c core.fsmonitor="


def tool_path(sbx: Sandbox, name: str) -> str:
    """The absolute path of a program the grader runs (git, patch), quoted for the shell. Locally
    the host's, found on the host's PATH without the sandbox's own folders (its venv's bin comes
    first on the sandbox's PATH); in a container the image's, looked up in the fresh sandbox
    before any diff is applied (the agent's own container, where it may have replaced git, is
    never the grading sandbox)."""
    root = getattr(sbx, "root", None)
    if root is not None:
        inside = os.path.realpath(str(root)) + os.sep
        path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep)
                               if p and not (os.path.realpath(p) + os.sep).startswith(inside))
        found = shutil.which(name, path=path) if path else None
    else:
        res = sbx.exec(f"command -v {shlex.quote(name)}", timeout=30)
        found = res.stdout.strip() if res.ok else None
    if not found or not found.startswith("/") or "\n" in found:
        raise SandboxError(f"no {name} in the grading sandbox (found {found!r})")
    return shlex.quote(found)


def scratch_dir(sbx: Sandbox, name: str = "agentgym-grade") -> str:
    """A directory of the sandbox outside the repository, for files the grader puts in."""
    root = getattr(sbx, "root", None)  # LocalSandbox: absolute paths outside its workdir are the host's
    return f"{root}/tmp/{name}" if root is not None else f"/tmp/{name}"  # /tmp: a tmpfs on a read-only root


def _workdir(sbx: Sandbox) -> str:
    root = getattr(sbx, "work", None)  # LocalSandbox: the repository is its host work dir
    return str(root) if root is not None else sbx.spec.workdir
