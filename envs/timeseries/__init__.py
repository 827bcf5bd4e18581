"""The timeseries domain (being built)."""

from __future__ import annotations


def register_timeseries_envs() -> list[str]:
    """Register this domain's ids (string entry points: nothing heavy is imported until make())."""
    return []
