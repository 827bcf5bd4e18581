"""Sweeps on a real two-node Ray cluster started on this machine (`ray start --head` + a worker):
episodes run on both nodes, per-key results equal the local executor's for the same seeds,
placement follows resources, and bad clusters fail in one line with nothing stored."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from agentgym.cli import app
from agentgym.sweep import Store, SweepConfig, run_sweep

ray = pytest.importorskip("ray", reason="the Ray executor needs agentgym[ray]")

from agentgym.distributed import RayExecutor, RayExecutorError, placements  # noqa: E402
from ray_cluster import cluster, free_port  # noqa: E402

CFG = {"name": "ray", "envs": [{"id": "shell-fixture", "max_tasks": 3}],
       "agents": [{"name": "simulated", "kwargs": {"p": 0.5}}, "oracle"], "budgets": [None], "k": 2,
       "runtime": "local", "concurrency": 4}


@pytest.fixture(scope="module")
def ray_cluster():
    with cluster(nodes=2) as c:
        ex = RayExecutor(c.address)
        try:
            ex.connect()
            yield c, ex
        finally:
            ex.close()


def _results(root: Path) -> dict[tuple, tuple]:
    store = Store.open_existing(root)
    try:
        return {(r["config_id"], r["task_id"], r["sample"]): (r["seed"], r["passed"], r["reward"], r["turns"], r["infra_error"])
                for r in store.episodes()}
    finally:
        store.close()


def _docker_node() -> str:
    return next(n["NodeID"] for n in ray.nodes() if n["Alive"] and "docker" in n["Resources"])


def test_sweep_runs_on_both_nodes_and_matches_the_local_executor(ray_cluster, tmp_path):
    _, ex = ray_cluster
    cfg = SweepConfig.model_validate(CFG)
    local = run_sweep(cfg, out=tmp_path / "local", progress=False)
    dist = run_sweep(cfg, out=tmp_path / "ray", progress=False, executor=ex)
    assert (dist.total, dist.ran, dist.infra_errors) == (12, 12, 0)
    assert 0 < dist.passed < 12 and dist.passed == local.passed
    assert _results(tmp_path / "ray") == _results(tmp_path / "local")
    where = placements(tmp_path / "ray")
    assert set(where) == set(_results(tmp_path / "ray"))
    assert len({w["node_id"] for w in where.values()}) == 2, "episodes ran on one node only"
    assert all(w["attempts"] == 1 for w in where.values())
    with sqlite3.connect(tmp_path / "ray" / "results.sqlite") as conn:  # exactly once
        assert conn.execute("SELECT COUNT(*) FROM episodes").fetchone()[0] == 12
    again = run_sweep(cfg, out=tmp_path / "ray", progress=False, executor=ex)
    assert (again.ran, again.skipped) == (0, 12)


def test_placement_follows_resources_and_an_unplaceable_env_stores_nothing(ray_cluster, tmp_path):
    _, ex = ray_cluster
    cfg = SweepConfig.model_validate({**CFG, "agents": ["oracle"], "k": 1})
    # Only the head declared `docker`: episodes that ask for it never land on the other node.
    pinned = RayExecutor(ex.address, resources={"shell-fixture": {"docker": 0.01}})
    pinned._inited = True  # same driver connection as `ex`
    run_sweep(cfg, out=tmp_path / "pinned", progress=False, executor=pinned)
    assert {w["node_id"] for w in placements(tmp_path / "pinned").values()} == {_docker_node()}
    assert ex.request("sql-c-lite", "docker") == {"docker": 0.01}
    nowhere = RayExecutor(ex.address, resources={"shell-fixture": {"chromium": 1}})
    nowhere._inited = True
    with pytest.raises(RayExecutorError, match="no node of the Ray cluster has .*chromium.* for shell-fixture") as err:
        run_sweep(cfg, out=tmp_path / "nowhere", progress=False, executor=nowhere)
    assert "\n" not in str(err.value)
    assert Store.open_existing(tmp_path / "nowhere").count() == 0


def test_cli_unreachable_address_is_one_line_exit_2(tmp_path):
    cfg = tmp_path / "s.yaml"
    cfg.write_text(yaml.safe_dump(CFG))
    res = CliRunner().invoke(app, ["sweep", str(cfg), "--executor", "ray", "--address", f"127.0.0.1:{free_port()}",
                                   "--out", str(tmp_path / "run"), "-q"])
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and "no Ray cluster answers at 127.0.0.1:" in lines[0]
    assert not (tmp_path / "run").exists()
