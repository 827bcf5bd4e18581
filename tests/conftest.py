"""Shared fixtures. Docker tests are marked `docker`; under CI=true a missing engine is a failure."""

from __future__ import annotations

import os

import pytest

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _docker_answers() -> bool:
    from agentgym.sandbox import docker_available

    return docker_available()


@pytest.fixture(scope="session")
def docker_engine() -> None:
    """Depend on this (or use the `docker` marker) in any test that needs a Docker engine."""
    if not _docker_answers():
        if IN_CI:
            pytest.fail("CI=true but no Docker engine answers: run scripts/ensure-docker.sh")
        pytest.skip("no Docker engine answers (run scripts/ensure-docker.sh)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Every test marked `docker` gets the engine fixture, so none can forget it.
    for item in items:
        if item.get_closest_marker("docker") is not None and "docker_engine" not in getattr(item, "fixturenames", ()):
            item.fixturenames.insert(0, "docker_engine")


@pytest.fixture(params=["local", pytest.param("docker", marks=pytest.mark.docker)])
def runtime(request: pytest.FixtureRequest) -> str:
    """Run a test on both backends: the suite must pass on runtime='local' too."""
    return request.param


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # A Docker test that was skipped under CI means the suite did not test what it claims.
    if not IN_CI:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    docker_skips = [r for r in skipped if "docker" in getattr(r, "keywords", {})]
    if docker_skips:
        print(f"\nCI=true but {len(docker_skips)} Docker tests were skipped; failing the run.")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture
def train_base(tmp_path):
    """An `agentgym train` config (a dict): GRPO on shell-fixture's train split, a fake model folder
    (config.json only) and an `out` under tmp_path/runs that does not exist yet."""
    import json

    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"model_type": "llama"}))
    return {"model": str(model), "env": "shell-fixture", "split": "train", "env_kwargs": {"runtime": "local"},
            "algorithm": "grpo", "out": str(tmp_path / "runs" / "out")}


def run_train_cli(where, cfg, *extra):
    """`agentgym train WHERE/train.yaml EXTRA...` with `cfg` written there: (exit code, stdout, stderr)."""
    from pathlib import Path

    import yaml
    from typer.testing import CliRunner

    from agentgym.cli.app import app

    path = Path(where) / "train.yaml"
    path.write_text(yaml.safe_dump(cfg))
    res = CliRunner().invoke(app, ["train", str(path), *extra])
    return res.exit_code, res.stdout, res.stderr


@pytest.fixture(scope="session")
def shell_env():
    """One local-runtime shell env shared by property tests (bash actions are timed out at 2 s)."""
    import agentgym

    env = agentgym.make("shell-fixture", runtime="local")
    env.spec_template = env.spec_template.model_copy(update={"default_timeout": 2})
    env.reset(options={"task_id": "hello", "max_turns": 1000})
    yield env
    env.close()
