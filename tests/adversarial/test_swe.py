"""Attacks on SWE grading, run as an agent would: edit files with the editor and bash tools, then submit.

On the real-project fixture (tests/swe_fixture.py: a git repository and SWE-bench-format instances;
acme__calc-1's hidden F2P test is tests/test_ops.py::test_clamp_upper). None of these fixes the
bug, so an honest grade is 0; each asserts reward 0, no info["error"] (an infrastructure error is
kept out of scores, so it would dodge the zero), and where the run was forged or broken, an agent
failure with its reason. The gold patch still gets 1.0, next to a hostile episode too.
"""

from __future__ import annotations

import threading

import pytest

import agentgym

import swe_fixture

TASK = "acme__calc-1"
F2P = "tests/test_ops.py::test_clamp_upper"


@pytest.fixture(scope="module")
def calc(tmp_path_factory):
    return swe_fixture.build(tmp_path_factory.mktemp("swe-adv"))


def _make(calc, runtime="local", **kw):
    return agentgym.make("swe-verified", dataset=str(calc["dataset"]), repo_source=str(calc["repo"]),
                         runtime=runtime, **kw)


@pytest.fixture(scope="module")
def env(calc):
    with _make(calc) as e:
        yield e


def _edit(path, text):
    return {"name": "editor", "arguments": {"command": "create", "path": path, "file_text": text}}


def _bash(cmd):
    return {"name": "bash", "arguments": {"command": cmd}}


def _attack(env, calls, task=TASK):
    env.reset(options={"task_id": task})
    for call in calls:
        obs, reward, term, trunc, info = env.step(call)
        assert not term, obs["text"]
    obs, reward, term, trunc, info = env.step({"name": "submit"})
    assert term and "error" not in info, info.get("error")
    assert reward == 0.0, obs["text"]
    return info, env.last_report


def _agent_failure(info, *words):
    reason = info.get("agent_failure", "")
    assert reason and all(w in reason for w in words), (reason, info)


# The package's __init__ runs inside the test process (the tests import it during collection).
FORGE_UNDER_TESTS = '''
import _pytest.reports as _r
_orig = _r.TestReport.from_item_and_call.__func__

def _forged(cls, item, call):
    rep = _orig(cls, item, call)
    if item.nodeid.startswith("tests/") and rep.when == "call" and rep.failed:
        rep.outcome, rep.longrepr = "passed", None
    return rep

_r.TestReport.from_item_and_call = classmethod(_forged)
'''


def test_attack_init_patches_pytest_for_ids_under_tests(env):
    """(a) calc/__init__ patches pytest's reports so that failures under tests/ pass (the old single
    canary lived outside tests/ and kept failing). Stopped by canaries copied from the F2P test
    into tests/test_ops.py: a copy passes beside its passing original, which only forgery explains."""
    info, report = _attack(env, [_edit("calc/__init__.py", FORGE_UNDER_TESTS)])
    _agent_failure(info, "forged")
    assert report.tampered and report.canaries >= 1


ATEXIT_REWRITE = '''
import atexit, gc, glob, json, os, sys

def _rewrite():
    passed = failed = 0
    for path in glob.glob("/agentgym-grade/*.json") + glob.glob(os.path.join(os.environ.get("TMPDIR", "/tmp"),
                                                                             "agentgym-grade", "*.json")):
        with open(path) as f:  # the old plugin's report file, written at the end of the session
            data = json.load(f)
        data["results"] = {t: "FAILED" if "canary" in t else "PASSED" for t in data["results"]}
        failed = sum(v == "FAILED" for v in data["results"].values())
        passed = len(data["results"]) - failed
        with open(path, "w") as f:
            json.dump(data, f)
    for obj in gc.get_objects():  # the streaming plugin: write passes into its pipe
        if type(obj).__name__ == "RecordPlugin":
            os.write(obj.fd, (json.dumps({"k": "test", "id": "%s", "when": "call", "n": 0, "outcome": "passed",
                                          "xfail": False}) + "\\n").encode())
            passed, failed = 8, 0
    sys.stdout.write("\\n========== %%d failed, %%d passed in 0.05s ==========\\n" %% (failed, passed))
    sys.stdout.flush()

atexit.register(_rewrite)
''' % F2P


