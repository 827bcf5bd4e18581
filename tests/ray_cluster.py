"""A real multi-node Ray cluster on this machine, for tests: `ray start --head` plus workers.

Every Ray process of the cluster is found through its temp dir (the head's --temp-dir is in
their command lines) and their children (workers rename themselves `ray::...`), and killed by
pid; `ray stop` would kill every Ray cluster of this user, other people's included.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil

RAY = str(Path(sys.executable).with_name("ray"))
QUIET = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    def __init__(self) -> None:
        # Short: Ray's unix sockets live under it (108-byte limit on their paths).
        self.tmp = tempfile.mkdtemp(prefix="rt", dir="/tmp")
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"

    def start_head(self, resources: str = '{"docker": 1}') -> None:
        self._ray("start", "--head", "--port", str(self.port), "--dashboard-port", str(free_port()), "--include-dashboard=false", "--resources", resources)

    def add_node(self, resources: str = "{}") -> None:
        self._ray("start", "--address", self.address, "--resources", resources)

    def _ray(self, *args: str) -> None:
        cmd = [RAY, *args, "--num-cpus", "1", "--object-store-memory", "100000000", "--temp-dir", self.tmp,
               "--dashboard-agent-listen-port", str(free_port()), "--disable-usage-stats"]
        out = subprocess.run(cmd, env=QUIET, capture_output=True, text=True, timeout=240)
        if out.returncode:
            raise RuntimeError(f"{' '.join(cmd)} failed: {out.stderr[-2000:]}")

    def processes(self) -> list[psutil.Process]:
        roots = []
        for p in psutil.process_iter(["cmdline"]):
            with contextlib.suppress(psutil.Error, TypeError):
                if any(self.tmp in a for a in p.info["cmdline"] or ()):
                    roots.append(p)
        found = {p.pid: p for p in roots}
        for p in roots:
            with contextlib.suppress(psutil.Error):
                found.update({c.pid: c for c in p.children(recursive=True)})
        return list(found.values())

    def raylets(self) -> list[psutil.Process]:
        out = []
        for p in self.processes():
            with contextlib.suppress(psutil.Error):
                if p.name() == "raylet":
                    out.append(p)
        return out

    def stop(self) -> list[psutil.Process]:
        """Kill every process of the cluster (SIGKILL, by pid); those still alive after 20 s (should be none)."""
        procs = self.processes()
        for p in procs:  # nothing of a test cluster is worth a graceful stop (raylets take 10 s for one)
            with contextlib.suppress(psutil.Error):
                p.kill()
        _, alive = psutil.wait_procs(procs, timeout=20)
        left = [p for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE] + self.processes()
        shutil.rmtree(self.tmp, ignore_errors=True)
        return left


@contextlib.contextmanager
def cluster(nodes: int = 2) -> Iterator[Cluster]:
    """A head with a `docker` resource and `nodes - 1` plain workers; everything killed after."""
    c = Cluster()
    try:
        c.start_head()
        for _ in range(nodes - 1):
            c.add_node()
        deadline = time.monotonic() + 60
        while len(c.raylets()) < nodes and time.monotonic() < deadline:
            time.sleep(0.5)
        yield c
    finally:
        left = c.stop()
        assert not left, f"Ray processes outlived the test: {left}"
