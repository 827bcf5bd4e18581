"""Sweeps: exactly-once storage, resume after SIGKILL, pass@k of known skills, the HTML report."""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest
import yaml

from agentgym.metrics import pass_at_k_estimate
from agentgym.report import write_report
from agentgym.rollout import StepRecord, Trajectory
from agentgym.sweep import EpisodeRecord, Store, SweepConfig, plan, run_sweep

ROOT = Path(__file__).resolve().parents[1]


def _cfg(**over):
    base = {
        "name": "t",
        "envs": [{"id": "shell-fixture", "max_tasks": 3}, {"id": "sql-c-lite", "max_tasks": 3}],
        "agents": [{"name": "simulated", "kwargs": {"p": 0.3}}, {"name": "simulated", "kwargs": {"p": 0.9}}, "oracle"],
        "budgets": [8, None],
        "k": 2,
        "runtime": "local",
        "concurrency": 3,
    }
    return SweepConfig.model_validate({**base, **over})


def _keys(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT config_id, task_id, sample FROM episodes").fetchall()


def _jsonl_keys(path: Path) -> list[tuple]:
    import json

    return [(d["config_id"], d["task_id"], d["sample"]) for d in map(json.loads, path.read_text().splitlines())]


def test_small_sweep_stores_every_episode_once_and_resumes_as_noop(tmp_path):
    cfg = _cfg()
    configs, episodes = plan(cfg)
    assert len(configs) == 2 * 3 * 2 and len(episodes) == len(configs) * 3 * 2
    s = run_sweep(cfg, out=tmp_path, progress=False)
    assert (s.total, s.ran, s.infra_errors) == (len(episodes), len(episodes), 0)
    keys = _keys(tmp_path / "results.sqlite")
    assert Counter(keys).most_common(1)[0][1] == 1
    assert set(keys) == {(e.config_id, e.task_id, e.sample) for e in episodes}
    assert sorted(_jsonl_keys(tmp_path / "trajectories.jsonl")) == sorted(keys)
    again = run_sweep(cfg, out=tmp_path, progress=False)
    assert (again.ran, again.skipped) == (0, len(episodes))
    assert len(_keys(tmp_path / "results.sqlite")) == len(episodes)
    store = Store.open_existing(tmp_path)
    try:
        rows = list(store.episodes())
    finally:
        store.close()
    oracle = [r for r in rows if "/oracle/" in r["config_id"]]
    assert oracle and all(r["passed"] for r in oracle)
    # Seeds are deterministic: the same (env, task, sample) gets the same seed in every config.
    seeds = defaultdict(set)
    for r in rows:
        seeds[(r["config_id"].split("/")[0], r["task_id"], r["sample"])].add(r["seed"])
    assert all(len(v) == 1 for v in seeds.values())


def test_measured_pass_at_k_of_simulated_skill_matches_theory(tmp_path):
    p, k = 0.1, 16  # 1-(1-p)^16 = 0.81: no degenerate all-pass interval at the top k
    cfg = _cfg(envs=[{"id": "sql-c-lite"}], agents=[{"name": "simulated", "kwargs": {"p": p}}], budgets=[None], k=k, concurrency=4)
    run_sweep(cfg, out=tmp_path, progress=False)
    results = defaultdict(list)
    for r in Store.open_existing(tmp_path).episodes():
        results[r["task_id"]].append(r["passed"])
    assert len(results) >= 32 and all(len(v) == k for v in results.values())
    for kk in (1, 2, 4, 8, 16):
        est = pass_at_k_estimate(results, kk)
        assert est.contains(1 - (1 - p) ** kk), (kk, est)


@pytest.mark.slow
def test_sweep_killed_with_sigkill_and_restarted_records_every_key_once(tmp_path):
    cfg = {"name": "kill", "envs": [{"id": "sql-c-lite"}, {"id": "shell-fixture"}],
           "agents": [{"name": "simulated", "kwargs": {"p": 0.5}}, {"name": "simulated", "kwargs": {"p": 0.2}}],
           "k": 6, "runtime": "local", "concurrency": 4}
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    out = tmp_path / "run"
    db = out / "results.sqlite"
    total = len(plan(SweepConfig.model_validate(cfg))[1])
    cmd = [sys.executable, "-m", "agentgym", "sweep", str(path), "--out", str(out), "--quiet"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stored, deadline = 0, time.monotonic() + 60
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if db.exists():
                try:
                    stored = len(_keys(db))
                except sqlite3.OperationalError:
                    stored = 0
                if stored >= 40:
                    break
            time.sleep(0.01)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    assert proc.returncode == -signal.SIGKILL, f"the sweep ended before the kill ({stored} stored): {proc.stderr.read()[-2000:]}"
    at_kill = len(_keys(db))
    assert 0 < at_kill < total
    again = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert again.returncode == 0, again.stderr
    keys = _keys(db)
    assert len(keys) == total and len(set(keys)) == total
    assert sorted(_jsonl_keys(out / "trajectories.jsonl")) == sorted(keys)
    assert f"{total - at_kill} run now" in " ".join(again.stdout.split()) or len(keys) == total


def test_report_has_tables_plots_and_escaped_trajectories(tmp_path):
    cfg = _cfg(envs=[{"id": "shell-fixture", "max_tasks": 2}], k=2)
    run_sweep(cfg, out=tmp_path, progress=False)
    store = Store(tmp_path)
    evil = "<script>alert('x')</script>"
    traj = Trajectory(env_id="shell-fixture", task_id="evil", seed=1, first_observation="hi",
                      steps=[StepRecord(action={"name": "run", "arguments": {"cmd": evil}}, observation=evil, reward=0.0,
                                        terminated=True, truncated=False)])
    cid = plan(cfg)[0][0].config_id
    assert store.record(EpisodeRecord(config_id=cid, task_id="evil", sample=0, seed=1, passed=False, reward=0.0, turns=1,
                                      cost=0.0, seconds=0.0, infra_error=False), traj)
    assert not store.record(EpisodeRecord(config_id=cid, task_id="evil", sample=0, seed=1, passed=True, reward=1.0, turns=1,
                                          cost=0.0, seconds=0.0, infra_error=False), traj)
    store.close()
    html = write_report(tmp_path, tmp_path / "r.html").read_text()
    assert "<table>" in html and "pass@1" in html and "pass^k" in html and "<svg" in html
    assert "pass@k vs k" in html and "turn budget" in html and "cost" in html
    assert "<details>" in html and "&lt;script&gt;alert(" in html
    assert "<script" not in html.replace("&lt;script", "")


def test_cli_sweep_and_report(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"name": "cli", "envs": [{"id": "shell-fixture", "max_tasks": 2}],
                                    "agents": [{"name": "simulated", "kwargs": {"p": 0.5}}], "k": 2}))
    run = lambda *a: subprocess.run([sys.executable, "-m", "agentgym", *a], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    r = run("sweep", str(path), "--out", str(tmp_path / "run"), "--quiet", "--runtime", "local")
    assert r.returncode == 0, r.stderr
    r = run("report", str(tmp_path / "run"), "--out", str(tmp_path / "r.html"))
    assert r.returncode == 0 and (tmp_path / "r.html").is_file(), r.stderr
    bad = run("sweep", str(tmp_path / "missing.yaml"))
    assert bad.returncode == 2 and "not found" in " ".join(bad.stderr.split())  # rich wraps long paths
    path.write_text(yaml.safe_dump({"name": "cli", "envs": ["no-such-env"], "agents": ["oracle"]}))
    bad = run("sweep", str(path), "--out", str(tmp_path / "x"))
    assert bad.returncode == 2 and "no-such-env" in bad.stderr
    readme = (ROOT / "README.md").read_text()
    assert "agentgym sweep" in readme and "agentgym report" in readme


def test_per_env_k_overrides_the_sweep_k():
    cfg = _cfg(envs=[{"id": "shell-fixture", "max_tasks": 2, "k": 5}, {"id": "sql-c-lite", "max_tasks": 2}])
    configs, episodes = plan(cfg)
    per_env = Counter(next(c.env for c in configs if c.config_id == e.config_id) for e in episodes)
    assert per_env == {"shell-fixture": 6 * 2 * 5, "sql-c-lite": 6 * 2 * 2}


def test_a_reader_never_rewrites_the_jsonl_a_running_sweep_appends_to(tmp_path):
    """Tables, export and the viewer open a run another process may still be writing: the reader's
    handle leaves trajectories.jsonl alone (a rebuild would drop a line appended meanwhile); the
    writer's handle still repairs a JSONL an interrupted run left short."""
    writer = Store(tmp_path)
    traj = Trajectory(env_id="shell-fixture", task_id="t0", seed=0, first_observation="")
    rec = EpisodeRecord(config_id="c", task_id="t0", sample=0, seed=0, passed=True, reward=1.0, turns=1,
                        cost=0.0, seconds=0.1, infra_error=False)
    assert writer.record(rec, traj)
    inode = writer.jsonl_path.stat().st_ino
    reader = Store.open_existing(tmp_path)
    assert reader.jsonl_path.stat().st_ino == inode and reader.count() == 1
    reader.close()
    writer.close()
    writer.jsonl_path.write_text("")  # a run killed between the DB write and the append
    Store(tmp_path).close()
    assert len(_jsonl_keys(writer.jsonl_path)) == 1


def test_an_api_key_in_the_config_never_reaches_the_store(tmp_path):
    """A run directory is shared, reported and exported: the sweep config and each config's spec are
    stored with secret-looking values redacted (the endpoint still got the key)."""
    cfg = SweepConfig.model_validate({
        "name": "k", "envs": [{"id": "shell-fixture", "max_tasks": 1}],
        "models": [{"model": "m", "base_url": "http://127.0.0.1:9/v1", "api_key": "sk-SECRET-123"}],
        "runtime": "local", "agents": ["react"]})
    configs, _ = plan(cfg)
    assert any("sk-SECRET-123" in rc.model_dump_json() for rc in configs)
    store = Store(tmp_path)
    try:
        store.set_meta("sweep", cfg.model_dump(mode="json"))
        for rc in configs:
            store.add_config(rc)
        assert store.meta("sweep")["models"][0]["api_key"] == "<redacted>"
        assert store.meta("sweep")["models"][0]["base_url"] == "http://127.0.0.1:9/v1"
    finally:
        store.close()
    assert b"sk-SECRET-123" not in (tmp_path / "results.sqlite").read_bytes()


@pytest.mark.parametrize("key", ["api_key", "X-Api-Key", "aws_secret_access_key", "private_key", "hf_token", "Authorization",
                                 "db_password", "passwd", "credentials", "Cookie"])
def test_secret_looking_keys_are_redacted_at_any_depth(key):
    from agentgym.sweep.store import redact

    value = {"models": [{"backend_kwargs": {"headers": {key: "s3cr3t"}}, "max_tokens": 5}]}
    assert redact(value) == {"models": [{"backend_kwargs": {"headers": {key: "<redacted>"}}, "max_tokens": 5}]}


@pytest.mark.parametrize(("url", "stored"), [
    ("https://alice:hunter2@llm.example/v1", "https://<redacted>@llm.example/v1"),
    ("https://llm.example/v1?key=AIza123&alt=json", "https://llm.example/v1?key=<redacted>&alt=json"),
    ("https://h.example/v1?api-key=s3&access_token=t0", "https://h.example/v1?api-key=<redacted>&access_token=<redacted>"),
    ("http://127.0.0.1:8000/v1", "http://127.0.0.1:8000/v1"),
])
def test_credentials_written_into_a_url_are_redacted(url, stored):
    from agentgym.sweep.store import redact

    assert redact({"models": [{"base_url": url, "label": "key=plain words"}]}) == {"models": [{"base_url": stored, "label": "key=plain words"}]}


def test_an_error_naming_a_url_with_credentials_is_stored_without_them(tmp_path):
    from agentgym.rollout import Trajectory

    err = "infrastructure error: ModelError: https://alice:hunter2@llm.example/v1/chat/completions failed after 3 attempts"
    store = Store(tmp_path)
    try:
        store.record(EpisodeRecord(config_id="c", task_id="t", sample=0, seed=0, passed=False, reward=0.0, turns=0, cost=0.0,
                                   seconds=0.0, infra_error=True, error=err),
                     Trajectory(env_id="e", task_id="t", seed=0, first_observation="", error=err))
        [row] = store.episodes(with_trajectory=True)
    finally:
        store.close()
    assert "hunter2" not in row["error"] and "hunter2" not in row["trajectory"]["error"] and "llm.example" in row["error"]
    assert b"hunter2" not in (tmp_path / "results.sqlite").read_bytes() + (tmp_path / "trajectories.jsonl").read_bytes()


def test_config_ids_do_not_depend_on_where_the_config_file_is(tmp_path):
    """A relative path in an env's kwargs is read beside the config file (made absolute for the env),
    but the config id hashes it as written: a run and its config copied elsewhere keep their ids."""
    cfgs = []
    for where in ("a", "b/c"):
        d = tmp_path / where
        d.mkdir(parents=True)
        (d / "data.jsonl").write_text("{}\n")
        (d / "s.yaml").write_text("name: x\nenvs: [{id: swe-verified, kwargs: {dataset: data.jsonl}}]\nagents: [oracle]\n")
        cfgs.append(SweepConfig.from_yaml(d / "s.yaml"))
    a, b = cfgs
    assert a.envs[0].kwargs["dataset"] == str((tmp_path / "a" / "data.jsonl").resolve())
    assert a.configs()[0].config_id == b.configs()[0].config_id
    assert a.model_copy(update={"concurrency": 2}).configs()[0].config_id == a.configs()[0].config_id
