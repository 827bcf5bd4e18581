"""A real multi-node Ray cluster on this machine for the tests (agentgym.distributed.local_cluster),
with the check that no process of it outlives the test."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from agentgym.distributed.local_cluster import Cluster, free_port


@contextlib.contextmanager
def cluster(nodes: int = 2) -> Iterator[Cluster]:
    """A head with a `docker` resource and `nodes - 1` plain workers; everything killed after."""
    c = Cluster()
    try:
        c.start_head()
        for _ in range(nodes - 1):
            c.add_node()
        c.wait_nodes(nodes)
        yield c
    finally:
        left = c.stop()
        assert not left, f"Ray processes outlived the test: {left}"


__all__ = ["Cluster", "cluster", "free_port"]
