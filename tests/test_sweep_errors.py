"""Infrastructure errors in sweeps: a preflight that fails fast, errored episodes stored apart and
re-run by --retry-errors (each key exactly once afterwards), a plain resume that says the flag
exists, an all-errored sweep that exits non-zero, and Ctrl-C that prints the command to resume.

The model is agentgym's scripted OpenAI-compatible server (a real HTTP server), the env the local
shell fixture: the react agent submits at once, one chat request per episode."""

from __future__ import annotations

import collections
import json
import os
import re
import shlex
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import yaml
from typer.testing import CliRunner

from agentgym.cli import app
from agentgym.models.testing import OpenAITestServer, Reply
from agentgym.sweep.table import run_rows
from agentgym.view.episode import episode_body

runner = CliRunner()


class Flaky:
    """Answers preflight pings always; episode requests while `up`, at most `budget` of them
    (None: no limit), else HTTP 503; `delay_s` slows every episode request."""

    def __init__(self, budget: int | None = None, delay_s: float = 0.0):
        self.lock = threading.Lock()
        self.budget, self.delay_s, self.served, self.episode_requests = budget, delay_s, 0, 0

    def __call__(self, req: dict) -> Reply:
        if req.get("max_tokens") == 1:
            return Reply.text("pong")
        with self.lock:
            self.episode_requests += 1
            ok = self.budget is None or self.served < self.budget
            self.served += ok
        return Reply.call("submit", {}, delay_s=self.delay_s) if ok else Reply.fault(503)


def _config(tmp_path: Path, base_url: str, tasks: int = 3, k: int = 2, name: str = "errs") -> Path:
    cfg = {"name": name, "envs": [{"id": "shell-fixture", "max_tasks": tasks}], "agents": ["react"],
           "models": [{"model": "m", "base_url": base_url, "backend_kwargs": {"max_retries": 0}}],
           "k": k, "runtime": "local", "concurrency": 2}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _keys(run: Path) -> tuple[collections.Counter, int]:
    con = sqlite3.connect(run / "results.sqlite")
    try:
        rows = con.execute("SELECT config_id, task_id, sample, infra_error FROM episodes").fetchall()
    finally:
        con.close()
    return collections.Counter(r[:3] for r in rows), sum(r[3] for r in rows)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_dead_endpoint_fails_the_preflight_in_one_line(tmp_path):
    cfg = _config(tmp_path, f"http://127.0.0.1:{_free_port()}/v1")
    t0 = time.perf_counter()
    res = runner.invoke(app, ["sweep", str(cfg), "--out", str(tmp_path / "run"), "-q"])
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: preflight: cannot reach model endpoint http://127.0.0.1:"), lines
    assert "--base-url" in lines[0]
    assert not (tmp_path / "run").exists(), "nothing ran, nothing was written"
    assert time.perf_counter() - t0 < 30


def test_mid_run_failure_is_completed_by_retry_errors_each_key_once(tmp_path):
    flaky = Flaky(budget=2)
    run = tmp_path / "run"
    with OpenAITestServer(flaky) as srv:
        cfg = _config(tmp_path, srv.base_url)
        first = runner.invoke(app, ["sweep", str(cfg), "--out", str(run), "-q"])
        assert first.exit_code == 0, first.output
        keys, errors = _keys(run)
        assert (len(keys), errors, flaky.episode_requests) == (6, 4, 6)
        [row] = run_rows(run)
        assert (row.passed + row.failed, row.errors) == (2, 4), "errored episodes are neither passed nor failed"
        assert row.pass1 is not None and row.pass1.errors == 4
        assert re.search(r"│ 4 +│", first.stdout), "the table shows the errors in a column of their own"

        flaky.budget = None  # the server is back
        plain = runner.invoke(app, ["sweep", str(cfg), "--out", str(run), "-q"])
        assert plain.exit_code == 0, plain.output
        assert flaky.episode_requests == 6, "a plain resume re-runs nothing"
        assert f"agentgym sweep {cfg} --out {run} --retry-errors" in " ".join(plain.stderr.split())

        retry = runner.invoke(app, ["sweep", str(cfg), "--out", str(run), "-q", "--retry-errors"])
        assert retry.exit_code == 0, retry.output
        assert flaky.episode_requests == 10, "exactly the 4 errored keys ran again"
    keys, errors = _keys(run)
    assert errors == 0 and len(keys) == 6 and set(keys.values()) == {1}, keys
    lines = [json.loads(ln) for ln in (run / "trajectories.jsonl").read_text().splitlines()]
    jkeys = collections.Counter((d["config_id"], d["task_id"], d["sample"]) for d in lines)
    assert jkeys == keys and not any(d["trajectory"].get("error") for d in lines)
    [row] = run_rows(run)
    assert (row.errors, row.passed + row.failed, row.k) == (0, 6, 2)


class DiesMidEpisode:
    """Each episode (keyed by its task statement) gets `turns` bash calls answered, then HTTP 503
    while `down`; once up again, every request is answered with submit."""

    def __init__(self, turns: int):
        self.lock, self.turns, self.down, self.seen = threading.Lock(), turns, True, collections.Counter()

    def __call__(self, req: dict) -> Reply:
        if req.get("max_tokens") == 1:
            return Reply.text("pong")
        with self.lock:
            key = req["messages"][1]["content"]
            n, self.seen[key] = self.seen[key], self.seen[key] + 1
        if not self.down:
            return Reply.call("submit", {})
        return Reply.call("bash", {"command": f"echo turn {n}"}) if n < self.turns else Reply.fault(503)


