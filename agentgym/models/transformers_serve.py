"""`transformers serve` as a managed subprocess: a real OpenAI-compatible server on the CPU.

Why: the OpenAI-compatible backend and the token-level collector must meet a server nobody here
wrote, not only the scripted test server. transformers' own server runs any local model directory
on the CPU (no vLLM, no GPU), so demos and tests start it on a free port, wait until /health
answers, and stop it (its whole process group) on exit.

What it offers, as of transformers 5.x: /v1/chat/completions (tool calls, usage) and
/v1/completions with a text prompt. It takes no token-id prompt and returns neither token ids
nor logprobs, so ``OpenAICompatibleBackend.generate_ids`` against it raises TokenIdsUnavailable
(token-level rollouts are refused there, never approximated); chat-level agents run fine.

    with TransformersServer("path/to/model") as srv:
        backend = OpenAICompatibleBackend(base_url=srv.base_url, model=srv.model)
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Self


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TransformersServer:
    def __init__(self, model: str | Path, *, port: int | None = None, device: str = "cpu", start_timeout_s: float = 180.0):
        self.model = str(model)
        self.port = port or _free_port()
        self.device = device
        self.start_timeout_s = start_timeout_s
        self.proc: subprocess.Popen[bytes] | None = None
        self._log = tempfile.NamedTemporaryFile(prefix="transformers-serve-", suffix=".log", delete=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def log_tail(self, n: int = 1500) -> str:
        return Path(self._log.name).read_text(errors="replace")[-n:]

    def start(self) -> Self:
        try:
            from transformers.utils.import_utils import is_serve_available
        except ImportError as exc:
            raise ImportError("TransformersServer needs transformers: pip install 'agentgym[transformers,rl]'") from exc
        if not is_serve_available():
            raise ImportError("`transformers serve` needs fastapi, uvicorn and openai: pip install 'agentgym[rl,models]'")
        cli = Path(sys.executable).with_name("transformers")
        cmd = [str(cli), "serve", self.model, "--host", "127.0.0.1", "--port", str(self.port), "--device", self.device, "--log-level", "warning"]
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                tail, code = self.log_tail(), self.proc.returncode
                self.stop()
                raise RuntimeError(f"transformers serve exited with code {code}: {tail}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2) as resp:
                    if resp.status == 200:
                        return self
            except OSError:
                time.sleep(0.3)
        tail = self.log_tail()
        self.stop()
        raise TimeoutError(f"transformers serve did not answer /health within {self.start_timeout_s:.0f}s: {tail}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        self.proc = None
        self._log.close()
        Path(self._log.name).unlink(missing_ok=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
