"""A staging folder records its owner (host, pid, the pid's start time): a writer killed without
Python's cleanup (SIGKILL, SIGTERM, the OOM killer) leaves a hidden .OUT.tmp-* that is told apart
from one still being written; `agentgym train --check` and `agentgym export` name it in one line,
a new training run removes it. A failed staged_dir removes the parent folders it made."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import run_train_cli
from agentgym.staging import _HOST, leftover_note, leftover_stages, stage_owner_alive, staged_dir

WRITER = """
import sys, time
from agentgym.staging import staged_dir
with staged_dir(sys.argv[1]) as stage:
    (stage / "checkpoint.bin").write_bytes(b"x" * 4096)
    print(stage, flush=True)
    time.sleep(120)
"""


def _dead_stage(dest, name=None):
    stage = dest.parent / (name or f".{dest.name}.tmp-999999999-1234-{_HOST}-abcd")  # no such pid (past pid_max)
    stage.mkdir(parents=True)
    (stage / "weights").write_bytes(b"w" * 2_000_000)
    return stage


def test_a_killed_writers_stage_is_told_from_a_live_one_and_removed_by_a_new_run(tmp_path):
    dest = tmp_path / "runs" / "out"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(dest)], stdout=subprocess.PIPE, text=True)
    try:
        stage = proc.stdout.readline().strip()  # the writer is inside the block
        assert stage and leftover_stages(dest) == [dest.parent / os.path.basename(stage)]
        assert stage_owner_alive(stage) is True and leftover_stages(dest, dead_only=True) == [] and leftover_note(dest) is None
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert stage_owner_alive(stage) is False and leftover_stages(dest, dead_only=True) == leftover_stages(dest)
    note = leftover_note(dest)
    assert note.startswith("note: 1 staging folder of ") and stage in note and "rm -r" in note and os.path.isdir(stage)
    assert "removed" in leftover_note(dest, remove=True) and leftover_stages(dest) == [] and not os.path.exists(stage)


def test_owner_of_an_old_name_another_host_and_a_reused_pid(tmp_path):
    dest = tmp_path / "out"
    assert stage_owner_alive(_dead_stage(dest, ".out.tmp-999999999-abcd")) is False  # PID-RANDOM: the pid alone
    assert stage_owner_alive(_dead_stage(dest, f".out.tmp-{os.getpid()}-1-{_HOST}-ab")) is False  # our pid, another start
    other = _dead_stage(dest, ".out.tmp-999999999-1234-0123abcd-ab")  # another host's: unknowable, kept
    assert stage_owner_alive(other) is None and other not in leftover_stages(dest, dead_only=True)
    with staged_dir(tmp_path / "x") as stage:  # our own, being written
        assert stage_owner_alive(stage) is True


@pytest.mark.parametrize("exc", [RuntimeError, KeyboardInterrupt])
def test_a_failed_block_removes_the_parents_it_made_only(tmp_path, exc):
    (tmp_path / "a").mkdir()
    with pytest.raises(exc):
        with staged_dir(tmp_path / "a" / "b" / "c" / "out"):
            raise exc("stopped")
    assert os.listdir(tmp_path) == ["a"] and os.listdir(tmp_path / "a") == []


def test_train_check_names_a_dead_stage_and_a_run_removes_it(tmp_path, train_base, monkeypatch):
    from pathlib import Path

    import agentgym.rl.trl_train as trl_train

    stage = _dead_stage(Path(train_base["out"]))
    code, out, err = run_train_cli(tmp_path, train_base, "--check")
    assert code == 0 and err.count("\n") == 1 and "1 staging folder" in err and str(stage) in err and "(2.0 MB)" in err
    assert stage.is_dir()
    monkeypatch.setattr(trl_train, "run_train", lambda cfg: {"out": cfg.out, "algorithm": "grpo", "env": cfg.env, "tasks": []})
    code, out, err = run_train_cli(tmp_path, train_base, "--json")
    assert code == 0 and "removed" in err and not stage.exists()


def test_export_names_a_dead_stage_beside_out(tmp_path):
    from typer.testing import CliRunner

    from agentgym.cli.app import app

    stage = _dead_stage(tmp_path / "sft")
    (tmp_path / "run.jsonl").write_text('{"env_id": "shell-fixture", "task_id": "hello", "seed": 0, "first_observation": "x"}\n')
    res = CliRunner().invoke(app, ["export", str(tmp_path / "run.jsonl"), "--format", "sft", "--out", str(tmp_path / "sft")])
    assert res.exit_code == 2 and f"note: 1 staging folder of {tmp_path / 'sft'} left by a killed run" in res.stderr
    assert str(stage) in res.stderr
