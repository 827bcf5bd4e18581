"""A small pytest repository that grades right only when its own configuration and plugins are used.

acme/clock keeps its package under src/ and says so in pytest.ini (`pythonpath = src`), registers
its markers under `--strict-markers`, turns warnings into errors, blocks a plugin with `-p no:`,
and its tests use pytest-mock's `mocker` fixture. Graded without the repository's ini file, the
tests cannot import the package; graded without the environment's plugins, `mocker` is missing.
Either way the gold patch would not resolve. The dataset is a SWE-bench-format JSONL file and the
spec is the one the SWE README shows for a repository whose tests need pytest-mock.

History: c1 the package (uptime_label divides by 6, not 60) and a passing test; c2 the fix and a
new test (FAIL_TO_PASS) in the test patch.
"""

from __future__ import annotations

import json
from pathlib import Path

from swe_fixture import _commit, _git

INI = """[pytest]
addopts = --strict-markers -p no:doctest -ra
markers =
    slow: a test that takes a while
pythonpath = src
testpaths = tests
filterwarnings =
    error
"""
CLOCK_C1 = '''import time


def now_ms():
    """The wall clock in whole milliseconds."""
    return int(time.time() * 1000)


def uptime_label(boot_s):
    """'up N min' for a machine booted at boot_s (seconds since the epoch)."""
    minutes = (time.time() - boot_s) // 6
    return "up %d min" % minutes
'''
TESTS_C1 = '''import pytest

from clock import now_ms


@pytest.mark.slow
def test_now_ms(mocker):
    mocker.patch("clock.time.time", return_value=12.5)
    assert now_ms() == 12500
'''
TESTS_C2_EXTRA = '''

def test_uptime_label(mocker):
    from clock import uptime_label
    mocker.patch("clock.time.time", return_value=1000.0)
    assert uptime_label(880.0) == "up 2 min"
'''
#: the one spec line this repository needs (as README's example shows): pytest-mock in its image
SPECS = {"acme/clock": {"pip": ["pytest-mock"]}}


def build(root: Path) -> dict[str, object]:
    """The repository, its dataset (JSONL) and its spec file (JSON) under root."""
    repo = root / "clock-repo"
    repo.mkdir(parents=True)
    _git(repo, "init", "-q", "-b", "main")
    c1 = _commit(repo, {"pytest.ini": INI, "src/clock/__init__.py": CLOCK_C1, "tests/test_clock.py": TESTS_C1},
                 "clock: now_ms and uptime_label")
    fixed = CLOCK_C1.replace("// 6\n", "// 60\n")
    c2 = _commit(repo, {"src/clock/__init__.py": fixed, "tests/test_clock.py": TESTS_C1 + TESTS_C2_EXTRA},
                 "uptime_label: minutes are 60 seconds")
    row = {"repo": "acme/clock", "instance_id": "acme__clock-1", "base_commit": c1, "version": "0.1",
           "environment_setup_commit": c1, "created_at": "2024-01-01T00:00:00Z", "hints_text": "",
           "patch": _git(repo, "diff", c1, c2, "--", "src"), "test_patch": _git(repo, "diff", c1, c2, "--", "tests"),
           "problem_statement": "uptime_label(880) at t=1000 says 'up 20 min'; it should say 'up 2 min'.",
           "FAIL_TO_PASS": json.dumps(["tests/test_clock.py::test_uptime_label"]),
           "PASS_TO_PASS": json.dumps(["tests/test_clock.py::test_now_ms"])}
    dataset = root / "clock_verified.jsonl"
    dataset.write_text(json.dumps(row) + "\n")
    specs = root / "clock_specs.json"
    specs.write_text(json.dumps(SPECS))
    return {"repo": repo, "dataset": dataset, "specs": specs, "base": c1}
