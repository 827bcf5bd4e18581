"""One unreadable stored trajectory (a corrupt row, one nested past the parser's depth) is skipped
and counted "unreadable" by `agentgym export --format sft`; the other episodes are exported (it
stopped the whole export with a pydantic message about an option). export.py's public names stay
importable from agentgym.rl.export after the SFT half moved to agentgym.rl.export_sft."""

from __future__ import annotations

import json
import sqlite3

from typer.testing import CliRunner

from agentgym.cli.app import app
from agentgym.sweep.store import SCHEMA


def _sweep(root):
    root.mkdir()
    conn = sqlite3.connect(root / "results.sqlite")
    conn.executescript(SCHEMA)
    spec = {"config_id": "c1", "env": "shell-fixture", "env_kwargs": {}}
    conn.execute("INSERT INTO configs VALUES ('c1', 'shell-fixture', 'oracle', '-', '-', 5, ?)", (json.dumps(spec),))
    good = {"env_id": "shell-fixture", "task_id": "hello", "seed": 0, "first_observation": "do it", "total_reward": 1.0,
            "terminated": True, "passed": True,
            "steps": [{"action": {"name": "bash", "arguments": {"command": "echo hi"}, "id": "c0"}, "observation": "hi",
                       "reward": 1.0, "terminated": True, "truncated": False, "info": {}}]}
    stored = [json.dumps(good), "[" * 5000 + "]" * 5000, '{"not": "a trajectory"}']
    conn.executemany("INSERT INTO episodes (config_id, task_id, sample, seed, passed, reward, turns, cost, seconds, "
                     "infra_error, error, trajectory) VALUES ('c1', 'hello', ?, ?, 1, 1.0, 1, 0.0, 0.0, 0, NULL, ?)",
                     [(i, i, t) for i, t in enumerate(stored)])
    conn.commit()
    conn.close()


def test_an_unreadable_stored_trajectory_is_skipped_and_counted(tmp_path):
    _sweep(tmp_path / "run")
    res = CliRunner().invoke(app, ["export", str(tmp_path / "run"), "--format", "sft", "--out", str(tmp_path / "sft")])
    assert res.exit_code == 0, res.output
    assert "skipped: unreadable 2" in res.stdout
    rows = [json.loads(line) for line in (tmp_path / "sft" / "train.jsonl").read_text().splitlines()]
    assert len(rows) == 1 and rows[0]["task_id"] == "hello"


def test_public_names_stay_importable_from_the_export_module():
    from agentgym.rl import export, export_sft

    for name in export.__all__:
        assert hasattr(export, name), name
    assert export.ExportError is export_sft.ExportError and export.sft_messages is export_sft.sft_messages
