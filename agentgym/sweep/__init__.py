"""Sweeps: envs x agents x models x budgets x k, stored resumably under runs/<name>/.

    cfg = SweepConfig.from_yaml("demos/demo.yaml")
    run_sweep(cfg)                      # or: agentgym sweep demos/demo.yaml
    write_report("runs/demo")           # or: agentgym report runs/demo
"""

from agentgym.sweep.config import (
           AgentSel,
           EnvSel,
           Episode,
           ModelSel,
           RunConfig,
           SweepConfig,
           episode_seed,
)
from agentgym.sweep.runner import SweepSummary, plan, run_sweep
from agentgym.sweep.store import EpisodeRecord, Store

__all__ = ["AgentSel", "EnvSel", "Episode", "EpisodeRecord", "ModelSel", "RunConfig", "Store", "SweepConfig", "SweepSummary",
           "episode_seed", "plan", "run_sweep"]
