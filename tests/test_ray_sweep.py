"""Sweeps on a real two-node Ray cluster started on this machine (`ray start --head` + a worker):
episodes run on both nodes, per-key results equal the local executor's for the same seeds,
the Python rollout API matches run_rollouts, placement follows resources, the preflight runs on
the nodes (an env only they can make, an endpoint only they reach), a worker process, a whole
worker node (docker runtime, from a driver without Docker: nothing of the sweep left in Docker
after) or the driver killed mid-sweep loses nothing and doubles nothing, the reaper never takes a
live owner's container, and bad clusters fail in one line with nothing stored. One module-scoped
cluster (starting one costs seconds); the node-kill test runs after the tests that need both
nodes (file order)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
import yaml
from typer.testing import CliRunner

from agentgym.cli import app
from agentgym.sweep import Store, SweepConfig, run_sweep

if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
    import ray  # `make install` installs agentgym[ray]: under CI a missing Ray is a failure, not a skip
else:
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


def _count(run: Path) -> int:
    """Stored episodes, read-only (a Store would rewrite the JSONL the running driver appends to)."""
    if not (run / "results.sqlite").is_file():
        return 0
    with sqlite3.connect(f"file:{run / 'results.sqlite'}?mode=ro", uri=True) as conn:
        try:
            return conn.execute("SELECT COUNT(*) FROM episodes").fetchone()[0]
        except sqlite3.OperationalError:  # the driver has not made the table yet
            return 0


def _head() -> str:
    return next(n["NodeID"] for n in ray.nodes() if n["Alive"] and "head" in n["Resources"])


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


def test_python_rollout_api_on_the_cluster_matches_run_rollouts(ray_cluster):
    import agentgym
    from agentgym.agents import make_agent
    from agentgym.parallel import rollout_specs, run_rollouts_sync

    _, ex = ray_cluster
    specs = rollout_specs("shell-fixture", ["hello", "count-lines", "sum-column"], k=2, base_seed=7)
    make_env = lambda env_id: agentgym.make(env_id, runtime="local")  # noqa: E731 - shipped to the nodes as is
    policy = lambda env, spec: make_agent("simulated", env, p=0.5, seed=spec.seed)  # noqa: E731
    here = run_rollouts_sync(specs, make_env, policy, max_concurrency=4)
    there = RayExecutor(ex.address).run_rollouts(specs, make_env, policy, max_concurrency=4)
    view = lambda rs: [(r.spec, r.trajectory.passed, r.trajectory.total_reward, r.trajectory.turns, r.infra_error) for r in rs]  # noqa: E731
    assert view(there) == view(here)
    assert 0 < sum(r.trajectory.passed for r in there) < len(specs)


def test_placement_follows_resources_and_an_unplaceable_env_stores_nothing(ray_cluster, tmp_path):
    _, ex = ray_cluster
    cfg = SweepConfig.model_validate({**CFG, "agents": ["oracle"], "k": 1})
    # Only the head declared `head`: episodes that ask for it never land on the other node.
    pinned = RayExecutor(ex.address, resources={"shell-fixture": {"head": 0.01}})
    run_sweep(cfg, out=tmp_path / "pinned", progress=False, executor=pinned)
    assert {w["node_id"] for w in placements(tmp_path / "pinned").values()} == {_head()}
    assert ex.request("sql-c-lite", "docker") == {"docker": 0.01}
    nowhere = RayExecutor(ex.address, resources={"shell-fixture": {"chromium": 1}})
    with pytest.raises(RayExecutorError, match="no node of the Ray cluster has .*chromium.* for shell-fixture") as err:
        run_sweep(cfg, out=tmp_path / "nowhere", progress=False, executor=nowhere)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "nowhere").exists()  # refused at the preflight, before a store is made


def test_the_env_preflight_runs_on_the_nodes_and_fails_there_in_one_line(ray_cluster, tmp_path):
    import ray_gated_agent  # registers node-data-fixture here too; only the nodes can make it
    from agentgym.models.preflight import PreflightError

    c, _ = ray_cluster
    cfg = {**CFG, "envs": [{"id": "node-data-fixture", "max_tasks": 2}], "agents": ["oracle"], "k": 1}
    with pytest.raises(PreflightError, match="data is on the Ray nodes only"):  # made here by the local executor
        run_sweep(SweepConfig.model_validate(cfg), out=tmp_path / "here", progress=False)
    ex = RayExecutor(c.address, imports=[ray_gated_agent.__file__])
    s = run_sweep(SweepConfig.model_validate(cfg), out=tmp_path / "there", progress=False, executor=ex)
    assert (s.ran, s.passed, s.infra_errors) == (2, 2, 0)
    bad = {**cfg, "envs": [{"id": "node-data-fixture", "kwargs": {"no_such_option": 1}}]}
    with pytest.raises(PreflightError, match="env node-data-fixture could not be made .*no_such_option.*on the Ray node at ") as err:
        run_sweep(SweepConfig.model_validate(bad), out=tmp_path / "bad", progress=False, executor=ex)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "bad").exists()


def test_an_endpoint_the_driver_cannot_reach_is_probed_from_a_node(ray_cluster, monkeypatch):
    import http.server

    from agentgym.models import preflight

    class Models(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the OpenAI-compatible model list, serving "m"
            body = json.dumps({"data": [{"id": "m"}]}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):  # noqa: N802 - any other model: not served
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Models)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/v1"

    def unreachable(ep, timeout_s=5.0):
        raise preflight.PreflightError(f"cannot reach model endpoint {ep.base_url} (ConnectError)")

    try:
        _, ex = ray_cluster
        monkeypatch.setattr(preflight, "check_endpoint", unreachable)  # from the driver only
        ex.check_endpoints([preflight.Endpoint(base_url=base, model="m")])  # the nodes reach it: passes
        with pytest.raises(preflight.PreflightError, match="refused model 'other'.*from a Ray node"):
            ex.check_endpoints([preflight.Endpoint(base_url=base, model="other")])
    finally:
        server.shutdown()


@pytest.mark.docker
def test_the_reaper_takes_a_dead_owners_container_of_the_sweep_never_a_live_ones():
    """Two Ray nodes on one machine share one Docker engine: a node's reap must leave the other
    node's live episodes alone (owner pid alive) and take only what a dead owner left."""
    import uuid

    import docker

    from agentgym.sandbox import reaper

    where = {"agentgym.sweep": f"t{uuid.uuid4().hex[:12]}"}
    with reaper.owner_context({**where, "agentgym.node": "n1"}):
        live = reaper.owner_labels()
    assert live["agentgym.sweep"] == where["agentgym.sweep"] and "agentgym.sweep" not in reaper.owner_labels()
    owner = subprocess.Popen(["sleep", "60"])  # killed below and not waited for: a zombie, as a killed node's worker can be
    dead = {**live, "agentgym.pid": str(owner.pid), "agentgym.pidstart": reaper.pid_start(owner.pid), "agentgym.node": "n2"}
    owner.kill()
    other = {**dead, "agentgym.sweep": "another-sweep"}
    api = docker.from_env(timeout=60).api
    ids = [api.create_container("agentgym/base:latest", command="true", labels=labels)["Id"] for labels in (live, dead, other)]
    try:
        deadline = time.monotonic() + 10
        while psutil.Process(owner.pid).status() != psutil.STATUS_ZOMBIE and time.monotonic() < deadline:
            time.sleep(0.05)
        assert reaper.gc(where=where, dry_run=True).containers == [ids[1][:12]]
        reaper.gc(where=where)  # (ids[2] is not asserted on after this: another process's plain gc may take it)
        left = {c["Id"] for c in api.containers(all=True, filters={"label": "agentgym.pid"})}
        assert ids[0] in left and ids[1] not in left
    finally:
        owner.wait()
        for cid in ids:
            with contextlib.suppress(docker.errors.NotFound):
                api.remove_container(cid, force=True)


