"""`agentgym export --format sft` streams: a sweep of a few thousand stored episodes is exported
with one page of trajectories in memory, not the whole run (it read every trajectory, then held
every row, before writing any)."""

from __future__ import annotations

import json
import sqlite3
import tracemalloc

from agentgym.rl.export import export_run
from agentgym.sweep.store import SCHEMA

N, OBS = 2000, 6000  # episodes, characters of tool output per step (~25 MB stored)


def _sweep(root, tasks):
    """A sweep store written straight into SQLite (the Store's schema): shell-fixture episodes, a
    tenth not passed, a tenth infra errors."""
    root.mkdir()
    conn = sqlite3.connect(root / "results.sqlite")
    conn.executescript(SCHEMA)
    spec = {"config_id": "c1", "env": "shell-fixture", "env_kwargs": {}}
    conn.execute("INSERT INTO configs VALUES ('c1', 'shell-fixture', 'oracle', '-', '-', 5, ?)", (json.dumps(spec),))
    rows = []
    for i in range(N):
        task, passed, infra = tasks[i % len(tasks)], i % 10 != 1, i % 10 == 2
        steps = [{"action": {"name": "bash", "arguments": {"command": f"cat f{i}"}, "id": f"c{i}{k}"},
                  "observation": f"{i} " + "x" * OBS, "reward": 0.0, "terminated": False, "truncated": False, "info": {}}
                 for k in range(2)]
        traj = {"env_id": "shell-fixture", "task_id": task, "seed": i, "first_observation": "do it", "steps": steps,
                "total_reward": float(passed), "terminated": True, "passed": passed and not infra}
        rows.append(("c1", task, i, i, int(passed), float(passed), 2, 0.0, 0.0, int(infra), None, json.dumps(traj)))
    conn.executemany("INSERT INTO episodes (config_id, task_id, sample, seed, passed, reward, turns, cost, seconds, "
                     "infra_error, error, trajectory) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", rows)
    conn.commit()
    conn.close()
    return sum(len(r[-1]) for r in rows)


def test_sft_export_of_thousands_of_episodes_stays_within_a_page(tmp_path):
    import agentgym

    with agentgym.make("shell-fixture", runtime="local") as env:
        tasks = env.unwrapped.task_ids()
    stored = _sweep(tmp_path / "run", tasks)
    tracemalloc.start()
    try:
        summary = export_run(tmp_path / "run", "sft", tmp_path / "sft")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert sum(summary.rows.values()) == N - 2 * N // 10 and summary.skipped["infra_error"] == N // 10
    assert summary.files == ["train.jsonl", "test.jsonl"]
    for split, n in summary.rows.items():
        with (tmp_path / "sft" / f"{split}.jsonl").open() as f:
            assert sum(1 for _ in f) == n
    assert peak < stored / 3, f"peak {peak / 1e6:.1f} MB for {stored / 1e6:.1f} MB of stored trajectories"


def test_a_streamed_export_with_nothing_to_write_leaves_no_folder(tmp_path):
    import pytest

    from agentgym.rl.export import ExportError

    traj = {"env_id": "shell-fixture", "task_id": "hello", "seed": 0, "first_observation": "do it", "passed": False}
    (tmp_path / "run.jsonl").write_text(json.dumps(traj) + "\n" + json.dumps({**traj, "error": "sandbox died"}) + "\n")
    with pytest.raises(ExportError, match="nothing to export .*'not_passed': 1, 'infra_error': 1"):
        export_run(tmp_path / "run.jsonl", "sft", tmp_path / "sft")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.jsonl"]  # no OUT, no staging folder
