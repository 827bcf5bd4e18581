"""A spec pointed at an image laid out as SWE-bench's official ones grades in its conda env `testbed`.

The image (built here from agentgym/swe-base) has what the official images have where the grader
looks: /opt/miniconda3/bin/activate, an environment /opt/miniconda3/envs/testbed whose python holds
a module and a pytest plugin the system python lacks, the repository at /testbed. acme/layout's
tests need both, and an eval command's export, so the gold patch resolves only if the tests ran
under the activated env, with its plugins allowed, after the spec's eval_commands. Its test patch
adds a data file, which pytest must not be given (it would fail the whole run).
"""

from __future__ import annotations

import json
import subprocess

import pytest

from agentgym.validate import validate

from swe_fixture import _commit, _git

IMAGE = "agentgym-test/swe-official-layout:latest"
DOCKERFILE = r"""FROM agentgym/swe-base:latest
LABEL agentgym.test=swe-official-layout
RUN python3 -m venv --without-pip --system-site-packages /opt/miniconda3/envs/testbed \
 && mkdir -p /opt/miniconda3/bin \
 && printf '%s\n' 'export CONDA_DEFAULT_ENV="${1:-base}"' \
      'export PATH="/opt/miniconda3/envs/${1:-base}/bin:$PATH"' > /opt/miniconda3/bin/activate \
 && SP=$(/opt/miniconda3/envs/testbed/bin/python3 -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])') \
 && printf 'ENV_NAME = "testbed"\n' > "$SP/official_marker.py" \
 && printf 'import pytest\n\n\n@pytest.fixture\ndef official_env():\n    return "testbed"\n' > "$SP/envplug.py" \
 && mkdir -p "$SP/envplug-1.0.dist-info" \
 && printf 'Metadata-Version: 2.1\nName: envplug\nVersion: 1.0\n' > "$SP/envplug-1.0.dist-info/METADATA" \
 && printf '[pytest11]\nenvplug = envplug\n' > "$SP/envplug-1.0.dist-info/entry_points.txt"
"""
LAYOUT_C1 = 'def greet(name):\n    return "hi " + name\n'
TESTS_C1 = '''import os
import sys


def test_env(official_env):
    import official_marker
    assert official_marker.ENV_NAME == official_env == "testbed"
    assert sys.prefix == "/opt/miniconda3/envs/testbed"
    assert os.environ.get("LAYOUT_EVAL") == "1"
'''
TESTS_C2 = TESTS_C1 + '''

def test_greet():
    import json, pathlib
    from layout import greet
    want = json.loads((pathlib.Path(__file__).parent / "data" / "greeting.json").read_text())
    assert greet("ann") == want["ann"]
'''
SPECS = {"acme/layout": {"base_image": IMAGE, "conda_env": "testbed", "test_cmd": "pytest -rA",
                         "versions": {"1.0": {"eval_commands": ["export LAYOUT_EVAL=1"]}}}}


@pytest.fixture(scope="module")
def layout(tmp_path_factory):
    root = tmp_path_factory.mktemp("layout")
    subprocess.run(["docker", "build", "-q", "-t", IMAGE, "-"], input=DOCKERFILE, text=True, check=True,
                   capture_output=True, timeout=600)
    repo = root / "layout-repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    c1 = _commit(repo, {"layout.py": LAYOUT_C1, "tests/test_layout.py": TESTS_C1}, "layout: greet")
    c2 = _commit(repo, {"layout.py": LAYOUT_C1.replace('"hi "', '"hello "'), "tests/test_layout.py": TESTS_C2,
                        "tests/data/greeting.json": '{"ann": "hello ann"}\n'}, "greet says hello")
    row = {"repo": "acme/layout", "instance_id": "acme__layout-1", "base_commit": c1, "version": "1.0",
           "patch": _git(repo, "diff", c1, c2, "--", "layout.py"),
           "test_patch": _git(repo, "diff", c1, c2, "--", "tests"),
           "problem_statement": "greet('ann') should say 'hello ann'.",
           "FAIL_TO_PASS": json.dumps(["tests/test_layout.py::test_greet"]),
           "PASS_TO_PASS": json.dumps(["tests/test_layout.py::test_env"])}
    (root / "layout.jsonl").write_text(json.dumps(row) + "\n")
    (root / "specs.json").write_text(json.dumps(SPECS))
    return {"dataset": str(root / "layout.jsonl"), "repo": str(repo), "specs": str(root / "specs.json")}


@pytest.mark.docker
def test_a_spec_on_an_official_layout_image_grades_in_its_conda_env(layout):
    report = validate("swe-verified", dataset=layout["dataset"], repo_source=layout["repo"],
                      repo_specs=layout["specs"], runtime="docker")
    assert (report.tasks, report.gold_pass_rate, report.null_pass_rate, report.errors) == (1, 1.0, 0.0, 0), report.rows
