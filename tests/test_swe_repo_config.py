"""Grading honours the repository: its own pytest configuration, the plugins of its environment.

acme/clock (swe_mock_fixture.py) resolves with its gold patch only if the run uses its pytest.ini
(pythonpath = src, --strict-markers with its markers, warnings as errors) and pytest-mock from its
environment (the docker image's pip layer, or the local runtime's venv for the spec), and not with
the empty patch. (The attack of a pytest plugin the agent plants is in tests/adversarial/test_swe_setup.py.)
A spec a local venv cannot honour is refused in one line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import agentgym
from agentgym.envs.swe import local_env, testrun
from agentgym.envs.swe.specs import RepoSpec
from agentgym.validate import validate

import swe_fixture
import swe_mock_fixture

CLI = str(Path(sys.executable).with_name("agentgym"))


@pytest.fixture(scope="module")
def clock(tmp_path_factory):
    return swe_mock_fixture.build(tmp_path_factory.mktemp("clock"))


@pytest.mark.docker
def test_cli_validate_on_a_users_swe_bench_file_honours_ini_and_plugins(clock):
    cmd = [CLI, "validate", "swe-verified", "--runtime", "docker", "--json", "-e", f"dataset={clock['dataset']}",
           "-e", f"repo_source={clock['repo']}", "-e", f"repo_specs={clock['specs']}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1500, env={**os.environ, "COLUMNS": "200"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert (summary["tasks"], summary["gold_pass_rate"], summary["null_pass_rate"], summary["errors"]) == (1, 1.0, 0.0, 0), summary


def test_local_runtime_grades_in_the_specs_own_venv(clock):
    report = validate("swe-verified", dataset=str(clock["dataset"]), repo_source=str(clock["repo"]),
                      repo_specs=str(clock["specs"]), runtime="local")
    assert (report.tasks, report.gold_pass_rate, report.null_pass_rate, report.errors) == (1, 1.0, 0.0, 0), report.rows
    python, plugins = local_env.ensure(RepoSpec(pip=["pytest-mock"]))
    assert "pytest-mock pytest_mock=pytest_mock" in plugins
    probe = subprocess.run([str(python), "-c", "import agentgym"], capture_output=True, text=True)
    assert probe.returncode != 0  # never agentgym's own interpreter or packages


FORGE_PLUGIN = '''import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_logreport(report):
    report.outcome = "passed"
'''


def test_a_spec_a_local_venv_cannot_honour_is_refused_in_one_line(tmp_path):
    calc = swe_fixture.build(tmp_path)
    with pytest.raises(ValueError) as err:
        agentgym.make("swe-verified", dataset=str(calc["dataset"]), repo_source=str(calc["repo"]), runtime="local",
                      repo_specs={"acme/calc": {"apt": ["libxml2-dev"], "install": ["make build"]}})
    msg = str(err.value)
    assert "\n" not in msg and msg.endswith("use runtime='docker'") and "Debian packages (libxml2-dev)" in msg, msg
    assert local_env.refusal(RepoSpec(pip=["pytest-mock"], install=["python -m pip install -e ."])) is None
    # SWE-bench's flags on its self-installs are still the repository itself; anything more is not
    assert local_env.refusal(RepoSpec(reinstall=['python -m pip install -v --no-build-isolation -e ".[dev]"'])) is None
    assert local_env.refusal(RepoSpec(reinstall=["python -m pip install -e . && make"])) is not None


def test_the_local_venv_is_built_once_under_concurrency(tmp_path, monkeypatch):
    import threading

    monkeypatch.setenv("AGENTGYM_CACHE", str(tmp_path / "cache"))
    builds, real = [], local_env._build
    monkeypatch.setattr(local_env, "_build", lambda *a: (builds.append(1), real(*a))[1])
    got: list[object] = []
    threads = [threading.Thread(target=lambda: got.append(local_env.ensure(RepoSpec()))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(builds) == 1 and len(got) == 3 and len({str(g[0]) for g in got}) == 1, (builds, got)
    python = got[0][0]
    out = subprocess.run([str(python), "-I", "-c", "import pytest; print(pytest.__version__)"], capture_output=True, text=True)
    assert out.stdout.strip() == pytest.__version__  # the host's pytest: the same test ids as the host's


def _boot(repo: Path, plugins: list[str] | None, args: list[str]) -> testrun.RunOutcome:
    scratch = repo.parent / "scratch"
    scratch.mkdir(exist_ok=True)
    for name in testrun.HARNESS:
        (scratch / name).write_text((Path(testrun.__file__).parent / name).read_text())
    (scratch / "k.key").write_text("s3cret")
    cmd = testrun.command(sys.executable, str(scratch), str(scratch / "k.key"), ["-rA", "-p", "no:cacheprovider",
                          "--rootdir=.", *args, "tests/test_x.py"], [], 60, plugins=plugins)
    proc = subprocess.run(["bash", "-c", cmd], cwd=repo, capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin"})
    return testrun.outcome(proc.stdout, "s3cret", exit_code=proc.returncode, timed_out=False, timeout=60)


def test_the_runner_loads_allowed_plugins_and_never_a_planted_one(tmp_path):
    """Without a sandbox: the host's pytest-timeout is loaded when allowed (its --timeout option
    parses), a dist-info at the repository root is not, even when its entry point is on the list."""
    probe = subprocess.run([sys.executable, "-I", "-c", testrun._PLUGIN_PROBE], capture_output=True, text=True)
    allowed = json.loads(probe.stdout)
    assert any(k.startswith("pytest-timeout ") for k in allowed), allowed
    repo = tmp_path / "repo"
    (repo / "tests").mkdir(parents=True)
    (repo / "tests" / "test_x.py").write_text("def test_a():\n    assert 1 == 2\n")
    (repo / "forge_plugin.py").write_text(FORGE_PLUGIN)
    (repo / "forge-1.0.dist-info").mkdir()
    (repo / "forge-1.0.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: forge\nVersion: 1.0\n")
    (repo / "forge-1.0.dist-info" / "entry_points.txt").write_text("[pytest11]\nforge = forge_plugin\n")
    for plugins in (allowed, [*allowed, "forge forge=forge_plugin"]):
        run = _boot(repo, plugins, ["--timeout=30"])
        assert run.fault is None and run.results == {"tests/test_x.py::test_a": "FAILED"}, run.log[-2000:]
    off = _boot(repo, None, ["--timeout=30"])  # no list: no plugin at all, so the option is unknown
    assert "unrecognized arguments: --timeout=30" in off.log, off.log[-2000:]

