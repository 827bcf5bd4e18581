"""The SWE grading run's pieces without a sandbox: the supervised pytest run (real processes on a
temporary repository), its verification and reconciliation, and the canaries."""

from __future__ import annotations

import ast
import base64
import hashlib
import hmac
import json
import os
import random
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest

from agentgym.envs.swe import testrun
from agentgym.envs.swe.canaries import plant
from agentgym.envs.swe.grading import _forged_canaries, pytest_command

import swe_fixture

HERE = Path(testrun.__file__).parent


def _run(repo: Path, tests: list[str], timeout: int = 60, python: str = sys.executable) -> testrun.RunOutcome:
    scratch = repo.parent / "scratch"
    scratch.mkdir(exist_ok=True)
    for name in testrun.HARNESS:
        (scratch / name).write_text((HERE / name).read_text())
    secret = "s3cret" + repo.name
    key = scratch / "k.key"
    key.write_text(secret)
    cmd = testrun.command(python, str(scratch), str(key), ["-rA", "-p", "no:cacheprovider", "--rootdir=.", *tests],
                          [], timeout)
    proc = subprocess.run(["bash", "-c", cmd], cwd=repo, capture_output=True, text=True, timeout=timeout + 30,
                          env={"PATH": "/usr/bin:/bin", "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"})
    return testrun.outcome(proc.stdout, secret, exit_code=proc.returncode, timed_out=False, timeout=timeout)


@pytest.fixture
def repo(tmp_path):
    root = tmp_path / "repo"
    (root / "calc").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "calc" / "__init__.py").write_text("")
    (root / "calc" / "ops.py").write_text(swe_fixture.OPS_C2)
    (root / "tests" / "__init__.py").write_text("")
    (root / "tests" / "test_ops.py").write_text(swe_fixture.TESTS_C1 + swe_fixture.TESTS_C3_EXTRA)
    return root


def test_an_honest_run_streams_every_outcome(repo):
    run = _run(repo, ["tests/test_ops.py"])
    assert run.fault is None, run.log
    assert run.results == {"tests/test_ops.py::test_add": "PASSED", "tests/test_ops.py::test_sub": "PASSED",
                           "tests/test_ops.py::test_clamp_inside": "PASSED", "tests/test_ops.py::test_clamp_upper": "FAILED",
                           "tests/test_ops.py::test_mean": "FAILED"}
    assert run.exit_code == 1 and "2 failed, 3 passed" in run.log


def test_a_pytest_py_at_the_repository_root_does_not_take_over(repo):
    """`python -m pytest` from the repository imported ./pytest.py; the boot imports the real one first."""
    (repo / "pytest.py").write_text("import sys\nprint('==== 5 passed in 0.01s ====')\nsys.exit(0)\n")
    (repo / "json.py").write_text("raise SystemExit('shadowed json')\n")
    run = _run(repo, ["tests/test_ops.py"])
    assert run.fault is None and run.results["tests/test_ops.py::test_clamp_upper"] == "FAILED", run.log


