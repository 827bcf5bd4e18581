"""A test plugin (imported on every Ray node through RayExecutor(imports=...)): the oracle, but
each episode first leaves a marker (its node id and pid) in `gate` and waits there until the
test creates `gate`/open, so a test can kill a node while it holds an episode."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from agentgym.agents import OracleAgent, register_agent


class GatedOracle:
    def __init__(self, env: Any, gate: str):
        self.inner, self.gate = OracleAgent(env), Path(gate)

    def reset(self, obs: dict[str, Any], info: dict[str, Any]) -> None:
        import ray

        node = ray.get_runtime_context().get_node_id()
        (self.gate / f"{node}.{os.getpid()}.{time.monotonic_ns()}").touch()
        deadline = time.monotonic() + 120
        while not (self.gate / "open").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.inner.reset(obs, info)

    def act(self, obs: dict[str, Any], info: dict[str, Any]) -> Any:
        return self.inner.act(obs, info)


register_agent("gated-oracle", GatedOracle, "test only: the oracle, held at each episode start until the test opens a gate")