def test_a_worker_process_killed_mid_episode_is_retried_and_stored_once(ray_cluster, tmp_path):
    c, _ = ray_cluster
    import ray_gated_agent

    gate = tmp_path / "gate"
    gate.mkdir()
    cfg = SweepConfig.model_validate({**CFG, "k": 1, "agents": [{"name": "gated-oracle", "kwargs": {"gate": str(gate), "hold": ["hello"]}}]})
    out: dict = {}
    sweep = threading.Thread(target=lambda: out.update(s=run_sweep(
        cfg, out=tmp_path / "run", progress=False, executor=RayExecutor(c.address, imports=[ray_gated_agent.__file__]))))
    sweep.start()
    try:
        deadline = time.monotonic() + 120
        while not (held := list(gate.iterdir())) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert held, "the held episode never started"
        psutil.Process(int(held[0].name.split(".")[1])).kill()  # its worker process only; the node lives
        while len(list(gate.iterdir())) < 2 and time.monotonic() < deadline:  # the retry is held too
            time.sleep(0.1)
    finally:
        (gate / "open").touch()
        sweep.join(240)
    assert not sweep.is_alive()
    assert (out["s"].ran, out["s"].passed, out["s"].infra_errors) == (3, 3, 0)
    where = placements(tmp_path / "run")
    assert len(where) == 3 and [k[1] for k, w in where.items() if w["attempts"] == 2] == ["hello"]


