"""Ctrl-C in any command is the boundary's one "interrupted" line, exit 130 (typer 0.2x turned a
KeyboardInterrupt inside a command into a silent exit 130 for every command without its own
handler). The command runs in a subprocess that writes a marker once it is inside the command;
SIGINT is sent only then."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

SCRIPT = """
import sys, time
from pathlib import Path
from agentgym.cli.app import app

@app.command("slow-for-test")
def slow(marker: str) -> None:
    Path(marker).write_text("inside")
    time.sleep(120)

app(["slow-for-test", sys.argv[1]], prog_name="agentgym")
"""


def test_ctrl_c_inside_any_command_prints_the_interrupted_line(tmp_path):
    marker = tmp_path / "inside"
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(marker)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the command never started"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130
    assert err.strip() == "interrupted" and out == ""
