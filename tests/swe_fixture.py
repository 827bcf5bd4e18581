"""A small real git repository and two instances in SWE-bench's own file format.

History of acme/calc: c1 the library, its tests and tests/conftest.py; c2 (base_commit) adds clamp() and
mean() with bugs; c3 fixes them and adds tests (the future: must never reach the agent).
The instances store FAIL_TO_PASS/PASS_TO_PASS as JSON strings, exactly as SWE-bench files do.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

OPS_C1 = '''def add(a, b):
    return a + b


def sub(a, b):
    return a - b
'''
OPS_C2 = OPS_C1 + '''

def clamp(x, lo, hi):
    """x limited to the closed interval [lo, hi]."""
    if x < lo:
        return lo
    if x >= hi:
        return hi - 1
    return x


def mean(values):
    """Arithmetic mean; 0.0 for an empty sequence."""
    if not values:
        return 0.0
    return sum(values) / (len(values) + 1)
'''
TESTS_C1 = '''from calc.ops import add, sub


def test_add():
    assert add(2, 3) == 5


def test_sub():
    assert sub(2, 3) == -1
'''
TESTS_C3_EXTRA = '''

def test_clamp_inside():
    from calc.ops import clamp
    assert clamp(5, 0, 10) == 5


def test_clamp_upper():
    from calc.ops import clamp
    assert clamp(10, 0, 10) == 10
    assert clamp(11, 0, 10) == 10


def test_mean():
    from calc.ops import mean
    assert mean([1, 2, 3]) == 2
    assert mean([]) == 0.0
'''

#: the test folder's own conftest: a fixture the tests may use (and a file an agent may try to move away)
CONFTEST = '''import pytest


@pytest.fixture
def bounds():
    return (0, 10)
'''


def _git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "dev", "GIT_AUTHOR_EMAIL": "dev@example.com",
           "GIT_COMMITTER_NAME": "dev", "GIT_COMMITTER_EMAIL": "dev@example.com",
           "GIT_AUTHOR_DATE": "2024-01-01T00:00:00Z", "GIT_COMMITTER_DATE": "2024-01-01T00:00:00Z"}
    return subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True).stdout


def _commit(repo: Path, files: dict[str, str], message: str) -> str:
    for rel, text in files.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", message)
    return _git(repo, "rev-parse", "HEAD").strip()


def build(root: Path) -> dict[str, object]:
    """Create the repository and the dataset under root; returns paths and the commits."""
    repo = root / "calc-repo"
    repo.mkdir(parents=True)
    _git(repo, "init", "-q", "-b", "main")
    c1 = _commit(repo, {"calc/__init__.py": "", "calc/ops.py": OPS_C1, "tests/__init__.py": "",
                        "tests/conftest.py": CONFTEST, "tests/test_ops.py": TESTS_C1,
                        "setup.cfg": "[metadata]\nname = calc\n"}, "calc: add and sub")
    c2 = _commit(repo, {"calc/ops.py": OPS_C2}, "calc: clamp and mean")
    fixed = OPS_C2.replace("    if x >= hi:\n        return hi - 1\n", "    if x > hi:\n        return hi\n")
    fixed = fixed.replace("(len(values) + 1)", "len(values)")
    c3 = _commit(repo, {"calc/ops.py": fixed, "tests/test_ops.py": TESTS_C1 + TESTS_C3_EXTRA}, "fix clamp and mean")
    _git(repo, "tag", "v1.1", c3)

    def diff(path: str) -> str:
        return _git(repo, "diff", c2, c3, "--", path)

    ops_diff, test_diff = diff("calc/ops.py"), diff("tests/test_ops.py")
    clamp_fix = _only_hunk(ops_diff, "clamp")
    mean_fix = _only_hunk(ops_diff, "mean")
    base = {"repo": "acme/calc", "base_commit": c2, "test_patch": test_diff, "hints_text": "",
            "created_at": "2024-01-01T00:00:00Z", "version": "1.1", "environment_setup_commit": c2}
    rows = [
        {**base, "instance_id": "acme__calc-1", "patch": clamp_fix,
         "problem_statement": "clamp(10, 0, 10) returns 9 instead of 10: the upper bound is not inclusive.",
         "FAIL_TO_PASS": json.dumps(["tests/test_ops.py::test_clamp_upper"]),
         "PASS_TO_PASS": json.dumps(["tests/test_ops.py::test_add", "tests/test_ops.py::test_sub",
                                     "tests/test_ops.py::test_clamp_inside"])},
        {**base, "instance_id": "acme__calc-2", "patch": mean_fix,
         "problem_statement": "mean([1, 2, 3]) returns 1.5; it should be 2.",
         "FAIL_TO_PASS": json.dumps(["tests/test_ops.py::test_mean"]),
         "PASS_TO_PASS": json.dumps(["tests/test_ops.py::test_add", "tests/test_ops.py::test_sub"])},
    ]
    dataset = root / "calc_verified.jsonl"
    dataset.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return {"repo": repo, "dataset": dataset, "base": c2, "future": c3, "first": c1}


def _only_hunk(diff: str, name: str) -> str:
    """The file header plus the one hunk that mentions name (each fix stands alone)."""
    head, _, body = diff.partition("\n@@")
    hunks = ["@@" + h for h in body.split("\n@@")]
    keep = [h for h in hunks if f"def {name}" in h or (name == "mean" and "len(values)" in h)
            or (name == "clamp" and "hi - 1" in h)]
    assert len(keep) == 1, (name, hunks)
    text = head + "\n" + keep[0]
    return text if text.endswith("\n") else text + "\n"