def test_a_pth_file_the_agent_planted_never_runs_in_the_supervisor(repo, tmp_path):
    """On the local runtime the agent can write into the environment's site-packages: a .pth file
    there runs at every start of that interpreter with site. The supervisor (the process that holds
    the secret) starts with -I -S, so it never runs it; the test process needs site and does."""
    import sysconfig
    import venv

    env = tmp_path / "venv"
    venv.create(env, with_pip=False, symlinks=True)
    python = env / "bin" / "python"
    site = Path(subprocess.run([str(python), "-I", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    log = tmp_path / "pth-ran.log"
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")  # pytest, for the test process
    (site / "planted.pth").write_text(f"import sys; open({str(log)!r}, 'a').write(' '.join(sys.argv) + '\\n')\n")
    run = _run(repo, ["tests/test_ops.py"], python=str(python))
    assert run.fault is None and run.results["tests/test_ops.py::test_add"] == "PASSED", run.log
    ran = log.read_text().splitlines()
    assert any("runner_boot.py" in line for line in ran), ran  # the .pth is live where site runs
    assert not any("runner_supervisor.py" in line for line in ran), ran


def test_an_exit_at_import_is_a_run_cut_short(repo):
    (repo / "calc" / "__init__.py").write_text("import os\nif 'pytest' in __import__('sys').modules:\n    os._exit(0)\n")
    run = _run(repo, ["tests/test_ops.py"])
    assert run.fault and "before pytest finished" in run.fault and not run.tampered


#: Code under test that finds the grading plugin and writes a pass for a failing test into its pipe.
_WRITE_A_PASS = '''
for obj in gc.get_objects():
    if type(obj).__name__ == "RecordPlugin":
        os.write(obj.fd, (json.dumps({"k": "test", "id": "tests/test_ops.py::test_clamp_upper", "when": "call",
                                      "n": 0, "outcome": "passed", "xfail": False}) + "\\n").encode())
'''


def test_records_rewritten_after_the_end_are_tampering(repo):
    """An exit handler writing passes into the record pipe (found through the plugin object)."""
    forge = "\n".join("    " + line for line in _WRITE_A_PASS.strip().splitlines())
    (repo / "calc" / "__init__.py").write_text(
        f"import atexit, gc, json, os\ndef _forge():\n{forge}\n    print('==== 5 passed in 0.01s ====')\natexit.register(_forge)\n")
    run = _run(repo, ["tests/test_ops.py"])
    assert run.tampered and "after pytest had finished" in run.fault


def test_a_forged_record_ahead_of_the_real_one_is_tampering(repo):
    (repo / "calc" / "__init__.py").write_text("import gc, json, os\n" + _WRITE_A_PASS)
    run = _run(repo, ["tests/test_ops.py"])
    assert run.tampered and "two different outcomes" in run.fault


def test_junk_in_the_record_pipe_and_a_changed_exit_status_are_tampering(repo):
    (repo / "calc" / "__init__.py").write_text('''
import gc, os
for obj in gc.get_objects():
    if type(obj).__name__ == "RecordPlugin":
        os.write(obj.fd, b"PASSED everything\\n")
''')
    assert _run(repo, ["tests/test_ops.py"]).tampered
    (repo / "calc" / "__init__.py").write_text("import atexit, os\natexit.register(lambda: os._exit(0))\n")
    run = _run(repo, ["tests/test_ops.py"])
    assert run.tampered and "exited with 0" in run.fault


def test_a_hang_and_a_flood_are_stopped_and_their_processes_killed(repo, tmp_path):
    marker = tmp_path / "alive"
    (repo / "calc" / "__init__.py").write_text(f'''
import subprocess, time
subprocess.Popen(["bash", "-c", "setsid bash -c 'while true; do touch {marker}; sleep 0.2; done' &"])
time.sleep(3600)
''')
    run = _run(repo, ["tests/test_ops.py"], timeout=3)
    assert run.fault and "hung" in run.fault
    marker.unlink(missing_ok=True)
    import time
    time.sleep(0.6)
    assert not marker.exists()  # the double-forked daemon died with the run
    (repo / "calc" / "__init__.py").write_text("import atexit, os\n"
                                               "atexit.register(lambda: [os.write(1, b'x' * 65536) for _ in iter(int, 1)])\n")
    run = _run(repo, ["tests/test_ops.py"], timeout=30)
    assert run.fault and "MiB" in run.fault


def test_a_line_without_the_secret_is_not_believed():
    payload = {"v": 1, "exit": 0, "timed_out": False, "flood": False, "seconds": 0.1, "records": "", "records_dropped": 0,
               "log_head": "", "log_tail": "", "log_bytes": 0}
    blob = zlib.compress(json.dumps(payload).encode())
    forged = testrun.PREFIX + hmac.new(b"guess", blob, hashlib.sha256).hexdigest() + " " + base64.b64encode(blob).decode()
    run = testrun.outcome(forged + "\n", "the-real-secret", exit_code=0, timed_out=False, timeout=10)
    assert run.fault and "did not report" in run.fault


def test_pytest_command_forms():
    assert pytest_command("python3 -m pytest -rA -p no:cacheprovider") == ("python3", ["-rA", "-p", "no:cacheprovider"])
    assert pytest_command("pytest -rA") == ("python3", ["-rA"])
    with pytest.raises(ValueError):
        pytest_command("tox -e py")


# -- canaries ----------------------------------------------------------------------------------

UNITTEST = '''import unittest


class CacheTest(unittest.TestCase):

    def test_size(self):
        c = make(3)
        self.assertEqual(c.size(), 3)

    def test_name(self):
        expected = "\\n".join(["alpha", "beta"])
        self.assertEqual(render(), expected)

    def test_flag(self):
        self.assertTrue(flag())
'''


def test_canaries_are_copies_of_real_tests_that_must_fail():
    src = swe_fixture.TESTS_C1 + swe_fixture.TESTS_C3_EXTRA
    seen_names = set()
    for seed in range(20):
        changed, canaries = plant({"tests/test_ops.py": src, "tests/test_cache.py": UNITTEST},
                                  ["tests/test_ops.py::test_clamp_upper"], random.Random(seed))
        assert len(canaries) == 3
        assert any(c.original == "tests/test_ops.py::test_clamp_upper" for c in canaries)  # F2P copied first
        for c in canaries:
            tree = ast.parse(changed[c.path])
            scope = tree.body if c.cls is None else next(n for n in tree.body if getattr(n, "name", "") == c.cls).body
            copy = next(n for n in scope if getattr(n, "name", "") == c.name)
            orig = next(n for n in scope if getattr(n, "name", "") == c.original.split("::")[-1])
            assert c.name.startswith("test") and "canary" not in c.name and "agentgym" not in c.name
            changed_stmts = [i for i, (a, b) in enumerate(zip(copy.body, orig.body)) if ast.dump(a) != ast.dump(b)]
            assert len(copy.body) == len(orig.body) and len(changed_stmts) == 1  # one check changed, nothing else
            seen_names.add(c.name)
    assert len(seen_names) > 6  # names vary with the secret


def test_a_canary_passing_beside_its_passing_original_is_forgery():
    _, canaries = plant({"t.py": swe_fixture.TESTS_C1}, [], random.Random(1), count=1)
    c = canaries[0]
    forged = {c.original: "PASSED", c.base_id: "PASSED"}
    assert "must fail" in _forged_canaries(canaries, forged)
    honest = {c.original: "FAILED", c.base_id: "PASSED"}  # the code returned the perturbed value
    assert _forged_canaries(canaries, honest) == ""
    assert "did not run" in _forged_canaries(canaries, {c.original: "PASSED"})
    assert _forged_canaries(canaries, {c.original: "FAILED", c.base_id: "FAILED"}) == ""


ROUND_TRIP = '''import unittest


class RoundTrip(unittest.TestCase):
    def test_list(self):
        obj = {"a": {"b": ["1", "2", "3"]}}
        self.assertEqual(obj, parse(unparse(obj)))
        self.assertEqual(unparse(obj), unparse(parse(unparse(obj))))
'''


def test_a_value_that_is_also_an_input_is_never_the_perturbed_expectation():
    """obj == parse(unparse(obj)): perturbing obj changes both sides and the copy passes honestly
    (found on xmltodict); such a test gets its last check wrapped in a set instead."""
    for seed in range(10):
        changed, canaries = plant({"t.py": ROUND_TRIP}, [], random.Random(seed), count=1)
        copy = changed["t.py"].split("def " + canaries[0].name)[1]
        assert '"1", "2", "3"' in copy and "{unparse(parse(unparse(obj)))}" in copy, copy


def test_fold_statuses_and_a_rerun_outcome():
    rec = lambda tid, when, outcome, n=0, xfail=False: {"k": "test", "id": tid, "when": when, "n": n,  # noqa: E731
                                                         "outcome": outcome, "xfail": xfail}
    results, end = testrun.fold([
        rec("t::a", "call", "passed"), rec("t::b", "call", "rerun"), rec("t::b", "call", "passed", n=1),
        rec("t::c", "call", "failed"), rec("t::c", "call", "passed", n=1),  # a failed subTest fails its test
        rec("t::d", "setup", "failed"), rec("t::e", "setup", "skipped"), rec("t::f", "call", "skipped", xfail=True),
        rec("t::g", "call", "passed"), rec("t::g", "teardown", "failed"), {"k": "collect", "id": "t2.py"},
        {"k": "end", "exit": 1}])
    assert results == {"t::a": "PASSED", "t::b": "PASSED", "t::c": "FAILED", "t::d": "ERROR", "t::e": "SKIPPED",
                       "t::f": "XFAIL", "t::g": "ERROR", "t2.py": "ERROR"}
    assert end == {"k": "end", "exit": 1}


SLOW_HYPOTHESIS = '''import time

from hypothesis import given, settings, strategies as st


@given(st.just(1))
def test_profile_deadline(x):
    time.sleep(0.3)  # over the 200 ms default deadline: a loaded machine's slow example


class TestExplicit:
    @settings(max_examples=2, deadline=50)
    @given(st.just(1))
    def test_own_deadline(self, x):
        time.sleep(0.1)
'''


def test_hypothesis_deadlines_cannot_fail_a_graded_test(tmp_path):
    """Slow examples past Hypothesis's deadlines (the project's profile, a test's own @settings) fail
    the tests under plain pytest; under the grading plugin they pass (swe-synth's iso8601 gold failed
    on a loaded machine)."""
    root = tmp_path / "repo"
    (root / "tests").mkdir(parents=True)
    (root / "tests" / "conftest.py").write_text(
        "from hypothesis import settings\nsettings.register_profile('proj', max_examples=2, deadline=200)\n"
        "settings.load_profile('proj')\n")  # deadline explicit: under CI=true Hypothesis's own default has none
    (root / "tests" / "test_slow.py").write_text(SLOW_HYPOTHESIS)
    plain = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_slow.py"], cwd=root,
                           capture_output=True, text=True, timeout=120,
                           env={k: v for k, v in os.environ.items() if k not in ("CI", "HYPOTHESIS_PROFILE")})
    assert "2 failed" in plain.stdout, plain.stdout[-2000:]
    run = _run(root, ["tests/test_slow.py"])
    assert run.fault is None and run.results == {"tests/test_slow.py::test_profile_deadline": "PASSED",
                                                 "tests/test_slow.py::TestExplicit::test_own_deadline": "PASSED"}, run.log


def test_many_failing_subtests_in_a_long_module_are_graded_in_seconds(tmp_path):
    """pytest >= 9 reports each failing unittest subTest, and its default traceback style re-parses
    the whole test module for each (swe-synth more-itertools-0022's null run: 969 in a 5,000-line
    module, over 5 minutes, an infrastructure error on the local runtime). The grading run's
    arguments end in --tb=native: the same run takes seconds."""
    from agentgym.envs.swe.grading import run_args

    args = run_args("python -m pytest -rA -p no:cacheprovider tests/test_sub.py")
    assert args[-1] == "--tb=native" and "--rootdir=." in args
    root = tmp_path / "repo"
    (root / "tests").mkdir(parents=True)
    pad = "".join(f"def helper_{i}(x):\n    return x + {i}\n\n\n" for i in range(1200))  # a long module
    (root / "tests" / "test_sub.py").write_text(
        "import unittest\n\n\n" + pad + "class T(unittest.TestCase):\n    def test_all(self):\n"
        "        for i in range(600):\n            with self.subTest(i=i):\n                self.assertEqual(i, -1)\n")
    t0 = time.monotonic()
    run = _run(root, ["--tb=native", "tests/test_sub.py"])
    assert run.fault is None and run.results == {"tests/test_sub.py::T::test_all": "FAILED"}, run.log[-2000:]
    assert time.monotonic() - t0 < 60
