"""`agentgym gc --sweep ID|RUN_DIR`: what one sweep's dead processes left (containers, networks,
volumes and local sandbox dirs labelled agentgym.sweep=ID) goes; another sweep's, and a live
owner's of the same sweep, stay. --dry-run lists and removes nothing. Resources are made directly
with the labels a Ray worker's episode gives them (reaper.owner_labels inside owner_context), an
owner made dead by its start time (no process has pidstart 0)."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agentgym.cli import app
from agentgym.distributed.ray_executor import sweep_label
from agentgym.sandbox import reaper

runner = CliRunner()
IMAGE = "agentgym/base:latest"


def _local_dir(labels: dict[str, str]) -> Path:
    """A local sandbox's temp dir as reaper.make_local_dir makes it, with these owner labels."""
    root = Path(tempfile.mkdtemp(prefix=reaper.LOCAL_PREFIX))
    (root / "owner.json").write_text(json.dumps({**labels, "agentgym.sandbox": f"test-{secrets.token_hex(4)}"}))
    return root


@pytest.mark.docker
def test_gc_sweep_removes_only_that_sweeps_dead_owners_resources(tmp_path):
    import docker

    api = reaper.docker_client().api
    try:
        api.inspect_image(IMAGE)
    except docker.errors.ImageNotFound:  # the suite's docker rule: under CI=true a docker test never skips
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"CI=true but {IMAGE} is not built: run `agentgym images build base`")
        pytest.skip(f"{IMAGE} is not built (agentgym images build base)")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    a, b = secrets.token_hex(8), secrets.token_hex(8)
    # Local dirs of this process are never gc'd by it: theirs name the parent process, which is alive
    # (its real start time) or dead (start time 0, as a reused pid would have).
    parent = {"agentgym.pid": str(os.getppid())}
    owners = {"dead": {"agentgym.pidstart": "0"}, "live": {}}
    dir_owners = {"dead": {**parent, "agentgym.pidstart": "0"}, "live": {**parent, "agentgym.pidstart": reaper.pid_start(os.getppid())}}
    made: dict[str, tuple[str, str]] = {}  # name -> (kind, id)

    def make(name: str, sweep: str, owner: str) -> None:
        labels = {**reaper.owner_labels(), "agentgym.sweep": sweep, **owners[owner]}
        tag = f"agentgym-test-gc-{name}-{secrets.token_hex(3)}"
        made[f"{name}-net"] = ("network", api.create_network(tag, internal=True, labels=labels)["Id"][:12])
        made[f"{name}-vol"] = ("volume", api.create_volume(tag, labels=labels)["Name"])
        made[f"{name}-box"] = ("container", api.create_container(IMAGE, ["true"], labels=labels)["Id"][:12])
        made[f"{name}-dir"] = ("dir", str(_local_dir({**reaper.owner_labels(), "agentgym.sweep": sweep, **dir_owners[owner]})))

    try:
        make("a-dead", a, "dead")
        make("a-live", a, "live")
        make("b-dead", b, "dead")
        make("run-dead", sweep_label(run_dir), "dead")
        a_dead = {made[k][1] for k in made if k.startswith("a-dead")}

        dry = runner.invoke(app, ["gc", "--sweep", a, "--dry-run"])
        assert dry.exit_code == 0, dry.output
        assert all(i in dry.output for i in a_dead), dry.output
        assert all(f"would remove 1 {kind}" in dry.output for kind in ("containers", "networks", "volumes", "local_dirs"))
        assert not any(made[k][1] in dry.output for k in made if not k.startswith("a-dead"))
        assert _present(api, made) == set(made), "a dry run removes nothing"

        done = runner.invoke(app, ["gc", "--sweep", a])
        assert done.exit_code == 0, done.output
        assert _present(api, made) == {k for k in made if not k.startswith("a-dead")}
        assert runner.invoke(app, ["gc", "--sweep", str(run_dir)]).exit_code == 0
        assert _present(api, made) == {k for k in made if k.startswith(("a-live", "b-dead"))}
        assert runner.invoke(app, ["gc", "--sweep", a, "--all"]).exit_code == 2
    finally:
        for kind, ident in made.values():
            try:
                {"network": api.remove_network, "volume": api.remove_volume, "dir": shutil.rmtree,
                 "container": lambda i: api.remove_container(i, force=True)}[kind](ident)
            except Exception:  # noqa: BLE001 - removed by the test already
                pass


def _present(api, made: dict[str, tuple[str, str]]) -> set[str]:
    nets = {n["Id"][:12] for n in api.networks()}
    vols = {v["Name"] for v in (api.volumes() or {}).get("Volumes") or []}
    boxes = {c["Id"][:12] for c in api.containers(all=True)}
    have = {"network": nets, "volume": vols, "container": boxes}
    return {k for k, (kind, ident) in made.items() if (Path(ident).exists() if kind == "dir" else ident in have[kind])}


def test_a_sweep_id_that_names_a_folder_here_stays_the_id(tmp_path, monkeypatch):
    """--sweep's value is a run directory only when it is a path (a '/') or a folder here holding a
    run (results.sqlite); a sweep ID that merely names some folder in the working directory is the ID."""
    from agentgym.cli.app import _sweep_id

    monkeypatch.chdir(tmp_path)
    (tmp_path / "0123abcd0123abcd").mkdir()
    (tmp_path / "myrun").mkdir()
    (tmp_path / "myrun" / "results.sqlite").write_text("")
    assert _sweep_id("0123abcd0123abcd") == "0123abcd0123abcd"
    assert _sweep_id("myrun") == sweep_label(tmp_path / "myrun") == _sweep_id("./myrun")
    res = runner.invoke(app, ["gc", "--sweep", "no/such/run", "--dry-run"])
    assert res.exit_code == 2 and "no such run directory" in res.output, res.output
