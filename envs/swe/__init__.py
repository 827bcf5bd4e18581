"""The SWE domain: edit a real repository until hidden tests pass.

- swe-verified: SWE-bench Verified (or any file in the SWE-bench schema: dataset=PATH), on the
  official instance images when present, else images built locally from repo_source=PATH.
- swe-synth / swe-synth-lite: an offline suite of bugs injected into real PyPI projects, each kept
  only when the project's own tests catch it.

    from agentgym.envs.swe import register_swe_envs
    register_swe_envs()
"""

from __future__ import annotations

from agentgym.registry import register

SWE_ENVS = {
    "swe-verified": ("agentgym.envs.swe.suites:make_verified", {},
                     "SWE-bench Verified; offline, pass dataset=PATH (SWE-bench JSONL/JSON/Parquet) and repo_source=PATH",
                     ["swe", "needs-dataset"]),
    "swe-synth": ("agentgym.envs.swe.suites:make_synth", {"split": "full"},
                  "offline synthesized bugs in real PyPI projects (validated by their own tests)",
                  ["swe", "synth", "heavy"]),
    "swe-synth-lite": ("agentgym.envs.swe.suites:make_synth", {"split": "lite"},
                       "a small spread of swe-synth over every project", ["swe", "synth", "lite"]),
}


def register_swe_envs() -> list[str]:
    """Register the SWE ids (string entry points: nothing heavy is imported until make())."""
    for env_id, (entry, kwargs, desc, tags) in SWE_ENVS.items():
        register(env_id, entry, description=f"SWE repositories: {desc}.", kwargs=kwargs, tags=tags,
                 runtimes=["local", "docker"])
    return list(SWE_ENVS)