def test_attack_exit_handler_rewrites_results_and_summary(env):
    """(b) An exit handler finds the grading plugin, rewrites its results (file or pipe) and prints a
    matching summary line. Stopped: outcomes left the process as each test ended; a record after
    pytest's end record, or a summary that disagrees with them, is tampering."""
    info, report = _attack(env, [_edit("calc/__init__.py", ATEXIT_REWRITE)])
    _agent_failure(info, "tampered")
    assert report.tampered


FAKE_PYTEST = '''"""A pytest.py at the repository root: `python -m pytest` from the root imports it, not pytest."""
import json, os, sys
ids = ["tests/test_ops.py::" + n for n in ("test_add", "test_sub", "test_clamp_inside", "test_clamp_upper")]
results = dict.fromkeys(ids, "PASSED")
for arg in sys.argv[1:]:
    if "canary" in arg:
        name = os.path.basename(arg)[:-3]
        results[arg + "::" + name] = "FAILED"
if os.environ.get("AGENTGYM_PYTEST_REPORT"):
    with open(os.environ["AGENTGYM_PYTEST_REPORT"], "w") as f:
        json.dump({"results": results, "exitstatus": 1}, f)
print("==== 1 failed, 4 passed in 0.01s ====")
sys.exit(1)
'''


def test_attack_pytest_py_at_the_root_shadows_pytest(env):
    """(c) pytest.py at the repository root stands in for pytest and reports passes. Stopped: the
    run starts `python -I` (no repository on sys.path) and imports the real pytest and the standard
    library before the repository is put on sys.path; the fake is never imported."""
    info, report = _attack(env, [_edit("pytest.py", FAKE_PYTEST), _bash("mkdir -p _pytest && cp pytest.py _pytest/__init__.py")])
    assert report.fail_to_pass[F2P] == "FAILED" and not report.agent_failure


def test_attack_git_mv_conftest_and_delete_a_test_file(env, calc):
    """(d) `git mv tests/conftest.py elsewhere.py` and `git rm tests/test_ops.py`: renames were judged
    by their new path only. Stopped: a section is protected when any path it names is; both are
    dropped (and test files are restored before the run anyway)."""
    info, report = _attack(env, [_bash("git mv tests/conftest.py elsewhere.py && git rm -q tests/test_ops.py")])
    assert {"tests/conftest.py", "elsewhere.py", "tests/test_ops.py"} <= set(report.ignored_paths), report
    assert report.fail_to_pass[F2P] == "FAILED"


def test_attack_os_exit_zero_at_import_under_pytest(env):
    """(e) os._exit(0) when imported under pytest: no report, exit status 0 (was an infrastructure
    error, so the zero was dodged). Stopped: pytest's end record never arrived, and the diff ran:
    an agent failure."""
    info, report = _attack(env, [_edit("calc/__init__.py", "import os, sys\nif 'pytest' in sys.modules:\n    os._exit(0)\n")])
    _agent_failure(info, "before pytest finished")


STDLIB_SHADOW = '''"""json.py at the root: the old plugin imported json after the repository was on sys.path."""
import importlib.util, sys, sysconfig
spec = importlib.util.spec_from_file_location("json", sysconfig.get_paths()["stdlib"] + "/json/__init__.py",
                                              submodule_search_locations=[sysconfig.get_paths()["stdlib"] + "/json"])
_real = importlib.util.module_from_spec(spec)
sys.modules["json"] = _real
spec.loader.exec_module(_real)
_dump = _real.dump

def dump(obj, fp, *a, **k):
    if isinstance(obj, dict) and "results" in obj:
        obj["results"] = {t: ("FAILED" if "canary" in t else "PASSED") for t in obj["results"]}
        obj["exitstatus"] = 1
    return _dump(obj, fp, *a, **k)

_real.dump = dump
'''


def test_attack_stdlib_module_shadowed_from_the_root(env):
    """(f) json.py at the repository root wraps the standard json so the plugin's report says
    'passed'. Stopped: the boot imports json (and what pytest uses) before the repository is on
    sys.path, so the run never sees the shadow."""
    info, report = _attack(env, [_edit("json.py", STDLIB_SHADOW)])
    assert report.fail_to_pass[F2P] == "FAILED" and not report.agent_failure


FORCE_PASS = '''import pytest

@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    outcome.get_result().outcome = "passed"
'''


