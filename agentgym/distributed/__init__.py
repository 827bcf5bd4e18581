"""Running episodes on a Ray cluster (`agentgym sweep --executor ray`); needs `agentgym[ray]`.

Ray is imported only when an executor connects, so the core imports without it.
"""

from agentgym.distributed.placement import placements
from agentgym.distributed.ray_executor import RayExecutor, RayExecutorError

__all__ = ["RayExecutor", "RayExecutorError", "placements"]