def test_a_cancelled_driver_cancels_its_ray_tasks(ray_cluster, tmp_path):
    """Ctrl-C in the driver (its gather cancelled) dropped the awaited results but left the Ray
    tasks running on the nodes: episodes went on after the driver said "resume with ...", and a
    resume ran the same keys again at the same time. The cancelled await cancels its task: the
    worker process holding the episode is gone within seconds."""
    import agentgym
    from agentgym.agents import make_agent
    from agentgym.parallel import RolloutSpec

    c, _ = ray_cluster
    import ray_gated_agent

    gate = tmp_path / "gate"
    gate.mkdir()
    make_env = lambda env_id: agentgym.make(env_id, runtime="local")  # noqa: E731 - shipped to the nodes
    gated = lambda env, spec, g=str(gate): make_agent("gated-oracle", env, gate=g)  # noqa: E731
    ex = RayExecutor(c.address, imports=[ray_gated_agent.__file__])

    async def drive() -> list[Path]:
        run = asyncio.create_task(ex.arun_rollouts([RolloutSpec(env_id="shell-fixture", task_id="hello", seed=0)], make_env, gated))
        deadline = time.monotonic() + 120
        while not (held := list(gate.iterdir())) and time.monotonic() < deadline and not run.done():
            await asyncio.sleep(0.1)
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run
        return held

    try:
        held = asyncio.run(drive())
        assert held, "the held episode never started"
        pid = int(held[0].name.split(".")[1])
        deadline = time.monotonic() + 30
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(pid), "the episode's Ray task kept running after the driver was cancelled"
    finally:
        (gate / "open").touch()


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


DRIVER = """
import sys, json
sys.path.insert(0, sys.argv[4])
import ray_gated_agent
from agentgym.distributed import RayExecutor
from agentgym.sweep import SweepConfig, run_sweep
ex = RayExecutor(sys.argv[2], imports=[ray_gated_agent.__file__])
ex.connect()
s = run_sweep(SweepConfig.model_validate(json.loads(sys.argv[1])), out=sys.argv[3], progress=False, executor=ex)
print("RAN", s.ran, s.skipped)
"""


def test_a_driver_killed_mid_sweep_resumes_from_the_store_against_the_same_cluster(ray_cluster, tmp_path):
    c, _ = ray_cluster
    gate, run = tmp_path / "gate", tmp_path / "run"
    gate.mkdir()
    cfg = json.dumps({**CFG, "k": 1, "agents": [{"name": "gated-oracle", "kwargs": {"gate": str(gate), "hold": ["sum-column"]}}]})
    argv = [sys.executable, "-c", DRIVER, cfg, c.address, str(run), str(Path(__file__).parent)]
    driver = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and driver.poll() is None:
            if _count(run) == 2 and any(gate.iterdir()):  # two episodes stored, the third held on a node
                break
            time.sleep(0.2)
        assert driver.poll() is None, driver.communicate()[0][-2000:]
        assert any(gate.iterdir()) and _count(run) == 2
        driver.send_signal(signal.SIGKILL)
        driver.wait(30)
    finally:
        if driver.poll() is None:
            driver.kill()
        (gate / "open").touch()
    again = subprocess.run(argv, capture_output=True, text=True, timeout=180)
    assert "RAN 1 2" in again.stdout, again.stdout[-2000:] + again.stderr[-2000:]
    with sqlite3.connect(run / "results.sqlite") as conn:
        assert conn.execute("SELECT COUNT(*), COUNT(DISTINCT task_id), SUM(passed) FROM episodes").fetchone() == (3, 3, 3)
    assert len(placements(run)) == 3


