"""One reader of a run's training curve (RUN/results.sqlite, table train_steps): the trainers' own
TrainLog.rows, read_train_steps (benchmarks, tests) and the viewer/report's RunData.train_steps
read the same rows the same way, from any run directory name; the viewer's index counts the steps
with SQL instead of parsing every one."""

from __future__ import annotations

import sqlite3

import pytest

from agentgym.rl.trl_log import StepRow, TrainLog, read_train_steps
from agentgym.view import RunData, Viewer


@pytest.fixture
def run(tmp_path):
    root = tmp_path / "run#1?x"  # characters an SQLite URI reads as fragment and query
    log = TrainLog(root)
    log.add(StepRow(algorithm="sft", step=2, loss=1.5, extra={"lr": 0.1}))
    log.add(StepRow(algorithm="grpo", step=1, reward=0.5, episodes=8))
    log.conn.execute("INSERT INTO train_steps (algorithm, step, reward, episodes, extra) VALUES ('sft', 1, NULL, NULL, '[[')")
    yield root, log
    log.close()


def test_the_log_the_run_directory_and_the_viewer_read_the_same_rows(run):
    root, log = run
    want = [("grpo", 1, 0.5, 8, {}), ("sft", 1, None, 0, {}), ("sft", 2, None, 0, {"lr": 0.1})]  # NULL count: default; bad extra: {}
    for rows in (log.rows(), read_train_steps(root), RunData(root).train_steps()):
        assert [(r.algorithm, r.step, r.reward, r.episodes, r.extra) for r in rows] == want
    assert [r.step for r in log.rows("sft")] == [1, 2]
    assert sorted(p.name for p in root.parent.iterdir()) == [root.name]  # no database made beside the run directory
    assert {r[0] for r in sqlite3.connect(root / "results.sqlite").execute("SELECT name FROM sqlite_master WHERE type = 'table'")} == {"train_steps"}


def test_the_index_counts_steps_without_reading_them(run, monkeypatch):
    root, _ = run
    v = Viewer(root)
    assert v.data.train_step_count() == 3

    def parse_all(*a, **k):
        raise AssertionError("the index parsed every training step to count them")

    monkeypatch.setattr(RunData, "train_steps", parse_all)
    status, page = v.handle("/")
    assert status == 200 and '<a href="/training">3 logged steps</a>' in page


def test_reading_a_training_curve_needs_no_torch(run):
    """The viewer and report run where no trainer is installed: reading train_steps imports no
    torch, transformers or trl."""
    import subprocess
    import sys

    root, log = run
    log.close()
    code = ("import sys; from agentgym.view import Viewer; from agentgym.rl.trl_log import read_train_steps; "
            f"v = Viewer({str(root)!r}); assert '3 logged steps' in v.handle('/')[1]; v.handle('/training'); "
            f"assert len(read_train_steps({str(root)!r})) == 3; "
            "print(sorted({'torch', 'transformers', 'trl'} & {m.split('.')[0] for m in sys.modules}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stderr[-2000:] + out.stdout
