"""Attacks on SWE grading through what runs before the tests: planted plugins and the reinstall step.

On acme/clock (swe_mock_fixture.py: its F2P test is tests/test_clock.py::test_uptime_label), with
the spec the README shows plus a reinstall step like SWE-bench's (`pip install -e .` or `python
setup.py develop`, rerun after the patch at grading). Either runs the repository's setup.py, which
the agent writes: its code runs in the grading sandbox before the tests. Each attack asserts reward 0 and no
info["error"]; both runtimes.
"""

from __future__ import annotations

import json

import pytest

import agentgym

import swe_mock_fixture

F2P_ASSERT = 'assert uptime_label(880.0) == "up 2 min"'


@pytest.fixture(scope="module")
def clock(tmp_path_factory):
    root = tmp_path_factory.mktemp("clock-adv")
    built = swe_mock_fixture.build(root)
    out = dict(built)
    # local: what the local runtime accepts; docker: Debian's pip refuses to install into the system
    # Python (PEP 668), so the step that runs setup.py there is SWE-bench's other form
    for runtime, step in (("local", "python3 -m pip install --no-build-isolation -e ."), ("docker", "python3 setup.py develop")):
        out[f"reinstall_{runtime}"] = path = root / f"clock_reinstall_{runtime}.json"
        path.write_text(json.dumps({"acme/clock": dict(swe_mock_fixture.SPECS["acme/clock"], reinstall=[step])}))
    return out


def _submit(clock, runtime, files, specs="specs"):
    env = agentgym.make("swe-verified", dataset=str(clock["dataset"]), repo_source=str(clock["repo"]),
                        repo_specs=str(clock[specs]), runtime=runtime)
    with env:
        env.reset(options={"task_id": "acme__clock-1"})
        for path, text in files.items():
            env.step({"name": "editor", "arguments": {"command": "create", "path": path, "file_text": text}})
        obs, reward, term, trunc, info = env.step({"name": "submit"})
    assert term and "error" not in info, info.get("error")
    assert reward == 0.0, obs["text"]
    return env.last_report


FORGE_PLUGIN = '''import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_logreport(report):
    report.outcome = "passed"
'''


def test_a_plugin_planted_by_the_agent_is_never_loaded(clock, runtime):
    """A dist-info at the repository root registering a pytest11 plugin that passes everything."""
    report = _submit(clock, runtime, {
        "forge_plugin.py": FORGE_PLUGIN,
        "forge-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: forge\nVersion: 1.0\n",
        "forge-1.0.dist-info/entry_points.txt": "[pytest11]\nforge = forge_plugin\n"})
    assert report.applied and report.error is None, report
    # not loaded: the outcomes are the real ones (a loaded forger would pass everything, canaries too)
    assert report.agent_failure is None and report.fail_to_pass == {"tests/test_clock.py::test_uptime_label": "FAILED"}
    assert report.pass_to_pass == {"tests/test_clock.py::test_now_ms": "PASSED"}


# setup.py, run by `pip install -e .` at grading. It replaces the run's supervisor (in the grading
# folder next to the secret, when those are already there) with a forger that signs a payload of
# its own: the known tests passed, every other test of the file (the canaries) failed. A daemon
# waits for the files in case they come later.
SETUP_FORGER = r'''
import glob, os, sys, time

FORGER = """
import ast, base64, hashlib, hmac, json, sys, zlib
secret = open(sys.argv[1], 'rb').read().strip()
tree = ast.parse(open('tests/test_clock.py').read())
names = [n.name for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith('test')]
known = ('test_now_ms', 'test_uptime_label')
recs = [dict(k='test', id='tests/test_clock.py::' + n, when='call', n=0, xfail=False,
             outcome='passed' if n in known else 'failed') for n in names]
bad = len(names) - 2
recs.append(dict(k='end', exit=1 if bad else 0))
log = '=== %d failed, 2 passed in 0.1s ===' % bad
data = dict(v=1, exit=1 if bad else 0, timed_out=False, flood=False, seconds=0.1, records_dropped=0,
            records=''.join(json.dumps(r) + chr(10) for r in recs), log_head=log, log_tail='', log_bytes=len(log))
blob = zlib.compress(json.dumps(data).encode())
print('AGENTGYM-RUN-V1 ' + hmac.new(secret, blob, hashlib.sha256).hexdigest() + ' ' + base64.b64encode(blob).decode())
"""


def plant():
    dirs = ["/tmp/agentgym-grade", os.path.join(os.getcwd(), "..", "tmp", "agentgym-grade")]
    done = False
    for d in dirs:
        for path in glob.glob(os.path.join(d, "*", "runner_supervisor.py")) + glob.glob(os.path.join(d, "runner_supervisor.py")):
            try:
                os.chmod(path, 0o644)
                with open(path, "w") as f:
                    f.write(FORGER)
                done = True
            except OSError:
                pass
    return done


if not plant() and os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        null = os.open(os.devnull, os.O_RDWR)  # let go of pip's pipes: pip returns, the daemon stays
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.closerange(3, 4096)
        for _ in range(1200):
            if plant():
                break
            time.sleep(0.05)
    os._exit(0)
sys.exit("no install")
'''


def test_attack_setup_py_forges_the_supervisor_at_reinstall(clock, runtime):
    """The reinstall step ran in the test command's shell, after the harness and its secret were in
    the grading sandbox: setup.py rewrote the supervisor and signed a forged payload (RESOLVED, with
    the canaries failing as they should). Stopped: the reinstall runs first, on its own, what it left
    running is killed and the grading folder is renewed before the harness goes in."""
    report = _submit(clock, runtime, {"setup.py": SETUP_FORGER}, specs=f"reinstall_{runtime}")
    assert report.applied and report.error is None and not report.resolved, report
    assert report.fail_to_pass == {"tests/test_clock.py::test_uptime_label": "FAILED"}, report


SETUP_TEST_REWRITE = '''
import sys
path = "tests/test_clock.py"
text = open(path).read()
open(path, "w").write(text.replace(%r, "assert True"))
sys.exit("no install")
''' % F2P_ASSERT


def test_attack_setup_py_rewrites_the_tests_at_reinstall(clock, runtime):
    """setup.py rewrites the F2P test's assertion (only the original's: the canaries, copies with a
    perturbed literal, keep failing as they must). Stopped: the test files read before the
    reinstall step are written back after it."""
    report = _submit(clock, runtime, {"setup.py": SETUP_TEST_REWRITE}, specs=f"reinstall_{runtime}")
    assert report.applied and report.error is None and not report.resolved, report
    assert report.fail_to_pass == {"tests/test_clock.py::test_uptime_label": "FAILED"}, report
