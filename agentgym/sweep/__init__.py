"""Sweeps: envs x agents x models x budgets x k, stored resumably under runs/<name>/.

    cfg = SweepConfig.from_yaml("demos/demo.yaml")
    run_sweep(cfg)                      # or: agentgym sweep demos/demo.yaml
    write_report("runs/demo")           # or: agentgym report runs/demo
    run_rows("runs/demo")               # per-config rows: passed, failed, errors (never scored), pass@k
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
from agentgym.sweep.table import ConfigRow, config_rows, run_rows

__all__ = ["AgentSel", "ConfigRow", "EnvSel", "Episode", "EpisodeRecord", "ModelSel", "RunConfig", "Store", "SweepConfig",
           "SweepSummary", "config_rows", "episode_seed", "plan", "run_rows", "run_sweep"]
