"""The grading test run of a pytest repository, host side: start it, verify it, fold and reconcile.

The run (runner_supervisor.py -> runner_boot.py -> pytest with runner_plugin.py) streams one
record per test report to its supervisor, which answers with one MAC'd line. Here that line is
found and verified with the per-run secret (which never entered the sandbox while anything of
the repository ran), its records are parsed with bounded, guarded parses and folded into statuses,
and the run is reconciled: the records with each other (first record per key wins; a second,
different one is tampering), with the end record and the process's exit status, with the log's
summary line. Any contradiction is the code under test's doing, never infrastructure: RunOutcome
carries it as `fault` with `tampered` set (the grader decides whether the agent could have caused
it: with an empty diff it could not).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import shlex
import zlib
from pathlib import Path

from pydantic import BaseModel, Field

from agentgym.guard import AgentFault, parse_json
from agentgym.sandbox import Sandbox, SandboxError
from agentgym.envs.swe.log_parsers import ERROR, FAILED, PASSED, SKIPPED, XFAIL, pytest_summary_counts

_HERE = Path(__file__).parent
HARNESS = ("runner_supervisor.py", "runner_boot.py", "runner_plugin.py")
PREFIX = "AGENTGYM-RUN-V1 "
#: stdout the grading sandbox's channel keeps (head + tail): the supervisor's line must fit its tail
GRADING_OUTPUT_BYTES = 16 * 1024 * 1024
MAX_OUTPUT = 64 * 1024 * 1024  # what the test process may print before the run is stopped as a flood
_MAX_PAYLOAD = 256 * 1024 * 1024
_RECORD_LINE = 64 * 1024
_WHEN = ("setup", "call", "teardown")
_OUTCOMES = ("passed", "failed", "skipped")


class RunOutcome(BaseModel):
    results: dict[str, str] = Field(default_factory=dict, description="node id -> PASSED/FAILED/SKIPPED/ERROR/XFAIL")
    exit_code: int | None = None
    log: str = ""
    fault: str | None = Field(None, description="why the run cannot be judged (its outcomes are void)")
    tampered: bool = Field(False, description="the fault is a contradiction only forged outcomes explain")
    seconds: float = 0.0


def write_harness(sbx: Sandbox, scratch: str) -> tuple[str, str]:
    """Put the supervisor, boot script and plugin in scratch; (secret, secret file path)."""
    for name in HARNESS:
        sbx.write_file(f"{scratch}/{name}", (_HERE / name).read_text())
    secret = secrets.token_hex(32)
    path = f"{scratch}/{secrets.token_hex(8)}.key"
    sbx.write_file(path, secret, mode=0o600)
    return secret, path


def run_reinstall(sbx: Sandbox, line: str, scratch: str, timeout: float) -> str | None:
    """Run a spec's reinstall step (`pip install -e .` runs the agent's setup.py or build backend) on
    its own, BEFORE the harness, the secret or the canaries are in the sandbox (run in the test shell,
    it could read the secret and rewrite the supervisor); then kill every process it left behind (a
    daemon waiting for them) and replace the scratch folder (it may have planted files or a link
    there). Its failure does not stop the tests (SWE-bench's eval script has no `set -e`); a step that
    hangs is the reason returned (the caller decides whose fault), else None."""
    res = sbx.exec(line, timeout=timeout)
    sbx.kill_processes()
    q = shlex.quote(scratch)
    made = sbx.exec(f"rm -rf -- {q} && mkdir -m 700 -- {q}", timeout=60)
    if not made.ok:
        raise SandboxError(f"could not renew the grading folder after the reinstall step: {made.output[-300:]}")
    if res.timed_out:
        return f"the reinstall step (it runs the repository's setup) did not finish within {timeout:.0f} s and was killed"
    return None


#: lists 'DIST NAME=VALUE' of every installed pytest11 entry point (the format runner_boot.plugin_keys uses)
_PLUGIN_PROBE = ("import json\ntry:\n    import importlib.metadata as m\nexcept ImportError:\n    import importlib_metadata as m\n"
                 "print(json.dumps(sorted({'%s %s=%s' % (d.metadata['Name'], e.name, e.value) for d in m.distributions() "
                 "for e in d.entry_points if e.group == 'pytest11'})))")
_PROBE_BYTES = 256 * 1024


def installed_plugins(sbx: Sandbox, python: str) -> list[str] | None:
    """The pytest plugins the environment has before the agent's diff is applied: the allowlist of
    the run (an instance image as built, or the local environment as built). None where it cannot be
    listed (Python < 3.8 without the importlib_metadata backport): the run then autoloads no plugin.
    Call it on the fresh grading sandbox BEFORE any of the agent's changes are in it."""
    res = sbx.exec(f"(cd / && {shlex.quote(python)} -I -c {shlex.quote(_PLUGIN_PROBE)})", timeout=120)  # a subshell: the channel keeps its cwd
    if not res.ok or len(res.stdout) > _PROBE_BYTES:
        return None
    try:
        keys = json.loads(res.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None
    return [k for k in keys if isinstance(k, str)] if isinstance(keys, list) else None


def command(python: str, scratch: str, secret_file: str, pytest_args: list[str], pythonpath: list[str],
            timeout: float, isolate: bool = True, plugins: list[str] | None = None) -> str:
    """The shell command (run from the repository) that runs pytest under the supervisor; plugins:
    the allowed pytest11 entry points (installed_plugins), None for no plugin autoload."""
    q = shlex.quote
    cfg = json.dumps({"fd": "@RECORD_FD@", "plugin": f"{scratch}/runner_plugin.py", "path": pythonpath,
                      "isolate": isolate, "plugins": plugins})
    child = [python, "-I", f"{scratch}/runner_boot.py", cfg, *pytest_args]
    # The supervisor is standard library only: -S keeps site, and so any .pth file the agent's
    # work or the reinstall step left in site-packages, out of the process that holds the secret.
    return " ".join([python, "-I", "-S", q(f"{scratch}/runner_supervisor.py"), q(secret_file), str(int(timeout)),
                     str(MAX_OUTPUT), "--", *(a if a == python else q(a) for a in child)])


def _payload(stdout: str, secret: str) -> dict | None:
    """The supervisor's verified payload: the last line with our prefix whose MAC checks out."""
    for line in reversed(stdout.splitlines()):
        if not line.startswith(PREFIX):
            continue
        parts = line[len(PREFIX):].split(" ")
        if len(parts) != 2:
            continue
        try:
            blob = base64.b64decode(parts[1], validate=True)
        except ValueError:
            continue
        mac = hmac.new(secret.encode(), blob, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(mac, parts[0]):
            continue
        inflate = zlib.decompressobj()
        raw = inflate.decompress(blob, _MAX_PAYLOAD)
        if inflate.unconsumed_tail:
            return None
        data = json.loads(raw)  # ours: MAC-verified, written by the supervisor
        return data if isinstance(data, dict) else None
    return None


def _record(line: str) -> dict:
    """One record, strictly typed; anything else was not written by our plugin."""
    rec = parse_json(line, max_bytes=_RECORD_LINE, max_depth=4, what="a test record")
    if not isinstance(rec, dict):
        raise AgentFault("a record is not an object")
    kind = rec.get("k")
    shapes = {"test": {"k", "id", "when", "n", "outcome", "xfail"}, "collect": {"k", "id"}, "end": {"k", "exit"},
              "refused": {"k", "why"}}
    if kind not in shapes or set(rec) != shapes[kind]:
        raise AgentFault(f"a record of unknown shape: {line[:200]!r}")
    if kind == "test" and not (isinstance(rec["id"], str) and rec["when"] in _WHEN and isinstance(rec["n"], int)
                               and not isinstance(rec["n"], bool) and isinstance(rec["outcome"], str)
                               and len(rec["outcome"]) <= 32 and isinstance(rec["xfail"], bool)):
        raise AgentFault(f"a test record with bad fields: {line[:200]!r}")
    if kind in ("collect", "refused") and not isinstance(rec.get("id", rec.get("why")), str):
        raise AgentFault(f"a record with bad fields: {line[:200]!r}")
    if kind == "end" and (not isinstance(rec["exit"], int) or isinstance(rec["exit"], bool)):
        raise AgentFault(f"an end record with bad fields: {line[:200]!r}")
    return rec


def fold(records: list[dict]) -> tuple[dict[str, str], dict | None]:
    """Statuses by node id from records (first per key already kept), and the end record.

    A failure is sticky (a unittest subTest that failed fails its test); setup/teardown failures are
    ERROR; a skip in setup is SKIPPED (XFAIL under xfail); xpass is PASSED; other outcomes (a
    plugin's "rerun") are not final and count for nothing.
    """
    results: dict[str, str] = {}
    end = None
    for rec in records:
        if rec["k"] == "end":
            end = rec
        elif rec["k"] == "collect":
            results[rec["id"]] = ERROR
        elif rec["k"] == "test" and rec["outcome"] in _OUTCOMES:  # not e.g. pytest-rerunfailures' "rerun"
            tid, cur = rec["id"], results.get(rec["id"])
            if rec["when"] == "call":
                if rec["xfail"]:
                    status = XFAIL if rec["outcome"] == "skipped" else PASSED
                else:
                    status = {"passed": PASSED, "skipped": SKIPPED, "failed": FAILED}[rec["outcome"]]
                if cur not in (ERROR, FAILED):
                    results[tid] = status
            elif rec["outcome"] == "failed":
                results[tid] = ERROR
            elif cur is None:
                results[tid] = XFAIL if rec["xfail"] else SKIPPED
    return results, end


def _records(text: str) -> list[dict]:
    """Parsed records, first per key kept; AgentFault on junk, a conflicting repeat, or anything after the end."""
    kept: dict[tuple, dict] = {}
    out: list[dict] = []
    ended = False
    for line in text.split("\n"):
        if not line:
            continue
        rec = _record(line)
        if ended:
            raise AgentFault(f"a record arrived after pytest had finished: {line[:200]!r}")
        key: tuple = (rec["k"], rec["id"], rec["when"], rec["n"]) if rec["k"] == "test" else (rec["k"], line)
        if rec["k"] == "test" and key in kept:
            if kept[key] != rec:
                raise AgentFault(f"two different outcomes were recorded for {rec['id']} ({rec['when']})")
            continue
        kept[key] = rec
        out.append(rec)
        ended = rec["k"] == "end"
    return out


def outcome(stdout: str, secret: str, *, exit_code: int | None, timed_out: bool, timeout: float) -> RunOutcome:
    """Verify, parse and reconcile one run's supervisor output."""
    if timed_out:
        return RunOutcome(exit_code=exit_code, fault=f"the test run did not finish within {timeout + 60:.0f} s "
                          "and was killed (its supervisor did not answer)")
    data = _payload(stdout, secret)
    if data is None:
        return RunOutcome(exit_code=exit_code, log=stdout[-4000:],
                          fault="the test run's supervisor did not report: it was killed, or its output was flooded")
    gap = data["log_bytes"] > len(data["log_head"]) + len(data["log_tail"])
    log = data["log_head"] + ("\n[agentgym: log cut]\n" if gap else "") + data["log_tail"]
    run = RunOutcome(exit_code=data["exit"], log=log, seconds=data["seconds"])
    if data["timed_out"]:
        run.fault = f"the test run hung: it did not finish within {timeout:.0f} s and was killed"
    elif data["flood"]:
        run.fault = f"the test run printed more than {MAX_OUTPUT // 2**20} MiB and was stopped"
    elif data["records_dropped"]:
        run.fault, run.tampered = f"the test run wrote {data['records_dropped']} bytes of records past the limit", True
    if run.fault:
        return run
    try:
        records = _records(data["records"])
    except AgentFault as exc:
        run.fault, run.tampered = f"the test outcomes were tampered with: {exc.reason}", True
        return run
    refused = [r["why"] for r in records if r["k"] == "refused"]
    if refused:
        run.fault, run.tampered = f"the test runner was not started clean: {refused[0]}", True
        return run
    run.results, end = fold(records)
    _reconcile(run, end)
    return run


def _reconcile(run: RunOutcome, end: dict | None) -> None:
    code = run.exit_code
    if end is None:
        run.fault = (f"the test process ended (exit status {code}) before pytest finished: the code under test "
                     "exited, crashed or was killed during the run")
        return
    if end["exit"] != code:
        run.fault, run.tampered = f"pytest finished with status {end['exit']} but its process exited with {code}", True
        return
    tests = {k: v for k, v in run.results.items() if "::" in k}
    if not run.results:
        run.fault = "pytest ran no tests (nothing was collected)"
        return
    counts = pytest_summary_counts(run.log)
    if counts is not None:
        # The records may not claim more passes (or fewer failures) than pytest's own summary line;
        # not equality: subtest failures are counted in the summary but fail one test here.
        n_pass = sum(v == PASSED for v in tests.values())
        n_fail = sum(v == FAILED for v in tests.values())
        if n_pass > counts.get("passed", 0) + counts.get("xpassed", 0) or n_fail > counts.get("failed", 0) \
                or (n_fail == 0) != (counts.get("failed", 0) == 0):
            run.fault, run.tampered = (f"pytest's summary line {counts} disagrees with the streamed outcomes "
                                       f"({n_pass} passed, {n_fail} failed)"), True
            return
    bad = any(v in (FAILED, ERROR) for v in run.results.values())
    if code in (0, 1) and (code == 1) != bad:
        run.fault, run.tampered = f"pytest exited {code} but the streamed outcomes show {'failures' if bad else 'no failures'}", True
