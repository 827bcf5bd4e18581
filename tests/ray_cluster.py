"""A real multi-node Ray cluster on this machine for the tests (agentgym.distributed.local_cluster),
with the check that no process of it outlives the test."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from agentgym.distributed.local_cluster import Cluster, free_port

NODE_ENV = {"AGENTGYM_TEST_NODE_DATA": "1"}  # set on the nodes only: stands for data the driver does not have


@contextlib.contextmanager
def cluster(nodes: int = 2) -> Iterator[Cluster]:
    """A head with `docker` and `head` resources and `nodes - 1` workers with `docker` (both share
    this machine's engine); everything killed after."""
    c = Cluster(env=NODE_ENV)
    try:
        c.start_head('{"docker": 1, "head": 1}')
        for _ in range(nodes - 1):
            c.add_node('{"docker": 1}')
        c.wait_nodes(nodes)
        yield c
    finally:
        left = c.stop()
        assert not left, f"Ray processes outlived the test: {left}"


__all__ = ["NODE_ENV", "Cluster", "cluster", "free_port"]