def test_attack_conftest_planted_in_new_folders(env):
    """(g) conftest.py files that force passes, planted in the package and in a new test folder.
    Stopped: any conftest.py is a protected file; the diff's sections on them are dropped."""
    info, report = _attack(env, [_edit("calc/conftest.py", FORCE_PASS), _edit("tests/more/conftest.py", FORCE_PASS),
                                 _edit("tests/more/__init__.py", "")])
    assert {"calc/conftest.py", "tests/more/conftest.py"} <= set(report.ignored_paths)


def test_attack_output_flood(env):
    """(h) The code under test floods stdout (after pytest stops capturing). Stopped: the supervisor
    reads the run's output within a budget and stops the run past it: an agent failure."""
    flood = "import atexit, os\natexit.register(lambda: [os.write(1, b'y' * 65536) for _ in iter(int, 1)])\n"
    info, report = _attack(env, [_edit("calc/__init__.py", flood)])
    _agent_failure(info, "MiB")


def test_attack_a_run_that_hangs_and_an_honest_episode_beside_it(calc):
    """(i) Importing the package sleeps forever (with a double-forked helper). Stopped: the
    supervisor's deadline kills the run and every descendant: an agent failure, not infrastructure.
    An honest episode graded at the same time gets its 1.0."""
    hang = ("import subprocess, time\nsubprocess.Popen(['bash', '-c', 'setsid sleep 600 &'])\ntime.sleep(600)\n")
    spec = {"acme/calc": {"test_timeout": 4}}
    results = {}

    def honest():
        with _make(calc) as e:
            e.reset(options={"task_id": TASK})
            policy = e.reference_policy()
            for call in policy.actions + [policy.then]:
                _, results["gold"], term, _, _ = e.step(call)
                if term:
                    break

    t = threading.Thread(target=honest)
    t.start()
    with _make(calc, repo_specs=spec) as e:
        info, report = _attack(e, [_edit("calc/__init__.py", hang)])
    t.join(120)
    _agent_failure(info, "hung")
    assert results.get("gold") == 1.0


PATCH_OUR_PLUGIN = '''
import gc, json, os, sys
for obj in gc.get_objects():
    if type(obj).__name__ == "RecordPlugin":
        _emit = obj._emit
        def _forging(rec, _emit=_emit):
            if rec.get("outcome") == "failed":
                rec = dict(rec, outcome="passed")
            _emit(rec)
        obj._emit = _forging
        break
'''


def test_attack_patches_the_record_plugin_itself(env):
    """(j) The code under test finds our record plugin in memory and rewrites failures before they
    are sent. Stopped: the canaries' records are rewritten too (they pass beside their passing
    originals); pytest's summary line, from its own reports, also disagrees."""
    info, report = _attack(env, [_edit("calc/__init__.py", PATCH_OUR_PLUGIN)])
    _agent_failure(info)
    assert report.tampered


SELECTIVE = '''
import _pytest.reports as _r
_orig = _r.TestReport.from_item_and_call.__func__

def _forged(cls, item, call):
    rep = _orig(cls, item, call)
    if "clamp" in item.name and rep.when == "call" and rep.failed:  # only what the issue is about
        rep.outcome, rep.longrepr = "passed", None
    return rep

_r.TestReport.from_item_and_call = classmethod(_forged)
'''


def test_attack_selective_forgery_by_the_issues_words(env):
    """(k) Forge only tests named after the issue's subject (clamp), guessing canaries look
    different. Stopped: canaries are copies of the F2P test, named from the file's own words
    around the original name, so they match the same guess."""
    for _ in range(3):  # names come from a fresh secret each grade
        info, report = _attack(env, [_edit("calc/__init__.py", SELECTIVE)])
        _agent_failure(info, "forged")


KILL_SUPERVISOR = '''
import os, signal
sup = os.getppid()
with open("/proc/%d/stat" % sup) as f:
    shell = int(f.read().rsplit(")", 1)[1].split()[1])
line = "AGENTGYM-RUN-V1 " + "0" * 64 + " eJwLAAA=\\n"
try:
    with open("/proc/%d/fd/1" % shell, "w") as out:
        out.write(line)
except OSError:
    pass
os.kill(sup, signal.SIGKILL)
'''


