"""`agentgym gc --sweep ID|RUN_DIR`: what one sweep's dead processes left (containers, networks,
volumes labelled agentgym.sweep=ID) goes; another sweep's, and a live owner's of the same sweep,
stay. --dry-run lists and removes nothing. Resources are made directly with the labels a Ray
worker's episode gives them (reaper.owner_labels inside owner_context), an owner made dead by its
start time (no process has pidstart 0)."""

from __future__ import annotations

import secrets

import pytest
from typer.testing import CliRunner

from agentgym.cli import app
from agentgym.distributed.ray_executor import sweep_label
from agentgym.sandbox import reaper

runner = CliRunner()
pytestmark = pytest.mark.docker


def test_gc_sweep_removes_only_that_sweeps_dead_owners_resources(tmp_path):
    api = reaper.docker_client().api
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    a, b = secrets.token_hex(8), secrets.token_hex(8)
    dead = {"agentgym.pidstart": "0"}
    made: dict[str, tuple[str, str]] = {}  # name -> (kind, id)

    def make(name: str, sweep: str, extra: dict[str, str]) -> None:
        labels = {**reaper.owner_labels(), "agentgym.sweep": sweep, **extra}
        tag = f"agentgym-test-gc-{name}-{secrets.token_hex(3)}"
        made[f"{name}-net"] = ("network", api.create_network(tag, internal=True, labels=labels)["Id"][:12])
        made[f"{name}-vol"] = ("volume", api.create_volume(tag, labels=labels)["Name"])

    try:
        make("a-dead", a, dead)
        make("a-live", a, {})
        make("b-dead", b, dead)
        make("dir-dead", sweep_label(run_dir), dead)
        labels = {**reaper.owner_labels(), "agentgym.sweep": a, **dead}
        made["a-dead-box"] = ("container", api.create_container("agentgym/base:latest", ["true"], labels=labels)["Id"][:12])
        a_dead = {made[k][1] for k in made if k.startswith("a-dead")}

        dry = runner.invoke(app, ["gc", "--sweep", a, "--dry-run"])
        assert dry.exit_code == 0, dry.output
        assert all(i in dry.output for i in a_dead) and "would remove 1 containers" in dry.output, dry.output
        assert not any(made[k][1] in dry.output for k in made if not k.startswith("a-dead"))
        assert _present(api, made) == set(made), "a dry run removes nothing"

        done = runner.invoke(app, ["gc", "--sweep", a])
        assert done.exit_code == 0, done.output
        assert _present(api, made) == {k for k in made if not k.startswith("a-dead")}
        assert runner.invoke(app, ["gc", "--sweep", str(run_dir)]).exit_code == 0
        assert _present(api, made) == {"a-live-net", "a-live-vol", "b-dead-net", "b-dead-vol"}
        assert runner.invoke(app, ["gc", "--sweep", a, "--all"]).exit_code == 2
    finally:
        for kind, ident in made.values():
            try:
                {"network": api.remove_network, "volume": api.remove_volume,
                 "container": lambda i: api.remove_container(i, force=True)}[kind](ident)
            except Exception:  # noqa: BLE001 - removed by the test already
                pass


def _present(api, made: dict[str, tuple[str, str]]) -> set[str]:
    nets = {n["Id"][:12] for n in api.networks()}
    vols = {v["Name"] for v in (api.volumes() or {}).get("Volumes") or []}
    boxes = {c["Id"][:12] for c in api.containers(all=True)}
    have = {"network": nets, "volume": vols, "container": boxes}
    return {k for k, (kind, ident) in made.items() if ident in have[kind]}
