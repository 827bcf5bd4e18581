"""swe-synth: an offline SWE suite synthesized from real PyPI projects (data generation).

The committed data lives in envs/swe/data/synth/: the projects' sdists, repos.json and
instances.jsonl (SWE-bench schema, extra fields test_cmd, test_files, pythonpath, mutation, split).
`materialize(instance, dest_dir)` rebuilds an instance's buggy repository offline and returns its
deterministic commit id (== base_commit). Regenerate with `python -m agentgym.envs.swe.synth.generate`.
"""

from __future__ import annotations

from agentgym.envs.swe.synth.projects import (
    INSTANCES_JSONL,
    REPOS_JSON,
    Project,
    SynthError,
    load_projects,
    project_for,
)
from agentgym.envs.swe.synth.snapshot import materialize


def load_instances(path: str | None = None, split: str | None = None) -> list:
    """The committed swe-synth instances (SWEInstance), optionally only one split ('lite')."""
    from pathlib import Path

    from agentgym.envs.swe.instance import SWEInstance

    p = Path(path or INSTANCES_JSONL)
    if not p.is_file():
        raise SynthError(f"{p} is missing: run python -m agentgym.envs.swe.synth.generate --out {p}")
    out = [SWEInstance.model_validate_json(ln) for ln in p.read_text().splitlines() if ln.strip()]
    if split:
        out = [i for i in out if getattr(i, "split", "full") == split]
    return out


__all__ = [
    "INSTANCES_JSONL", "REPOS_JSON", "Project", "SynthError", "load_instances", "load_projects",
    "materialize", "project_for",
]