def test_endpoint_dying_mid_episode_keeps_the_partial_transcript_until_retried(tmp_path):
    server, run = DiesMidEpisode(turns=2), tmp_path / "run"
    with OpenAITestServer(server) as srv:
        cfg = _config(tmp_path, srv.base_url, tasks=2, k=1)
        first = runner.invoke(app, ["sweep", str(cfg), "--out", str(run), "-q"])
        assert first.exit_code == 1, first.output  # every episode errored
        stored = [json.loads(ln) for ln in (run / "trajectories.jsonl").read_text().splitlines()]
        assert len(stored) == 2
        for d in stored:
            t = d["trajectory"]
            assert t["error"].startswith("infrastructure error:") and "503" in t["error"].splitlines()[0]
            assert [s["action"][0]["function"]["name"] for s in t["steps"]] == ["bash", "bash"]
            msgs = t["transcript"]["messages"]
            assert [m["role"] for m in msgs] == ["system", "user", "assistant", "tool", "assistant", "tool"]
            assert "turn 1" in msgs[-1]["content"], "the last observation the model was sent is kept"
            assert len(t["transcript"]["turns"]) == 2 and t["grader_report"]["verdict"] == "error"
            page = episode_body({"trajectory": t})
            assert "Infrastructure error" in page and "turn 1" in page, "the viewer shows the partial transcript"
        assert _keys(run)[1] == 2
        [row] = run_rows(run)
        assert (row.errors, row.passed + row.failed) == (2, 0), "still an infrastructure error, out of every score"

        server.down = False
        retry = runner.invoke(app, ["sweep", str(cfg), "--out", str(run), "-q", "--retry-errors"])
        assert retry.exit_code == 0, retry.output
    keys, errors = _keys(run)
    assert errors == 0 and len(keys) == 2 and set(keys.values()) == {1}
    stored = [json.loads(ln) for ln in (run / "trajectories.jsonl").read_text().splitlines()]
    assert len(stored) == 2 and all(d["trajectory"]["error"] is None and len(d["trajectory"]["steps"]) == 1 for d in stored)


def test_sweep_whose_episodes_all_errored_exits_nonzero(tmp_path):
    with OpenAITestServer(Flaky(budget=0)) as srv:
        cfg = _config(tmp_path, srv.base_url, tasks=2, k=1)
        res = runner.invoke(app, ["sweep", str(cfg), "--out", str(tmp_path / "run"), "-q"])
    assert res.exit_code == 1, res.output
    [line] = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]
    assert "every episode run now ended in an infrastructure error" in line and "--retry-errors" in line
    assert "503" in line, "the first error is named"


def test_ctrl_c_prints_the_exact_command_that_resumes(tmp_path):
    flaky = Flaky(delay_s=60)
    run = tmp_path / "run"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with OpenAITestServer(flaky) as srv:
        cfg = _config(tmp_path, srv.base_url, tasks=2, k=1)
        proc = subprocess.Popen([sys.executable, "-m", "agentgym", "sweep", str(cfg), "--out", str(run), "-q"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        try:
            deadline = time.monotonic() + 60
            while flaky.episode_requests == 0 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert flaky.episode_requests > 0, "the sweep never reached the model"
            proc.send_signal(signal.SIGINT)
            _, stderr = proc.communicate(timeout=60)
        finally:
            proc.kill()
        assert proc.returncode == 130, stderr
        match = re.search(r"resume with `([^`]+)`", stderr)
        assert match, stderr
        argv = shlex.split(match.group(1))
        assert argv[:2] == ["agentgym", "sweep"] and str(run) in argv
        flaky.delay_s = 0.0
        done = runner.invoke(app, [*argv[1:], "-q"])  # the printed command, in-process (a second interpreter costs seconds)
        assert done.exit_code == 0, done.output
    keys, errors = _keys(run)
    assert len(keys) == 2 and errors == 0


def test_a_resume_at_a_terminal_asks_before_retrying(monkeypatch):
    from agentgym.cli import sweep_cmd

    asked = []
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True, raising=False)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    monkeypatch.setattr(sweep_cmd.typer, "confirm", lambda text, **kw: asked.append(text) or True)
    assert sweep_cmd.ask_retry("agentgym sweep c.yaml --out runs/c")(3) is True
    assert "3 stored episodes" in asked[0] and "re-run them now?" in asked[0]


def test_eval_with_a_model_runs_react_against_the_endpoint(tmp_path):
    flaky = Flaky()
    with OpenAITestServer(flaky) as srv:
        res = runner.invoke(app, ["eval", "shell-fixture", "--model", "m", "--base-url", srv.base_url, "-k", "2",
                                  "--tasks", "hello", "-r", "local", "-q", "--out", str(tmp_path / "ev")])
    assert res.exit_code == 0, res.output
    assert flaky.episode_requests == 2 and "run directory:" in res.stderr
    [row] = run_rows(tmp_path / "ev")
    assert (row.agent, row.model, row.episodes, row.errors) == ("react", "m", 2, 0)
    dead = runner.invoke(app, ["eval", "shell-fixture", "--model", "m", "--base-url", f"http://127.0.0.1:{_free_port()}/v1",
                               "-r", "local", "--out", str(tmp_path / "dead")])
    assert dead.exit_code == 2 and dead.stderr.startswith("error: preflight: cannot reach") and dead.stderr.count("\n") == 1
