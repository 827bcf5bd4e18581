"""A test plugin (imported on every Ray node through RayExecutor(imports=...)): the oracle, but
each episode first leaves a marker (its node id and pid) in `gate` and waits there until the
test creates `gate`/open, so a test can kill a node (or the driver) while it holds an episode.
`hold`: only these task ids are held (default: every task).

Also `node-data-fixture`: shell-fixture, but made only where $AGENTGYM_TEST_NODE_DATA is set (the
test cluster's nodes, not the driver), as an env whose data or engine only the nodes have."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import agentgym
from agentgym.agents import OracleAgent, register_agent


class GatedOracle:
    def __init__(self, env: Any, gate: str, hold: list[str] | None = None):
        self.inner, self.gate, self.hold = OracleAgent(env), Path(gate), hold

    def reset(self, obs: dict[str, Any], info: dict[str, Any]) -> None:
        import ray

        if self.hold is not None and info.get("task_id") not in self.hold:
            self.inner.reset(obs, info)
            return
        node = ray.get_runtime_context().get_node_id()
        (self.gate / f"{node}.{os.getpid()}.{time.monotonic_ns()}").touch()
        deadline = time.monotonic() + 120
        while not (self.gate / "open").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.inner.reset(obs, info)

    def act(self, obs: dict[str, Any], info: dict[str, Any]) -> Any:
        return self.inner.act(obs, info)


register_agent("gated-oracle", GatedOracle, "test only: the oracle, held at each episode start until the test opens a gate")


def node_data_fixture(**kwargs: Any) -> Any:
    if not os.environ.get("AGENTGYM_TEST_NODE_DATA"):
        raise FileNotFoundError("this env's data is on the Ray nodes only")
    return agentgym.make("shell-fixture", **kwargs)


agentgym.register("node-data-fixture", node_data_fixture, description="test only: shell-fixture, made on the test cluster's nodes only")