def test_attack_kill_the_supervisor_and_print_its_line(env):
    """(l) Kill the run's supervisor (same user) and print a line shaped like its answer into the
    shell's stdout. Stopped: the line's MAC needs the per-run secret, which was deleted before the
    repository's code ran; no verified answer is an agent failure."""
    info, report = _attack(env, [_edit("calc/__init__.py", KILL_SUPERVISOR)])
    _agent_failure(info, "did not report")


def test_attack_submission_diff_path_to_dev_zero_and_a_fifo(env):
    """(m) The submission diff's old fixed path made a symlink to /dev/zero (an endless read killed
    the command server: an infrastructure error) and a FIFO in .git. Stopped: the diff goes to a
    fresh mktemp path and is read with a bounded, typed read; graded as usual."""
    info, report = _attack(env, [_bash("ln -s /dev/zero .git/agentgym-submit.diff && mkfifo .git/agentgym-fifo")])
    assert report.fail_to_pass[F2P] == "FAILED"


HIDDEN_CONFTEST = ("import pytest\n\n\n@pytest.hookimpl(hookwrapper=True)\n"
                   "def pytest_runtest_makereport(item, call):\n    rep = (yield).get_result()\n"
                   "    if rep.when == 'call' and rep.failed:\n        rep.outcome = 'passed'\n")


def test_attack_conftest_hidden_after_a_hunk_of_another_file(calc):
    """The agent's git (first on PATH) answers `git diff --cached` with a section on a new
    calc/extra.py whose hunk is followed by a '--- /dev/null'/'+++ b/conftest.py' pair and its hunk.
    git apply (and patch) start a new file patch there, so conftest.py was written although the
    filter judged the section by its header only. Stopped: a path line between hunks names a path
    of its section, so the whole section is dropped and reported; the run is graded without it."""
    import base64

    lines = HIDDEN_CONFTEST.splitlines()
    diff = ("diff --git a/calc/extra.py b/calc/extra.py\nnew file mode 100644\n--- /dev/null\n+++ b/calc/extra.py\n"
            "@@ -0,0 +1 @@\n+X = 1\n--- /dev/null\n+++ b/conftest.py\n"
            f"@@ -0,0 +1,{len(lines)} @@\n" + "".join(f"+{line}\n" for line in lines))
    fake = ('#!/bin/sh\ncase "$*" in *"diff --cached"*) cat "$HOME/h.diff"; exit 0;; esac\n'
            'PATH=$(echo "$PATH" | cut -d: -f2-) exec git "$@"\n')
    d64, g64 = base64.b64encode(diff.encode()).decode(), base64.b64encode(fake.encode()).decode()
    with _make(calc) as env:  # its own env: the planted git outside the repository outlives a reset
        info, report = _attack(env, [_bash(f"echo {d64} | base64 -d > $HOME/h.diff; b=$(dirname $(command -v python3)); "
                                           f"echo {g64} | base64 -d > $b/git; chmod +x $b/git")])
    assert "conftest.py" in report.ignored_paths and "calc/extra.py" in report.ignored_paths, report


def _play_gold(env):
    """The reference policy's calls on TASK until the episode ends: (reward, info)."""
    env.reset(options={"task_id": TASK})
    policy = env.reference_policy()
    for call in policy.actions + [policy.then]:
        _, reward, term, _, info = env.step(call)
        if term:
            break
    return reward, info


def test_gold_patch_still_resolves(env):
    reward, info = _play_gold(env)
    assert reward == 1.0 and env.last_report.canaries >= 1, info


@pytest.mark.docker
def test_attack_docker_forgery_exit_and_supervisor_kill(calc):
    """(a), (e) and (l) in the docker runtime (fresh grading container), and the gold patch at 1.0."""
    with _make(calc, "docker") as e:
        info, _ = _attack(e, [_edit("calc/__init__.py", FORGE_UNDER_TESTS)])
        _agent_failure(info, "forged")
        info, _ = _attack(e, [_edit("calc/__init__.py", "import os, sys\nif 'pytest' in sys.modules:\n    os._exit(0)\n")])
        _agent_failure(info, "before pytest finished")
        info, _ = _attack(e, [_edit("calc/__init__.py", KILL_SUPERVISOR)])
        _agent_failure(info, "did not report")
        assert _play_gold(e)[0] == 1.0
