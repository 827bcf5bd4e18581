"""A multi-node Ray cluster on one machine (`ray start --head` plus `ray start --address`), for
trying the Ray executor, its tests and its benchmark without a real cluster.

Every Ray process of the cluster is found through its temp dir (in their command lines) and
their children (workers rename themselves `ray::...`), and killed by pid: `ray stop` would kill
every Ray cluster of this user, other people's included. Needs psutil (in agentgym[ray]).
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
from collections.abc import Mapping
from pathlib import Path

import psutil  # in agentgym[ray]

RAY = str(Path(sys.executable).with_name("ray"))  # the ray CLI of this interpreter's environment
QUIET = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """start_head(), add_node() (each node: 1 CPU unless told, a 100 MB object store), stop().
    `env`: extra environment variables of the nodes' processes (their workers inherit them)."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self.env = {**QUIET, **(env or {})}
        # Short: Ray's unix sockets live under it (108-byte limit on their paths).
        self.tmp = tempfile.mkdtemp(prefix="rt", dir="/tmp")
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"

    def start_head(self, resources: str = '{"docker": 1}', num_cpus: int = 1) -> None:
        self._ray("start", "--head", "--port", str(self.port), "--dashboard-port", str(free_port()),
                  "--include-dashboard=false", "--resources", resources, num_cpus=num_cpus)

    def add_node(self, resources: str = "{}", num_cpus: int = 1) -> None:
        self._ray("start", "--address", self.address, "--resources", resources, num_cpus=num_cpus)

    def _ray(self, *args: str, num_cpus: int = 1) -> None:
        cmd = [RAY, *args, "--num-cpus", str(num_cpus), "--object-store-memory", "100000000", "--temp-dir", self.tmp,
               "--dashboard-agent-listen-port", str(free_port()), "--disable-usage-stats"]
        out = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=240)
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

    def wait_nodes(self, n: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while len(self.raylets()) < n and time.monotonic() < deadline:
            time.sleep(0.5)


__all__ = ["Cluster", "free_port"]