@pytest.mark.docker
def test_a_worker_node_killed_mid_docker_sweep_is_retried_stored_once_and_leaves_no_container(ray_cluster, tmp_path):
    """Docker runtime on both nodes, driven from a process that has no Docker (DOCKER_HOST points at
    nothing: the env preflight and the reaping run on the nodes); the worker node (raylet and its
    workers, by pid) is killed while each node holds an episode and its containers."""
    import docker

    import ray_gated_agent  # noqa: F401 - registers the agent on the driver; the nodes import it through `imports`
    from agentgym.distributed.ray_executor import sweep_label

    c, _ = ray_cluster
    gate, run = tmp_path / "gate", tmp_path / "run"
    gate.mkdir()
    cfg = json.dumps({**CFG, "k": 1, "runtime": "docker", "agents": [{"name": "gated-oracle", "kwargs": {"gate": str(gate)}}]})
    argv = [sys.executable, "-c", DRIVER, cfg, c.address, str(run), str(Path(__file__).parent)]
    driver = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              env={**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/no-docker.sock"})
    head, label = _head(), f"agentgym.sweep={sweep_label(run)}"
    api = docker.from_env(timeout=60).api
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and driver.poll() is None:
            held = {m.name.split(".")[0]: int(m.name.split(".")[1]) for m in gate.iterdir()}
            if len(held) == 2:  # one episode held on each node
                break
            time.sleep(0.1)
        assert driver.poll() is None, driver.communicate()[0][-2000:]
        assert len(held) == 2, "no episode held on each node"
        labelled = api.containers(all=True, filters={"label": label})  # the listing only: a spare may go meanwhile
        assert {x["Labels"].get("agentgym.node") for x in labelled} == set(held), "containers lack the sweep/node labels"
        raylet = psutil.Process(held[next(n for n in held if n != head)]).parent()
        assert raylet.name() == "raylet"
        for p in [raylet, *raylet.children(recursive=True)]:  # the whole node, by pid, mid-episode
            p.kill()
    finally:
        (gate / "open").touch()
        try:
            said = driver.communicate(timeout=240)[0]
        finally:
            if driver.poll() is None:
                driver.kill()
    assert "RAN 3 0" in said, said[-3000:]
    with sqlite3.connect(run / "results.sqlite") as conn:
        rows = conn.execute("SELECT COUNT(*), COUNT(DISTINCT config_id || task_id || sample), SUM(passed), SUM(infra_error) "
                            "FROM episodes").fetchone()
    assert rows == (3, 3, 3, 0)
    where = placements(run)
    retried = [k for k, w in where.items() if w["attempts"] > 1]
    assert retried, "the episode held on the killed node was not marked as retried"
    assert all(where[k]["node_id"] == head for k in retried)
    assert api.containers(all=True, filters={"label": label}) == []
    assert (api.volumes(filters={"label": label}) or {}).get("Volumes") in (None, [])


def test_cli_sweep_on_the_cluster_and_its_bad_inputs(ray_cluster, tmp_path):
    c, _ = ray_cluster
    cfg = tmp_path / "s.yaml"
    cfg.write_text(yaml.safe_dump({**CFG, "agents": ["oracle"], "k": 1}))
    ok = CliRunner().invoke(app, ["sweep", str(cfg), "--executor", "ray", "--address", c.address, "--out", str(tmp_path / "run"), "-q"])
    assert ok.exit_code == 0, ok.output
    assert "3 episodes (0 already stored, 3 run now: 3 passed" in ok.output
    assert len(placements(tmp_path / "run")) == 3
    assert ray.is_initialized()  # the CLI used this process's connection and left it open
    for args, said in ((["--executor", "dask"], "unknown executor 'dask'; use local or ray"),
                       (["--address", c.address], "--address names a Ray cluster; add `--executor ray`")):
        bad = CliRunner().invoke(app, ["sweep", str(cfg), *args, "--out", str(tmp_path / "bad"), "-q"])
        assert bad.exit_code == 2 and said in bad.output, bad.output
    assert not (tmp_path / "bad").exists()


def test_cli_unreachable_address_is_one_line_exit_2(tmp_path):
    cfg = tmp_path / "s.yaml"
    cfg.write_text(yaml.safe_dump(CFG))
    res = CliRunner().invoke(app, ["sweep", str(cfg), "--executor", "ray", "--address", f"127.0.0.1:{free_port()}",
                                   "--out", str(tmp_path / "run"), "-q"])
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and "no Ray cluster answers at 127.0.0.1:" in lines[0]
    assert not (tmp_path / "run").exists()


def test_a_ray_version_mismatch_is_one_line(monkeypatch):
    def init(**_):  # what ray.init raises when the cluster runs another Ray (its own message, shortened)
        raise RuntimeError("Version mismatch: The cluster was started with:\n    Ray: 2.9.0\n    Python: 3.10.1\n"
                           "This process on node 127.0.0.1 was started with:\n    Ray: 2.60.0\n")

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", init)
    with pytest.raises(RayExecutorError) as err:
        RayExecutor("auto").connect()
    msg = str(err.value)
    assert "\n" not in msg and "Version mismatch" in msg and "pip install 'ray==<cluster version>'" in msg
