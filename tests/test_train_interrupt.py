"""Ctrl-C during `agentgym train` (issue 17, N's F1): one line on stderr that says at which step it
stopped, what was kept and the command to rerun, exit 130; checkpoints already written are kept in
OUT.interrupted with the step log (not deleted with the staging folder), and with none nothing is
left beside OUT. A real process gets a real SIGINT: the trainer is a stub that logs a step (and
writes a checkpoint), says so in a marker file and waits; the signal is sent only after the marker
exists, so nothing depends on timing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

CHILD = r"""
import sys, time, types
from pathlib import Path

config, marker = sys.argv[1], Path(sys.argv[2])
fake = types.ModuleType("transformers")  # no model to load: the stub trainer never uses one
fake.AutoTokenizer = fake.AutoModelForCausalLM = type("Auto", (), {"from_pretrained": staticmethod(lambda path: None)})
sys.modules["transformers"] = fake
from agentgym.rl import trl_grpo
from agentgym.rl.trl_log import StepRow, TrainLog

def train_grpo(model, tok, env, tasks, out, settings, env_kwargs=None):
    log = TrainLog(out)
    try:
        log.add(StepRow(algorithm="grpo", step=1, reward=0.5, episodes=4))
        if settings.save_steps:
            (out / "checkpoints" / "checkpoint-1").mkdir(parents=True)
            (out / "checkpoints" / "checkpoint-1" / "config.json").write_text("{}")
            (out / "checkpoints" / "checkpoint-1" / "trainer_state.json").write_text("{}")  # the Trainer's last file
            (out / "checkpoints" / "checkpoint-2").mkdir()  # a save Ctrl-C cut: config, no trainer_state.json
            (out / "checkpoints" / "checkpoint-2" / "config.json").write_text("{}")
        marker.write_text("step 1 logged")
        while True:
            time.sleep(0.05)
    finally:
        log.close()

trl_grpo.train_grpo = train_grpo
from agentgym.cli.app import app
sys.argv = ["agentgym", "train", config]
app()
"""


@pytest.mark.parametrize("save_steps", [None, 1])
def test_ctrl_c_says_what_was_kept_and_how_to_rerun(tmp_path, save_steps):
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"model_type": "llama"}))
    cfg = {"model": str(model), "env": "shell-fixture", "env_kwargs": {"runtime": "local"}, "algorithm": "grpo",
           "grpo": {"steps": 8, **({"save_steps": save_steps} if save_steps else {})}, "out": str(tmp_path / "runs" / "out")}
    path = tmp_path / "int.yaml"
    path.write_text(yaml.safe_dump(cfg))
    marker = tmp_path / "marker"
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(path), str(marker)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    try:
        deadline = time.monotonic() + 120
        while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists(), proc.communicate(timeout=10)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130 and out == "" and len(err.strip().splitlines()) == 1, err
    assert err.startswith("interrupted at step 1/8: ") and f"rerun `agentgym train {path}`" in err, err
    runs = tmp_path / "runs"
    left = sorted(p.name for p in runs.iterdir()) if runs.exists() else []  # nothing kept: the runs/ it made is gone too
    if save_steps is None:
        assert "nothing kept" in err and left == [], (err, left)
        return
    kept = runs / "out.interrupted"
    assert f"checkpoint-1 kept in {kept}" in err and left == ["out.interrupted"], (err, left)
    assert "(checkpoint-2 incomplete: cut mid-save, no model)" in err, err
    assert (kept / "checkpoints" / "checkpoint-1" / "config.json").is_file() and (kept / "train_log.jsonl").is_file()
    assert (kept / "results.sqlite").is_file()  # `agentgym report OUT.interrupted` draws the curve so far
